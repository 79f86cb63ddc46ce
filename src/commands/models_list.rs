//! `wasmnn models list`: the known models, their sources and digests, and whether each
//! is in the cache.

use std::io::Write;
use std::process::ExitCode;

use wasmnn_registry::models::KNOWN_MODELS;

use crate::commands::Globals;

/// Prints one line per known model: name, cached (yes/no), sha256, source, description.
pub fn run(globals: &Globals) -> anyhow::Result<ExitCode> {
    let cache = globals.model_cache()?;
    let width = KNOWN_MODELS.iter().map(|m| m.name.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:width$}  cached  {:64}  source", "name", "sha256")?;
    for model in KNOWN_MODELS {
        let cached = cache.contains(&model.model_source()?, &model.digest()?);
        let cached = if cached { "yes" } else { "no" };
        writeln!(out, "{:width$}  {cached:6}  {}  {}", model.name, model.sha256, model.source)?;
        writeln!(out, "{:width$}  {}", "", model.description)?;
    }
    writeln!(out, "cache: {}", cache.dir().display())?;
    Ok(ExitCode::SUCCESS)
}
