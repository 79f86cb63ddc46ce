//! Receipts: a node's signed statement of what one invocation did (DESIGN.md "Receipts
//! and verification"). Anyone holding a receipt, the input and the function can re-run
//! the call on any backend and check the output digest.
//!
//! The receipt's **id** is the sha256 of its canonical (RFC 8785) JSON; the node signs
//! `"wasmnn-receipt-v1\0" ‖ JCS(receipt)` with its ed25519 key. A signed receipt travels
//! as `{"receipt": {…}, "signature": "<base64>"}`, in the `wasmnn-receipt` header as the
//! standard base64 of that JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::canonical::{CanonicalError, MAX_SAFE_INTEGER, to_canonical_json};
use wasmnn_registry::keys::{PublicKey, RECEIPT_DOMAIN, SecretKey, Signature};

/// The receipt format this code writes and reads.
pub const RECEIPT_SCHEMA: u32 = 1;

/// What one invocation did, as the node that ran it states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The receipt format, [`RECEIPT_SCHEMA`].
    pub schema: u32,
    /// The numerics specification the node implements (docs/NUMERICS.md); outputs are
    /// comparable only between equal versions.
    pub spec_version: u32,
    /// The function: its manifest digest.
    pub manifest: Sha256Digest,
    /// sha256 of the input bytes.
    pub input: Sha256Digest,
    /// sha256 of the whole output: the emitted chunks, then the returned bytes.
    pub output: Sha256Digest,
    /// The seed of the guest's random numbers.
    pub seed: u64,
    /// Fuel used (deterministic).
    pub fuel: u64,
    /// Graph ops executed (deterministic).
    pub ops: u64,
    /// The executor that ran the models: `cpu` or `gpu`.
    pub backend: String,
    /// The node's public key, which signs the receipt.
    pub node: PublicKey,
    /// When the call finished, Unix seconds (informative: not part of what is re-run).
    pub time: u64,
}

/// A receipt with the node's signature; holding one means the signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    receipt: Receipt,
    signature: Signature,
    canonical: Vec<u8>,
    id: Sha256Digest,
}

/// Errors making, parsing or checking receipts.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// Not the JSON of a signed receipt.
    #[error("not a signed receipt: {0}")]
    Json(String),
    /// Not base64.
    #[error("the receipt header is not base64: {0}")]
    Base64(String),
    /// A receipt format this code does not know.
    #[error("unknown receipt schema {0} (this wasmnn reads {RECEIPT_SCHEMA})")]
    UnknownSchema(u32),
    /// A number too large for canonical JSON.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// The signature does not verify with the receipt's node key.
    #[error("the receipt's signature does not verify with its node key")]
    BadSignature,
}

impl Receipt {
    /// How a re-execution of this receipt's call differs from what it states: one line per
    /// differing field (output digest, fuel, op count), empty when it matches. Shared by
    /// `wasmnn verify` and a node's spot-checks.
    pub fn differences(&self, outcome: &crate::Outcome) -> Vec<String> {
        let output = Sha256Digest::of_bytes(&outcome.full_output());
        let mut differences = Vec::new();
        if output != self.output {
            differences.push(format!("output: receipt {}, local {}", self.output.prefixed(), output.prefixed()));
        }
        if outcome.fuel != self.fuel {
            differences.push(format!("fuel: receipt {}, local {}", self.fuel, outcome.fuel));
        }
        if outcome.ops != self.ops {
            differences.push(format!("ops: receipt {}, local {}", self.ops, outcome.ops));
        }
        differences
    }

    /// The receipt's canonical JSON.
    ///
    /// # Errors
    /// A number above 2^53 − 1 (a seed, say) has no exact canonical form.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, ReceiptError> {
        Ok(to_canonical_json(self)?)
    }

    /// Signs the receipt with the node's key.
    ///
    /// # Errors
    /// See [`Receipt::canonical_bytes`]; [`ReceiptError::BadSignature`] if `key` is not
    /// the key `self.node` names.
    pub fn sign(self, key: &SecretKey) -> Result<SignedReceipt, ReceiptError> {
        self.check_schema()?;
        if key.public() != self.node {
            return Err(ReceiptError::BadSignature);
        }
        let canonical = self.canonical_bytes()?;
        let signature = key.sign(RECEIPT_DOMAIN, &canonical);
        // Signed just now by the key the receipt names: nothing to verify.
        Ok(SignedReceipt::assemble(self, signature, canonical))
    }

    fn check_schema(&self) -> Result<(), ReceiptError> {
        if self.schema == RECEIPT_SCHEMA { Ok(()) } else { Err(ReceiptError::UnknownSchema(self.schema)) }
    }
}

