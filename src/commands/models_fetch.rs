//! `wasmnn models fetch [NAME...]`: fetch known models into the cache.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use wasmnn_registry::models::{KNOWN_MODELS, KnownModel, known_model};

use crate::commands::{Globals, fetch_known, known_names};

/// Arguments of `models fetch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Known models to fetch [default: all of them].
    names: Vec<String>,
}

/// Fetches each model (downloading only those not cached with the right digest) and
/// prints `name  path` lines.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let cache = globals.model_cache()?;
    let models = selected(&args.names)?;
    for model in models {
        let path = fetch_known(model, &cache)?;
        writeln!(std::io::stdout().lock(), "{}  {}", model.name, path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The named models, or all when no name is given.
fn selected(names: &[String]) -> anyhow::Result<Vec<&'static KnownModel>> {
    if names.is_empty() {
        return Ok(KNOWN_MODELS.iter().collect());
    }
    names
        .iter()
        .map(|name| match known_model(name) {
            Some(model) => Ok(model),
            None => bail!("unknown model name (known: {}): {name}", known_names()),
        })
        .collect()
}
