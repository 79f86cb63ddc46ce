//! ed25519 keys and domain-separated signatures.
//!
//! Every signature wasmnn makes is over `domain ‖ message`, where the domain names what is
//! signed ([`MANIFEST_DOMAIN`], [`YANK_DOMAIN`], [`RECEIPT_DOMAIN`], [`TRACE_DOMAIN`],
//! [`VERDICT_DOMAIN`]), so a signature made for
//! one purpose can never be replayed as another. Verification is strict (RFC 8032 with
//! canonical encodings, no small-order keys), so a signature cannot be altered into another
//! valid one.
//!
//! Text forms: a public key is `ed25519:` + standard padded base64 of its 32 bytes, a
//! signature is standard padded base64 of its 64 bytes, and a secret key file holds one
//! line `ed25519-secret:` + base64 of the 32-byte seed, readable by its owner only.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Domain of manifest signatures: the signed message is this ‖ JCS(manifest).
pub const MANIFEST_DOMAIN: &[u8] = b"wasmnn-manifest-v1\0";
/// Domain of yank statements: the signed message is this ‖ JCS(statement).
pub const YANK_DOMAIN: &[u8] = b"wasmnn-yank-v1\0";
/// Domain of call receipts: the signed message is this ‖ JCS(unsigned receipt).
pub const RECEIPT_DOMAIN: &[u8] = b"wasmnn-receipt-v1\0";
/// Domain of trace commitments: the signed message is this ‖ JCS(commitment).
pub const TRACE_DOMAIN: &[u8] = b"wasmnn-trace-v1\0";
/// Domain of dispute verdicts: the signed message is this ‖ JCS(verdict).
pub const VERDICT_DOMAIN: &[u8] = b"wasmnn-verdict-v1\0";

/// File name of the publisher key in the config dir (see [`default_key_path`]).
pub const PUBLISHER_KEY_FILE: &str = "publisher.key";
/// File name of a node's receipt-signing key in the config dir.
pub const NODE_KEY_FILE: &str = "node.key";

/// Prefix of a public key's text form.
const PUBLIC_PREFIX: &str = "ed25519:";
/// Prefix of the line in a secret key file.
const SECRET_PREFIX: &str = "ed25519-secret:";

/// Errors handling keys and signatures; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a valid `ed25519:<base64>` public key.
    #[error("not an ed25519 public key (ed25519:<base64 of 32 bytes>): {0}")]
    BadPublicKey(String),
    /// Not the base64 of a 64-byte signature.
    #[error("not an ed25519 signature (base64 of 64 bytes): {0:?}")]
    BadSignatureText(String),
    /// The signature does not verify for this key, domain and message.
    #[error("the signature does not verify")]
    BadSignature,
    /// The operating system's random source failed.
    #[error("cannot get random bytes for a new key: {0}")]
    Random(getrandom::Error),
    /// Neither `$XDG_CONFIG_HOME` nor `$HOME` is set, so there is no default key location.
    #[error("cannot find the config dir: neither $XDG_CONFIG_HOME nor $HOME is set")]
    NoConfigDir,
    /// No key file at this path.
    #[error("no key file at {}", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The key file exists and overwriting was not asked for.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The key file can be read or written by others than its owner.
    #[error("permissions {mode:04o} for {} are too open; chmod 600 {}", path.display(), path.display())]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not start with `ed25519-secret:`.
    #[error("{} is not a wasmnn key file: it must hold one line ed25519-secret:<base64>", path.display())]
    WrongPrefix {
        /// The file.
        path: PathBuf,
    },
    /// The key file's seed is not valid base64.
    #[error("the key in {} is not valid base64: {source}", path.display())]
    BadBase64 {
        /// The file.
        path: PathBuf,
        /// What the decoder found.
        source: base64::DecodeError,
    },
    /// The key file's seed is not 32 bytes.
    #[error("the key in {} is {len} bytes; an ed25519 seed is 32", path.display())]
    WrongLength {
        /// The file.
        path: PathBuf,
        /// The decoded length.
        len: usize,
    },
    /// Reading or writing the key file (or its folder) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// An ed25519 public key: a publisher's or a node's identity. It holds the 32 checked key
/// bytes (the decompressed point is rebuilt to verify), so errors and records that carry
/// a key stay small.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

/// An ed25519 signature (64 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Signature([u8; 64]);

