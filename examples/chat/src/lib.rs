//! chat: OpenAI-compatible chat completions with SmolLM2-135M-Instruct.
//!
//! Input: a `/v1/chat/completions` request body ([`request`]). The handler renders the
//! chat template ([`template`]), tokenizes it in the guest ([`tokenizer`]), runs the prompt
//! through the `smollm2` model (wasi-nn `ggml`, one execution context whose KV cache holds
//! [`request::CONTEXT_TOKENS`] tokens), then samples ([`sampling`], seeded by WASI random,
//! which the host derives from the call's seed) and feeds back one token at a time
//! ([`generate`]) until `<|im_end|>` or another control token, a stop string, or
//! `max_tokens`.
//!
//! Output ([`response`]): a `chat.completion` object, or with `"stream": true`
//! `chat.completion.chunk` JSON lines: every line but the last is `emit`ted, the last is
//! returned. A refused request returns an OpenAI error body
//! `{"error":{"message","type":"invalid_request_error","param","code"}}`
//! ([`wasmnn_guest::openai`]); so does a prompt that outgrows the context (`context_length_exceeded`). Other failures (the
//! model cannot load, …) return a plain message.
#![forbid(unsafe_code)]

pub mod generate;
pub mod request;
pub mod response;
pub mod sampling;
pub mod template;
pub mod text;
pub mod tokenizer;

#[cfg(test)]
mod fixture_tests;

use wasmnn_guest::{ErrorCode, Handler, Model, Tensor};

use crate::generate::{Events, Generation, Quiet, Settings};
use crate::request::{CONTEXT_TOKENS, ChatRequest};
use crate::response::{Usage, Writer};
use crate::sampling::Sampler;
use wasmnn_guest::openai::ApiError;

/// The model's name in wasmnn.toml.
const MODEL: &str = "smollm2";
/// The model's output: the last position's logits, f32 `[1, 49152]`.
const LOGITS: &str = "logits";

/// The handler.
struct Chat;

impl Handler for Chat {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no random seed: {e}"))?;
        let request = request::parse(&input).map_err(|e| e.to_json())?;
        let prompt = tokenizer::encode(&template::render(&request.messages));
        let max_tokens = max_tokens(prompt.len(), request.max_tokens).map_err(|e| e.to_json())?;
        let writer = Writer {
            id: response::completion_id(&seed, &input),
            model: request.model.clone(),
            include_usage: request.stream && request.include_usage,
        };
        let token_bytes = |id| tokenizer::token_bytes(id).to_vec();
        let settings = Settings {
            max_tokens,
            control_tokens: tokenizer::CONTROL_TOKENS,
            stops: request.stop.clone(),
            token_bytes: &token_bytes,
        };
        let mut sampler = Sampler::new(request.sampling, seed);
        let generation = if request.stream {
            generate_with_model(&prompt, settings, &mut sampler, &mut Emitter(&writer))?
        } else {
            generate_with_model(&prompt, settings, &mut sampler, &mut Quiet)?
        };
        Ok(finish(&request, &writer, prompt.len(), &generation))
    }
}

wasmnn_guest::export_handler!(Chat);

/// The completion budget: the request's `max_tokens` (prompt and completion must fit in the
/// context), else all the room the prompt leaves.
fn max_tokens(prompt: usize, requested: Option<usize>) -> Result<usize, ApiError> {
    match requested {
        Some(tokens) if prompt + tokens > CONTEXT_TOKENS => Err(ApiError::context_length(format!(
            "this model's context is {CONTEXT_TOKENS} tokens, but the messages take {prompt} and max_tokens asks \
             for {tokens}"
        ))),
        Some(tokens) => Ok(tokens),
        None if prompt >= CONTEXT_TOKENS => Err(ApiError::context_length(format!(
            "this model's context is {CONTEXT_TOKENS} tokens, but the messages take {prompt}"
        ))),
        None => Ok(CONTEXT_TOKENS - prompt),
    }
}

/// Runs [`generate::generate`] on the `smollm2` model.
fn generate_with_model(
    prompt: &[u32],
    settings: Settings<'_>,
    sampler: &mut Sampler,
    events: &mut impl Events,
) -> Result<Generation, String> {
    let model = Model::load(MODEL).map_err(|e| e.to_string())?;
    let mut session = model.session().map_err(|e| e.to_string())?;
    let step = |ids: &[u32]| -> Result<Vec<f32>, wasmnn_guest::Error> {
        let ids: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
        let dims = [u32::try_from(ids.len()).unwrap_or(u32::MAX)];
        let outputs = session.compute([("tokens", Tensor::from_i64(&dims, &ids)?)])?;
        outputs.get(LOGITS)?.to_f32()
    };
    generate::generate(prompt, settings, sampler, step, events).map_err(|e| {
        if e.code() == ErrorCode::TooLarge {
            ApiError::context_length(format!("the conversation outgrew the model's context: {e}")).to_json()
        } else {
            e.to_string()
        }
    })
}

/// Emits the chunks of a streamed completion as the loop reports progress.
struct Emitter<'a>(&'a Writer);

impl Events for Emitter<'_> {
    fn started(&mut self) {
        wasmnn_guest::emit(&self.0.role_chunk());
    }

    fn delta(&mut self, text: &str) {
        wasmnn_guest::emit(&self.0.content_chunk(text));
    }
}

/// The returned bytes: the completion object, or the stream's last line (the usage chunk
/// after an emitted finish chunk, or the finish chunk).
fn finish(request: &ChatRequest, writer: &Writer, prompt: usize, generation: &Generation) -> Vec<u8> {
    let usage = Usage::new(prompt, generation.completion_tokens);
    if !request.stream {
        return writer.completion(&generation.content, generation.finish_reason, usage);
    }
    let finish_chunk = writer.finish_chunk(generation.finish_reason);
    if writer.include_usage {
        wasmnn_guest::emit(&finish_chunk);
        writer.usage_chunk(usage)
    } else {
        finish_chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completion_must_fit_in_the_context() {
        assert_eq!(max_tokens(38, None), Ok(2010));
        assert_eq!(max_tokens(38, Some(2010)), Ok(2010));
        assert_eq!(max_tokens(2047, None), Ok(1));
        for (prompt, requested) in [(38, Some(2011)), (2048, None), (2048, Some(1)), (5000, None)] {
            let error = max_tokens(prompt, requested).expect_err("too long");
            assert_eq!((error.code, error.param.as_deref()), ("context_length_exceeded", Some("messages")));
        }
    }

    #[test]
    fn the_manifest_names_the_model_and_the_profile() {
        let manifest = include_str!("../wasmnn.toml");
        assert!(manifest.contains(&format!("name = \"{MODEL}\"")));
        assert!(manifest.contains("input = \"application/json; profile=openai-chat\""));
    }
}
