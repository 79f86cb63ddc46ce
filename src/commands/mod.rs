//! The subcommands, one module each, and what they share: the global options and the
//! resolution of a model argument to a file.

pub mod build;
pub mod chat;
pub mod demo;
pub mod dispute;
pub mod functions;
pub mod gc;
pub mod invoke;
pub mod keygen;
pub mod model_inspect;
pub mod model_run;
pub mod models_fetch;
pub mod models_list;
pub mod new;
pub mod publish;
pub mod pull;
pub mod run;
pub mod selftest;
pub mod serve;
pub mod verify;
pub mod yank;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use wasmnn_registry::models::{KNOWN_MODELS, KnownModel, ModelCache, known_model};
use wasmnn_runtime::Backend;

use crate::progress::FetchProgress;

/// Options every subcommand accepts.
#[derive(Debug)]
pub struct Globals {
    /// `--backend`.
    pub backend: Backend,
    /// `--cache`, if given.
    pub cache: Option<PathBuf>,
}

impl Globals {
    /// The model cache: `--cache`, or the default from the environment.
    pub fn model_cache(&self) -> anyhow::Result<ModelCache> {
        match &self.cache {
            Some(dir) => Ok(ModelCache::new(dir)),
            None => Ok(ModelCache::from_env()?),
        }
    }

    /// Where compiled components are cached: `$WASMNN_COMPILE_CACHE`, else `compiled`
    /// next to the model cache's folder (`~/.cache/wasmnn/compiled` by default).
    pub fn compile_cache(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = std::env::var_os("WASMNN_COMPILE_CACHE").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let models = self.model_cache()?;
        let parent = models.dir().parent().unwrap_or(models.dir());
        Ok(parent.join("compiled"))
    }
}

/// The file a model argument names: an existing file as is, else a known model's name,
/// fetched into the cache if needed.
pub fn resolve_model(model: &str, globals: &Globals) -> anyhow::Result<PathBuf> {
    if Path::new(model).is_file() {
        return Ok(PathBuf::from(model));
    }
    match known_model(model) {
        Some(known) => fetch_known(known, &globals.model_cache()?),
        None => bail!("not a model file or a known model name (known: {}): {model}", known_names()),
    }
}

/// Fetches a known model into the cache (with a progress bar) and returns its path.
pub fn fetch_known(model: &KnownModel, cache: &ModelCache) -> anyhow::Result<PathBuf> {
    let source = model.model_source()?;
    let digest = model.digest()?;
    let progress = FetchProgress::new(model.name);
    let fetched = cache.fetch(&source, &digest, &|event| progress.update(event));
    progress.finish();
    fetched.with_context(|| format!("cannot fetch model {}", model.name))
}

/// The known models' names, comma-separated, for error messages.
pub fn known_names() -> String {
    KNOWN_MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

/// The default data dir of a node: `$XDG_DATA_HOME/wasmnn`, else `~/.local/share/wasmnn`.
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("wasmnn"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither XDG_DATA_HOME nor HOME is set: pass --data")?;
    Ok(PathBuf::from(home).join(".local/share/wasmnn"))
}
