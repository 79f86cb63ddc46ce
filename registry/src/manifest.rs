//! The function manifest (docs/REGISTRY.md "Identity: the manifest"): what a published
//! function is, signed by its publisher, identified by the sha256 of its canonical JSON.
//!
//! - [`Manifest`]: the fields, [`Manifest::validate`], the canonical bytes and the digest.
//! - [`SignedManifest`]: a manifest with a publisher signature that has been checked. It can
//!   only be made by [`Manifest::sign`] or by parsing ([`SignedManifest::from_json`] or
//!   serde), both of which validate and verify, so holding one means it is valid.
//! - [`YankStatement`] / [`SignedYank`]: the owner's signed "yank (or un-yank) this version".

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize, Serializer};

use crate::Sha256Digest;
use crate::canonical::{CanonicalError, MAX_SAFE_INTEGER, to_canonical_json};
use crate::handler::{HandlerConfig, LimitDefaults, ModelEncoding, is_valid_function_name, is_valid_model_name};
use crate::keys::{MANIFEST_DOMAIN, PublicKey, SecretKey, Signature, YANK_DOMAIN};

/// The manifest format this code reads and writes; a node refuses any other.
pub const MANIFEST_SCHEMA: u32 = 1;

/// Longest description accepted, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Longest input / output content type accepted, in bytes.
const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// A blob named by digest, with its exact size in bytes (so a node can refuse an upload of
/// the wrong length before reading it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// The blob's sha256.
    pub digest: Sha256Digest,
    /// Its length in bytes.
    pub size: u64,
}

/// A model the function loads by name, stored as a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestModel {
    /// The wasi-nn `load-by-name` key.
    pub name: String,
    /// The model blob's sha256.
    pub digest: Sha256Digest,
    /// How the model bytes are encoded.
    pub encoding: ModelEncoding,
    /// The model blob's length in bytes.
    pub size: u64,
}

/// What a published function is. Its [digest](Manifest::digest) is the function's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format, [`MANIFEST_SCHEMA`].
    pub schema: u32,
    /// The numerics specification (docs/NUMERICS.md) the publisher's wasmnn implemented.
    pub spec_version: u32,
    /// The function name, `[a-z0-9][a-z0-9._-]*`, at most 64 bytes.
    pub name: String,
    /// The function version.
    #[serde(with = "version_text")]
    pub version: semver::Version,
    /// One line for listings, at most 1024 bytes.
    pub description: String,
    /// Content type of the call's input (printable ASCII, at most 255 bytes).
    pub input: String,
    /// Content type of the call's output (printable ASCII, at most 255 bytes).
    pub output: String,
    /// The wasm component.
    pub component: BlobRef,
    /// The models, in the handler's declaration order; names are unique.
    pub models: Vec<ManifestModel>,
    /// The limits the function asks for; only the present ones are serialized.
    pub limits: LimitDefaults,
    /// The publisher's key, which signs the manifest.
    pub publisher: PublicKey,
}

/// A manifest whose signature by `manifest.publisher` has been verified.
///
/// The fields are private so that one cannot exist unchecked; the manifest's canonical
/// bytes and digest are computed once, when it is made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSignedManifest")]
pub struct SignedManifest {
    manifest: Manifest,
    signature: Signature,
    canonical: Vec<u8>,
    digest: Sha256Digest,
}

/// The owner of a name says: this version is yanked (or no longer yanked) as of `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YankStatement {
    /// The function name.
    pub name: String,
    /// The version concerned.
    #[serde(with = "version_text")]
    pub version: semver::Version,
    /// `true` to yank, `false` to un-yank.
    pub yanked: bool,
    /// Unix seconds when it was signed; a node accepts it only if recent and newer than the
    /// last statement it applied, so a captured statement cannot be replayed.
    pub timestamp: u64,
}

/// A yank statement with the owner's signature over `YANK_DOMAIN ‖ JCS(statement)`.
///
/// Who the owner is depends on the node's index, so parsing does not verify the signature:
/// call [`SignedYank::verify`] with the owner's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedYank {
    /// What is signed.
    pub statement: YankStatement,
    /// The owner's signature.
    pub signature: Signature,
}

