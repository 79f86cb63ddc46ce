//! Errors as the HTTP API answers them: a status and the JSON body
//! `{"error": {"code", "message", "type"}}` (DESIGN.md "Interfaces"). On the
//! OpenAI-compatible routes the body is OpenAI's `{"error": {"message", "type", "param",
//! "code"}}`, `param` always present; a guest's own OpenAI error goes out verbatim.

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wasmnn_registry::api::ErrorBody;
use wasmnn_registry::manifest::ManifestError;
use wasmnn_registry::store::StoreError;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    /// Boxed: results carrying an `ApiError` stay small.
    body: Box<ErrorBody>,
    retry_after: Option<u64>,
    /// Serialize `param` even when it is `null` (OpenAI's shape).
    openai: bool,
    /// A body to send as it is, instead of `body` (a guest's OpenAI error).
    verbatim: Option<Bytes>,
}

impl ApiError {
    /// An error with `status`, a stable `code` and a `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody::new(status.as_u16(), code, message)),
            retry_after: None,
            openai: false,
            verbatim: None,
        }
    }

    /// An error whose body is `json` exactly (already an error object), counted under
    /// `code`.
    pub fn verbatim(status: StatusCode, code: &str, json: impl Into<Bytes>) -> Self {
        ApiError { verbatim: Some(json.into()), ..ApiError::new(status, code, String::new()) }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error's JSON body, as it will be sent.
    pub fn body_json(&self) -> Bytes {
        if let Some(json) = &self.verbatim {
            return json.clone();
        }
        let json = if self.openai {
            serde_json::to_vec(&OpenAiBody::from(&*self.body))
        } else {
            serde_json::to_vec(&self.body)
        };
        // Strings and an optional string always serialize.
        Bytes::from(json.unwrap_or_default())
    }

    /// This error about the request field `param`.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.body.error.param = Some(param.into());
        self
    }

    /// This error in OpenAI's shape (`param` always present).
    pub fn openai(mut self) -> Self {
        self.openai = true;
        self
    }

    /// `400` with `code`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `500 internal`: the node failed, not the request. The cause is logged.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(%message, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message.to_string())
    }

    /// The stable error code.
    pub fn code(&self) -> &str {
        &self.body.error.code
    }

    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.body.error.message
    }

    /// This error with a `retry-after` header (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// This error with a list of blobs attached (`missing_blobs`).
    pub fn with_missing(mut self, missing: Vec<wasmnn_registry::Sha256Digest>) -> Self {
        self.body.error.missing = missing;
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(%error, "registry failure");
        }
        ApiError::new(status, error.code(), error.to_string())
    }
}

impl From<ManifestError> for ApiError {
    fn from(error: ManifestError) -> Self {
        StoreError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = if self.openai || self.verbatim.is_some() {
            let json = self.body_json();
            (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
        } else {
            (self.status, Json(*self.body)).into_response()
        };
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// OpenAI's error body: `param` is always sent.
#[derive(serde::Serialize)]
struct OpenAiBody<'a> {
    error: OpenAiDetail<'a>,
}

/// OpenAI's error object, in its field order.
#[derive(serde::Serialize)]
struct OpenAiDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: &'a str,
}

impl<'a> From<&'a ErrorBody> for OpenAiBody<'a> {
    fn from(body: &'a ErrorBody) -> Self {
        let error = &body.error;
        OpenAiBody {
            error: OpenAiDetail {
                message: &error.message,
                kind: &error.kind,
                param: error.param.as_deref(),
                code: &error.code,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(error: &ApiError) -> serde_json::Value {
        serde_json::from_slice(&error.body_json()).unwrap()
    }

    #[test]
    fn openai_errors_always_carry_param() {
        let error = ApiError::new(StatusCode::NOT_FOUND, "model_not_found", "no model").openai();
        assert_eq!(
            json(&error),
            serde_json::json!({"error": {"message": "no model", "type": "not_found_error", "param": null, "code": "model_not_found"}})
        );
        let error = ApiError::bad_request("invalid_value", "bad seed").with_param("seed").openai();
        assert_eq!(json(&error)["error"]["param"], "seed");
    }

    #[test]
    fn other_errors_omit_an_absent_param() {
        let error = ApiError::bad_request("invalid_seed", "bad seed");
        assert_eq!(
            json(&error),
            serde_json::json!({"error": {"code": "invalid_seed", "message": "bad seed", "type": "invalid_request_error"}})
        );
    }

    #[test]
    fn a_verbatim_body_goes_out_unchanged() {
        let body = r#"{"error":{"message":"m","type":"invalid_request_error","param":"n","code":"invalid_value"}}"#;
        let error = ApiError::verbatim(StatusCode::BAD_REQUEST, "handler_error", body).openai();
        assert_eq!(error.body_json(), body.as_bytes());
        assert_eq!(error.code(), "handler_error");
    }
}
