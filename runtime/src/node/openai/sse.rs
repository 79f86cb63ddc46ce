//! Streamed chat answers: server-sent events (docs/HTTP.md, chat plan §5).
//!
//! The node waits for the first emitted chunk or the end of the call before it answers:
//! a call that fails before emitting gets a plain HTTP error. Otherwise `200` with
//! `content-type: text/event-stream` and `wasmnn-manifest`; each line the guest emits goes
//! out as `data: <line with created spliced in>\n\n` as it is emitted; once the call has
//! ended and its record is durable, the returned line, `data: [DONE]\n\n`, and
//! `event: wasmnn-receipt\ndata: {"id":…,"receipt":…}\n\n`. A failure after the first chunk
//! sends `data: {"error":{…}}\n\n` and ends the stream (no `[DONE]`, no receipt). Dropping
//! the body (the client went away) cancels the call.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tracing::Instrument;
use wasmnn_registry::Sha256Digest;

use super::Prepared;
use super::wire::{one_line, splice_created};
use crate::node::NodeState;
use crate::node::calls::{self, Meter, Ran, Running, Streamed};
use crate::node::error::ApiError;
use crate::node::invoke_api::header_value;

/// The event after the last chunk.
const DONE: &[u8] = b"data: [DONE]\n\n";

/// Runs a streamed call and answers it (see the module documentation).
pub(super) async fn respond(node: &Arc<NodeState>, meter: Meter, prepared: Prepared, created: u64) -> Response {
    let (sender, mut events) = unbounded_channel();
    let span = meter.span().clone();
    let Prepared { admitted, target, input, request } = prepared;
    let running = match calls::start(node, admitted, target, input, request.seed, Some(sender)).instrument(span).await {
        Ok(running) => running,
        Err(error) => return super::fail(meter, error),
    };
    let mut manifest = None;
    let first = loop {
        match events.recv().await {
            Some(Streamed::Loaded(digest)) => manifest = Some(digest),
            Some(Streamed::Chunk(chunk)) => break Some(chunk),
            None => break None,
        }
    };
    let mut lines = Lines { created, partial: Vec::new() };
    let stream = match first {
        Some(chunk) => match lines.push(&chunk) {
            // Dropping `running` cancels the call.
            Err(error) => return super::fail(meter, error),
            Ok(first) => EventStream {
                node: Arc::clone(node),
                pending: Some(first),
                events,
                lines,
                running: Some(running),
                meter: Some(meter),
            },
        },
        // The call ended without emitting: its error, or the whole answer at once.
        None => match running.finish(node).await {
            Err(error) => return super::fail(meter, error),
            Ok(ran) => {
                meter.finish(Ok(&ran.receipt));
                manifest = Some(ran.manifest);
                let tail = match tail(&mut lines, &ran) {
                    Ok(tail) => tail,
                    Err(error) => return error.openai().into_response(),
                };
                EventStream { node: Arc::clone(node), pending: Some(tail), events, lines, running: None, meter: None }
            }
        },
    };
    match headers(manifest.as_ref()) {
        Ok(headers) => (StatusCode::OK, headers, Body::from_stream(stream.into_stream())).into_response(),
        Err(error) => error.openai().into_response(),
    }
}

/// The response headers of a stream.
fn headers(manifest: Option<&Sha256Digest>) -> Result<axum::http::HeaderMap, ApiError> {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(digest) = manifest {
        headers.insert("wasmnn-manifest", header_value(&digest.prefixed())?);
    }
    Ok(headers)
}

/// The events after the last chunk: the returned line, `[DONE]`, the receipt.
///
/// # Errors
/// The output is not JSON Lines of objects ([`Lines`]).
fn tail(lines: &mut Lines, ran: &Ran) -> Result<Bytes, ApiError> {
    let mut events = lines.finish(&ran.returned())?;
    events.extend_from_slice(DONE);
    events.extend_from_slice(b"event: wasmnn-receipt\ndata: {\"id\":\"");
    events.extend_from_slice(ran.receipt.id().prefixed().as_bytes());
    events.extend_from_slice(b"\",\"receipt\":");
    events.extend_from_slice(&ran.receipt.to_json());
    events.extend_from_slice(b"}\n\n");
    Ok(Bytes::from(events))
}

/// The body of a stream, produced as the call runs.
struct EventStream {
    node: Arc<NodeState>,
    /// Events to send before waiting for more.
    pending: Option<Bytes>,
    events: UnboundedReceiver<Streamed>,
    lines: Lines,
    /// The call, until it has ended.
    running: Option<Running>,
    /// Counts the call when it ends (dropped early: `cancelled`).
    meter: Option<Meter>,
}

impl EventStream {
    /// The stream of body chunks.
    fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut stream| async move {
            let next = stream.next().await?;
            Some((Ok(next), stream))
        })
    }

    /// The next bytes to send, or `None` at the end.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(pending) = self.pending.take().filter(|p| !p.is_empty()) {
            return Some(pending);
        }
        self.running.as_ref()?;
        loop {
            match self.events.recv().await {
                Some(Streamed::Chunk(chunk)) => match self.lines.push(&chunk) {
                    Ok(events) if events.is_empty() => {}
                    Ok(events) => return Some(events),
                    Err(error) => {
                        // Cancels the call: what it would send next cannot be sent.
                        self.running = None;
                        if let Some(meter) = self.meter.take() {
                            meter.finish(Err(&error));
                        }
                        return Some(error_event(error));
                    }
                },
                Some(Streamed::Loaded(_)) => {}
                None => return Some(self.end().await),
            }
        }
    }

    /// The last events, once the call has ended: its tail, or its error.
    async fn end(&mut self) -> Bytes {
        let Some(running) = self.running.take() else { return Bytes::new() };
        let result = running.finish(&self.node).await;
        if let Some(meter) = self.meter.take() {
            meter.finish(result.as_ref().map(|ran| &ran.receipt));
        }
        match result.and_then(|ran| tail(&mut self.lines, &ran)) {
            Ok(tail) => tail,
            Err(error) => error_event(error),
        }
    }
}