/// Errors reading, checking or signing manifests and yank statements.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The JSON does not parse, or has unknown, missing or mistyped fields (serde_json's
    /// message, with line and column).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A manifest schema this node does not know.
    #[error("unknown manifest schema {0}; this node knows schema {MANIFEST_SCHEMA}")]
    UnknownSchema(u32),
    /// A field parsed but its value is not allowed.
    #[error("invalid manifest: {field}: {message}")]
    Field {
        /// The field, e.g. `name` or `models[1].size`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The signature does not verify with the key that must have made it.
    #[error("the signature does not verify with the publisher's key")]
    BadSignature,
    /// Signing with a key other than the manifest's `publisher`.
    #[error("the signing key is not the manifest's publisher key")]
    KeyMismatch,
    /// The value has no canonical form (a number beyond 2^53 − 1).
    #[error("invalid manifest: {0}")]
    Canonical(#[from] CanonicalError),
}

impl ManifestError {
    /// The stable HTTP error code for this error (docs/REGISTRY.md "HTTP API").
    pub fn code(&self) -> &'static str {
        match self {
            ManifestError::Json(_) => "invalid_json",
            ManifestError::UnknownSchema(_) | ManifestError::Field { .. } | ManifestError::Canonical(_) => {
                "invalid_manifest"
            }
            ManifestError::BadSignature | ManifestError::KeyMismatch => "bad_signature",
        }
    }
}

impl Manifest {
    /// The manifest of a handler crate whose component and models are stored as blobs.
    /// `model_sizes` are the model files' sizes, in the order of `config.models`.
    ///
    /// # Errors
    /// [`ManifestError::Field`] if `model_sizes` does not match the models, or the result
    /// does not [validate](Manifest::validate).
    pub fn from_handler(
        config: &HandlerConfig,
        component: BlobRef,
        model_sizes: &[u64],
        publisher: PublicKey,
        spec_version: u32,
    ) -> Result<Manifest, ManifestError> {
        if model_sizes.len() != config.models.len() {
            let message = format!("{} sizes given for {} models", model_sizes.len(), config.models.len());
            return Err(field_error("models", message));
        }
        let models = config
            .models
            .iter()
            .zip(model_sizes)
            .map(|(model, &size)| ManifestModel {
                name: model.name.clone(),
                digest: model.sha256,
                encoding: model.encoding,
                size,
            })
            .collect();
        let function = &config.function;
        let manifest = Manifest {
            schema: MANIFEST_SCHEMA,
            spec_version,
            name: function.name.clone(),
            version: function.version.clone(),
            description: function.description.clone(),
            input: function.input.clone(),
            output: function.output.clone(),
            component,
            models,
            limits: config.limits,
            publisher,
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks every field against docs/REGISTRY.md; a node accepts only valid manifests.
    ///
    /// # Errors
    /// [`ManifestError::UnknownSchema`], or [`ManifestError::Field`] naming the first bad
    /// field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.schema != MANIFEST_SCHEMA {
            return Err(ManifestError::UnknownSchema(self.schema));
        }
        check_name("name", &self.name)?;
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            let message = format!("is {} bytes; at most {MAX_DESCRIPTION_BYTES} are allowed", self.description.len());
            return Err(field_error("description", message));
        }
        check_content_type("input", &self.input)?;
        check_content_type("output", &self.output)?;
        check_safe("component.size", self.component.size)?;
        self.check_models()?;
        check_limits(&self.limits)
    }

    /// The manifest's canonical form, RFC 8785 JSON: what is hashed and signed.
    ///
    /// # Errors
    /// [`ManifestError::Canonical`] if an integer exceeds 2^53 − 1.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        Ok(to_canonical_json(self)?)
    }

    /// The manifest's digest, the sha256 of its canonical bytes: the function's identity.
    ///
    /// # Errors
    /// As [`Manifest::canonical_bytes`].
    pub fn digest(&self) -> Result<Sha256Digest, ManifestError> {
        Ok(Sha256Digest::of_bytes(&self.canonical_bytes()?))
    }

    /// The blobs the function needs: the component, then the models, each digest once.
    pub fn blobs(&self) -> Vec<BlobRef> {
        let models = self.models.iter().map(|model| BlobRef { digest: model.digest, size: model.size });
        let mut seen = HashSet::new();
        std::iter::once(self.component).chain(models).filter(|blob| seen.insert(blob.digest)).collect()
    }

    /// Validates the manifest and signs `MANIFEST_DOMAIN ‖ canonical bytes` with `key`.
    ///
    /// # Errors
    /// As [`Manifest::validate`], or [`ManifestError::KeyMismatch`] if `key` is not the
    /// manifest's `publisher`.
    pub fn sign(self, key: &SecretKey) -> Result<SignedManifest, ManifestError> {
        self.validate()?;
        if key.public() != self.publisher {
            return Err(ManifestError::KeyMismatch);
        }
        let canonical = self.canonical_bytes()?;
        let signature = key.sign(MANIFEST_DOMAIN, &canonical);
        Ok(SignedManifest::assemble(self, signature, canonical))
    }

    /// Model names are valid and unique, sizes are safe integers, and a digest declared
    /// twice (say, by two models sharing weights) has the same size each time.
    fn check_models(&self) -> Result<(), ManifestError> {
        let mut names = HashSet::new();
        let mut sizes = HashMap::from([(self.component.digest, self.component.size)]);
        for (index, model) in self.models.iter().enumerate() {
            let field = |name: &str| format!("models[{index}].{name}");
            if !is_valid_model_name(&model.name) {
                return Err(field_error(field("name"), format!("{:?} must be 1-64 of [A-Za-z0-9._-]", model.name)));
            }
            if !names.insert(model.name.as_str()) {
                return Err(field_error(field("name"), format!("{:?} is declared twice", model.name)));
            }
            check_safe(&field("size"), model.size)?;
            let size = *sizes.entry(model.digest).or_insert(model.size);
            if size != model.size {
                let message = format!("{} is also declared with size {size}", model.digest.prefixed());
                return Err(field_error(field("size"), message));
            }
        }
        Ok(())
    }
}