impl SignedReceipt {
    /// Parses `{"receipt": …, "signature": …}` and verifies the signature.
    ///
    /// # Errors
    /// Malformed JSON, an unknown schema, or a signature that does not verify.
    pub fn from_json(bytes: &[u8]) -> Result<SignedReceipt, ReceiptError> {
        let raw: RawSignedReceipt = serde_json::from_slice(bytes).map_err(|e| ReceiptError::Json(e.to_string()))?;
        raw.receipt.check_schema()?;
        let canonical = raw.receipt.canonical_bytes()?;
        raw.receipt.node.verify(RECEIPT_DOMAIN, &canonical, &raw.signature).map_err(|_| ReceiptError::BadSignature)?;
        Ok(SignedReceipt::assemble(raw.receipt, raw.signature, canonical))
    }

    /// Parses the `wasmnn-receipt` header value (base64 of the JSON).
    ///
    /// # Errors
    /// Not base64, or see [`SignedReceipt::from_json`].
    pub fn from_header(value: &str) -> Result<SignedReceipt, ReceiptError> {
        let json = BASE64.decode(value.trim()).map_err(|e| ReceiptError::Base64(e.to_string()))?;
        SignedReceipt::from_json(&json)
    }

    /// The canonical JSON `{"receipt":…,"signature":…}`.
    pub fn to_json(&self) -> Vec<u8> {
        let signature = self.signature.to_string();
        [b"{\"receipt\":", self.canonical.as_slice(), b",\"signature\":\"", signature.as_bytes(), b"\"}"].concat()
    }

    /// The `wasmnn-receipt` header value.
    pub fn to_header(&self) -> String {
        BASE64.encode(self.to_json())
    }

    /// The receipt.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The node's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The receipt id: sha256 of the canonical unsigned receipt.
    pub fn id(&self) -> Sha256Digest {
        self.id
    }

    /// A receipt whose schema and signature have been checked, with its id.
    fn assemble(receipt: Receipt, signature: Signature, canonical: Vec<u8>) -> SignedReceipt {
        let id = Sha256Digest::of_bytes(&canonical);
        SignedReceipt { receipt, signature, canonical, id }
    }
}

/// Seeds a receipt can carry exactly: at most 2^53 − 1.
pub fn is_valid_seed(seed: u64) -> bool {
    seed <= MAX_SAFE_INTEGER
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignedReceipt {
    receipt: Receipt,
    signature: Signature,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(node: &SecretKey) -> Receipt {
        Receipt {
            schema: RECEIPT_SCHEMA,
            spec_version: 2,
            manifest: Sha256Digest::of_bytes(b"manifest"),
            input: Sha256Digest::of_bytes(b"input"),
            output: Sha256Digest::of_bytes(b"output"),
            seed: 7,
            fuel: 123_456,
            ops: 42,
            backend: "cpu".to_owned(),
            node: node.public(),
            time: 1_790_000_000,
        }
    }

    #[test]
    fn signed_receipts_round_trip_and_have_stable_ids() {
        let key = SecretKey::from_seed([3; 32]);
        let signed = receipt(&key).sign(&key).unwrap();
        let parsed = SignedReceipt::from_header(&signed.to_header()).unwrap();
        assert_eq!(parsed, signed);
        assert_eq!(SignedReceipt::from_json(&signed.to_json()).unwrap().id(), signed.id());
        assert_eq!(signed.id(), Sha256Digest::of_bytes(&receipt(&key).canonical_bytes().unwrap()));
        let value: serde_json::Value = serde_json::from_slice(&signed.to_json()).unwrap();
        assert_eq!(serde_json::to_vec(&value).unwrap(), signed.to_json(), "the envelope is canonical JSON");
    }

    #[test]
    fn altered_or_forged_receipts_are_refused() {
        let key = SecretKey::from_seed([3; 32]);
        let json = String::from_utf8(receipt(&key).sign(&key).unwrap().to_json()).unwrap();
        let output = Sha256Digest::of_bytes(b"output").to_hex();
        let altered = json.replace(&output, &Sha256Digest::of_bytes(b"other").to_hex());
        assert!(matches!(SignedReceipt::from_json(altered.as_bytes()), Err(ReceiptError::BadSignature)));
        let other = SecretKey::from_seed([4; 32]);
        let claimed = Receipt { node: key.public(), ..receipt(&other) };
        assert!(matches!(claimed.sign(&other), Err(ReceiptError::BadSignature)), "signed by a key not its own");
        assert!(matches!(SignedReceipt::from_header("not base64!"), Err(ReceiptError::Base64(_))));
        assert!(matches!(SignedReceipt::from_json(b"{}"), Err(ReceiptError::Json(_))));
        let huge_seed = Receipt { seed: u64::MAX, ..receipt(&key) };
        assert!(matches!(huge_seed.sign(&key), Err(ReceiptError::Canonical(_))));
    }
}
