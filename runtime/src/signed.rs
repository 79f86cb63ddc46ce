//! Signed statements of the dispute protocol (trace commitments, verdicts): a JSON value
//! whose id is the sha256 of its canonical (RFC 8785) JSON and whose signer signs
//! `domain ‖ JCS(value)`. One travels as `{"<field>": {…}, "signature": "<base64>"}`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::canonical::{CanonicalError, to_canonical_json};
use wasmnn_registry::keys::{PublicKey, SecretKey, Signature};

/// A statement one key signs.
pub trait Statement: Serialize + DeserializeOwned + Clone {
    /// The signature domain.
    const DOMAIN: &'static [u8];
    /// The JSON field holding the statement next to `signature`.
    const FIELD: &'static str;
    /// The key that must have signed it.
    fn signer(&self) -> &PublicKey;
    /// Checks the statement's schema.
    ///
    /// # Errors
    /// A message naming what is unknown.
    fn check(&self) -> Result<(), String>;
}

/// Errors making or reading signed statements.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    /// Not the JSON of a signed statement.
    #[error("not a signed {field}: {message}")]
    Json {
        /// What was expected.
        field: &'static str,
        /// Why it is not.
        message: String,
    },
    /// A schema this code does not read.
    #[error("{0}")]
    Schema(String),
    /// A number too large for canonical JSON.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// The signature does not verify with the statement's signer.
    #[error("the {0}'s signature does not verify with its signer's key")]
    BadSignature(&'static str),
}

/// A statement with a verified signature (holding one means it verified) and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    value: T,
    signature: Signature,
    canonical: Vec<u8>,
    id: Sha256Digest,
}

impl<T: Statement> Signed<T> {
    /// Signs `value` with `key`, which must be the key the statement names.
    ///
    /// # Errors
    /// An unknown schema, a number without canonical form, or the wrong key.
    pub fn sign(value: T, key: &SecretKey) -> Result<Signed<T>, SignedError> {
        value.check().map_err(SignedError::Schema)?;
        if key.public() != *value.signer() {
            return Err(SignedError::BadSignature(T::FIELD));
        }
        let canonical = to_canonical_json(&value)?;
        let signature = key.sign(T::DOMAIN, &canonical);
        Ok(Signed::assemble(value, signature, canonical))
    }

    /// Parses `{"<field>": …, "signature": …}` and verifies the signature.
    ///
    /// # Errors
    /// Malformed JSON, an unknown schema, or a signature that does not verify.
    pub fn from_json(bytes: &[u8]) -> Result<Signed<T>, SignedError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| json_error::<T>(e.to_string()))?;
        Signed::from_value(value)
    }

    fn from_value(mut value: serde_json::Value) -> Result<Signed<T>, SignedError> {
        let object = value.as_object_mut().ok_or_else(|| json_error::<T>("not a JSON object".into()))?;
        let signature = object.remove("signature").ok_or_else(|| json_error::<T>("no \"signature\"".into()))?;
        let statement = object.remove(T::FIELD).ok_or_else(|| json_error::<T>(format!("no {:?}", T::FIELD)))?;
        if let Some(other) = object.keys().next() {
            return Err(json_error::<T>(format!("unknown field {other:?}")));
        }
        let signature: Signature = serde_json::from_value(signature).map_err(|e| json_error::<T>(e.to_string()))?;
        let statement: T = serde_json::from_value(statement).map_err(|e| json_error::<T>(e.to_string()))?;
        statement.check().map_err(SignedError::Schema)?;
        let canonical = to_canonical_json(&statement)?;
        statement
            .signer()
            .verify(T::DOMAIN, &canonical, &signature)
            .map_err(|_| SignedError::BadSignature(T::FIELD))?;
        Ok(Signed::assemble(statement, signature, canonical))
    }

    /// The canonical JSON `{"<field>":…,"signature":…}`.
    pub fn to_json(&self) -> Vec<u8> {
        let signature = self.signature.to_string();
        let head = format!("{{\"{}\":", T::FIELD);
        [head.as_bytes(), self.canonical.as_slice(), b",\"signature\":\"", signature.as_bytes(), b"\"}"].concat()
    }

    /// The statement.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The id: sha256 of the canonical unsigned statement.
    pub fn id(&self) -> Sha256Digest {
        self.id
    }

    fn assemble(value: T, signature: Signature, canonical: Vec<u8>) -> Signed<T> {
        let id = Sha256Digest::of_bytes(&canonical);
        Signed { value, signature, canonical, id }
    }
}

fn json_error<T: Statement>(message: String) -> SignedError {
    SignedError::Json { field: T::FIELD, message }
}

impl<T: Statement> Serialize for Signed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(T::FIELD, &self.value)?;
        map.serialize_entry("signature", &self.signature)?;
        map.end()
    }
}

impl<'de, T: Statement> Deserialize<'de> for Signed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Signed::from_value(value).map_err(serde::de::Error::custom)
    }
}