impl SignedManifest {
    /// Parses a signed manifest `{"manifest": …, "signature": …}`, validates the manifest
    /// and verifies its signature with `manifest.publisher`. Any input is safe to pass.
    ///
    /// # Errors
    /// [`ManifestError::Json`] if it does not parse, the errors of
    /// [`Manifest::validate`], or [`ManifestError::BadSignature`].
    pub fn from_json(bytes: &[u8]) -> Result<SignedManifest, ManifestError> {
        let raw: RawSignedManifest = serde_json::from_slice(bytes).map_err(json_error)?;
        SignedManifest::try_from(raw)
    }

    /// The signed manifest as canonical JSON, `{"manifest":…,"signature":…}`.
    pub fn to_json(&self) -> Vec<u8> {
        // Keys are already in JCS order and base64 needs no escaping, so splicing the cached
        // canonical manifest in gives exactly the envelope's canonical form.
        let signature = self.signature.to_string();
        [b"{\"manifest\":", self.canonical.as_slice(), b",\"signature\":\"", signature.as_bytes(), b"\"}"].concat()
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The publisher's signature over `MANIFEST_DOMAIN ‖ canonical manifest`.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The manifest's digest (which does not depend on the signature).
    pub fn digest(&self) -> Sha256Digest {
        self.digest
    }

    /// Bundles a manifest with its verified signature and canonical bytes.
    fn assemble(manifest: Manifest, signature: Signature, canonical: Vec<u8>) -> SignedManifest {
        let digest = Sha256Digest::of_bytes(&canonical);
        SignedManifest { manifest, signature, canonical, digest }
    }
}

/// A signed manifest as parsed, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignedManifest {
    manifest: Manifest,
    signature: Signature,
}

/// Validates and verifies (what serde and [`SignedManifest::from_json`] do after parsing).
impl TryFrom<RawSignedManifest> for SignedManifest {
    type Error = ManifestError;

    fn try_from(raw: RawSignedManifest) -> Result<Self, Self::Error> {
        let RawSignedManifest { manifest, signature } = raw;
        manifest.validate()?;
        let canonical = manifest.canonical_bytes()?;
        manifest.publisher.verify(MANIFEST_DOMAIN, &canonical, &signature).map_err(|_| ManifestError::BadSignature)?;
        Ok(SignedManifest::assemble(manifest, signature, canonical))
    }
}

/// Serialized as `{"manifest": …, "signature": …}`.
impl Serialize for SignedManifest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            manifest: &'a Manifest,
            signature: &'a Signature,
        }
        Envelope { manifest: &self.manifest, signature: &self.signature }.serialize(serializer)
    }
}

impl YankStatement {
    /// Checks the name and that the timestamp is a safe integer.
    ///
    /// # Errors
    /// [`ManifestError::Field`] naming the bad field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_name("name", &self.name)?;
        check_safe("timestamp", self.timestamp)
    }

    /// The statement's canonical form: what is signed.
    ///
    /// # Errors
    /// [`ManifestError::Canonical`] if the timestamp exceeds 2^53 − 1.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        Ok(to_canonical_json(self)?)
    }

    /// Validates the statement and signs `YANK_DOMAIN ‖ canonical bytes`.
    ///
    /// # Errors
    /// As [`YankStatement::validate`].
    pub fn sign(self, key: &SecretKey) -> Result<SignedYank, ManifestError> {
        self.validate()?;
        let signature = key.sign(YANK_DOMAIN, &self.canonical_bytes()?);
        Ok(SignedYank { statement: self, signature })
    }
}

