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
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tracing::Instrument;
use wasmnn_registry::Sha256Digest;

use super::wire::{one_line, splice_created};
use crate::node::NodeState;
use crate::node::calls::{self, Meter, Ran, Running, Streamed, Target};
use crate::node::error::ApiError;
use crate::node::invoke_api::header_value;

/// The event after the last chunk.
const DONE: &[u8] = b"data: [DONE]\n\n";

/// Runs a streamed call and answers it (see the module documentation).
pub(crate) async fn respond(
    node: &Arc<NodeState>,
    meter: Meter,
    admitted: OwnedSemaphorePermit,
    target: Target,
    input: Bytes,
    seed: u64,
    created: u64,
) -> Response {
    let (sender, mut events) = unbounded_channel();
    let span = meter.span().clone();
    let running = match calls::start(node, admitted, target, input, seed, Some(sender)).instrument(span).await {
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
        Some(chunk) => EventStream {
            node: Arc::clone(node),
            pending: Some(lines.push(&chunk)),
            events,
            lines,
            running: Some(running),
            meter: Some(meter),
        },
        // The call ended without emitting: its error, or the whole answer at once.
        None => match running.finish(node).await {
            Err(error) => return super::fail(meter, error),
            Ok(ran) => {
                meter.finish(Ok(&ran.receipt));
                manifest = Some(ran.manifest);
                let tail = tail(&mut lines, &ran);
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
fn tail(lines: &mut Lines, ran: &Ran) -> Bytes {
    let mut events = lines.finish(&ran.returned());
    events.extend_from_slice(DONE);
    events.extend_from_slice(b"event: wasmnn-receipt\ndata: {\"id\":\"");
    events.extend_from_slice(ran.receipt.id().prefixed().as_bytes());
    events.extend_from_slice(b"\",\"receipt\":");
    events.extend_from_slice(&ran.receipt.to_json());
    events.extend_from_slice(b"}\n\n");
    Bytes::from(events)
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
                Some(Streamed::Chunk(chunk)) => {
                    let events = self.lines.push(&chunk);
                    if !events.is_empty() {
                        return Some(events);
                    }
                }
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
        match result {
            Ok(ran) => tail(&mut self.lines, &ran),
            Err(error) => {
                let json = one_line(&error.openai().body_json());
                Bytes::from([b"data: ", json.as_slice(), b"\n\n"].concat())
            }
        }
    }
}

/// Turns the guest's JSON Lines into `data:` events, `created` spliced into each line.
/// A line split across chunks is held until its end arrives; empty lines are skipped.
struct Lines {
    created: u64,
    /// The start of a line whose `\n` has not arrived yet.
    partial: Vec<u8>,
}

impl Lines {
    /// The events of the lines that `bytes` completes.
    fn push(&mut self, bytes: &[u8]) -> Bytes {
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else { return Bytes::new() };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        Bytes::from(self.events(&complete))
    }

    /// The events of every line left, the last one even without its `\n`.
    fn finish(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.partial.extend_from_slice(bytes);
        let all = std::mem::take(&mut self.partial);
        self.events(&all)
    }

    fn events(&self, lines: &[u8]) -> Vec<u8> {
        let mut events = Vec::with_capacity(lines.len() + 64);
        for line in lines.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            events.extend_from_slice(b"data: ");
            events.extend_from_slice(&splice_created(line, self.created));
            events.extend_from_slice(b"\n\n");
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_spliced_events_as_they_complete() {
        let mut lines = Lines { created: 5, partial: Vec::new() };
        assert_eq!(lines.push(b"{\"id\":1}\n"), &b"data: {\"created\":5,\"id\":1}\n\n"[..]);
        assert_eq!(lines.push(b"{\"id\""), &b""[..]);
        assert_eq!(
            lines.push(b":2}\n{\"id\":3}\n\n"),
            &b"data: {\"created\":5,\"id\":2}\n\ndata: {\"created\":5,\"id\":3}\n\n"[..]
        );
        assert_eq!(lines.finish(b"{\"id\":4}\n"), b"data: {\"created\":5,\"id\":4}\n\n");
        assert_eq!(lines.push(b"{\"id\":5}"), &b""[..]);
        assert_eq!(lines.finish(b""), b"data: {\"created\":5,\"id\":5}\n\n");
    }

    #[test]
    fn events_rebuild_the_output_by_unsplicing() {
        let output = b"{\"id\":\"a\",\"x\":1}\n{\"id\":\"a\",\"x\":2}\n{\"id\":\"a\",\"x\":3}\n";
        let mut lines = Lines { created: 1_764_000_000, partial: Vec::new() };
        let mut events = lines.push(&output[..20]).to_vec();
        events.extend_from_slice(&lines.finish(&output[20..]));
        let text = String::from_utf8(events).unwrap();
        let rebuilt: Vec<u8> = text
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .flat_map(|data| [super::super::unsplice_created(data.as_bytes()).unwrap(), b"\n".to_vec()].concat())
            .collect();
        assert_eq!(rebuilt, output);
    }
}
