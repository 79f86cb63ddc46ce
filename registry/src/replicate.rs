//! Replicating a published function: post its signed manifest to a destination (a node
//! over HTTP, or a data dir opened directly), store the blobs it lacks, post it again
//! (docs/REGISTRY.md "Publishing protocol"). `wasmnn publish`, `pull`, `demo` and a
//! spot-checking node ([`pull_function`]) all go through [`push`].
//!
//! The signed manifest is the publisher's, relayed as is; every blob is checked against
//! its digest by whoever stores it, and a download never takes more bytes than the
//! manifest declares ([`download_blob`]).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::Sha256Digest;
use crate::client::{ClientError, PostOutcome, RegistryClient};
use crate::manifest::{BlobRef, Manifest, SignedManifest};
use crate::store::{Publish, Store, StoreError};

/// Why a replication failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    /// The local store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A node refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A local file (a download's temporary file) failed.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        cause: io::Error,
    },
    /// The destination or the source broke the protocol.
    #[error("{0}")]
    Protocol(String),
    /// Opening a blob's bytes failed (the caller's own error, e.g. a local file).
    #[error(transparent)]
    Open(Box<dyn std::error::Error + Send + Sync>),
}

/// Where a function is published: a node over HTTP or a data dir opened directly. Both
/// speak the same protocol: post the signed manifest, store the blobs it lacks, post it
/// again.
pub trait Destination {
    /// Posts the manifest: `None` when it is published, else the digests it still lacks.
    ///
    /// # Errors
    /// The destination refuses the manifest or fails.
    fn post(&self, signed: &SignedManifest) -> Result<Option<Vec<Sha256Digest>>, ReplicateError>;
    /// Whether a good copy of the blob is stored (one quarantined since counts as lacking).
    ///
    /// # Errors
    /// The destination fails.
    fn has_blob(&self, digest: &Sha256Digest) -> Result<bool, ReplicateError>;
    /// Stores one declared blob read from `reader` (`label` names it for people).
    ///
    /// # Errors
    /// The bytes do not match the blob, or the destination fails.
    fn put(&self, blob: &BlobRef, label: &str, reader: Box<dyn Read>) -> Result<(), ReplicateError>;
    /// The node or folder, for messages.
    fn describe(&self) -> String;
}

impl Destination for Store {
    fn post(&self, signed: &SignedManifest) -> Result<Option<Vec<Sha256Digest>>, ReplicateError> {
        Ok(match self.publish(signed)? {
            Publish::Published { .. } => None,
            Publish::Missing(missing) => Some(missing.iter().map(|blob| blob.digest).collect()),
        })
    }

    fn has_blob(&self, digest: &Sha256Digest) -> Result<bool, ReplicateError> {
        Ok(self.blob_size(digest)?.is_some())
    }

    fn put(&self, blob: &BlobRef, _label: &str, reader: Box<dyn Read>) -> Result<(), ReplicateError> {
        self.put_blob(&blob.digest, blob.size, reader)?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.dir().display().to_string()
    }
}

/// A node over HTTP, without progress reporting (the CLI wraps the client to show bars).
impl Destination for RegistryClient {
    fn post(&self, signed: &SignedManifest) -> Result<Option<Vec<Sha256Digest>>, ReplicateError> {
        Ok(match self.post_manifest(signed)? {
            PostOutcome::Published { .. } => None,
            PostOutcome::Missing(missing) => Some(missing),
        })
    }

    fn has_blob(&self, digest: &Sha256Digest) -> Result<bool, ReplicateError> {
        Ok(self.blob_size(digest)?.is_some())
    }

    fn put(&self, blob: &BlobRef, _label: &str, reader: Box<dyn Read>) -> Result<(), ReplicateError> {
        self.put_blob(&blob.digest, blob.size, reader, |_| ())?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("node {}", self.url())
    }
}

