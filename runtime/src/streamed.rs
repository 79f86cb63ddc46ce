//! A streamed chat completion as its client receives it (docs/HTTP.md "OpenAI-compatible
//! endpoints"): the events of `POST /v1/chat/completions` with `"stream": true`, put back
//! together and checked against the receipt that ends them.
//!
//! The events are chunks (`data: {…}`), `data: [DONE]`, then `event: wasmnn-receipt` with
//! `{"id", "receipt"}`. The output the receipt covers is every chunk without the node's
//! `created` field, each followed by `\n`; [`StreamedReply`] rebuilds it as the chunks
//! arrive, and [`FinishedReply::check`] compares it, and the request, with the receipt.
//! `wasmnn chat`, the tests and the benchmarks all read streams through this one type.

use serde_json::Value;
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::sse::SseEvent;

use crate::node::unsplice_created;
use crate::receipt::{ReceiptError, SignedReceipt};

/// The name of the event that carries the receipt.
pub const RECEIPT_EVENT: &str = "wasmnn-receipt";

/// Why a stream cannot be accepted.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A `data:` event that is not the JSON of a chunk.
    #[error("the node sent a chunk that is not a JSON object with the created field: {0}")]
    BadChunk(String),
    /// The call failed after its first chunk (the node's error event).
    #[error("the call failed mid-stream: {0}")]
    Failed(String),
    /// Events out of order: a chunk after `[DONE]`, anything after the receipt, a receipt
    /// before `[DONE]`.
    #[error("the stream is out of order: {0}")]
    OutOfOrder(&'static str),
    /// The stream ended before its receipt.
    #[error("the stream ended {0}")]
    Incomplete(&'static str),
    /// More output than the client accepts.
    #[error("the stream's output is over {0} bytes")]
    TooLarge(usize),
    /// The receipt event is not `{"id", "receipt"}` with a receipt that verifies.
    #[error("the receipt event does not check out: {0}")]
    BadReceipt(String),
    /// The receipt verifies, but does not describe this call.
    #[error("the receipt does not match the call: {0}")]
    Mismatch(String),
}

impl From<ReceiptError> for StreamError {
    fn from(error: ReceiptError) -> Self {
        StreamError::BadReceipt(error.to_string())
    }
}

/// A stream being received.
#[derive(Debug)]
pub struct StreamedReply {
    chunks: Vec<Value>,
    output: Vec<u8>,
    max_output: usize,
    done: bool,
    receipt: Option<SignedReceipt>,
}

/// A stream received whole: its chunks, the output they rebuild, and its receipt (whose
/// signature verified and whose id is the one the event announced).
#[derive(Debug)]
pub struct FinishedReply {
    /// The chunks as sent (with `created`).
    pub chunks: Vec<Value>,
    /// The output the receipt should cover.
    pub output: Vec<u8>,
    /// The receipt.
    pub receipt: SignedReceipt,
}

impl StreamedReply {
    /// An empty stream refusing more than `max_output` bytes of output.
    pub fn new(max_output: usize) -> Self {
        StreamedReply { chunks: Vec::new(), output: Vec::new(), max_output, done: false, receipt: None }
    }

    /// Takes the next event; returns the chunk it added, if it was one.
    ///
    /// # Errors
    /// See [`StreamError`]; the stream is then unusable.
    pub fn push(&mut self, event: &SseEvent) -> Result<Option<&Value>, StreamError> {
        if self.receipt.is_some() {
            return Err(StreamError::OutOfOrder("an event after the receipt"));
        }
        if event.event.as_deref() == Some(RECEIPT_EVENT) {
            if !self.done {
                return Err(StreamError::OutOfOrder("the receipt before [DONE]"));
            }
            self.receipt = Some(receipt_of(&event.data)?);
            return Ok(None);
        }
        if event.data == "[DONE]" {
            if self.done {
                return Err(StreamError::OutOfOrder("a second [DONE]"));
            }
            self.done = true;
            return Ok(None);
        }
        if self.done {
            return Err(StreamError::OutOfOrder("a chunk after [DONE]"));
        }
        let chunk: Value =
            serde_json::from_str(&event.data).map_err(|e| StreamError::BadChunk(format!("{e}: {}", event.data)))?;
        if let Some(error) = chunk.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
            return Err(StreamError::Failed(message.to_owned()));
        }
        let raw = unsplice_created(event.data.as_bytes()).ok_or_else(|| StreamError::BadChunk(event.data.clone()))?;
        if self.output.len() + raw.len() + 1 > self.max_output {
            return Err(StreamError::TooLarge(self.max_output));
        }
        self.output.extend_from_slice(&raw);
        self.output.push(b'\n');
        self.chunks.push(chunk);
        Ok(self.chunks.last())
    }

    /// The whole stream, once its receipt has arrived.
    ///
    /// # Errors
    /// [`StreamError::Incomplete`] if it has not.
    pub fn finish(self) -> Result<FinishedReply, StreamError> {
        match (self.done, self.receipt) {
            (_, Some(receipt)) => Ok(FinishedReply { chunks: self.chunks, output: self.output, receipt }),
            (true, None) => Err(StreamError::Incomplete("after [DONE] without a receipt")),
            (false, None) => Err(StreamError::Incomplete("before [DONE]")),
        }
    }
}

