//! A reader of Server-Sent Events (the `text/event-stream` format of the WHATWG HTML
//! standard, "Server-sent events"), as the node's streamed chat completions use it
//! (docs/HTTP.md "OpenAI-compatible endpoints").
//!
//! Only what a client of one response needs: `data:` lines (several join with `\n`),
//! `event:` names, comments (`:` lines) skipped, other fields ignored, an event ends at a
//! blank line. Lines end with `\n`, `\r\n` or `\r`. An event (its lines together) longer
//! than the reader's limit is an error rather than an unbounded allocation: a hostile or
//! broken node cannot make the client hold more than that at once.

use std::io::{self, BufRead};

/// One event: its `event:` name (`None` for the default, `message`) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Reads events from a byte stream, one at a time, as they arrive.
#[derive(Debug)]
pub struct SseReader<R> {
    reader: R,
    max_event: usize,
    /// A `\r` ended the last line: a `\n` right after it belongs to that line end.
    after_cr: bool,
}

impl<R: BufRead> SseReader<R> {
    /// A reader of `reader` refusing events longer than `max_event` bytes.
    pub fn new(reader: R, max_event: usize) -> Self {
        SseReader { reader, max_event, after_cr: false }
    }

    /// The next event, or `None` at the end of the stream. An event cut off by the end of
    /// the stream (no blank line after it) is dropped, as the standard says.
    ///
    /// # Errors
    /// Reading fails, an event is longer than the limit, or a line is not UTF-8.
    pub fn next_event(&mut self) -> io::Result<Option<SseEvent>> {
        let mut event = None;
        let mut data: Option<String> = None;
        let mut size = 0;
        loop {
            let Some(line) = self.next_line(self.max_event - size)? else { return Ok(None) };
            if line.is_empty() {
                match data.take() {
                    Some(data) => return Ok(Some(SseEvent { event: event.take(), data })),
                    None => {
                        event = None;
                        size = 0;
                        continue;
                    }
                }
            }
            // Each line with its end counts.
            size += line.len() + 1;
            if size > self.max_event {
                return Err(too_long(self.max_event));
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_str(), ""),
            };
            match field {
                "data" => match &mut data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => data = Some(value.to_owned()),
                },
                "event" => event = Some(value.to_owned()),
                _ => {}
            }
        }
    }

    /// The next line without its end, or `None` at the end of the stream; longer than
    /// `max` bytes is an error.
    fn next_line(&mut self, max: usize) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return if line.is_empty() { Ok(None) } else { utf8(line).map(Some) };
            }
            if std::mem::take(&mut self.after_cr) && buf[0] == b'\n' {
                self.reader.consume(1);
                continue;
            }
            match buf.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.after_cr = buf[end] == b'\r';
                    self.take(&mut line, end, max)?;
                    self.reader.consume(1);
                    return utf8(line).map(Some);
                }
                None => {
                    let all = buf.len();
                    self.take(&mut line, all, max)?;
                }
            }
        }
    }

    /// Moves `n` buffered bytes into `line`, refusing to make it longer than `max`.
    fn take(&mut self, line: &mut Vec<u8>, n: usize, max: usize) -> io::Result<()> {
        if line.len() + n > max {
            return Err(too_long(self.max_event));
        }
        line.extend_from_slice(&self.reader.fill_buf()?[..n]);
        self.reader.consume(n);
        Ok(())
    }
}

fn too_long(max: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("an event-stream event is longer than {max} bytes"))
}

fn utf8(line: Vec<u8>) -> io::Result<String> {
    String::from_utf8(line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "an event-stream line is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &[u8], max_event: usize) -> io::Result<Vec<SseEvent>> {
        let mut reader = SseReader::new(io::BufReader::with_capacity(3, text), max_event);
        let mut all = Vec::new();
        while let Some(event) = reader.next_event()? {
            all.push(event);
        }
        Ok(all)
    }

    fn data(text: &str) -> SseEvent {
        SseEvent { event: None, data: text.to_owned() }
    }

    #[test]
    fn events_are_split_at_blank_lines_whatever_the_line_ends() {
        let text = b"data: {\"a\":1}\n\ndata:two\r\ndata:  lines\r\n\r\n: a comment\nid: 7\nretry: 5\ndata\r\revent: wasmnn-receipt\ndata: r\n\n";
        let expected = vec![
            data("{\"a\":1}"),
            data("two\n lines"),
            data(""),
            SseEvent { event: Some("wasmnn-receipt".to_owned()), data: "r".to_owned() },
        ];
        assert_eq!(events(text, 64).unwrap(), expected);
    }

    #[test]
    fn an_event_cut_off_by_the_end_is_dropped_and_blank_lines_alone_are_nothing() {
        assert_eq!(events(b"\n\n\ndata: done\n\ndata: cut", 64).unwrap(), vec![data("done")]);
        assert_eq!(events(b"event: x\n\ndata: y\n\n", 64).unwrap(), vec![data("y")]);
        assert_eq!(events(b"", 64).unwrap(), vec![]);
    }

    #[test]
    fn long_events_and_bad_utf8_are_errors() {
        let long = format!("data: {}\n\n", "x".repeat(100));
        let error = events(long.as_bytes(), 64).unwrap_err();
        assert!(error.to_string().contains("longer than 64 bytes"), "{error}");
        // Many short lines add up: the event is what is bounded.
        let many = "data: x\n".repeat(100);
        assert!(events(many.as_bytes(), 64).is_err());
        assert!(events(b"data: \xff\n\n", 64).is_err());
        // Exactly at the limit is fine (the line and its end).
        let fits = format!("data: {}\n\n", "y".repeat(57));
        assert_eq!(events(fits.as_bytes(), 64).unwrap(), vec![data(&"y".repeat(57))]);
        let over = format!("data: {}\n\n", "y".repeat(58));
        assert!(events(over.as_bytes(), 64).is_err());
    }
}
