//! The request: OpenAI-style `{"input": "text"}` or `{"input": ["text", …]}`.

use serde_json::Value;

use wasmnn_guest::openai::{ApiError, kind, request_fields};

/// The most sentences one call may embed.
pub const MAX_ITEMS: usize = 64;
/// The longest sentence accepted, in bytes of UTF-8. Sentences are truncated to
/// [`crate::tokenize::MAX_TOKENS`] tokens anyway; this bounds the tokenizer's work.
pub const MAX_ITEM_BYTES: usize = 16 << 10;
/// The largest request body accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// The only `dimensions` accepted: the model's.
pub const DIMENSIONS: u64 = 384;

/// How the response writes each embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    /// A list of numbers (the default).
    Float,
    /// A string: the base64 of the embedding's little-endian f32 bytes (the `openai`
    /// Python client's default).
    Base64,
}

/// A valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The sentences, in order.
    pub sentences: Vec<String>,
    /// How to write the embeddings.
    pub encoding_format: EncodingFormat,
    /// The request's `model`, echoed in the response, if it has one.
    pub model: Option<String>,
}

/// The request of a body.
///
/// Read: `input`, `model` (optional; a string, echoed in the response), `encoding_format`
/// (`"float"` or `"base64"`) and `dimensions` (384 if given). Other OpenAI fields (`user`,
/// …) and unknown fields are ignored.
///
/// # Errors
/// The OpenAI error for what is wrong: not JSON, no `input`, an empty list, an item that is
/// not a string, too many items, a body or item that is too long, a `model` that is not a
/// string, an unknown `encoding_format`, other `dimensions`.
pub fn parse(body: &[u8]) -> Result<Request, ApiError> {
    let mut fields = request_fields(body, MAX_REQUEST_BYTES, r#"{"input": ["a sentence"]}"#)?;
    let model = match fields.remove("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(model)) => Some(model),
        Some(other) => {
            return Err(ApiError::invalid_type("model", format!("model must be a string, not {}", kind(&other))));
        }
    };
    let encoding_format = match fields.get("encoding_format") {
        None | Some(Value::Null) => EncodingFormat::Float,
        Some(Value::String(format)) if format == "float" => EncodingFormat::Float,
        Some(Value::String(format)) if format == "base64" => EncodingFormat::Base64,
        Some(other) => {
            return Err(ApiError::invalid_value(
                "encoding_format",
                format!(r#"encoding_format must be "float" or "base64", not {other}"#),
            ));
        }
    };
    match fields.get("dimensions") {
        None | Some(Value::Null) => {}
        Some(d) if d.as_u64() == Some(DIMENSIONS) => {}
        Some(other) => {
            return Err(ApiError::invalid_value(
                "dimensions",
                format!("this model's embeddings have {DIMENSIONS} dimensions, not {other}"),
            ));
        }
    }
    let sentences = match fields.remove("input") {
        Some(Value::String(sentence)) => vec![sentence],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ApiError::invalid_value("input", r#""input" is an empty list"#));
            }
            if items.len() > MAX_ITEMS {
                return Err(ApiError::invalid_value(
                    "input",
                    format!(r#""input" has more than {MAX_ITEMS} items: {}"#, items.len()),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(sentence) => Ok(sentence),
                    other => Err(ApiError::invalid_type(
                        &format!("input[{i}]"),
                        format!(r#""input"[{i}] is not a string: {}"#, kind(&other)),
                    )),
                })
                .collect::<Result<_, _>>()?
        }
        None | Some(Value::Null) => {
            return Err(ApiError::new(
                "missing_required_parameter",
                Some("input"),
                r#"the request has no "input" field"#,
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid_type(
                "input",
                format!(r#""input" must be a string or a list of strings, not {}"#, kind(&other)),
            ));
        }
    };
    if let Some((i, sentence)) = sentences.iter().enumerate().find(|(_, s)| s.len() > MAX_ITEM_BYTES) {
        return Err(ApiError::invalid_value(
            &format!("input[{i}]"),
            format!(r#""input"[{i}] is longer than {MAX_ITEM_BYTES} bytes: {}"#, sentence.len()),
        ));
    }
    Ok(Request { sentences, encoding_format, model })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(body: &[u8]) -> Result<Vec<String>, ApiError> {
        parse(body).map(|r| r.sentences)
    }

    #[test]
    fn accepts_one_sentence_or_a_list() {
        assert_eq!(sentences(br#"{"input": "one"}"#), Ok(vec!["one".to_string()]));
        assert_eq!(
            parse(br#"{"input": ["a", ""], "model": "embeddings", "encoding_format": "float", "dimensions": 384}"#),
            Ok(Request {
                sentences: vec!["a".to_string(), String::new()],
                encoding_format: EncodingFormat::Float,
                model: Some("embeddings".to_string()),
            })
        );
        assert_eq!(
            parse(br#"{"input": "a", "model": "text-embedding-3-small"}"#).map(|r| r.model),
            Ok(Some("text-embedding-3-small".to_string()))
        );
        assert_eq!(parse(br#"{"input": "a", "model": null}"#).map(|r| r.model), Ok(None));
        assert_eq!(parse(br#"{"input": "a"}"#).map(|r| r.model), Ok(None));
        assert_eq!(
            parse(br#"{"input": "a", "encoding_format": "base64", "user": "u"}"#).map(|r| r.encoding_format),
            Ok(EncodingFormat::Base64)
        );
    }

    #[test]
    fn rejects_bad_requests_with_a_reason() {
        let cases: [(&[u8], &str, Option<&str>, &str); 12] = [
            (b"nope", "invalid_json", None, "the request is not valid JSON: expected ident at line 1 column 2"),
            (b"[1]", "invalid_json", None, r#"the request must be a JSON object such as {"input": ["a sentence"]}"#),
            (b"{}", "missing_required_parameter", Some("input"), r#"the request has no "input" field"#),
            (br#"{"input": []}"#, "invalid_value", Some("input"), r#""input" is an empty list"#),
            (br#"{"input": ["a", 3]}"#, "invalid_type", Some("input[1]"), r#""input"[1] is not a string: a number"#),
            (
                br#"{"input": {"a": 1}}"#,
                "invalid_type",
                Some("input"),
                r#""input" must be a string or a list of strings, not an object"#,
            ),
            (
                br#"{"input": "a", "encoding_format": "int8"}"#,
                "invalid_value",
                Some("encoding_format"),
                r#"encoding_format must be "float" or "base64", not "int8""#,
            ),
            (
                br#"{"input": "a", "dimensions": 256}"#,
                "invalid_value",
                Some("dimensions"),
                "this model's embeddings have 384 dimensions, not 256",
            ),
            (
                br#"{"input": "a", "dimensions": "384"}"#,
                "invalid_value",
                Some("dimensions"),
                r#"this model's embeddings have 384 dimensions, not "384""#,
            ),
            (br#"{"input": [[101, 102]]}"#, "invalid_type", Some("input[0]"), r#""input"[0] is not a string: a list"#),
            (br#"{"input": null}"#, "missing_required_parameter", Some("input"), r#"the request has no "input" field"#),
            (br#"{"input": "a", "model": 1}"#, "invalid_type", Some("model"), "model must be a string, not a number"),
        ];
        for (body, code, param, message) in cases {
            assert_eq!(parse(body), Err(ApiError::new(code, param, message)), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn rejects_too_much() {
        let many = format!(r#"{{"input": [{}]}}"#, vec![r#""x""#; MAX_ITEMS + 1].join(","));
        let error = parse(many.as_bytes()).expect_err("too many");
        assert_eq!(
            (error.code, error.message),
            ("invalid_value", format!(r#""input" has more than 64 items: {}"#, MAX_ITEMS + 1))
        );
        let long = format!(r#"{{"input": ["ok", "{}"]}}"#, "a".repeat(MAX_ITEM_BYTES + 1));
        let error = parse(long.as_bytes()).expect_err("too long");
        assert_eq!(error, ApiError::invalid_value("input[1]", r#""input"[1] is longer than 16384 bytes: 16385"#));
        let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
        let error = parse(&huge).expect_err("too long");
        assert_eq!((error.code, error.param.as_deref()), ("request_too_large", None));
        assert!(error.to_json().contains("the request is longer than 1048576 bytes"));
    }
}
