//! The node's loaded functions: each published manifest read (and its signature checked)
//! once, turned once into a [`Function`] ([`Function::from_store`]: its component compiled
//! — or read from the on-disk compile cache — and its models pointed at their blob files),
//! then reused by every call naming that digest. Manifests are immutable, so neither ever
//! goes stale; yanking changes only which digest a name resolves to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use wasmnn_registry::Sha256Digest;
use wasmnn_registry::manifest::SignedManifest;
use wasmnn_registry::store::Store;

use super::error::ApiError;
use crate::{Function, FunctionLoadError, Runtime};

/// A published function ready to run: its verified manifest and its loaded [`Function`].
pub struct LoadedFunction {
    /// The signed manifest (signature checked when it was loaded).
    pub manifest: SignedManifest,
    /// The compiled component and its models.
    pub function: Function,
}

/// Loaded functions by manifest digest.
#[derive(Default)]
pub struct FunctionCache {
    loaded: Mutex<HashMap<Sha256Digest, Arc<LoadedFunction>>>,
}

impl FunctionCache {
    /// The function whose manifest is `digest`, loaded from `store` on first use, and
    /// whether it was already loaded. Two first calls at once may both load it; one
    /// result is kept.
    ///
    /// # Errors
    /// No such manifest, a blob is missing or corrupt, or the component does not compile.
    pub fn get_or_load(
        &self,
        digest: &Sha256Digest,
        store: &Store,
        runtime: &Runtime,
    ) -> Result<(Arc<LoadedFunction>, bool), ApiError> {
        if let Some(loaded) = self.lock().get(digest) {
            return Ok((Arc::clone(loaded), true));
        }
        let manifest = store.manifest(digest)?;
        let function = load(&manifest, store, runtime)?;
        let loaded = Arc::new(LoadedFunction { manifest, function });
        Ok((Arc::clone(self.lock().entry(*digest).or_insert(loaded)), false))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sha256Digest, Arc<LoadedFunction>>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Loads the function ([`Function::from_store`]) and logs it; store errors answer as
/// they do everywhere, a component that does not compile is `422` with its code.
fn load(signed: &SignedManifest, store: &Store, runtime: &Runtime) -> Result<Function, ApiError> {
    let function = Function::from_store(signed, store, runtime).map_err(|error| match error {
        FunctionLoadError::Store(e) => ApiError::from(e),
        FunctionLoadError::Compile(e) => ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            e.code(),
            format!("the function's component: {e}"),
        ),
    })?;
    let manifest = signed.manifest();
    tracing::info!(function = %manifest.name, version = %manifest.version, digest = %signed.digest().prefixed(), "loaded");
    Ok(function)
}
