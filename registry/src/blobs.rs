//! The blob files of a data dir: bytes named by their sha256, written atomically and
//! verified on every write and every read.
//!
//! Layout (docs/REGISTRY.md "Storage on a node"): `blobs/sha256/<hex>` holds complete
//! blobs, `tmp/` uploads in progress, `quarantine/` blobs that failed their digest on read.
//! A blob file appears under `blobs/` only by a rename after its length and digest were
//! checked and its bytes synced, so a reader never sees a partial blob.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::Sha256Digest;

/// Size of the buffer blobs are streamed through.
const CHUNK: usize = 1 << 16;

/// The blob files under a data dir.
#[derive(Debug, Clone)]
pub struct BlobFiles {
    blobs: PathBuf,
    tmp: PathBuf,
    quarantine: PathBuf,
}

/// Errors writing or reading blobs.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A file operation failed (or the upload stream broke off).
    #[error("blob storage: {0}")]
    Io(#[from] io::Error),
    /// No such blob.
    #[error("no blob {0:?}")]
    NotFound(Sha256Digest),
    /// The stream was longer or shorter than declared.
    #[error("blob {digest:?} must be {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob being written.
        digest: Sha256Digest,
        /// The declared size.
        expected: u64,
        /// The bytes received (for a long stream: the first count past the declared size).
        actual: u64,
    },
    /// The bytes do not hash to the digest they were sent under.
    #[error("bytes sent as {expected:?} hash to {actual:?}")]
    DigestMismatch {
        /// The digest the bytes were sent under.
        expected: Sha256Digest,
        /// What they hash to.
        actual: Sha256Digest,
    },
    /// A stored blob no longer matches its digest; it was moved to quarantine.
    #[error("stored blob {digest:?} hashes to {actual:?}: moved to {}", quarantined.display())]
    Corrupt {
        /// The blob.
        digest: Sha256Digest,
        /// What its bytes hash to now.
        actual: Sha256Digest,
        /// Where the bad file went.
        quarantined: PathBuf,
    },
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The blob is new.
    Stored,
    /// An identical blob was already there; the new bytes were dropped.
    AlreadyPresent,
}

