//! complete: greedy decoding of token ids with SmolLM2 through wasi-nn `ggml`.
//!
//! The smallest handler that drives an LLM: one execution context (the host keeps its
//! KV cache), the prompt in one compute, then one compute per generated token, each
//! picking the largest logit (the lowest id on ties). Tokenizing and sampling belong to the
//! chat handler; this one exists to exercise the engine through the sandbox.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use wasmnn_guest::{Handler, Model, Tensor};

/// The most tokens one call may generate.
const MAX_TOKENS: usize = 1024;

/// The request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// The prompt's token ids.
    tokens: Vec<i64>,
    /// How many tokens to generate at most.
    max_tokens: usize,
    /// Token ids that end the completion (included in the output).
    #[serde(default)]
    stop: Vec<i64>,
}

/// The response.
#[derive(Serialize)]
struct Response {
    /// The generated ids.
    tokens: Vec<i64>,
    /// `length` when `max_tokens` were generated, `stop` when a stop id was.
    finish_reason: &'static str,
}

/// The handler.
struct Complete;

impl Handler for Complete {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let request: Request = serde_json::from_slice(&input).map_err(|e| format!("bad request: {e}"))?;
        if request.tokens.is_empty() {
            return Err("bad request: tokens is empty".into());
        }
        if !(1..=MAX_TOKENS).contains(&request.max_tokens) {
            return Err(format!("bad request: max_tokens must be in 1..={MAX_TOKENS}"));
        }
        let response = complete(&request).map_err(|e| e.to_string())?;
        serde_json::to_vec(&response).map_err(|e| e.to_string())
    }
}

/// Runs the prompt and the greedy steps.
fn complete(request: &Request) -> Result<Response, wasmnn_guest::Error> {
    let model = Model::load("smollm2")?;
    let mut session = model.session()?;
    let mut step = |ids: &[i64]| -> Result<i64, wasmnn_guest::Error> {
        let dims = [u32::try_from(ids.len()).unwrap_or(u32::MAX)];
        let outputs = session.compute([("tokens", Tensor::from_i64(&dims, ids)?)])?;
        Ok(argmax(&outputs.get("logits")?.to_f32()?))
    };
    let mut tokens = vec![step(&request.tokens)?];
    loop {
        let last = tokens[tokens.len() - 1];
        if request.stop.contains(&last) {
            return Ok(Response { tokens, finish_reason: "stop" });
        }
        if tokens.len() == request.max_tokens {
            return Ok(Response { tokens, finish_reason: "length" });
        }
        tokens.push(step(&[last])?);
    }
}

/// The id of the largest logit, the lowest on ties; a NaN logit is never chosen over a
/// number.
fn argmax(logits: &[f32]) -> i64 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] || (logits[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best as i64
}

wasmnn_guest::export_handler!(Complete);

#[cfg(test)]
mod tests {
    use super::argmax;

    #[test]
    fn argmax_takes_the_lowest_id_on_ties() {
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0]), 1);
    }
}