/// What [`push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushReport {
    /// Whether this push published the version (false: it already was).
    pub created: bool,
    /// Blobs stored.
    pub uploaded: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Publishes `signed` to `destination`: posts it, stores each blob it lacks (read from
/// `open(blob, label)`), and posts it again. When it is already published, blobs
/// quarantined since (their copy went bad) are stored again.
///
/// # Errors
/// The destination refuses or fails, `open` fails, or the destination still lacks blobs
/// after they were stored.
pub fn push(
    destination: &impl Destination,
    signed: &SignedManifest,
    mut open: impl FnMut(&BlobRef, &str) -> Result<Box<dyn Read>, ReplicateError>,
) -> Result<PushReport, ReplicateError> {
    let manifest = signed.manifest();
    let declared = manifest.blobs();
    let (created, missing) = match destination.post(signed)? {
        Some(missing) => (true, missing),
        None => {
            let mut lost = Vec::new();
            for blob in &declared {
                if !destination.has_blob(&blob.digest)? {
                    lost.push(blob.digest);
                }
            }
            (false, lost)
        }
    };
    let mut report = PushReport { created, uploaded: 0, bytes: 0 };
    if missing.is_empty() {
        return Ok(report);
    }
    for digest in &missing {
        let blob = declared.iter().find(|b| b.digest == *digest).ok_or_else(|| {
            ReplicateError::Protocol(format!(
                "{} asks for blob {digest:?}, which the manifest lacks",
                destination.describe()
            ))
        })?;
        let label = blob_label(manifest, &blob.digest);
        destination.put(blob, &label, open(blob, &label)?)?;
        report.uploaded += 1;
        report.bytes += blob.size;
    }
    match destination.post(signed)? {
        None => Ok(report),
        Some(still) => {
            let list = still.iter().map(Sha256Digest::prefixed).collect::<Vec<_>>().join(", ");
            Err(ReplicateError::Protocol(format!(
                "{} still lacks blobs after they were stored: {list}",
                destination.describe()
            )))
        }
    }
}

/// Publishes `signed` into `store`, downloading the blobs it lacks from `source` into
/// temporary files in the store's dir; `progress(label, bytes so far, total)` follows
/// each download.
///
/// # Errors
/// As [`push`] and [`download_blob`].
pub fn pull_function(
    source: &RegistryClient,
    signed: &SignedManifest,
    store: &Store,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<PushReport, ReplicateError> {
    push(store, signed, |blob, label| {
        let file = download_blob(source, blob, label, Some(store.dir()), |n| progress(label, n, blob.size))?;
        Ok(Box::new(BufReader::new(file)) as Box<dyn Read>)
    })
}

/// Downloads `blob` (`label` names it in errors) from `source` into an anonymous temporary
/// file (in `dir`, else the system's temp dir), checking its size and digest;
/// `progress(bytes so far)` follows it. Returns the file positioned at its start; it
/// disappears when dropped.
///
/// # Errors
/// The download fails, the node sends more or fewer bytes than the manifest declares or
/// bytes of another digest, or the temporary file fails.
pub fn download_blob(
    source: &RegistryClient,
    blob: &BlobRef,
    label: &str,
    dir: Option<&Path>,
    progress: impl FnMut(u64),
) -> Result<File, ReplicateError> {
    let io = |what: &str| {
        let what = format!("{what} for {label} ({:?})", blob.digest);
        move |cause| ReplicateError::Io { what, cause }
    };
    let mut file = match dir {
        Some(dir) => tempfile::tempfile_in(dir),
        None => tempfile::tempfile(),
    }
    .map_err(io("cannot create a temporary file"))?;
    let writer = AtMost::new(BufWriter::new(&mut file), blob.size);
    let received = source.get_blob(&blob.digest, writer, progress)?;
    if received != blob.size {
        return Err(ReplicateError::Protocol(format!(
            "node {} sent {received} bytes for {label} ({:?}); the manifest says {}",
            source.url(),
            blob.digest,
            blob.size
        )));
    }
    file.seek(SeekFrom::Start(0)).map_err(io("cannot rewind the downloaded file"))?;
    Ok(file)
}

/// A blob named for people: `component orientation.wasm`, `model orientation`, or its
/// digest.
pub fn blob_label(manifest: &Manifest, digest: &Sha256Digest) -> String {
    if manifest.component.digest == *digest {
        return format!("component {}.wasm", manifest.name);
    }
    let models: Vec<&str> = manifest.models.iter().filter(|m| m.digest == *digest).map(|m| m.name.as_str()).collect();
    if models.is_empty() { format!("blob {}", digest.prefixed()) } else { format!("model {}", models.join(", ")) }
}

/// A writer that refuses more than a set number of bytes, so a node cannot fill the disk
/// (or memory) with more than it declared.
pub struct AtMost<W> {
    inner: W,
    left: u64,
}

impl<W> AtMost<W> {
    /// `inner`, taking at most `limit` bytes.
    pub fn new(inner: W, limit: u64) -> Self {
        AtMost { inner, left: limit }
    }
}

impl<W: Write> Write for AtMost<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::other("more bytes than declared"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
