//! The node's loaded functions: each published manifest turned once into a [`Function`]
//! ([`Function::from_store`]: its component compiled — or read from the on-disk compile
//! cache — and its models pointed at their blob files), then reused by every call naming
//! that digest.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use wasmnn_registry::Sha256Digest;
use wasmnn_registry::manifest::SignedManifest;
use wasmnn_registry::store::Store;

use super::error::ApiError;
use crate::{Function, FunctionLoadError, Runtime};

/// Functions by manifest digest.
#[derive(Default)]
pub struct FunctionCache {
    loaded: Mutex<HashMap<Sha256Digest, Function>>,
}

impl FunctionCache {
    /// The function of `manifest`, loaded on first use, and whether it was already loaded.
    /// Two first calls at once may both load it; one result is kept.
    ///
    /// # Errors
    /// A blob is missing or corrupt, or the component does not compile.
    pub fn get_or_load(
        &self,
        manifest: &SignedManifest,
        store: &Store,
        runtime: &Runtime,
    ) -> Result<(Function, bool), ApiError> {
        if let Some(function) = self.lock().get(&manifest.digest()) {
            return Ok((function.clone(), true));
        }
        let function = load(manifest, store, runtime)?;
        Ok((self.lock().entry(manifest.digest()).or_insert(function).clone(), false))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sha256Digest, Function>> {
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
