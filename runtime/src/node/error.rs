//! Errors as the HTTP API answers them: a status and the JSON body
//! `{"error": {"code", "message", "type"}}` (DESIGN.md "Interfaces").

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wasmnn_registry::api::ErrorBody;
use wasmnn_registry::manifest::ManifestError;
use wasmnn_registry::store::StoreError;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, a stable `code` and a `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody::new(status.as_u16(), code, message), retry_after: None }
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
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