impl SignedYank {
    /// Parses `{"statement": …, "signature": …}` and validates the statement; the signature
    /// is checked by [`SignedYank::verify`]. Any input is safe to pass.
    ///
    /// # Errors
    /// [`ManifestError::Json`] if it does not parse, or the errors of
    /// [`YankStatement::validate`].
    pub fn from_json(bytes: &[u8]) -> Result<SignedYank, ManifestError> {
        let yank: SignedYank = serde_json::from_slice(bytes).map_err(json_error)?;
        yank.statement.validate()?;
        Ok(yank)
    }

    /// Checks that `key` signed this statement.
    ///
    /// # Errors
    /// [`ManifestError::BadSignature`] if it did not, [`ManifestError::Canonical`] if the
    /// statement has no canonical form.
    pub fn verify(&self, key: &PublicKey) -> Result<(), ManifestError> {
        let canonical = self.statement.canonical_bytes()?;
        key.verify(YANK_DOMAIN, &canonical, &self.signature).map_err(|_| ManifestError::BadSignature)
    }

    /// The signed statement as canonical JSON.
    ///
    /// # Errors
    /// [`ManifestError::Canonical`] if the timestamp exceeds 2^53 − 1.
    pub fn to_json(&self) -> Result<Vec<u8>, ManifestError> {
        Ok(to_canonical_json(self)?)
    }
}

/// serde for [`semver::Version`] as its text (semver's own serde feature is not enabled).
mod version_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(version: &semver::Version, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(version)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<semver::Version, D::Error> {
        let text = String::deserialize(deserializer)?;
        semver::Version::parse(&text).map_err(|e| D::Error::custom(format!("{text:?} is not a semver version: {e}")))
    }
}