/// An ed25519 secret key. Its `Debug` shows only the public key, so it cannot leak into logs.
pub struct SecretKey(SigningKey);

impl PublicKey {
    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// A key from its 32 bytes.
    ///
    /// # Errors
    /// [`KeyError::BadPublicKey`] if the bytes are not a curve point, or are a weak
    /// (small-order) key that anything could verify under.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let bad = || KeyError::BadPublicKey(format!("{PUBLIC_PREFIX}{}", BASE64.encode(bytes)));
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| bad())?;
        if key.is_weak() {
            return Err(bad());
        }
        Ok(PublicKey(key.to_bytes()))
    }

    /// Checks `signature` over `domain ‖ message` (strict verification).
    ///
    /// # Errors
    /// [`KeyError::BadSignature`] if it does not verify.
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::BadSignature)?;
        key.verify_strict(&concat(domain, message), &signature).map_err(|_| KeyError::BadSignature)
    }
}

impl Signature {
    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// A signature from its 64 bytes (whether it verifies is checked by
    /// [`PublicKey::verify`]).
    pub fn from_bytes(bytes: [u8; 64]) -> Self {
        Signature(bytes)
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    ///
    /// # Errors
    /// [`KeyError::Random`] if the random source fails.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Random)?;
        Ok(SecretKey::from_seed(seed))
    }

    /// The key of a 32-byte seed (deterministic: for tests and fixtures).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `domain ‖ message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        Signature(self.0.sign(&concat(domain, message)).to_bytes())
    }

    /// Writes the key to `path` as one line `ed25519-secret:<base64 seed>`, readable by its
    /// owner only (mode 0600 from creation; missing folders are created with mode 0700).
    /// The file appears whole or not at all: it is written to a temporary file in the same
    /// folder and renamed.
    ///
    /// # Errors
    /// [`KeyError::Exists`] if the file exists and `overwrite` is false, [`KeyError::Io`]
    /// if the folder or file cannot be written.
    pub fn write_new(&self, path: &Path, overwrite: bool) -> Result<(), KeyError> {
        let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(io_at(dir))?;
        // tempfile creates its files with mode 0600 on unix.
        let mut file = tempfile::Builder::new().prefix(".wasmnn-key").tempfile_in(dir).map_err(io_at(dir))?;
        let line = format!("{SECRET_PREFIX}{}\n", BASE64.encode(self.0.to_bytes()));
        file.write_all(line.as_bytes()).and_then(|()| file.as_file().sync_all()).map_err(io_at(file.path()))?;
        let persisted = if overwrite { file.persist(path) } else { file.persist_noclobber(path) };
        match persisted {
            Ok(_) => Ok(()),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Err(KeyError::Exists { path: path.to_owned() }),
            Err(e) => Err(KeyError::Io { path: path.to_owned(), source: e.error }),
        }
    }

    /// Reads a key written by [`SecretKey::write_new`]. Like ssh, it refuses a file that
    /// anyone but its owner may read or write.
    ///
    /// # Errors
    /// [`KeyError::Missing`], [`KeyError::TooOpen`], [`KeyError::WrongPrefix`],
    /// [`KeyError::BadBase64`], [`KeyError::WrongLength`], or [`KeyError::Io`].
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let io_error = |source: io::Error| match source.kind() {
            io::ErrorKind::NotFound => KeyError::Missing { path: path.to_owned() },
            _ => KeyError::Io { path: path.to_owned(), source },
        };
        check_private(path, &std::fs::metadata(path).map_err(io_error)?)?;
        let text = std::fs::read_to_string(path).map_err(io_error)?;
        let encoded = text
            .trim_end()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| KeyError::WrongPrefix { path: path.to_owned() })?;
        let seed = BASE64.decode(encoded).map_err(|source| KeyError::BadBase64 { path: path.to_owned(), source })?;
        let seed = <[u8; 32]>::try_from(seed.as_slice())
            .map_err(|_| KeyError::WrongLength { path: path.to_owned(), len: seed.len() })?;
        Ok(SecretKey::from_seed(seed))
    }
}