impl BlobFiles {
    /// The blob files under `data_dir`, creating the folders; uploads left in `tmp/` by an
    /// earlier process (one that crashed mid-upload) are deleted.
    ///
    /// # Errors
    /// The folders cannot be created or cleaned.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let files = BlobFiles {
            blobs: data_dir.join("blobs").join("sha256"),
            tmp: data_dir.join("tmp"),
            quarantine: data_dir.join("quarantine"),
        };
        for dir in [&files.blobs, &files.tmp, &files.quarantine] {
            fs::create_dir_all(dir)?;
        }
        for entry in fs::read_dir(&files.tmp)? {
            let path = entry?.path();
            tracing::info!(path = %path.display(), "removing an unfinished upload");
            if path.is_dir() { fs::remove_dir_all(&path)? } else { fs::remove_file(&path)? }
        }
        Ok(files)
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Sha256Digest) -> PathBuf {
        self.blobs.join(digest.to_hex())
    }

    /// The size of the stored blob, if its file exists.
    pub fn size(&self, digest: &Sha256Digest) -> Option<u64> {
        fs::metadata(self.path(digest)).ok().filter(|m| m.is_file()).map(|m| m.len())
    }

    /// Streams `reader` into the blob `digest`, which must be exactly `size` bytes: the
    /// bytes go to a temporary file while being hashed, and only a complete, matching blob
    /// is synced and renamed into place (then the folder is synced). On any error nothing
    /// is left behind. Reading stops one byte past `size`, so an endless stream costs
    /// nothing.
    ///
    /// # Errors
    /// The reader fails, the length or digest differs, or the file system fails.
    pub fn write(&self, digest: &Sha256Digest, size: u64, reader: impl Read) -> Result<Written, BlobError> {
        self.write_file(digest, size, reader, true)
    }

    /// [`BlobFiles::write`] without syncing the file or the folder: for a batch of files
    /// that one [`BlobFiles::sync`] of their digests makes durable together (one folder
    /// sync for all) before the index names them (group commit). After a crash before that
    /// sync such a file may be missing or torn; its digest check then refuses it.
    ///
    /// # Errors
    /// As [`BlobFiles::write`].
    pub fn write_unsynced(&self, digest: &Sha256Digest, size: u64, reader: impl Read) -> Result<Written, BlobError> {
        self.write_file(digest, size, reader, false)
    }

    /// Syncs the files of `digests` (those still present) and then the folder, so that
    /// everything [`BlobFiles::write_unsynced`] wrote for them is on disk.
    ///
    /// # Errors
    /// The file system fails.
    pub fn sync(&self, digests: &[Sha256Digest]) -> io::Result<()> {
        for digest in digests {
            match File::open(self.path(digest)) {
                Ok(file) => file.sync_all()?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        sync_dir(&self.blobs)
    }

    fn write_file(
        &self,
        digest: &Sha256Digest,
        size: u64,
        reader: impl Read,
        durable: bool,
    ) -> Result<Written, BlobError> {
        let mut tmp = tempfile::Builder::new().prefix("upload-").tempfile_in(&self.tmp)?;
        let mut hasher = Sha256::new();
        let mut limited = reader.take(size.saturating_add(1));
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            received += n as u64;
            if received > size {
                return Err(BlobError::SizeMismatch { digest: *digest, expected: size, actual: received });
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])?;
        }
        if received != size {
            return Err(BlobError::SizeMismatch { digest: *digest, expected: size, actual: received });
        }
        let actual = Sha256Digest::from(hasher);
        if actual != *digest {
            return Err(BlobError::DigestMismatch { expected: *digest, actual });
        }
        let target = self.path(digest);
        if target.is_file() {
            return Ok(Written::AlreadyPresent);
        }
        if durable {
            tmp.as_file().sync_all()?;
        }
        let mut permissions = tmp.as_file().metadata()?.permissions();
        permissions.set_readonly(true);
        tmp.as_file().set_permissions(permissions)?;
        tmp.persist(&target).map_err(|e| e.error)?;
        if durable {
            sync_dir(&self.blobs)?;
        }
        Ok(Written::Stored)
    }

    /// Opens the blob `digest` after hashing all of it, positioned at its start, with its
    /// size. A blob whose bytes no longer match is moved to `quarantine/` and reported as
    /// [`BlobError::Corrupt`]; it is never handed out.
    ///
    /// # Errors
    /// The blob is missing or corrupt, or the file system fails.
    pub fn open_verified(&self, digest: &Sha256Digest) -> Result<(File, u64), BlobError> {
        let path = self.path(digest);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound(*digest)),
            Err(e) => return Err(e.into()),
        };
        let actual = Sha256Digest::of_reader(&mut file)?;
        if actual != *digest {
            let quarantined = self.quarantine_path(digest);
            fs::rename(&path, &quarantined)?;
            sync_dir(&self.blobs)?;
            tracing::error!(digest = %digest.prefixed(), actual = %actual.prefixed(), to = %quarantined.display(),
                "a stored blob failed its digest and was quarantined");
            return Err(BlobError::Corrupt { digest: *digest, actual, quarantined });
        }
        let size = file.seek(SeekFrom::End(0))?;
        file.seek(SeekFrom::Start(0))?;
        Ok((file, size))
    }

    /// Deletes the blob `digest` (a no-op if it is absent).
    ///
    /// # Errors
    /// The file system fails.
    pub fn remove(&self, digest: &Sha256Digest) -> io::Result<()> {
        match fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => sync_dir(&self.blobs),
        }
    }

    /// Every blob file's digest. Files whose names are not digests are logged and
    /// skipped: nothing else writes there.
    ///
    /// # Errors
    /// The folder cannot be read.
    pub fn list(&self) -> io::Result<Vec<Sha256Digest>> {
        let mut digests = Vec::new();
        for entry in fs::read_dir(&self.blobs)? {
            let entry = entry?;
            match entry.file_name().to_str().and_then(|name| Sha256Digest::from_hex(name).ok()) {
                Some(digest) => digests.push(digest),
                None => tracing::warn!(path = %entry.path().display(), "not a blob file; ignored"),
            }
        }
        Ok(digests)
    }

    /// A fresh path in `quarantine/` for a bad copy of `digest`.
    fn quarantine_path(&self, digest: &Sha256Digest) -> PathBuf {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        self.quarantine.join(format!("{}.{nanos}", digest.to_hex()))
    }
}

