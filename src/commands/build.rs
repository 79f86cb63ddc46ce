//! `wasmnn build [DIR] [--debug]`: build a handler crate into a component and print its
//! path, `DIR/target/wasmnn/<name>.wasm`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use serde::Deserialize;
use wasmnn_registry::handler::HandlerConfig;

/// Arguments of `build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The handler crate (the folder with Cargo.toml and wasmnn.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Build without optimizations (faster to build, slower and more fuel to run).
    #[arg(long)]
    debug: bool,
}

/// The wasm target handlers are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Builds and prints the component path.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let component = build(&args.dir, !args.debug)?;
    println!("{}", component.display());
    Ok(ExitCode::SUCCESS)
}

/// Builds the handler crate at `dir` with cargo (cargo's own output goes to stderr) and
/// copies the component to `dir/target/wasmnn/<function name>.wasm`.
///
/// # Errors
/// No valid wasmnn.toml, cargo fails, or it produced no cdylib.
pub fn build(dir: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let config = HandlerConfig::read_dir(dir)?;
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml: not a handler crate", dir.display());
    }
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .arg("build")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if release {
        command.arg("--release");
    }
    let mut child = command.spawn().context("cannot run cargo (is the Rust toolchain installed?)")?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let mut artifact = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("cannot read cargo's output")?;
        if let Some(wasm) = cdylib_of(&line, &manifest) {
            artifact = Some(wasm);
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!("cargo build failed for {} ({status})", dir.display());
    }
    let artifact =
        artifact.with_context(|| format!("cargo built no .wasm for {}: is crate-type [\"cdylib\"]?", dir.display()))?;
    let out_dir = dir.join("target").join("wasmnn");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let component = out_dir.join(format!("{}.wasm", config.function.name));
    // Copied under a temporary name and renamed, so that a concurrent build or publish of
    // the same crate never reads a half-written component.
    let copy = || -> std::io::Result<()> {
        let tmp = tempfile::NamedTempFile::new_in(&out_dir)?;
        std::fs::copy(&artifact, tmp.path())?;
        tmp.persist(&component).map_err(|e| e.error)?;
        Ok(())
    };
    copy().with_context(|| format!("cannot copy {} to {}", artifact.display(), component.display()))?;
    Ok(component)
}

/// One line of cargo's JSON messages, as far as the artifact goes.
#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    manifest_path: PathBuf,
    #[serde(default)]
    filenames: Vec<PathBuf>,
    #[serde(default)]
    target: Option<Target>,
}

#[derive(Deserialize)]
struct Target {
    crate_types: Vec<String>,
}

/// The `.wasm` file of the handler crate's cdylib, if this message reports it.
fn cdylib_of(line: &str, manifest: &Path) -> Option<PathBuf> {
    let message: Message = serde_json::from_str(line).ok()?;
    let is_ours = same_file(&message.manifest_path, manifest);
    let is_cdylib = message.target.is_some_and(|t| t.crate_types.iter().any(|c| c == "cdylib"));
    if message.reason != "compiler-artifact" || !is_ours || !is_cdylib {
        return None;
    }
    message.filenames.into_iter().find(|f| f.extension().is_some_and(|e| e == "wasm"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
