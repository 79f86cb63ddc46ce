//! The node's loaded functions: each published manifest turned once into a [`Function`]
//! (its component compiled — or read from the on-disk compile cache — and its models
//! pointed at their blob files), then reused by every call naming that digest.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use wasmnn_registry::Sha256Digest;
use wasmnn_registry::manifest::SignedManifest;
use wasmnn_registry::store::Store;

use super::error::ApiError;
use crate::{Function, ModelFile, Runtime};

/// Functions by manifest digest.
#[derive(Default)]
pub struct FunctionCache {
    loaded: Mutex<HashMap<Sha256Digest, Function>>,
}

impl FunctionCache {
    /// The function of `manifest`, loaded on first use. Two first calls at once may both
    /// load it; one result is kept.
    ///
    /// # Errors
    /// A blob is missing or corrupt, or the component does not compile.
    pub fn get_or_load(
        &self,
        manifest: &SignedManifest,
        store: &Store,
        runtime: &Runtime,
    ) -> Result<Function, ApiError> {
        if let Some(function) = self.lock().get(&manifest.digest()) {
            return Ok(function.clone());
        }
        let function = load(manifest, store, runtime)?;
        Ok(self.lock().entry(manifest.digest()).or_insert(function).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sha256Digest, Function>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads the component (verified against its digest), prepares it, and maps each model's
/// load-by-name key to its blob file (its digest is checked again when the graph loads).
fn load(signed: &SignedManifest, store: &Store, runtime: &Runtime) -> Result<Function, ApiError> {
    let manifest = signed.manifest();
    let (mut file, _) = store.open_blob(&manifest.component.digest)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(ApiError::internal)?;
    let component = runtime.prepare(&bytes).map_err(|e| {
        ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, e.code(), format!("the function's component: {e}"))
    })?;
    let mut models = HashMap::new();
    for model in &manifest.models {
        let path = store.blob_file(&model.digest)?;
        models.insert(model.name.clone(), ModelFile { encoding: model.encoding, sha256: model.digest, path });
    }
    tracing::info!(function = %manifest.name, version = %manifest.version, digest = %signed.digest().prefixed(), "loaded");
    Ok(Function::new(manifest.name.clone(), component, models, manifest.limits))
}
