//! A node's registry: blob files plus the redb index (docs/REGISTRY.md).
//!
//! [`Store`] is synchronous: every change is one redb write transaction, blob bytes are
//! streamed to files outside any transaction, and the order of the two (file first, then
//! index) is what makes a crash at any point harmless. The HTTP layer calls it from
//! blocking threads.
//!
//! Call records (the signed receipt and the input and output bytes of each invocation)
//! live beside the registry: their files in a second [`BlobFiles`] under `DATA/calls`,
//! their index in the same redb database, kept under the policy's retention.

mod calls;
mod gc;
mod publish;
mod query;
mod tables;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable};

use crate::Sha256Digest;
use crate::blobs::{BlobError, BlobFiles};
use crate::keys::PublicKey;
use crate::manifest::ManifestError;

pub use calls::{CallBytes, CallCursor, CallData, INLINE_CALL_DATA, NewCall};
pub use gc::GcReport;
pub use publish::Publish;
pub use query::{Health, Resolved};

/// The file name of the index under the data dir.
pub const INDEX_FILE: &str = "index.redb";

/// The folder of the call data files under the data dir (its own `blobs/sha256/`, `tmp/`
/// and `quarantine/`).
pub const CALLS_DIR: &str = "calls";

/// What a node accepts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Only these publishers may publish; `None` is an open node.
    pub allowed_publishers: Option<BTreeSet<PublicKey>>,
    /// Bytes of blobs each publisher may have charged to it; `None` is unlimited.
    pub quota_bytes: Option<u64>,
    /// The largest blob accepted.
    pub max_blob_bytes: u64,
    /// How long a manifest waits for its blobs before `gc` drops it.
    pub pending_ttl: Duration,
    /// How long call records (receipt, input, output) are kept.
    pub call_retention: Duration,
    /// The most bytes of call data (inputs plus outputs, counted per call) kept; the oldest
    /// calls are dropped first.
    pub call_retention_bytes: u64,
}

impl Default for Policy {
    /// An open node: anyone may publish, no quota, blobs up to 4 GiB, 24 hours to upload;
    /// call records kept for 7 days and up to 1 GiB of call data.
    fn default() -> Self {
        Policy {
            allowed_publishers: None,
            quota_bytes: None,
            max_blob_bytes: 4 << 30,
            pending_ttl: Duration::from_secs(24 * 3600),
            call_retention: Duration::from_secs(7 * 24 * 3600),
            call_retention_bytes: 1 << 30,
        }
    }
}

/// A data dir opened for reading and writing: the blob files, the call data files and the
/// index.
pub struct Store {
    files: BlobFiles,
    /// Call inputs and outputs, under `DATA/calls`.
    call_files: BlobFiles,
    /// Held shared while call data files are written and indexed, exclusively while files
    /// that lost their last reference are deleted, so a file is never deleted under a call
    /// that is about to reference it.
    call_files_lock: RwLock<()>,
    db: Database,
    policy: Policy,
    dir: PathBuf,
}