/// Where a key file lives by default: `$XDG_CONFIG_HOME/wasmnn/<file>` if that variable is
/// an absolute path, else `$HOME/.config/wasmnn/<file>`.
///
/// # Errors
/// [`KeyError::NoConfigDir`] if neither variable gives a folder.
pub fn default_key_path(file_name: &str) -> Result<PathBuf, KeyError> {
    key_path_from(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME"), file_name)
}

/// [`default_key_path`] for given values of `$XDG_CONFIG_HOME` and `$HOME`.
fn key_path_from(xdg_config: Option<OsString>, home: Option<OsString>, file_name: &str) -> Result<PathBuf, KeyError> {
    // The XDG spec says a relative $XDG_CONFIG_HOME is invalid and must be ignored.
    let config = xdg_config.map(PathBuf::from).filter(|dir| dir.is_absolute());
    let config =
        config.or_else(|| home.filter(|home| !home.is_empty()).map(|home| PathBuf::from(home).join(".config")));
    config.map(|dir| dir.join("wasmnn").join(file_name)).ok_or(KeyError::NoConfigDir)
}

/// Wraps an I/O error with the path it concerns.
fn io_at(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.to_owned(), source }
}

/// `domain ‖ message` in one buffer.
fn concat(domain: &[u8], message: &[u8]) -> Vec<u8> {
    [domain, message].concat()
}

/// Creates `dir` and its missing parents, readable by the owner only (mode 0700 on unix).
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Refuses a key file that its group or others may access.
#[cfg(unix)]
fn check_private(path: &Path, metadata: &std::fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 { Ok(()) } else { Err(KeyError::TooOpen { path: path.to_owned(), mode }) }
}

/// Permission bits are a unix notion; elsewhere the file system's ACLs apply.
#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered by key bytes.
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", BASE64.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses `ed25519:` + standard padded base64 of 32 bytes.
impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || KeyError::BadPublicKey(format!("{:?}", text.chars().take(100).collect::<String>()));
        let encoded = text.strip_prefix(PUBLIC_PREFIX).ok_or_else(bad)?;
        let bytes = BASE64.decode(encoded).map_err(|_| bad())?;
        PublicKey::from_bytes(&<[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())?)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64.encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

