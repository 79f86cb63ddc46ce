//! embeddings: OpenAI-style sentence embeddings with all-MiniLM-L6-v2 (int8 ONNX).
//!
//! Input: JSON `{"input": "a sentence"}` or `{"input": ["a sentence", …]}` (at most
//! [`request::MAX_ITEMS`] sentences), optionally `"encoding_format": "float" | "base64"`
//! and `"dimensions": 384`. Output: JSON
//!
//! ```json
//! {"object": "list",
//!  "data": [{"object": "embedding", "index": 0, "embedding": [384 floats]}, …],
//!  "model": "embeddings",
//!  "usage": {"prompt_tokens": 10, "total_tokens": 10}}
//! ```
//!
//! With `"encoding_format": "base64"`, each `embedding` is instead a string, the base64 of
//! its 384 little-endian f32 (what the `openai` Python client asks for by default). A
//! refused request returns an OpenAI error body,
//! `{"error":{"message","type":"invalid_request_error","param","code"}}`
//! ([`wasmnn_guest::openai`]). The `model` is the request's `model` if it has one (as the
//! chat handler's), else the function's name.
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

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use crate::request::EncodingFormat;
use wasmnn_guest::{Handler, Model, Tensor};

/// The function's name in wasmnn.toml, reported as the response's `model` if the request
/// names none.
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
        let request = request::parse(&input).map_err(|e| e.to_json())?;
        let batch = tokenize::tokenize(&request.sentences)?;
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
        let model = request.model.as_deref().unwrap_or(FUNCTION);
        serde_json::to_vec(&Response::new(embeddings, batch.tokens(), request.encoding_format, model))
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
struct Response<'a> {
    /// Always `"list"`.
    object: &'static str,
    /// One embedding per input sentence, in input order.
    data: Vec<Embedding>,
    /// The request's `model`, else the function's name.
    model: &'a str,
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
    embedding: EmbeddingData,
}

/// An embedding as written in the response.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum EmbeddingData {
    /// A list of numbers.
    Float(Vec<f32>),
    /// The base64 of the little-endian f32 bytes.
    Base64(String),
}

impl EmbeddingData {
    /// `embedding` written as `format` asks.
    fn new(embedding: Vec<f32>, format: EncodingFormat) -> Self {
        match format {
            EncodingFormat::Float => Self::Float(embedding),
            EncodingFormat::Base64 => {
                let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
                Self::Base64(BASE64.encode(bytes))
            }
        }
    }
}

/// How many tokens the call embedded (padding excluded, special tokens included).
#[derive(Debug, Serialize)]
struct Usage {
    /// The tokens of all input sentences.
    prompt_tokens: usize,
    /// The same: embeddings generate no tokens.
    total_tokens: usize,
}

impl<'a> Response<'a> {
    /// The response for `embeddings` in input order, made from `tokens` tokens, each
    /// embedding written as `format` asks, reporting `model`.
    fn new(embeddings: Vec<Vec<f32>>, tokens: usize, format: EncodingFormat, model: &'a str) -> Self {
        let data = embeddings
            .into_iter()
            .enumerate()
            .map(|(index, embedding)| Embedding {
                object: "embedding",
                index,
                embedding: EmbeddingData::new(embedding, format),
            })
            .collect();
        Self { object: "list", data, model, usage: Usage { prompt_tokens: tokens, total_tokens: tokens } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_has_the_openai_shape() {
        let json = serde_json::to_string(&Response::new(
            vec![vec![0.6, 0.8], vec![1.0, 0.0]],
            9,
            EncodingFormat::Float,
            FUNCTION,
        ))
        .expect("json");
        assert_eq!(
            json,
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]},{"object":"embedding","index":1,"embedding":[1.0,0.0]}],"model":"embeddings","usage":{"prompt_tokens":9,"total_tokens":9}}"#
        );
    }

    /// Base64 decodes to the float embedding, bit for bit (the bytes as numpy's
    /// `np.frombuffer(base64.b64decode(s), dtype="<f4")` reads them).
    #[test]
    fn base64_is_the_little_endian_f32_bytes() {
        let embedding = vec![0.6f32, -0.8, f32::MIN_POSITIVE, 1.0 / 3.0];
        let response = Response::new(vec![embedding.clone()], 3, EncodingFormat::Base64, FUNCTION);
        let json = serde_json::to_value(&response).expect("json");
        let text = json["data"][0]["embedding"].as_str().expect("a string");
        let bytes = BASE64.decode(text).expect("base64");
        let decoded: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        assert_eq!(
            decoded.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            embedding.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // Python: base64.b64encode(np.array([0.6, -0.8, 1.1754944e-38, 1/3], "<f4").tobytes())
        assert_eq!(text, "mpkZP83MTL8AAIAAq6qqPg==");
    }

    /// The response's `model` echoes the request's, else names the function.
    #[test]
    fn the_model_field_echoes_the_request() {
        let model = |body: &[u8]| {
            let request = request::parse(body).expect("valid");
            let name = request.model.as_deref().unwrap_or(FUNCTION);
            let json = serde_json::to_value(Response::new(vec![vec![1.0]], 1, request.encoding_format, name));
            json.expect("json")["model"].as_str().expect("a string").to_string()
        };
        assert_eq!(model(br#"{"input": "a", "model": "text-embedding-3-small"}"#), "text-embedding-3-small");
        assert_eq!(model(br#"{"input": "a", "model": "m\"x"}"#), "m\"x");
        assert_eq!(model(br#"{"input": "a"}"#), FUNCTION);
        assert_eq!(model(br#"{"input": "a", "model": null}"#), FUNCTION);
    }

    #[test]
    fn the_default_model_field_is_the_function_name() {
        let manifest = include_str!("../wasmnn.toml");
        assert!(manifest.contains(&format!("name = \"{FUNCTION}\"")));
        assert!(manifest.contains(&format!("name = \"{MODEL}\"")));
    }
}
