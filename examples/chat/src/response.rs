//! The response objects, in OpenAI's shapes and field order.
//!
//! Every object starts with the bytes `{"id"`: the node splices `"created":T,` in after
//! the `{` (the only field that is not a function of the input and seed).
//!
//! - Not streamed: one `chat.completion` object, no trailing newline.
//! - Streamed: `chat.completion.chunk` objects, each followed by `\n`: the role chunk
//!   (`"delta":{"role":"assistant","content":""}`), one chunk per non-empty text delta
//!   (`"delta":{"content":"…"}`), the finish chunk (`"delta":{}` and the
//!   `finish_reason`); with `include_usage`, every chunk has `"usage":null` and a last
//!   chunk has `"choices":[]` and the usage.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Why the completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn or a stop string matched.
    Stop,
    /// `max_tokens` were generated.
    Length,
}

impl FinishReason {
    /// The OpenAI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// The prompt's tokens (chat template included).
    pub prompt_tokens: usize,
    /// The sampled tokens, a final end-of-turn token included.
    pub completion_tokens: usize,
    /// Their sum.
    pub total_tokens: usize,
}

impl Usage {
    /// The usage of a prompt of `prompt` tokens and a completion of `completion`.
    pub fn new(prompt: usize, completion: usize) -> Self {
        Self { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
    }
}

/// The `id` of the completion of request body `input` under `seed`, the 32 bytes of WASI
/// random the handler draws first (which the host derives from the call's seed):
/// `chatcmpl-` and the first 12 bytes of sha256("wasmnn-chat-id\0" ‖ seed ‖ input) in hex.
/// The same on every node for the same input and call seed, and different across seeds.
pub fn completion_id(seed: &[u8; 32], input: &[u8]) -> String {
    let digest = Sha256::new().chain_update(b"wasmnn-chat-id\0").chain_update(seed).chain_update(input).finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("chatcmpl-{hex}")
}

/// Writes the objects of one completion.
#[derive(Debug, Clone)]
pub struct Writer {
    /// The completion's id.
    pub id: String,
    /// The request's `model`.
    pub model: String,
    /// Whether streamed chunks carry `"usage":null` and a usage chunk ends the stream.
    pub include_usage: bool,
}

/// `chat.completion`.
#[derive(Serialize)]
struct Completion<'a> {
    /// The id.
    id: &'a str,
    /// `chat.completion`.
    object: &'static str,
    /// The request's model.
    model: &'a str,
    /// The one choice.
    choices: [Choice<'a>; 1],
    /// Token counts.
    usage: Usage,
}

/// A choice of a `chat.completion`.
#[derive(Serialize)]
struct Choice<'a> {
    /// 0.
    index: u32,
    /// The reply.
    message: AssistantMessage<'a>,
    /// `null`.
    logprobs: Option<()>,
    /// `stop` or `length`.
    finish_reason: &'static str,
}

/// The reply message.
#[derive(Serialize)]
struct AssistantMessage<'a> {
    /// `assistant`.
    role: &'static str,
    /// The text.
    content: &'a str,
    /// `null`.
    refusal: Option<()>,
}

/// `chat.completion.chunk`.
#[derive(Serialize)]
struct Chunk<'a> {
    /// The id.
    id: &'a str,
    /// `chat.completion.chunk`.
    object: &'static str,
    /// The request's model.
    model: &'a str,
    /// One choice, or none in the usage chunk.
    choices: Vec<ChunkChoice<'a>>,
    /// Absent without `include_usage`; else `null`, or the counts in the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

/// A choice of a chunk.
#[derive(Serialize)]
struct ChunkChoice<'a> {
    /// 0.
    index: u32,
    /// What the chunk adds.
    delta: Delta<'a>,
    /// `null`.
    logprobs: Option<()>,
    /// `null` until the finish chunk.
    finish_reason: Option<&'static str>,
}

/// What a chunk adds to the message.
#[derive(Serialize)]
struct Delta<'a> {
    /// `assistant`, in the first chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

