//! The JSON bodies of the registry's HTTP API (docs/REGISTRY.md "HTTP API"), shared by
//! the node that serves them and the client that reads them, so the two cannot drift.

use serde::{Deserialize, Serialize};

use crate::Sha256Digest;
use crate::keys::PublicKey;

/// Every error response: `{"error": {"code", "message", "type"}}`, plus `param` where
/// one field of the request is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The body of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable code programs can match on (`name_taken`, `digest_mismatch`, …).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The class of error, derived from the HTTP status (`invalid_request_error`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field the error is about (OpenAI's `param`), e.g. `model`. Omitted
    /// when absent, except on the OpenAI-compatible routes, which always send it (`null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// For `missing_blobs`: the blobs to upload before posting the manifest again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Sha256Digest>,
}

impl ErrorBody {
    /// An error body with `code` and `message`, classed by `status`.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                kind: error_type(status).to_owned(),
                param: None,
                missing: Vec::new(),
            },
        }
    }
}

/// The error class of an HTTP status, in the style of OpenAI's API (which issue 9's
/// endpoints share).
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 | 410 => "not_found_error",
        409 => "conflict_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// `201`/`200` answer to `POST /v1/manifests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The manifest digest: the function's identity.
    pub digest: Sha256Digest,
    /// The function name.
    pub name: String,
    /// The version.
    pub version: semver::Version,
}

/// Answer to `PUT /v1/blobs/…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStored {
    /// The blob.
    pub digest: Sha256Digest,
    /// Its size.
    pub size: u64,
}

/// Answer to `GET /v1/functions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionList {
    /// Every function, by name.
    pub functions: Vec<FunctionSummary>,
}

/// A function in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSummary {
    /// The function name.
    pub name: String,
    /// The publisher that owns the name.
    pub owner: PublicKey,
    /// The highest version that is not yanked.
    pub latest: Option<semver::Version>,
    /// Every version, in semver order.
    pub versions: Vec<VersionSummary>,
}

/// A version in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSummary {
    /// The version.
    pub version: semver::Version,
    /// Its manifest digest.
    pub digest: Sha256Digest,
    /// Hidden from resolution by name.
    pub yanked: bool,
}

/// Answer to `GET /v1/functions/{name}`: the listing plus the resolved version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionDetail {
    /// Name, owner and versions.
    #[serde(flatten)]
    pub function: FunctionSummary,
    /// The version asked for, or the highest not yanked.
    pub resolved: ResolvedVersion,
}

/// A resolved version with its signed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedVersion {
    /// The version.
    pub version: semver::Version,
    /// The manifest digest.
    pub digest: Sha256Digest,
    /// The signed manifest (`{"manifest", "signature"}`), as JSON.
    pub manifest: serde_json::Value,
}

/// Answer to `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// `ok`.
    pub status: String,
    /// The node's wasmnn version.
    pub version: String,
    /// Function names.
    pub functions: u64,
    /// Stored blobs.
    pub blobs: u64,
    /// Blobs that failed their digest and wait for a good copy.
    pub quarantined: u64,
    /// Calls whose receipt, input and output are retained.
    pub calls: u64,
    /// The executor that runs models: `cpu` or `gpu`.
    pub backend: String,
    /// How the backend was chosen (the GPU self-test result, or why the CPU).
    pub backend_report: String,
    /// The key that signs this node's receipts.
    pub node_key: PublicKey,
}

/// `GET /v1/receipts?after=CURSOR&limit=N`: recorded calls in the order the node recorded
/// them, for peers that spot-check its work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptPage {
    /// The calls after the cursor, oldest first.
    pub receipts: Vec<ListedReceipt>,
    /// The cursor to ask from next (the last call's place, or the cursor asked from when
    /// the page is empty).
    pub next: String,
}

/// One recorded call in a [`ReceiptPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedReceipt {
    /// The receipt id.
    pub id: Sha256Digest,
    /// Its place in recording order (a cursor: `<seconds>-<hex>`).
    pub at: String,
    /// The signed receipt, `{"receipt": …, "signature": …}`, as recorded.
    pub receipt: serde_json::Value,
}