fn json_error(error: serde_json::Error) -> ManifestError {
    ManifestError::Json(error.to_string())
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> ManifestError {
    ManifestError::Field { field: field.into(), message: message.into() }
}

/// Function names: `[a-z0-9][a-z0-9._-]*`, at most 64 bytes.
fn check_name(field: &str, name: &str) -> Result<(), ManifestError> {
    if is_valid_function_name(name) {
        Ok(())
    } else {
        Err(field_error(field, format!("{name:?} must match [a-z0-9][a-z0-9._-]* and be at most 64 bytes")))
    }
}

/// A content type: non-empty printable ASCII, at most 255 bytes.
fn check_content_type(field: &str, value: &str) -> Result<(), ManifestError> {
    let printable = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if !value.is_empty() && value.len() <= MAX_CONTENT_TYPE_BYTES && printable {
        Ok(())
    } else {
        let message = format!("{value:?} must be 1-{MAX_CONTENT_TYPE_BYTES} bytes of printable ASCII");
        Err(field_error(field, message))
    }
}

/// An integer every JSON implementation reads exactly.
fn check_safe(field: &str, value: u64) -> Result<(), ManifestError> {
    if value <= MAX_SAFE_INTEGER { Ok(()) } else { Err(field_error(field, format!("{value} is more than 2^53 - 1"))) }
}

/// Present limits are positive safe integers.
fn check_limits(limits: &LimitDefaults) -> Result<(), ManifestError> {
    let fields = [
        ("limits.fuel", limits.fuel),
        ("limits.memory_mib", limits.memory_mib.map(u64::from)),
        ("limits.timeout_ms", limits.timeout_ms),
    ];
    for (field, value) in fields {
        match value {
            Some(0) => return Err(field_error(field, "must be greater than 0")),
            Some(value) => check_safe(field, value)?,
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed([seed; 32])
    }

    /// The fixed manifest of the golden test, published with key(7).
    fn sample() -> Manifest {
        Manifest {
            schema: MANIFEST_SCHEMA,
            spec_version: 2,
            name: "orientation".to_owned(),
            version: semver::Version::new(0, 1, 0),
            description: "Orientation (0/90°) \"quoted\"\n".to_owned(),
            input: "image/*".to_owned(),
            output: "application/json".to_owned(),
            component: BlobRef { digest: Sha256Digest::of_bytes(b"component"), size: 3 },
            models: vec![ManifestModel {
                name: "orientation".to_owned(),
                digest: Sha256Digest::of_bytes(b"model"),
                encoding: ModelEncoding::Onnx,
                size: 5,
            }],
            limits: LimitDefaults { fuel: Some(20_000_000_000), memory_mib: None, timeout_ms: Some(30_000) },
            publisher: key(7).public(),
        }
    }

    /// `sample()` signed, as a JSON value to tamper with.
    fn signed_value() -> Value {
        serde_json::from_slice(&sample().sign(&key(7)).unwrap().to_json()).unwrap()
    }

    fn parse(value: &Value) -> Result<SignedManifest, ManifestError> {
        SignedManifest::from_json(&serde_json::to_vec(value).unwrap())
    }

    fn field_of<T: std::fmt::Debug>(result: Result<T, ManifestError>) -> String {
        match result {
            Err(ManifestError::Field { field, .. }) => field,
            other => panic!("expected a field error: {other:?}"),
        }
    }

    /// The golden bytes were checked by eye against RFC 8785, the digests with `sha256sum`,
    /// and the public key and signature with Python's `cryptography` (an independent ed25519).
    #[test]
    fn golden_canonical_form() {
        let expected = concat!(
            r#"{"component":{"digest":"sha256:6985ca1f4daa5a584a28eae043a239cb96689af1337ea13afb63e00c2bf512fa","#,
            r#""size":3},"description":"Orientation (0/90°) \"quoted\"\n","input":"image/*","#,
            r#""limits":{"fuel":20000000000,"timeout_ms":30000},"models":[{"digest":"#,
            r#""sha256:9372c470eeadd5ecd9c3c74c2b3cb633f8e2f2fad799250a0f70d652b6b825e4","encoding":"onnx","#,
            r#""name":"orientation","size":5}],"name":"orientation","output":"application/json","#,
            r#""publisher":"ed25519:6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=","schema":1,"spec_version":2,"#,
            r#""version":"0.1.0"}"#,
        );
        let signature = "lygd2Cbw2LQgZrcied/9VjoN1/L1fXAarJ8slCZEQmESTjJ3UW4Cq4csCB4FAV2RiMoCB2B5G3al0loqIrwHAw==";
        let manifest = sample();
        assert_eq!(String::from_utf8(manifest.canonical_bytes().unwrap()).unwrap(), expected);
        let digest = "sha256:f3395a8a6854adf9a79339820e4baccc8f5340a7aaa3aa78e905c2fe45856706";
        assert_eq!(manifest.digest().unwrap().prefixed(), digest);
        let signed = manifest.sign(&key(7)).unwrap();
        assert_eq!(signed.digest().prefixed(), digest);
        let envelope = format!(r#"{{"manifest":{expected},"signature":"{signature}"}}"#);
        assert_eq!(String::from_utf8(signed.to_json()).unwrap(), envelope);
    }

    #[test]
    fn signs_and_verifies() {
        let signed = sample().sign(&key(7)).unwrap();
        assert_eq!(signed.manifest(), &sample());
        let json = signed.to_json();
        assert_eq!(json, to_canonical_json(&signed).unwrap());
        let parsed = SignedManifest::from_json(&json).unwrap();
        assert_eq!(parsed, signed);
        assert_eq!(parsed.digest(), sample().digest().unwrap());
        assert_eq!(serde_json::from_slice::<SignedManifest>(&json).unwrap(), signed);
        // Whitespace and key order do not matter: what is signed is the canonical form.
        let pretty = serde_json::to_vec_pretty(&signed_value()).unwrap();
        assert_eq!(SignedManifest::from_json(&pretty).unwrap().digest(), signed.digest());
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let other = Sha256Digest::of_bytes(b"other").prefixed();
        let tampers: [(&str, Value); 9] = [
            ("/name", json!("orientatio")),
            ("/version", json!("0.1.1")),
            ("/description", json!("Orientation")),
            ("/component/digest", json!(other)),
            ("/component/size", json!(4)),
            ("/models/0/digest", json!(other)),
            ("/models/0/encoding", json!("ggml")),
            ("/limits/fuel", json!(20_000_000_001u64)),
            ("/spec_version", json!(3)),
        ];
        for (pointer, replacement) in tampers {
            let mut value = signed_value();
            *value.pointer_mut(&format!("/manifest{pointer}")).unwrap() = replacement;
            assert!(matches!(parse(&value), Err(ManifestError::BadSignature)), "{pointer}");
        }
        let mut value = signed_value();
        value["manifest"]["limits"].as_object_mut().unwrap().remove("timeout_ms");
        assert!(matches!(parse(&value), Err(ManifestError::BadSignature)));
        let mut value = signed_value();
        value["manifest"]["publisher"] = json!(key(8).public().to_string());
        assert!(matches!(parse(&value), Err(ManifestError::BadSignature)));
    }

    #[test]
    fn refuses_forged_and_foreign_signatures() {
        let canonical = sample().canonical_bytes().unwrap();
        let mut forged = key(7).sign(MANIFEST_DOMAIN, &canonical).to_bytes();
        forged[0] ^= 0x80;
        let forgeries = [
            Signature::from_bytes(forged),
            Signature::from_bytes([0; 64]),
            key(8).sign(MANIFEST_DOMAIN, &canonical),
            key(7).sign(YANK_DOMAIN, &canonical),
        ];
        for signature in forgeries {
            let value = json!({"manifest": serde_json::to_value(sample()).unwrap(), "signature": signature});
            let error = parse(&value).unwrap_err();
            assert!(matches!(error, ManifestError::BadSignature), "{error}");
            assert_eq!(error.code(), "bad_signature");
        }
        let error = sample().sign(&key(8)).unwrap_err();
        assert!(matches!(error, ManifestError::KeyMismatch), "{error}");
    }

    #[test]
    fn refuses_unknown_fields() {
        let places = ["", "/manifest", "/manifest/component", "/manifest/models/0", "/manifest/limits"];
        for place in places {
            let mut value = signed_value();
            value.pointer_mut(place).unwrap().as_object_mut().unwrap().insert("extra".to_owned(), json!(1));
            match parse(&value) {
                Err(ManifestError::Json(message)) => assert!(message.contains("unknown field `extra`"), "{message}"),
                other => panic!("{place}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_missing_fields_and_bad_json() {
        let mut value = signed_value();
        value["manifest"].as_object_mut().unwrap().remove("limits");
        assert!(matches!(parse(&value), Err(ManifestError::Json(_))));
        for text in ["", "{", "[]", "null", r#"{"manifest": 1, "signature": "x"}"#] {
            let error = SignedManifest::from_json(text.as_bytes()).unwrap_err();
            assert_eq!(error.code(), "invalid_json", "{text}: {error}");
        }
        let error = SignedManifest::from_json(b"{\n  \"manifest\": nope}").unwrap_err().to_string();
        assert!(error.contains("line 2 column"), "{error}");
    }

    #[test]
    fn refuses_unknown_schemas() {
        let mut value = signed_value();
        value["manifest"]["schema"] = json!(2);
        let error = parse(&value).unwrap_err();
        assert!(matches!(error, ManifestError::UnknownSchema(2)), "{error}");
        assert_eq!(error.code(), "invalid_manifest");
    }

    #[test]
    fn names_the_bad_field() {
        let cases: [(&str, Value, &str); 12] = [
            ("/name", json!("../x"), "name"),
            ("/name", json!("A"), "name"),
            ("/name", json!(""), "name"),
            ("/description", json!("x".repeat(1025)), "description"),
            ("/input", json!(""), "input"),
            ("/output", json!("text/plain\n"), "output"),
            ("/input", json!("x".repeat(256)), "input"),
            ("/models/0/name", json!("../weights"), "models[0].name"),
            ("/component/size", json!(1u64 << 53), "component.size"),
            ("/models/0/size", json!(u64::MAX), "models[0].size"),
            ("/limits/fuel", json!(0), "limits.fuel"),
            ("/limits/timeout_ms", json!(1u64 << 60), "limits.timeout_ms"),
        ];
        for (pointer, replacement, field) in cases {
            let mut value = signed_value();
            *value.pointer_mut(&format!("/manifest{pointer}")).unwrap() = replacement;
            assert_eq!(field_of(parse(&value)), field, "{pointer}");
        }
    }

    #[test]
    fn refuses_duplicate_models_and_conflicting_sizes() {
        let mut manifest = sample();
        manifest.models.push(manifest.models[0].clone());
        assert_eq!(field_of(manifest.validate()), "models[1].name");
        manifest.models[1].name = "copy".to_owned();
        assert_eq!(manifest.validate().map(|()| manifest.blobs().len()).unwrap(), 2);
        manifest.models[1].size = 6;
        assert_eq!(field_of(manifest.validate()), "models[1].size");
        manifest.models[1].digest = manifest.component.digest;
        assert_eq!(field_of(manifest.validate()), "models[1].size");
    }

    #[test]
    fn refuses_numbers_json_cannot_carry_exactly() {
        for size in ["18446744073709551616", "1e3", "3.0", "-3"] {
            let text = String::from_utf8(sample().sign(&key(7)).unwrap().to_json()).unwrap();
            let text = text.replace(r#""size":3"#, &format!(r#""size":{size}"#));
            assert!(matches!(SignedManifest::from_json(text.as_bytes()), Err(ManifestError::Json(_))), "{size}");
        }
        let mut manifest = sample();
        manifest.component.size = 1 << 53;
        assert!(matches!(manifest.canonical_bytes(), Err(ManifestError::Canonical(_))));
        assert_eq!(field_of(manifest.sign(&key(7))), "component.size");
    }

    #[test]
    fn lists_each_blob_once() {
        let mut manifest = sample();
        let model = manifest.models[0].clone();
        manifest.models.push(ManifestModel { name: "again".to_owned(), ..model.clone() });
        manifest.models.push(ManifestModel {
            name: "same-as-component".to_owned(),
            digest: manifest.component.digest,
            ..model
        });
        assert_eq!(
            manifest.blobs(),
            vec![manifest.component, BlobRef { digest: Sha256Digest::of_bytes(b"model"), size: 5 }]
        );
    }

    #[test]
    fn builds_from_a_handler_config() {
        let config: HandlerConfig = r#"
            [function]
            name = "orientation"
            version = "0.1.0"
            description = "Orientation (0/90°) \"quoted\"\n"
            input = "image/*"
            output = "application/json"
            [[model]]
            name = "orientation"
            encoding = "onnx"
            sha256 = "9372c470eeadd5ecd9c3c74c2b3cb633f8e2f2fad799250a0f70d652b6b825e4"
            source = "file:model.onnx"
            [limits]
            fuel = 20000000000
            timeout_ms = 30000
        "#
        .parse()
        .unwrap();
        let component = BlobRef { digest: Sha256Digest::of_bytes(b"component"), size: 3 };
        let manifest = Manifest::from_handler(&config, component, &[5], key(7).public(), 2).unwrap();
        assert_eq!(manifest, sample());
        let error = Manifest::from_handler(&config, component, &[], key(7).public(), 2);
        assert_eq!(field_of(error), "models");
    }

    #[test]
    fn error_codes_are_stable() {
        let field = ManifestError::Field { field: "name".to_owned(), message: String::new() };
        let canonical = sample_with_huge_size().canonical_bytes().unwrap_err();
        let cases = [
            (ManifestError::Json(String::new()), "invalid_json"),
            (ManifestError::UnknownSchema(2), "invalid_manifest"),
            (field, "invalid_manifest"),
            (canonical, "invalid_manifest"),
            (ManifestError::BadSignature, "bad_signature"),
            (ManifestError::KeyMismatch, "bad_signature"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
        }
    }

    fn sample_with_huge_size() -> Manifest {
        Manifest { component: BlobRef { size: u64::MAX, ..sample().component }, ..sample() }
    }

    fn yank(timestamp: u64) -> YankStatement {
        YankStatement {
            name: "orientation".to_owned(),
            version: semver::Version::new(0, 1, 0),
            yanked: true,
            timestamp,
        }
    }

    #[test]
    fn yank_statements_sign_and_verify() {
        let signed = yank(1_700_000_000).sign(&key(7)).unwrap();
        let json = signed.to_json().unwrap();
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            format!(
                r#"{{"signature":"{}","statement":{{"name":"orientation","timestamp":1700000000,"version":"0.1.0","yanked":true}}}}"#,
                signed.signature
            )
        );
        let parsed = SignedYank::from_json(&json).unwrap();
        assert_eq!(parsed, signed);
        parsed.verify(&key(7).public()).unwrap();
        assert!(matches!(parsed.verify(&key(8).public()), Err(ManifestError::BadSignature)));
        let mut replayed = parsed.clone();
        replayed.statement.timestamp += 1;
        assert!(matches!(replayed.verify(&key(7).public()), Err(ManifestError::BadSignature)));
        let mut unyanked = parsed;
        unyanked.statement.yanked = false;
        assert!(matches!(unyanked.verify(&key(7).public()), Err(ManifestError::BadSignature)));
        // A manifest signature is not a yank signature.
        let statement = yank(5);
        let canonical = statement.canonical_bytes().unwrap();
        let cross = SignedYank { statement, signature: key(7).sign(MANIFEST_DOMAIN, &canonical) };
        assert!(matches!(cross.verify(&key(7).public()), Err(ManifestError::BadSignature)));
    }

    #[test]
    fn yank_statements_are_checked() {
        assert_eq!(field_of(yank(1 << 53).sign(&key(7))), "timestamp");
        let bad_name = YankStatement { name: "../x".to_owned(), ..yank(1) };
        assert_eq!(field_of(bad_name.sign(&key(7))), "name");
        let json = String::from_utf8(yank(1).sign(&key(7)).unwrap().to_json().unwrap()).unwrap();
        let extra = json.replace(r#""yanked":true"#, r#""yanked":true,"why":"oops""#);
        assert!(matches!(SignedYank::from_json(extra.as_bytes()), Err(ManifestError::Json(_))));
        let huge = json.replace(r#""timestamp":1"#, r#""timestamp":9007199254740992"#);
        assert_eq!(field_of(SignedYank::from_json(huge.as_bytes())), "timestamp");
    }

    prop_compose! {
        fn arb_name()(name in "[a-z0-9][a-z0-9._-]{0,30}") -> String { name }
    }

    prop_compose! {
        fn arb_version()(
            numbers in (0u64..10_000, 0u64..10_000, 0u64..10_000),
            pre in proptest::option::of("[a-z][a-z0-9]{0,6}(\\.[1-9][0-9]{0,3})?"),
            build in proptest::option::of("[0-9a-z]{1,6}"),
        ) -> semver::Version {
            let mut text = format!("{}.{}.{}", numbers.0, numbers.1, numbers.2);
            if let Some(pre) = pre { text = format!("{text}-{pre}") }
            if let Some(build) = build { text = format!("{text}+{build}") }
            semver::Version::parse(&text).unwrap()
        }
    }

    prop_compose! {
        fn arb_blob()(digest in any::<[u8; 32]>(), size in 0..=MAX_SAFE_INTEGER) -> BlobRef {
            BlobRef { digest: Sha256Digest::from_bytes(digest), size }
        }
    }

    prop_compose! {
        fn arb_models()(models in proptest::collection::vec((arb_name(), arb_blob(), any::<bool>()), 0..=3)) -> Vec<ManifestModel> {
            models
                .into_iter()
                .enumerate()
                .map(|(index, (name, blob, onnx))| ManifestModel {
                    name: format!("{name}{index}"),
                    digest: blob.digest,
                    encoding: if onnx { ModelEncoding::Onnx } else { ModelEncoding::Ggml },
                    size: blob.size,
                })
                .collect()
        }
    }

    prop_compose! {
        fn arb_limits()(
            fuel in proptest::option::of(1..=MAX_SAFE_INTEGER),
            memory_mib in proptest::option::of(1..=u32::MAX),
            timeout_ms in proptest::option::of(1..=MAX_SAFE_INTEGER),
        ) -> LimitDefaults {
            LimitDefaults { fuel, memory_mib, timeout_ms }
        }
    }

    prop_compose! {
        fn arb_manifest()(
            (name, version, spec_version) in (arb_name(), arb_version(), any::<u32>()),
            description in proptest::collection::vec(any::<char>(), 0..64),
            (input, output) in ("[ -~]{1,40}", "[ -~]{1,40}"),
            (component, models, limits) in (arb_blob(), arb_models(), arb_limits()),
            seed in any::<[u8; 32]>(),
        ) -> (Manifest, [u8; 32]) {
            let publisher = SecretKey::from_seed(seed).public();
            let description = description.into_iter().collect();
            let manifest = Manifest {
                schema: MANIFEST_SCHEMA, spec_version, name, version, description, input, output, component,
                models, limits, publisher,
            };
            (manifest, seed)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn canonical_form_round_trips((manifest, seed) in arb_manifest()) {
            manifest.validate().unwrap();
            let canonical = manifest.canonical_bytes().unwrap();
            let parsed: Manifest = serde_json::from_slice(&canonical).unwrap();
            prop_assert_eq!(&parsed, &manifest);
            prop_assert_eq!(parsed.canonical_bytes().unwrap(), canonical.clone());
            prop_assert_eq!(parsed.digest().unwrap(), Sha256Digest::of_bytes(&canonical));

            let signed = manifest.sign(&SecretKey::from_seed(seed)).unwrap();
            let json = signed.to_json();
            prop_assert_eq!(&json, &to_canonical_json(&signed).unwrap());
            let reparsed = SignedManifest::from_json(&json).unwrap();
            prop_assert_eq!(reparsed.to_json(), json);
            prop_assert_eq!(reparsed.digest(), Sha256Digest::of_bytes(&canonical));
        }

        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), cut in any::<usize>()) {
            let _ = SignedManifest::from_json(&bytes);
            let _ = SignedYank::from_json(&bytes);
            let valid = sample().sign(&key(7)).unwrap().to_json();
            let mut mangled = valid[..cut % valid.len()].to_vec();
            mangled.extend_from_slice(&bytes);
            let _ = SignedManifest::from_json(&mangled);
        }
    }
}
