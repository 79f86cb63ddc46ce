//! The one error type of the SDK: a wasi-nn error code plus a message.

use std::fmt;

use crate::bindings::wasi::nn::errors;

/// What kind of failure an [`Error`] is: the wasi-nn `error-code` enum.
///
/// Errors raised by the host keep the host's code. Errors the SDK raises itself (a
/// tensor built with the wrong number of values, an output read as the wrong type, an
/// output name that does not exist) use [`ErrorCode::InvalidArgument`] or
/// [`ErrorCode::NotFound`], so a handler can treat both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The caller passed something wrong: a bad shape, type, name or value count.
    InvalidArgument,
    /// The model bytes could not be decoded.
    InvalidEncoding,
    /// The call ran out of time.
    Timeout,
    /// The model failed while running.
    RuntimeError,
    /// The host does not support what was asked (for example `load` from bytes).
    UnsupportedOperation,
    /// A size limit was hit (for example the call's tensor byte budget).
    TooLarge,
    /// Something named does not exist: a model the manifest does not declare, or an output.
    NotFound,
    /// The host refused the operation for security reasons.
    Security,
    /// Any other failure.
    Unknown,
}

impl ErrorCode {
    /// The code's wasi-nn name, as spelled in the WIT (`invalid-argument`, `not-found`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid-argument",
            Self::InvalidEncoding => "invalid-encoding",
            Self::Timeout => "timeout",
            Self::RuntimeError => "runtime-error",
            Self::UnsupportedOperation => "unsupported-operation",
            Self::TooLarge => "too-large",
            Self::NotFound => "not-found",
            Self::Security => "security",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<errors::ErrorCode> for ErrorCode {
    fn from(code: errors::ErrorCode) -> Self {
        match code {
            errors::ErrorCode::InvalidArgument => Self::InvalidArgument,
            errors::ErrorCode::InvalidEncoding => Self::InvalidEncoding,
            errors::ErrorCode::Timeout => Self::Timeout,
            errors::ErrorCode::RuntimeError => Self::RuntimeError,
            errors::ErrorCode::UnsupportedOperation => Self::UnsupportedOperation,
            errors::ErrorCode::TooLarge => Self::TooLarge,
            errors::ErrorCode::NotFound => Self::NotFound,
            errors::ErrorCode::Security => Self::Security,
            errors::ErrorCode::Unknown => Self::Unknown,
        }
    }
}

/// A failed wasi-nn call or SDK check: a code and the message saying what was wrong.
///
/// `Display` shows both as `code: message` (for example
/// `not-found: model not declared in wasmnn.toml: foo`), and an `Error` converts into the
/// `String` that [`Handler::handle`](crate::Handler::handle) returns, so `?` works in a
/// handler body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    /// Makes an error; handlers can use it for their own failures too.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The kind of failure.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message alone, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An SDK-side `invalid-argument` error.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(error: Error) -> Self {
        error.to_string()
    }
}

impl From<errors::Error> for Error {
    fn from(error: errors::Error) -> Self {
        Self::new(error.code().into(), error.data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_code_and_message() {
        let error = Error::new(ErrorCode::NotFound, "model not declared: foo");
        assert_eq!(error.to_string(), "not-found: model not declared: foo");
        assert_eq!(String::from(error.clone()), error.to_string());
        assert_eq!(error.code(), ErrorCode::NotFound);
        assert_eq!(error.message(), "model not declared: foo");
    }

    #[test]
    fn every_code_has_its_wit_name() {
        let codes = [
            (errors::ErrorCode::InvalidArgument, "invalid-argument"),
            (errors::ErrorCode::InvalidEncoding, "invalid-encoding"),
            (errors::ErrorCode::Timeout, "timeout"),
            (errors::ErrorCode::RuntimeError, "runtime-error"),
            (errors::ErrorCode::UnsupportedOperation, "unsupported-operation"),
            (errors::ErrorCode::TooLarge, "too-large"),
            (errors::ErrorCode::NotFound, "not-found"),
            (errors::ErrorCode::Security, "security"),
            (errors::ErrorCode::Unknown, "unknown"),
        ];
        for (wit, name) in codes {
            assert_eq!(ErrorCode::from(wit).as_str(), name);
        }
    }
}