/// Parses standard padded base64 of 64 bytes.
impl FromStr for Signature {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || KeyError::BadSignatureText(text.chars().take(100).collect());
        // 64 bytes are 88 base64 characters; checking first bounds the work on hostile input.
        if text.len() != 88 {
            return Err(bad());
        }
        let bytes = BASE64.decode(text).map_err(|_| bad())?;
        <[u8; 64]>::try_from(bytes.as_slice()).map(Signature).map_err(|_| bad())
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public: {})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed([seed; 32])
    }

    #[test]
    fn sign_and_verify_with_domains() {
        let secret = key(1);
        let public = secret.public();
        let signature = secret.sign(MANIFEST_DOMAIN, b"message");
        public.verify(MANIFEST_DOMAIN, b"message", &signature).unwrap();
        let fails = [
            public.verify(MANIFEST_DOMAIN, b"messagE", &signature),
            public.verify(YANK_DOMAIN, b"message", &signature),
            public.verify(b"", b"message", &signature),
            key(2).public().verify(MANIFEST_DOMAIN, b"message", &signature),
        ];
        for result in fails {
            assert!(matches!(result, Err(KeyError::BadSignature)), "{result:?}");
        }
        let mut forged = signature.to_bytes();
        forged[10] ^= 1;
        assert!(public.verify(MANIFEST_DOMAIN, b"message", &Signature::from_bytes(forged)).is_err());
    }

    #[test]
    fn signatures_are_deterministic() {
        assert_eq!(key(3).sign(RECEIPT_DOMAIN, b"x"), key(3).sign(RECEIPT_DOMAIN, b"x"));
        assert_ne!(key(3).sign(RECEIPT_DOMAIN, b"x"), key(3).sign(YANK_DOMAIN, b"x"));
    }

    #[test]
    fn public_keys_round_trip_through_text_and_serde() {
        let public = key(7).public();
        let text = public.to_string();
        assert!(text.starts_with("ed25519:") && text.ends_with('=') && text.len() == 8 + 44, "{text}");
        assert_eq!(text.parse::<PublicKey>().unwrap(), public);
        assert_eq!(PublicKey::from_bytes(&public.to_bytes()).unwrap(), public);
        let json = serde_json::to_string(&public).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), public);
        assert_eq!(format!("{public:?}"), text);
    }

    #[test]
    fn rejects_bad_public_keys() {
        let good = key(7).public().to_string();
        let unpadded = good.trim_end_matches('=').to_owned();
        let weak = format!("ed25519:{}", BASE64.encode([0u8; 32]));
        let short = format!("ed25519:{}", BASE64.encode([9u8; 31]));
        for text in
            [&good[8..], unpadded.as_str(), "ed25519:", "ed25519:!!!!", &weak, &short, &good.replace("ed25519", "x")]
        {
            assert!(matches!(text.parse::<PublicKey>(), Err(KeyError::BadPublicKey(_))), "{text}");
        }
    }

    #[test]
    fn public_keys_order_by_bytes() {
        let (a, b) = (key(1).public(), key(2).public());
        assert_eq!(a.cmp(&b), a.to_bytes().cmp(&b.to_bytes()));
    }

    #[test]
    fn signatures_round_trip_through_text() {
        let signature = key(1).sign(YANK_DOMAIN, b"m");
        let text = signature.to_string();
        assert_eq!(text.len(), 88);
        assert_eq!(text.parse::<Signature>().unwrap(), signature);
        let json = serde_json::to_string(&signature).unwrap();
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), signature);
        for bad in ["", "AAAA", &text[..87], &format!("{}A", &text[..87]), &"a".repeat(10_000)] {
            assert!(matches!(bad.parse::<Signature>(), Err(KeyError::BadSignatureText(_))), "{bad}");
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let secret = key(5);
        let shown = format!("{secret:?}");
        assert!(shown.contains(&secret.public().to_string()), "{shown}");
        assert!(!shown.contains(&BASE64.encode([5u8; 32])), "{shown}");
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
        assert_ne!(a.public(), b.public());
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/publisher.key");
        let secret = key(9);
        secret.write_new(&path, false).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("ed25519-secret:{}\n", BASE64.encode([9u8; 32])));
        assert_eq!(SecretKey::read(&path).unwrap().public(), secret.public());

        assert!(matches!(key(10).write_new(&path, false), Err(KeyError::Exists { .. })));
        assert_eq!(SecretKey::read(&path).unwrap().public(), secret.public());
        key(10).write_new(&path, true).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(SecretKey::read(&path).unwrap().public(), key(10).public());
        let leftovers = std::fs::read_dir(dir.path().join("a/b")).unwrap().count();
        assert_eq!(leftovers, 1);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_readable_key_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        key(1).write_new(&path, false).unwrap();
        for bits in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bits)).unwrap();
            let message = SecretKey::read(&path).unwrap_err().to_string();
            let shown = path.display();
            assert_eq!(message, format!("permissions {bits:04o} for {shown} are too open; chmod 600 {shown}"));
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(SecretKey::read(&path).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn reports_bad_key_files_precisely() {
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
            file.write_all(text.as_bytes()).unwrap();
            path
        };
        assert!(matches!(SecretKey::read(&dir.path().join("none")), Err(KeyError::Missing { .. })));
        let prefix = write("prefix", "ed25519:AAAA\n");
        assert!(matches!(SecretKey::read(&prefix), Err(KeyError::WrongPrefix { .. })));
        let base64 = write("base64", "ed25519-secret:not base64!\n");
        assert!(matches!(SecretKey::read(&base64), Err(KeyError::BadBase64 { .. })));
        let short = write("short", &format!("ed25519-secret:{}", BASE64.encode([1u8; 31])));
        assert!(matches!(SecretKey::read(&short), Err(KeyError::WrongLength { len: 31, .. })));
        let no_newline = write("ok", &format!("ed25519-secret:{}", BASE64.encode([1u8; 32])));
        assert_eq!(SecretKey::read(&no_newline).unwrap().public(), key(1).public());
    }

    #[test]
    fn default_key_paths_follow_xdg() {
        let path = |xdg: Option<&str>, home: Option<&str>| {
            key_path_from(xdg.map(OsString::from), home.map(OsString::from), PUBLISHER_KEY_FILE).ok()
        };
        assert_eq!(path(Some("/x"), Some("/h")), Some(PathBuf::from("/x/wasmnn/publisher.key")));
        assert_eq!(path(Some(""), Some("/h")), Some(PathBuf::from("/h/.config/wasmnn/publisher.key")));
        assert_eq!(path(Some("rel"), Some("/h")), Some(PathBuf::from("/h/.config/wasmnn/publisher.key")));
        assert_eq!(path(None, Some("/h")), Some(PathBuf::from("/h/.config/wasmnn/publisher.key")));
        assert_eq!(path(None, Some("")), None);
        assert_eq!(path(None, None), None);
    }
}