/// Errors of registry operations. Each has a stable [`code`](StoreError::code) and an
/// HTTP status (docs/REGISTRY.md "HTTP API").
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The signed manifest or statement is malformed or its signature fails.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A blob write or read failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The index could not be opened, read or written.
    #[error("registry index: {0}")]
    Index(String),
    /// The publisher is not on this node's allow-list.
    #[error("publisher {0} is not allowed on this node")]
    NotAllowed(PublicKey),
    /// The name belongs to another publisher.
    #[error("function {name:?} belongs to publisher {owner}")]
    NameTaken {
        /// The function name.
        name: String,
        /// Its owner.
        owner: PublicKey,
    },
    /// `name@version` is already published as a different manifest.
    #[error("{name}@{version} is already published as {existing:?}; versions are immutable, publish a new version")]
    VersionExists {
        /// The function name.
        name: String,
        /// The version.
        version: String,
        /// The manifest it names.
        existing: Sha256Digest,
    },
    /// Storing the missing blobs would exceed the publisher's quota.
    #[error("publisher {publisher} would use {needed} bytes, over its quota of {quota} bytes")]
    QuotaExceeded {
        /// The publisher.
        publisher: PublicKey,
        /// Bytes it would have charged after this upload.
        needed: u64,
        /// Its quota.
        quota: u64,
    },
    /// A declared blob is larger than this node accepts.
    #[error("blob {digest:?} is {size} bytes; this node accepts at most {max}")]
    BlobTooLarge {
        /// The blob.
        digest: Sha256Digest,
        /// Its declared size.
        size: u64,
        /// The node's limit.
        max: u64,
    },
    /// A manifest declares a size for a stored blob that differs from its real size.
    #[error("the manifest declares blob {digest:?} as {declared} bytes, but it is {actual}")]
    DeclaredSize {
        /// The blob.
        digest: Sha256Digest,
        /// The manifest's size.
        declared: u64,
        /// The stored size.
        actual: u64,
    },
    /// No pending manifest declares this blob with this size.
    #[error(
        "no pending manifest declares blob {digest:?} with {size} bytes: post the signed manifest first (POST /v1/manifests)"
    )]
    BlobNotExpected {
        /// The blob.
        digest: Sha256Digest,
        /// The size sent.
        size: u64,
    },
    /// No function of that name.
    #[error("no function {0:?}")]
    UnknownFunction(String),
    /// The function has no such version (or every version is yanked).
    #[error("function {name:?} has no {what}")]
    UnknownVersion {
        /// The function name.
        name: String,
        /// What was asked for.
        what: String,
    },
    /// The version was yanked; it is still fetchable by digest.
    #[error("{name}@{version} was yanked; its manifest {digest:?} is still fetchable by digest")]
    VersionYanked {
        /// The function name.
        name: String,
        /// The version.
        version: String,
        /// Its manifest digest.
        digest: Sha256Digest,
    },
    /// No published manifest with that digest.
    #[error("no manifest {0:?}")]
    UnknownManifest(Sha256Digest),
    /// No stored blob with that digest.
    #[error("no blob {0:?}")]
    UnknownBlob(Sha256Digest),
    /// A yank statement is signed by someone other than the owner.
    #[error("only the owner {owner} may yank versions of {name:?}")]
    NotOwner {
        /// The function name.
        name: String,
        /// Its owner.
        owner: PublicKey,
    },
    /// A yank statement is too old, from the future, or replayed.
    #[error("stale statement: {0}")]
    StaleStatement(String),
    /// No call record with that receipt id (never recorded here, or dropped by retention).
    #[error("no call record for receipt {0:?} on this node (unknown, or past this node's retention)")]
    UnknownReceipt(Sha256Digest),
}

impl StoreError {
    /// The stable error code of the HTTP API.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Manifest(e) => e.code(),
            StoreError::Blob(BlobError::SizeMismatch { .. }) => "size_mismatch",
            StoreError::Blob(BlobError::DigestMismatch { .. }) => "digest_mismatch",
            StoreError::Blob(BlobError::NotFound(_)) | StoreError::UnknownBlob(_) => "unknown_blob",
            StoreError::Blob(BlobError::Corrupt { .. }) => "blob_corrupt",
            StoreError::Blob(BlobError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionAborted => {
                "upload_interrupted"
            }
            StoreError::Blob(BlobError::Io(_)) | StoreError::Index(_) => "internal",
            StoreError::NotAllowed(_) => "not_allowed",
            StoreError::NameTaken { .. } => "name_taken",
            StoreError::VersionExists { .. } => "version_exists",
            StoreError::QuotaExceeded { .. } => "quota_exceeded",
            StoreError::BlobTooLarge { .. } => "blob_too_large",
            StoreError::DeclaredSize { .. } => "size_mismatch",
            StoreError::BlobNotExpected { .. } => "blob_not_expected",
            StoreError::UnknownFunction(_) => "unknown_function",
            StoreError::UnknownVersion { .. } => "unknown_version",
            StoreError::VersionYanked { .. } => "version_yanked",
            StoreError::UnknownManifest(_) => "unknown_manifest",
            StoreError::NotOwner { .. } => "not_owner",
            StoreError::StaleStatement(_) => "stale_statement",
            StoreError::UnknownReceipt(_) => "unknown_receipt",
        }
    }

    /// The HTTP status the error is answered with.
    pub fn http_status(&self) -> u16 {
        match self.code() {
            "bad_signature" => 401,
            "not_allowed" | "name_taken" | "quota_exceeded" | "blob_not_expected" | "not_owner" => 403,
            "unknown_blob" | "unknown_function" | "unknown_version" | "unknown_manifest" | "unknown_receipt" => 404,
            "version_exists" => 409,
            "version_yanked" => 410,
            "blob_too_large" => 413,
            "internal" | "blob_corrupt" => 500,
            _ => 400,
        }
    }

    fn index(error: impl Into<redb::Error>) -> StoreError {
        StoreError::Index(error.into().to_string())
    }
}

