//! sha256 digests: parsed from and shown as 64 lowercase hex digits, or in the registry's
//! prefixed form `sha256:<hex>` (which is also their serde form).

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The prefix of a digest's registry form, `sha256:<hex>`.
const PREFIX: &str = "sha256:";

/// A sha256 digest (of a model file, blob or manifest).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

/// Errors parsing a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// Not 64 lowercase hex digits.
    #[error("sha256 must be 64 lowercase hex digits: {0:?}")]
    BadHex(String),
    /// Not of the form `sha256:<hex>`.
    #[error("a digest must be written sha256:<64 lowercase hex digits>: {0:?}")]
    BadPrefix(String),
}

impl Sha256Digest {
    /// Parses 64 lowercase hex digits.
    ///
    /// # Errors
    /// [`DigestError::BadHex`] for any other text.
    pub fn from_hex(text: &str) -> Result<Self, DigestError> {
        let bad = || DigestError::BadHex(text.to_owned());
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| bad())?;
        Ok(Sha256Digest(bytes))
    }

    /// Parses the registry form `sha256:<64 lowercase hex digits>`, as used in manifests and
    /// URLs; anything else (another algorithm, a path such as `sha256:../x`) is an error.
    ///
    /// # Errors
    /// [`DigestError::BadPrefix`] without the `sha256:` prefix, [`DigestError::BadHex`] when
    /// the rest is not 64 lowercase hex digits.
    pub fn parse_prefixed(text: &str) -> Result<Self, DigestError> {
        let hex = text.strip_prefix(PREFIX).ok_or_else(|| DigestError::BadPrefix(text.to_owned()))?;
        Sha256Digest::from_hex(hex)
    }

    /// The registry form, `sha256:<hex>`.
    pub fn prefixed(&self) -> String {
        format!("{PREFIX}{}", self.to_hex())
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A digest from its 32 bytes (as stored in an index).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }

    /// The digest of a byte slice.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// The digest of everything a reader yields, read in chunks.
    ///
    /// # Errors
    /// The reader's error.
    pub fn of_reader(mut reader: impl Read) -> io::Result<Self> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(Sha256Digest(hasher.finalize().into())),
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<Sha256> for Sha256Digest {
    fn from(hasher: Sha256) -> Self {
        Sha256Digest(hasher.finalize().into())
    }
}

impl FromStr for Sha256Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sha256Digest::from_hex(s)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

/// Serialized as the prefixed form, `sha256:<hex>`.
impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.prefixed())
    }
}

/// Deserialized from the prefixed form only, `sha256:<hex>`.
impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Sha256Digest::parse_prefixed(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digests_agree_and_round_trip_through_hex() {
        let parsed = Sha256Digest::from_hex(EMPTY).unwrap();
        assert_eq!(parsed, Sha256Digest::of_bytes(b""));
        assert_eq!(parsed, Sha256Digest::of_reader(&b""[..]).unwrap());
        assert_eq!(parsed.to_string(), EMPTY);
        assert_eq!(format!("{parsed:?}"), format!("sha256:{EMPTY}"));
        let big = vec![7u8; 200_000];
        assert_eq!(Sha256Digest::of_bytes(&big), Sha256Digest::of_reader(big.as_slice()).unwrap());
    }

    #[test]
    fn rejects_bad_hex() {
        for text in ["", "abc", &EMPTY.to_uppercase(), &format!("{EMPTY}00"), &EMPTY.replace('e', "g")] {
            assert_eq!(Sha256Digest::from_hex(text), Err(DigestError::BadHex(text.to_owned())), "{text}");
        }
    }

    #[test]
    fn prefixed_form_round_trips() {
        let digest = Sha256Digest::of_bytes(b"");
        let text = format!("sha256:{EMPTY}");
        assert_eq!(digest.prefixed(), text);
        assert_eq!(Sha256Digest::parse_prefixed(&text), Ok(digest));
        assert_eq!(Sha256Digest::from_bytes(*digest.as_bytes()), digest);
    }

    #[test]
    fn rejects_bad_prefixed_forms() {
        for text in [EMPTY, "sha512:00", "SHA256:00", " sha256:00", ""] {
            assert_eq!(Sha256Digest::parse_prefixed(text), Err(DigestError::BadPrefix(text.to_owned())), "{text}");
        }
        let upper = format!("sha256:{}", EMPTY.to_uppercase());
        let long = format!("sha256:{EMPTY}/");
        for text in ["sha256:", "sha256:../x", "sha256:../../etc/passwd", upper.as_str(), long.as_str()] {
            assert!(matches!(Sha256Digest::parse_prefixed(text), Err(DigestError::BadHex(_))), "{text}");
        }
    }

    #[test]
    fn serde_uses_the_prefixed_form() {
        let digest = Sha256Digest::of_bytes(b"");
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"sha256:{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Sha256Digest>(&json).unwrap(), digest);
        assert!(serde_json::from_str::<Sha256Digest>(&format!("\"{EMPTY}\"")).is_err());
        assert!(serde_json::from_str::<Sha256Digest>("7").is_err());
    }
}
