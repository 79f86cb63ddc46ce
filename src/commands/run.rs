//! `wasmnn run DIR|FILE.wasm --input FILE|- [--model NAME=PATH …] [--seed N] [--fuel N]
//! [--memory-mib N] [--timeout-ms N]`: run a handler once, locally.
//!
//! The output (emitted chunks, then the returned bytes) goes to stdout; a one-line
//! summary (fuel, ops, backend, time) goes to stderr.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wasmnn_registry::handler::{HANDLER_MANIFEST, HandlerConfig, LimitDefaults};
use wasmnn_runtime::{Function, Limits, ModelFile, Runtime, model_file_override, resolve_models};

use crate::commands::{Globals, build};
use crate::progress::ModelsProgress;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A handler crate folder (built first), or a component file.
    handler: PathBuf,
    /// The input bytes: a file, or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    input: PathBuf,
    /// Use this file for a model: NAME=PATH (repeatable); overrides wasmnn.toml.
    #[arg(long = "model", value_name = "NAME=PATH", value_parser = parse_model)]
    models: Vec<(String, PathBuf)>,
    /// The call's seed (WASI's random numbers derive from it).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fuel limit [default: wasmnn.toml's, else 20e9].
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Linear memory limit in MiB [default: wasmnn.toml's, else 512].
    #[arg(long, value_name = "N")]
    memory_mib: Option<u32>,
    /// Wall-clock kill switch in milliseconds [default: wasmnn.toml's, else 60000].
    #[arg(long, value_name = "N")]
    timeout_ms: Option<u64>,
    /// Build a crate folder without optimizations.
    #[arg(long)]
    debug: bool,
}

/// Builds if needed, runs the call, writes the output and the summary.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let (component_path, crate_dir) = locate(&args.handler, args.debug)?;
    let config = crate_dir.as_deref().map(HandlerConfig::read_dir).transpose()?;
    let models = models(config.as_ref(), crate_dir.as_deref(), &args.models, globals)?;
    let input = read_input(&args.input)?;
    let bytes = std::fs::read(&component_path)
        .with_context(|| format!("cannot read component {}", component_path.display()))?;

    let backend = globals.backend.resolve()?;
    let runtime = Runtime::new(backend, globals.backend, Some(&globals.compile_cache()?))?;
    let component = runtime.prepare(&bytes)?;
    let name = config.as_ref().map_or_else(|| file_stem(&component_path), |c| c.function.name.clone());
    let declared = config.as_ref().map(|c| c.limits).unwrap_or_default();
    let function = Function::new(name, component, models, declared);
    let limits = limits(&function, args);

    let started = Instant::now();
    let outcome = runtime.invoke(&function, &input, args.seed, &limits, None)?;
    let elapsed = started.elapsed();
    let mut stdout = std::io::stdout().lock();
    for chunk in &outcome.emitted {
        stdout.write_all(chunk)?;
    }
    stdout.write_all(&outcome.output)?;
    stdout.flush()?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "fuel {} · ops {} · backend {} · {:.1} ms (instantiate {:.1} ms, models {:.1} ms)",
        outcome.fuel,
        outcome.ops,
        outcome.backend,
        ms(elapsed),
        ms(outcome.timings.instantiate),
        ms(outcome.timings.compute)
    );
    Ok(ExitCode::SUCCESS)
}

/// The component file and, when known, the handler crate folder: a folder is built; a
/// `.wasm` at `<crate>/target/wasmnn/<name>.wasm` finds its crate's wasmnn.toml.
fn locate(handler: &Path, debug: bool) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    if handler.is_dir() {
        let component = build::build(handler, !debug)?;
        return Ok((component, Some(handler.to_path_buf())));
    }
    if !handler.is_file() {
        bail!("{} is neither a handler crate folder nor a component file", handler.display());
    }
    let crate_dir = handler
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .filter(|_| handler.parent().is_some_and(|p| p.ends_with("target/wasmnn")))
        .filter(|dir| dir.join(HANDLER_MANIFEST).is_file())
        .map(Path::to_path_buf);
    Ok((handler.to_path_buf(), crate_dir))
}

/// The declared models (fetched or read) with the command line's overrides applied.
pub(crate) fn models(
    config: Option<&HandlerConfig>,
    crate_dir: Option<&Path>,
    overrides: &[(String, PathBuf)],
    globals: &Globals,
) -> anyhow::Result<HashMap<String, ModelFile>> {
    let mut models = HashMap::new();
    if let (Some(config), Some(dir)) = (config, crate_dir) {
        let mut remaining = config.clone();
        remaining.models.retain(|m| !overrides.iter().any(|(name, _)| *name == m.name));
        let progress = ModelsProgress::default();
        let resolved =
            resolve_models(&remaining, dir, &globals.model_cache()?, &|name, event| progress.update(name, event));
        progress.finish();
        models = resolved?;
    }
    for (name, path) in overrides {
        let declared = config.and_then(|c| c.model(name)).map(|m| m.encoding);
        models.insert(name.clone(), model_file_override(name, path, declared)?);
    }
    Ok(models)
}

/// The function's limits with the command line's overrides.
fn limits(function: &Function, args: &Args) -> Limits {
    let mut limits = function.default_limits();
    limits.apply(&LimitDefaults { fuel: args.fuel, memory_mib: args.memory_mib, timeout_ms: args.timeout_ms });
    limits
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).context("cannot read the input from stdin")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read input {}", path.display()))?;
    }
    Ok(bytes)
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| "handler".to_owned(), |s| s.to_string_lossy().into_owned())
}

/// Parses `NAME=PATH`.
fn parse_model(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok((name.to_owned(), PathBuf::from(path))),
        _ => Err(format!("expected NAME=PATH, got: {text}")),
    }
}