impl Store {
    /// Opens (creating if needed) the registry under `data_dir` and brings the files and
    /// the index back in line after a crash: unfinished uploads and blob files the index
    /// does not know are deleted, and indexed blobs whose files are gone or the wrong size
    /// are marked quarantined (a good copy can be uploaded again). Call data files no call
    /// record references are deleted too (see [`Store::record_calls`]).
    ///
    /// # Errors
    /// The folder or the index cannot be opened (for example, another node has it open).
    pub fn open(data_dir: &Path, policy: Policy) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(BlobError::Io)?;
        let index = data_dir.join(INDEX_FILE);
        let db = Database::create(&index).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Index(format!(
                "{} is in use by another process (is a node running on this data dir?)",
                index.display()
            )),
            other => StoreError::index(other),
        })?;
        // Only once the index is ours: opening the files empties their tmp/ folders, which
        // must not happen under a node that already has this data dir open.
        let files = BlobFiles::open(data_dir).map_err(BlobError::Io)?;
        let call_files = BlobFiles::open(&data_dir.join(CALLS_DIR)).map_err(BlobError::Io)?;
        let store = Store { files, call_files, call_files_lock: RwLock::new(()), db, policy, dir: data_dir.to_owned() };
        store.create_tables()?;
        store.reconcile()?;
        store.reconcile_calls()?;
        Ok(store)
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The node's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        txn.open_table(tables::FUNCTIONS).map_err(StoreError::index)?;
        txn.open_table(tables::MANIFESTS).map_err(StoreError::index)?;
        txn.open_table(tables::PENDING).map_err(StoreError::index)?;
        txn.open_multimap_table(tables::EXPECTED).map_err(StoreError::index)?;
        txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
        txn.open_table(tables::USAGE).map_err(StoreError::index)?;
        txn.open_table(tables::CALLS).map_err(StoreError::index)?;
        txn.open_table(tables::CALLS_BY_TIME).map_err(StoreError::index)?;
        txn.open_table(tables::CALL_DATA).map_err(StoreError::index)?;
        txn.open_table(tables::CALL_INLINE).map_err(StoreError::index)?;
        txn.open_table(tables::CALL_TOTALS).map_err(StoreError::index)?;
        txn.commit().map_err(StoreError::index)
    }

    /// See [`Store::open`].
    fn reconcile(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        {
            let mut blobs = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
            for digest in self.files.list().map_err(BlobError::Io)? {
                if blobs.get(digest.to_hex().as_str()).map_err(StoreError::index)?.is_none() {
                    tracing::warn!(digest = %digest.prefixed(), "removing a blob file the index does not know (an upload cut short by a crash)");
                    self.files.remove(&digest).map_err(BlobError::Io)?;
                }
            }
            for (hex, mut record) in tables::all::<tables::BlobRecord>(&blobs)? {
                let digest = Sha256Digest::from_hex(&hex).map_err(|e| StoreError::Index(e.to_string()))?;
                if !record.quarantined && self.files.size(&digest) != Some(record.size) {
                    tracing::error!(digest = %digest.prefixed(), "an indexed blob's file is missing or has the wrong size; marked quarantined");
                    record.quarantined = true;
                    tables::put(&mut blobs, &hex, &record)?;
                }
            }
        }
        txn.commit().map_err(StoreError::index)
    }
}

/// Unix seconds now.
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
