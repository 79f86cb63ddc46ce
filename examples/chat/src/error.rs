//! The OpenAI error body the handler returns as its `Err`.
//!
//! `{"error":{"message":"…","type":"invalid_request_error","param":<string or null>,"code":"…"}}`:
//! the node answers a handler error in this shape with status 400 and the body as is.

use serde::Serialize;

/// A request the handler refuses, with OpenAI's error fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What is wrong, for people.
    pub message: String,
    /// The request field at fault (`messages[1].content`, `max_tokens`…), if one is.
    pub param: Option<String>,
    /// The machine-readable reason: `invalid_json`, `invalid_type`, `invalid_value`,
    /// `missing_required_parameter`, `unsupported_parameter`, `context_length_exceeded` or
    /// `request_too_large`.
    pub code: &'static str,
}

/// The wire shape, `{"error": {…}}`.
#[derive(Serialize)]
struct Body<'a> {
    /// The error.
    error: Detail<'a>,
}

/// The fields of the error, in OpenAI's order.
#[derive(Serialize)]
struct Detail<'a> {
    /// [`ApiError::message`].
    message: &'a str,
    /// Always `invalid_request_error`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// [`ApiError::param`], `null` if none.
    param: Option<&'a str>,
    /// [`ApiError::code`].
    code: &'static str,
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

    /// A `context_length_exceeded` error (param `messages`).
    pub fn context_length(message: impl Into<String>) -> Self {
        Self::new("context_length_exceeded", Some("messages"), message)
    }

    /// The JSON body, `{"error":{…}}`.
    pub fn to_json(&self) -> String {
        let body = Body {
            error: Detail {
                message: &self.message,
                kind: "invalid_request_error",
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| self.message.clone())
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
        let error = ApiError::new("request_too_large", None, "too long");
        assert_eq!(
            error.to_json(),
            r#"{"error":{"message":"too long","type":"invalid_request_error","param":null,"code":"request_too_large"}}"#
        );
    }
}