/// Syncs a folder so that a rename or delete in it survives a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(bytes: &[u8]) -> (Sha256Digest, u64) {
        (Sha256Digest::of_bytes(bytes), bytes.len() as u64)
    }

    fn tmp_is_empty(files: &BlobFiles) -> bool {
        fs::read_dir(&files.tmp).unwrap().next().is_none()
    }

    #[test]
    fn writes_reads_and_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let files = BlobFiles::open(dir.path()).unwrap();
        let bytes = vec![42u8; 200_000];
        let (digest, size) = blob(&bytes);
        assert_eq!(files.write(&digest, size, bytes.as_slice()).unwrap(), Written::Stored);
        assert_eq!(files.write(&digest, size, bytes.as_slice()).unwrap(), Written::AlreadyPresent);
        let (mut file, got_size) = files.open_verified(&digest).unwrap();
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert_eq!((back, got_size), (bytes, size));
        assert_eq!(files.list().unwrap(), vec![digest]);
        assert!(tmp_is_empty(&files));
        files.remove(&digest).unwrap();
        assert!(matches!(files.open_verified(&digest), Err(BlobError::NotFound(_))));
    }

    #[test]
    fn wrong_bytes_or_lengths_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = BlobFiles::open(dir.path()).unwrap();
        let (digest, size) = blob(b"the right bytes");
        let err = files.write(&digest, size, &b"the wrong bytes"[..]).unwrap_err();
        assert!(matches!(err, BlobError::DigestMismatch { .. }), "{err}");
        let err = files.write(&digest, size, &b"the right bytes and more"[..]).unwrap_err();
        assert!(matches!(err, BlobError::SizeMismatch { actual: 16, .. }), "{err}");
        let err = files.write(&digest, size, &b"the right"[..]).unwrap_err();
        assert!(matches!(err, BlobError::SizeMismatch { actual: 9, .. }), "{err}");
        let err = files.write(&digest, size, io::repeat(0)).unwrap_err();
        assert!(matches!(err, BlobError::SizeMismatch { .. }), "an endless stream stops: {err}");
        assert!(files.list().unwrap().is_empty());
        assert!(tmp_is_empty(&files));
    }

    #[test]
    fn a_broken_stream_leaves_nothing() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer went away"));
                }
                self.0 -= 1;
                buf[0] = 1;
                Ok(1)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let files = BlobFiles::open(dir.path()).unwrap();
        let (digest, size) = blob(&[1u8; 100]);
        assert!(matches!(files.write(&digest, size, Broken(50)), Err(BlobError::Io(_))));
        assert!(files.list().unwrap().is_empty());
        assert!(tmp_is_empty(&files));
    }

    #[test]
    fn corrupt_blobs_are_quarantined_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let files = BlobFiles::open(dir.path()).unwrap();
        let (digest, size) = blob(b"precious weights");
        files.write(&digest, size, &b"precious weights"[..]).unwrap();
        let path = files.path(&digest);
        let mut permissions = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        fs::set_permissions(&path, permissions).unwrap();
        fs::write(&path, b"precious weightZ").unwrap();
        let err = files.open_verified(&digest).unwrap_err();
        let BlobError::Corrupt { quarantined, .. } = err else { panic!("{err}") };
        assert_eq!(fs::read(quarantined).unwrap(), b"precious weightZ");
        assert!(files.size(&digest).is_none());
        assert!(matches!(files.open_verified(&digest), Err(BlobError::NotFound(_))));
    }

    #[test]
    fn opening_clears_unfinished_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let files = BlobFiles::open(dir.path()).unwrap();
        fs::write(files.tmp.join("upload-half"), b"half a blob").unwrap();
        let files = BlobFiles::open(dir.path()).unwrap();
        assert!(tmp_is_empty(&files));
    }
}
