//! Compiling handler components, once: in memory by component digest, and on disk under
//! `<cache>/<engine fingerprint>/<component sha256>.cwasm` so that a later process starts
//! from the compiled code (a cold start is a deserialization, not a compilation).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use wasmnn_registry::Sha256Digest;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::nn::bindings::HandlerPre;
use crate::state::CallState;

/// A compiled component, linked against the host and ready to instantiate per call.
pub struct PreparedComponent {
    digest: Sha256Digest,
    pre: HandlerPre<CallState>,
}

impl PreparedComponent {
    /// The sha256 of the component bytes.
    pub fn digest(&self) -> Sha256Digest {
        self.digest
    }

    pub(crate) fn pre(&self) -> &HandlerPre<CallState> {
        &self.pre
    }
}

/// Why a component cannot be prepared; the message is for the function's author.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

/// Compiled components by digest, in memory and optionally on disk.
pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    prepared: Mutex<HashMap<Sha256Digest, Arc<PreparedComponent>>>,
}

impl ComponentCache {
    /// A cache that also keeps compiled code under `dir` for `engine`'s configuration.
    pub fn new(engine: &Engine, dir: Option<&Path>) -> Self {
        let dir = dir.map(|dir| dir.join(engine_fingerprint(engine)));
        ComponentCache { dir, prepared: Mutex::new(HashMap::new()) }
    }

    /// Compiled components held in memory.
    pub fn len(&self) -> usize {
        self.prepared.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The prepared component of these bytes: from memory, else from the disk cache, else
    /// compiled (and written to the disk cache).
    pub fn prepare(
        &self,
        engine: &Engine,
        linker: &Linker<CallState>,
        bytes: &[u8],
    ) -> Result<Arc<PreparedComponent>, CompileError> {
        let digest = Sha256Digest::of_bytes(bytes);
        if let Some(prepared) = self.prepared.lock().unwrap_or_else(PoisonError::into_inner).get(&digest) {
            return Ok(Arc::clone(prepared));
        }
        let component = self.load_or_compile(engine, &digest, bytes)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            CompileError(format!("the component does not fit the wasmnn:handler world or WASI p2: {e:#}"))
        })?;
        let pre = HandlerPre::new(instance_pre)
            .map_err(|e| CompileError(format!("the component does not export the handler world's `handle`: {e:#}")))?;
        let prepared = Arc::new(PreparedComponent { digest, pre });
        let mut map = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(map.entry(digest).or_insert(prepared)))
    }

    fn load_or_compile(&self, engine: &Engine, digest: &Sha256Digest, bytes: &[u8]) -> Result<Component, CompileError> {
        let cached = self.dir.as_ref().map(|dir| dir.join(format!("{}.cwasm", digest.to_hex())));
        if let Some(path) = cached.as_ref().filter(|p| p.is_file()) {
            // SAFETY: the file was written by `store` below from `Component::serialize` for
            // an engine with this exact configuration (the fingerprint is in the path), in
            // a cache directory that only this user writes. wasmtime also checks the
            // header and configuration before using it.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable compiled component"),
            }
        }
        check_is_component(bytes)?;
        let component = Component::new(engine, bytes).map_err(|e| CompileError(format!("invalid component: {e:#}")))?;
        if let Some(path) = cached
            && let Err(e) = store(&component, &path)
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled component cache");
        }
        Ok(component)
    }
}

/// Refuses what is not a component binary with a message that says what it is instead.
/// The header is `\0asm`, a u16 version and a u16 layer: layer 1 is a component, layer 0
/// (version 1) a core module.
fn check_is_component(bytes: &[u8]) -> Result<(), CompileError> {
    const MAGIC: &[u8; 4] = b"\0asm";
    match bytes.get(..8) {
        Some([m0, m1, m2, m3, _, _, 0x01, 0x00]) if [*m0, *m1, *m2, *m3] == *MAGIC => Ok(()),
        Some([m0, m1, m2, m3, 0x01, 0x00, 0x00, 0x00]) if [*m0, *m1, *m2, *m3] == *MAGIC => Err(CompileError(
            "this is a core wasm module, not a component: build the handler for wasm32-wasip2 (`wasmnn build`)".into(),
        )),
        _ => Err(CompileError(format!(
            "not a WebAssembly component ({} bytes, no \\0asm component header)",
            bytes.len()
        ))),
    }
}

/// Writes compiled code atomically (temp file in the same folder, then rename).
fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A hex fingerprint of everything that makes compiled code (in)compatible: wasmtime's
/// own compatibility hash of the engine configuration and target.
fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..16])
}

/// `std::hash::Hasher` over sha256, so the fingerprint does not depend on Rust's
/// unspecified default hasher.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}
