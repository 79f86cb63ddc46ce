//! The error body OpenAI-compatible handlers return, which the node answers verbatim with 400.
//!
//! A handler whose `input` is `application/json; profile=openai-chat` or
//! `…; profile=openai-embeddings` refuses a request by returning [`ApiError::to_json`] as
//! its `Err`:
//! `{"error":{"message":"…","type":"invalid_request_error","param":<string or null>,"code":"…"}}`.
//! The node answers an error in this shape with status 400 and the body as is (any other
//! `Err` text becomes `400 handler_error`); docs/HANDLERS.md, "Chat and embeddings
//! functions", describes the contract.
//!
//! ```
//! use wasmnn_guest::openai::{ApiError, kind};
//!
//! let value = serde_json::json!({"max_tokens": "7"});
//! let error = ApiError::invalid_type("max_tokens", format!("max_tokens must be an integer, not {}", kind(&value["max_tokens"])));
//! assert_eq!(
//!     error.to_json(),
//!     r#"{"error":{"message":"max_tokens must be an integer, not a string","type":"invalid_request_error","param":"max_tokens","code":"invalid_type"}}"#
//! );
//! ```

use serde_json::{Map, Value};

/// A request the handler refuses, with OpenAI's error fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What is wrong, for people.
    pub message: String,
    /// The request field at fault (`messages[1].content`, `input[0]`…), if one is.
    pub param: Option<String>,
    /// The machine-readable reason, such as `invalid_json`, `invalid_type`, `invalid_value`,
    /// `missing_required_parameter`, `unsupported_parameter`, `context_length_exceeded` or
    /// `request_too_large`.
    pub code: &'static str,
}

impl ApiError {
    /// An error about `param` (or the request as a whole if `None`).
    pub fn new(code: &'static str, param: Option<&str>, message: impl Into<String>) -> Self {
        Self { message: message.into(), param: param.map(str::to_string), code }
    }

    /// An `invalid_type` error about `param`.
    pub fn invalid_type(param: &str, message: impl Into<String>) -> Self {
        Self::new("invalid_type", Some(param), message)
    }

    /// An `invalid_value` error about `param`.
    pub fn invalid_value(param: &str, message: impl Into<String>) -> Self {
        Self::new("invalid_value", Some(param), message)
    }

    /// An `unsupported_parameter` error about `param`.
    pub fn unsupported(param: &str, message: impl Into<String>) -> Self {
        Self::new("unsupported_parameter", Some(param), message)
    }

    /// A `context_length_exceeded` error (param `messages`, as OpenAI's).
    pub fn context_length(message: impl Into<String>) -> Self {
        Self::new("context_length_exceeded", Some("messages"), message)
    }

    /// The JSON body, `{"error":{…}}`: compact, fields in OpenAI's order, `type` always
    /// `invalid_request_error`, `param` `null` if none.
    pub fn to_json(&self) -> String {
        let param = self.param.as_deref().map_or_else(|| "null".to_string(), string);
        format!(
            r#"{{"error":{{"message":{},"type":"invalid_request_error","param":{param},"code":{}}}}}"#,
            string(&self.message),
            string(self.code),
        )
    }
}

/// `text` as a JSON string.
fn string(text: &str) -> String {
    Value::from(text).to_string()
}

/// A JSON value's kind, for error messages: `null`, `a boolean`, `a number`, `a string`,
/// `a list` or `an object`.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The fields of a request body: at most `max_bytes` bytes of JSON holding an object
/// (`example` shows one in the error message).
///
/// # Errors
/// `request_too_large`, or `invalid_json` when the body is not JSON or not an object.
pub fn request_fields(body: &[u8], max_bytes: usize, example: &str) -> Result<Map<String, Value>, ApiError> {
    if body.len() > max_bytes {
        let message = format!("the request is longer than {max_bytes} bytes: {}", body.len());
        return Err(ApiError::new("request_too_large", None, message));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new("invalid_json", None, format!("the request is not valid JSON: {e}")))?;
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(ApiError::new("invalid_json", None, format!("the request must be a JSON object such as {example}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_the_openai_shape() {
        let error = ApiError::invalid_value("max_tokens", "max_tokens must be at least 1, not \"0\"");
        assert_eq!(
            error.to_json(),
            r#"{"error":{"message":"max_tokens must be at least 1, not \"0\"","type":"invalid_request_error","param":"max_tokens","code":"invalid_value"}}"#
        );
        let error = ApiError::new("request_too_large", None, "too long\n\u{1}é");
        assert_eq!(
            error.to_json(),
            r#"{"error":{"message":"too long\n\u0001é","type":"invalid_request_error","param":null,"code":"request_too_large"}}"#
        );
        let parsed: Value = serde_json::from_str(&ApiError::context_length("x").to_json()).expect("json");
        assert_eq!(parsed["error"]["param"], "messages");
        assert_eq!(parsed["error"]["code"], "context_length_exceeded");
    }

    #[test]
    fn names_json_kinds() {
        let kinds: Vec<_> =
            [Value::Null, true.into(), 1.into(), "a".into(), Value::Array(vec![]), Value::Object(Default::default())]
                .iter()
                .map(kind)
                .collect();
        assert_eq!(kinds, ["null", "a boolean", "a number", "a string", "a list", "an object"]);
    }
}
