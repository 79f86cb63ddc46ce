//! embeddings: OpenAI-style sentence embeddings with all-MiniLM-L6-v2 (int8 ONNX).
//!
//! Input: JSON `{"input": "a sentence"}` or `{"input": ["a sentence", …]}` (at most
//! [`request::MAX_ITEMS`] sentences). Output: JSON
//!
//! ```json
//! {"object": "list",
//!  "data": [{"object": "embedding", "index": 0, "embedding": [384 floats]}, …],
//!  "model": "embeddings",
//!  "usage": {"prompt_tokens": 10, "total_tokens": 10}}
//! ```
//!
//! The steps: [`request::parse`] the body; [`tokenize::tokenize`] the sentences in the guest
//! (WordPiece, truncated to 256 tokens, the batch padded to its longest row); run the model
//! `minilm` once on the batch (`input_ids`, `attention_mask`, `token_type_ids`, i64
//! `[batch, seq]` → `last_hidden_state`, f32 `[batch, seq, 384]`); then
//! [`pooling::mean_pool_normalize`]. The embeddings are unit vectors, so their dot product
//! is the cosine similarity.
#![forbid(unsafe_code)]

pub mod pooling;
pub mod request;
pub mod tokenize;

use serde::Serialize;
use wasmnn_guest::{Handler, Model, Tensor};

/// The function's name in wasmnn.toml, reported as the response's `model`.
const FUNCTION: &str = "embeddings";
/// The model's name in wasmnn.toml.
const MODEL: &str = "minilm";
/// The model's output: one 384-dimensional state per token.
const OUTPUT: &str = "last_hidden_state";
/// The size of a token state and of an embedding.
const DIM: usize = 384;

/// The handler: a JSON request in, JSON embeddings out.
struct Embeddings;

impl Handler for Embeddings {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let sentences = request::parse(&input)?;
        let batch = tokenize::tokenize(&sentences)?;
        let dims = [dim(batch.rows)?, dim(batch.seq_len)?];
        let model = Model::load(MODEL)?;
        let outputs = model.run([
            ("input_ids", Tensor::from_i64(&dims, &batch.input_ids)?),
            ("attention_mask", Tensor::from_i64(&dims, &batch.attention_mask)?),
            ("token_type_ids", Tensor::from_i64(&dims, &batch.token_type_ids)?),
        ])?;
        let hidden = outputs.get(OUTPUT)?;
        let expected = [dims[0], dims[1], DIM as u32];
        if hidden.dims() != expected {
            return Err(format!("{OUTPUT} has dimensions {:?}, expected {expected:?}", hidden.dims()));
        }
        let embeddings = pooling::mean_pool_normalize(&hidden.to_f32()?, &batch.attention_mask, batch.seq_len, DIM);
        serde_json::to_vec(&Response::new(embeddings, batch.tokens()))
            .map_err(|e| format!("cannot write the response: {e}"))
    }
}

wasmnn_guest::export_handler!(Embeddings);

/// A batch dimension as a tensor dimension.
fn dim(value: usize) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("a batch dimension is too large: {value}"))
}

/// The response body, in the OpenAI embeddings format.
#[derive(Debug, Serialize)]
struct Response {
    /// Always `"list"`.
    object: &'static str,
    /// One embedding per input sentence, in input order.
    data: Vec<Embedding>,
    /// The function's name.
    model: &'static str,
    /// Token counts.
    usage: Usage,
}

/// One sentence's embedding.
#[derive(Debug, Serialize)]
struct Embedding {
    /// Always `"embedding"`.
    object: &'static str,
    /// The sentence's position in the input.
    index: usize,
    /// The unit-length embedding.
    embedding: Vec<f32>,
}

/// How many tokens the call embedded (padding excluded, special tokens included).
#[derive(Debug, Serialize)]
struct Usage {
    /// The tokens of all input sentences.
    prompt_tokens: usize,
    /// The same: embeddings generate no tokens.
    total_tokens: usize,
}

impl Response {
    /// The response for `embeddings` in input order, made from `tokens` tokens.
    fn new(embeddings: Vec<Vec<f32>>, tokens: usize) -> Self {
        let data = embeddings
            .into_iter()
            .enumerate()
            .map(|(index, embedding)| Embedding { object: "embedding", index, embedding })
            .collect();
        Self { object: "list", data, model: FUNCTION, usage: Usage { prompt_tokens: tokens, total_tokens: tokens } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_has_the_openai_shape() {
        let json = serde_json::to_string(&Response::new(vec![vec![0.6, 0.8], vec![1.0, 0.0]], 9)).expect("json");
        assert_eq!(
            json,
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]},{"object":"embedding","index":1,"embedding":[1.0,0.0]}],"model":"embeddings","usage":{"prompt_tokens":9,"total_tokens":9}}"#
        );
    }

    #[test]
    fn the_model_field_is_the_function_name() {
        let manifest = include_str!("../wasmnn.toml");
        assert!(manifest.contains(&format!("name = \"{FUNCTION}\"")));
        assert!(manifest.contains(&format!("name = \"{MODEL}\"")));
    }
}
