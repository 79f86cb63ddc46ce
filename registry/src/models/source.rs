//! Parsing of model sources: `pypi:PKG==VER#path/in/package`.

use std::fmt;
use std::str::FromStr;

/// A model file inside a pinned Python wheel: `pypi:PKG==VER#path/in/package`.
///
/// Parsing is strict, since the parts reach pip's command line and the file system: the
/// package name follows PEP 508, the version uses only PEP 440 characters, and the path is
/// relative with no empty, `.` or `..` components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    package: String,
    version: String,
    path: String,
}

/// Errors parsing a model source; each names the whole source.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    /// The source does not start with `pypi:`.
    #[error("model source must start with \"pypi:\": {0:?}")]
    Scheme(String),
    /// No `#path/in/package` part.
    #[error("model source has no #path/in/package: {0:?}")]
    MissingPath(String),
    /// No `==VERSION` pin.
    #[error("model source must pin a version as PKG==VERSION: {0:?}")]
    MissingVersion(String),
    /// The package name is not a valid PEP 508 name.
    #[error("invalid python package name in model source: {0:?}")]
    Package(String),
    /// The version has characters outside PEP 440.
    #[error("invalid package version in model source: {0:?}")]
    Version(String),
    /// The path is absolute, or has empty, `.` or `..` components or backslashes.
    #[error("invalid path in model source (must be relative, without empty, . or .. parts): {0:?}")]
    Path(String),
}

impl ModelSource {
    /// The PyPI package name.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The pinned version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The file's path inside the wheel (`/`-separated).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file's name: the last component of [`ModelSource::path`].
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The pip requirement, `PKG==VER`.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

impl FromStr for ModelSource {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("pypi:").ok_or_else(|| SourceError::Scheme(s.to_owned()))?;
        let (requirement, path) = rest.split_once('#').ok_or_else(|| SourceError::MissingPath(s.to_owned()))?;
        let (package, version) =
            requirement.split_once("==").ok_or_else(|| SourceError::MissingVersion(s.to_owned()))?;
        if !is_package_name(package) {
            return Err(SourceError::Package(s.to_owned()));
        }
        if !is_version(version) {
            return Err(if version.is_empty() {
                SourceError::MissingVersion(s.to_owned())
            } else {
                SourceError::Version(s.to_owned())
            });
        }
        if !is_relative_path(path) {
            return Err(SourceError::Path(s.to_owned()));
        }
        Ok(ModelSource { package: package.to_owned(), version: version.to_owned(), path: path.to_owned() })
    }
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pypi:{}=={}#{}", self.package, self.version, self.path)
    }
}

/// PEP 508: `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, case-insensitively.
fn is_package_name(name: &str) -> bool {
    let inner_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let ends_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    inner_ok && ends_ok(name.as_bytes().first()) && ends_ok(name.as_bytes().last())
}

/// PEP 440 characters only (`1.0`, `1!2.0rc1`, `1.0+local.7`), starting with an
/// alphanumeric, so that nothing else can reach pip's command line.
fn is_version(version: &str) -> bool {
    version.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && version.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'!' | b'+' | b'_' | b'-'))
}

/// A non-empty relative `/`-separated path without empty, `.` or `..` components.
fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\\', '\0'])
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}