impl FinishedReply {
    /// The assistant's text: the chunks' `delta.content`, in order.
    pub fn content(&self) -> String {
        self.chunks.iter().filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str()).collect()
    }

    /// The finish reason the chunks gave, if any.
    pub fn finish_reason(&self) -> Option<&str> {
        self.chunks.iter().rev().find_map(|chunk| chunk["choices"][0]["finish_reason"].as_str())
    }

    /// Checks that the receipt covers `request` (the body sent), the output rebuilt from
    /// the chunks, `seed`, and, when the node named one (`wasmnn-manifest`), `manifest`.
    ///
    /// # Errors
    /// [`StreamError::Mismatch`] naming the first field that differs.
    pub fn check(&self, request: &[u8], seed: u64, manifest: Option<&Sha256Digest>) -> Result<(), StreamError> {
        let stated = self.receipt.receipt();
        let mismatch = |what: String| Err(StreamError::Mismatch(what));
        if stated.input != Sha256Digest::of_bytes(request) {
            return mismatch(format!("its input digest {} is not that of the request", stated.input.prefixed()));
        }
        if stated.output != Sha256Digest::of_bytes(&self.output) {
            return mismatch(format!("its output digest {} is not that of the chunks", stated.output.prefixed()));
        }
        if stated.seed != seed {
            return mismatch(format!("its seed is {}, the request's {seed}", stated.seed));
        }
        if let Some(manifest) = manifest.filter(|m| **m != stated.manifest) {
            return mismatch(format!(
                "it ran manifest {}, the stream announced {}",
                stated.manifest.prefixed(),
                manifest.prefixed()
            ));
        }
        Ok(())
    }
}