/// The event that ends a stream that failed after its first chunk.
fn error_event(error: ApiError) -> Bytes {
    let json = one_line(&error.openai().body_json());
    Bytes::from([b"data: ", json.as_slice(), b"\n\n"].concat())
}

/// Turns the guest's JSON Lines into `data:` events, `created` spliced into each line.
/// A line split across chunks is held until its end arrives.
///
/// The client rebuilds the output the receipt covers from the events alone (each `data:`
/// without `created`, plus `\n`), so only output that this rebuilds exactly can be
/// streamed: lines that each hold one object (starting `{"`, no `\r`, which SSE reads as a
/// line end), every one ended by `\n`. Anything else ends the stream with an error
/// (`invalid_stream_output`); the function broke the contract of its profile.
struct Lines {
    created: u64,
    /// The start of a line whose `\n` has not arrived yet.
    partial: Vec<u8>,
}

impl Lines {
    /// The events of the lines that `bytes` completes.
    fn push(&mut self, bytes: &[u8]) -> Result<Bytes, ApiError> {
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else { return Ok(Bytes::new()) };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        self.events(&complete).map(Bytes::from)
    }

    /// The events of the lines `bytes` completes, which must end the output.
    fn finish(&mut self, bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
        self.partial.extend_from_slice(bytes);
        let all = std::mem::take(&mut self.partial);
        if !all.is_empty() && !all.ends_with(b"\n") {
            return Err(invalid_stream_output("its last line has no \\n"));
        }
        self.events(&all)
    }

    /// The events of `lines`, complete lines each ended by `\n`.
    fn events(&self, lines: &[u8]) -> Result<Vec<u8>, ApiError> {
        let mut events = Vec::with_capacity(lines.len() + 64);
        let Some(lines) = lines.strip_suffix(b"\n") else { return Ok(events) };
        for line in lines.split(|&b| b == b'\n') {
            if !line.starts_with(b"{\"") || line.contains(&b'\r') {
                return Err(invalid_stream_output("a line is not one JSON object starting with {\""));
            }
            events.extend_from_slice(b"data: ");
            events.extend_from_slice(&splice_created(line, self.created));
            events.extend_from_slice(b"\n\n");
        }
        Ok(events)
    }
}

/// The function's streamed output cannot be sent as events that rebuild it.
fn invalid_stream_output(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_stream_output",
        format!("the function's streamed output is not JSON Lines of objects: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_spliced_events_as_they_complete() {
        let mut lines = Lines { created: 5, partial: Vec::new() };
        assert_eq!(lines.push(b"{\"id\":1}\n").unwrap(), &b"data: {\"created\":5,\"id\":1}\n\n"[..]);
        assert_eq!(lines.push(b"{\"id\"").unwrap(), &b""[..]);
        assert_eq!(
            lines.push(b":2}\n{\"id\":3}\n").unwrap(),
            &b"data: {\"created\":5,\"id\":2}\n\ndata: {\"created\":5,\"id\":3}\n\n"[..]
        );
        assert_eq!(lines.finish(b"{\"id\":4}\n").unwrap(), b"data: {\"created\":5,\"id\":4}\n\n");
        assert_eq!(lines.push(b"{\"id\":5}").unwrap(), &b""[..]);
        assert_eq!(lines.finish(b"\n").unwrap(), b"data: {\"created\":5,\"id\":5}\n\n");
        assert_eq!(lines.finish(b"").unwrap(), b"");
    }

    #[test]
    fn output_that_events_cannot_rebuild_is_refused() {
        for (pushed, finished) in [
            (&b"{\"id\":1}\n\n"[..], &b""[..]),
            (b"{\"id\":1}\r\n", b""),
            (b"[1]\n", b""),
            (b"{\"id\":1}\n", b"{\"id\":2}"),
            (b"", b"{\"id\":2}\n\n"),
            (b"{\"id\":1", b"}"),
        ] {
            let mut lines = Lines { created: 5, partial: Vec::new() };
            let result = lines.push(pushed).and_then(|_| lines.finish(finished));
            let Err(error) = result else { panic!("{pushed:?} then {finished:?} was accepted") };
            assert_eq!(error.code(), "invalid_stream_output");
        }
    }

    #[test]
    fn events_rebuild_the_output_by_unsplicing() {
        let output = b"{\"id\":\"a\",\"x\":1}\n{\"id\":\"a\",\"x\":2}\n{\"id\":\"a\",\"x\":3}\n";
        let mut lines = Lines { created: 1_764_000_000, partial: Vec::new() };
        let mut events = lines.push(&output[..20]).unwrap().to_vec();
        events.extend_from_slice(&lines.finish(&output[20..]).unwrap());
        let text = String::from_utf8(events).unwrap();
        let rebuilt: Vec<u8> = text
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .flat_map(|data| [super::super::unsplice_created(data.as_bytes()).unwrap(), b"\n".to_vec()].concat())
            .collect();
        assert_eq!(rebuilt, output);
    }
}
