//! sha256 digests: parsed from and shown as 64 lowercase hex digits.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A sha256 digest (of a model file, blob or manifest).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

/// Errors parsing a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// Not 64 lowercase hex digits.
    #[error("sha256 must be 64 lowercase hex digits: {0:?}")]
    BadHex(String),
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
}