/// The signed receipt of the event data `{"id": "sha256:…", "receipt": {signed receipt}}`,
/// its signature verified and its id the announced one.
fn receipt_of(data: &str) -> Result<SignedReceipt, StreamError> {
    let envelope: Value = serde_json::from_str(data).map_err(|e| StreamError::BadReceipt(e.to_string()))?;
    let announced = envelope["id"].as_str().ok_or_else(|| StreamError::BadReceipt("no id".to_owned()))?;
    let signed = serde_json::to_vec(&envelope["receipt"]).map_err(|e| StreamError::BadReceipt(e.to_string()))?;
    let receipt = SignedReceipt::from_json(&signed)?;
    if receipt.id().prefixed() != announced {
        return Err(StreamError::BadReceipt(format!(
            "it announces id {announced}, but its receipt's id is {}",
            receipt.id().prefixed()
        )));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use wasmnn_registry::keys::SecretKey;

    use super::*;
    use crate::receipt::{RECEIPT_SCHEMA, Receipt};

    fn data(text: &str) -> SseEvent {
        SseEvent { event: None, data: text.to_owned() }
    }

    fn receipt(output: &[u8], request: &[u8]) -> SignedReceipt {
        let key = SecretKey::generate().unwrap();
        Receipt {
            schema: RECEIPT_SCHEMA,
            spec_version: 3,
            manifest: Sha256Digest::of_bytes(b"manifest"),
            input: Sha256Digest::of_bytes(request),
            output: Sha256Digest::of_bytes(output),
            seed: 7,
            fuel: 1,
            ops: 2,
            backend: "cpu".to_owned(),
            node: key.public(),
            time: 3,
        }
        .sign(&key)
        .unwrap()
    }

    fn receipt_event(receipt: &SignedReceipt) -> SseEvent {
        let json = String::from_utf8(receipt.to_json()).unwrap();
        let data = format!("{{\"id\":\"{}\",\"receipt\":{json}}}", receipt.id().prefixed());
        SseEvent { event: Some(RECEIPT_EVENT.to_owned()), data }
    }

    const CHUNKS: [&str; 2] = [
        r#"{"created":9,"id":"c","choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}"#,
        r#"{"created":9,"id":"c","choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
    ];
    const OUTPUT: &[u8] = b"{\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\
        {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n";

    #[test]
    fn a_whole_stream_rebuilds_the_output_its_receipt_covers() {
        let signed = receipt(OUTPUT, b"request");
        let mut stream = StreamedReply::new(1 << 20);
        for chunk in CHUNKS {
            assert!(stream.push(&data(chunk)).unwrap().is_some());
        }
        assert!(stream.push(&data("[DONE]")).unwrap().is_none());
        stream.push(&receipt_event(&signed)).unwrap();
        let finished = stream.finish().unwrap();
        assert_eq!(finished.output, OUTPUT);
        assert_eq!((finished.content().as_str(), finished.finish_reason()), ("Hello", Some("stop")));
        finished.check(b"request", 7, Some(&Sha256Digest::of_bytes(b"manifest"))).unwrap();
        for (request, seed, manifest) in
            [(&b"other"[..], 7, None), (b"request", 8, None), (b"request", 7, Some(Sha256Digest::of_bytes(b"x")))]
        {
            let result = finished.check(request, seed, manifest.as_ref());
            assert!(matches!(result, Err(StreamError::Mismatch(_))), "{result:?}");
        }
    }

    #[test]
    fn broken_streams_are_refused() {
        let signed = receipt(OUTPUT, b"request");
        let cases: Vec<(Vec<SseEvent>, &str)> = vec![
            (vec![data("{nope")], "BadChunk"),
            (vec![data(r#"{"id":"c"}"#)], "BadChunk"),
            (vec![data(r#"{"error":{"message":"boom"}}"#)], "Failed"),
            (vec![receipt_event(&signed)], "OutOfOrder"),
            (vec![data("[DONE]"), data(CHUNKS[0])], "OutOfOrder"),
            (vec![data("[DONE]"), data("[DONE]")], "OutOfOrder"),
            (vec![data("[DONE]"), receipt_event(&signed), data("[DONE]")], "OutOfOrder"),
            (vec![data(CHUNKS[0]), data(CHUNKS[1]), data(CHUNKS[0])], "TooLarge"),
        ];
        for (events, expected) in cases {
            let mut stream = StreamedReply::new(OUTPUT.len());
            let error = events.iter().find_map(|e| stream.push(e).err()).expect("refused");
            assert!(format!("{error:?}").starts_with(expected), "{error:?} is not {expected}");
        }
        let mut tampered = receipt_event(&signed);
        tampered.data = tampered.data.replacen("sha256:", "sha256:0", 1);
        let mut stream = StreamedReply::new(1 << 20);
        stream.push(&data("[DONE]")).unwrap();
        assert!(matches!(stream.push(&tampered), Err(StreamError::BadReceipt(_))));
        let unfinished = StreamedReply::new(1 << 20);
        assert!(matches!(unfinished.finish(), Err(StreamError::Incomplete(_))));
    }
}