impl Writer {
    /// The `chat.completion` object.
    pub fn completion(&self, content: &str, finish: FinishReason, usage: Usage) -> Vec<u8> {
        let message = AssistantMessage { role: "assistant", content, refusal: None };
        let choice = Choice { index: 0, message, logprobs: None, finish_reason: finish.as_str() };
        let completion =
            Completion { id: &self.id, object: "chat.completion", model: &self.model, choices: [choice], usage };
        json(&completion)
    }

    /// The first chunk, `"delta":{"role":"assistant","content":""}`, and a newline.
    pub fn role_chunk(&self) -> Vec<u8> {
        self.chunk(Delta { role: Some("assistant"), content: Some("") }, None)
    }

    /// A text chunk and a newline.
    pub fn content_chunk(&self, text: &str) -> Vec<u8> {
        self.chunk(Delta { role: None, content: Some(text) }, None)
    }

    /// The finish chunk, `"delta":{}`, and a newline.
    pub fn finish_chunk(&self, finish: FinishReason) -> Vec<u8> {
        self.chunk(Delta { role: None, content: None }, Some(finish.as_str()))
    }

    /// The usage chunk, `"choices":[]`, and a newline.
    pub fn usage_chunk(&self, usage: Usage) -> Vec<u8> {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            model: &self.model,
            choices: Vec::new(),
            usage: Some(Some(usage)),
        };
        line(json(&chunk))
    }

    /// A one-choice chunk and a newline.
    fn chunk(&self, delta: Delta<'_>, finish_reason: Option<&'static str>) -> Vec<u8> {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            model: &self.model,
            choices: vec![ChunkChoice { index: 0, delta, logprobs: None, finish_reason }],
            usage: self.include_usage.then_some(None),
        };
        line(json(&chunk))
    }
}

/// Compact JSON (the types here always serialize).
fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// `bytes` and a newline.
fn line(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(include_usage: bool) -> Writer {
        Writer { id: "chatcmpl-0123".into(), model: "chat".into(), include_usage }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn the_id_hashes_the_seed_and_the_input() {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        // Python: hashlib.sha256(b"wasmnn-chat-id\x00" + bytes(range(32)) + b"{}").hexdigest()[:24]
        assert_eq!(completion_id(&seed, b"{}"), "chatcmpl-0b57644ffe57b94225d54faf");
        // Python: hashlib.sha256(b"wasmnn-chat-id\x00" + bytes(32) + b"{}").hexdigest()[:24]
        assert_eq!(completion_id(&[0; 32], b"{}"), "chatcmpl-0b5a6be96b4e3d1b21ecd68c");
        assert_ne!(completion_id(&seed, b"{}"), completion_id(&seed, b"{ }"));
    }

    #[test]
    fn writes_a_completion() {
        let out = writer(false).completion("4 \"ok\"", FinishReason::Stop, Usage::new(38, 3));
        assert_eq!(
            text(out),
            r#"{"id":"chatcmpl-0123","object":"chat.completion","model":"chat","choices":[{"index":0,"message":{"role":"assistant","content":"4 \"ok\"","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":38,"completion_tokens":3,"total_tokens":41}}"#
        );
    }

    #[test]
    fn writes_chunks() {
        let w = writer(false);
        assert_eq!(
            text(w.role_chunk()),
            "{\"id\":\"chatcmpl-0123\",\"object\":\"chat.completion.chunk\",\"model\":\"chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n"
        );
        assert_eq!(
            text(w.content_chunk("é\n")),
            "{\"id\":\"chatcmpl-0123\",\"object\":\"chat.completion.chunk\",\"model\":\"chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"é\\n\"},\"logprobs\":null,\"finish_reason\":null}]}\n"
        );
        assert_eq!(
            text(w.finish_chunk(FinishReason::Length)),
            "{\"id\":\"chatcmpl-0123\",\"object\":\"chat.completion.chunk\",\"model\":\"chat\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n"
        );
        let w = writer(true);
        assert!(text(w.finish_chunk(FinishReason::Stop)).ends_with("\"finish_reason\":\"stop\"}],\"usage\":null}\n"));
        assert_eq!(
            text(w.usage_chunk(Usage::new(1, 2))),
            "{\"id\":\"chatcmpl-0123\",\"object\":\"chat.completion.chunk\",\"model\":\"chat\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n"
        );
    }
}
