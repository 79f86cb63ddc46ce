//! `wasmnn demo`: the main job in one command — build the example handlers, publish them
//! into the node's own registry under the data dir, and serve them, printing curl lines
//! to try.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use wasmnn_registry::keys::{KeyError, SecretKey};
use wasmnn_registry::replicate::push;
use wasmnn_registry::store::Store;

use crate::commands::publish::{LocalFunction, summary};
use crate::commands::{Globals, serve};

/// The example handlers the demo serves.
const DEMO_FUNCTIONS: [&str; 5] = ["orientation", "embeddings", "chat", "complete", "echo"];

/// The publisher key of the demo's functions, kept in the data dir.
const DEMO_KEY_FILE: &str = "demo-publisher.key";

/// Arguments of `demo`: those of `serve`, plus where the examples are.
#[derive(Debug, clap::Args)]
#[group(id = "demo_args")]
pub struct Args {
    #[command(flatten)]
    serve: serve::Args,
    /// The examples folder of a wasmnn checkout [default: ./examples, else the one this
    /// binary was built from].
    #[arg(long, value_name = "DIR")]
    examples: Option<PathBuf>,
    /// Build the handlers without optimizations (faster to build, slower to run).
    #[arg(long)]
    debug: bool,
}

/// Builds and publishes the examples, then serves.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let examples = examples_dir(args.examples.as_deref())?;
    let data = args.serve.data_dir()?;
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let key = demo_key(&data.join(DEMO_KEY_FILE))?;
    {
        let store = Store::open(&data, args.serve.policy())
            .with_context(|| format!("cannot open the data dir {}", data.display()))?;
        for name in DEMO_FUNCTIONS {
            let local = LocalFunction::build(&examples.join(name), &key, !args.debug, globals)
                .with_context(|| format!("cannot build the {name} example"))?;
            let report = push(&store, &local.signed, |blob, _| local.open(blob))?;
            eprintln!("{}", summary(&report, &local.signed, &data.display().to_string()));
        }
    }
    serve::serve(&args.serve, globals, |url| {
        // Nobody reading stdout any more is no reason to stop serving.
        if let Err(error) = print_try_lines(url, &examples) {
            tracing::warn!(%error, "cannot print the curl lines");
        }
        Ok(())
    })
}

/// The examples folder: as given, else `./examples`, else the checkout's.
fn examples_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let candidates = match given {
        Some(dir) => vec![dir.to_owned()],
        None => vec![PathBuf::from("examples"), Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")],
    };
    candidates
        .into_iter()
        .find(|dir| dir.join("orientation").join("wasmnn.toml").is_file())
        .context("no examples folder with the example handlers: run from a wasmnn checkout or pass --examples DIR")
}

/// The demo's publisher key, created on first use.
fn demo_key(path: &Path) -> anyhow::Result<SecretKey> {
    match SecretKey::read(path) {
        Err(KeyError::Missing { .. }) => {
            let key = SecretKey::generate()?;
            key.write_new(path, false)?;
            Ok(key)
        }
        other => other.with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Prints ready-to-paste curl lines for each demo function.
fn print_try_lines(url: &str, examples: &Path) -> anyhow::Result<()> {
    let image = examples.parent().unwrap_or(examples).join("fixtures/orientation/image_1.png");
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nTry (the wasmnn-receipt headers carry each call's signed receipt):")?;
    writeln!(out, "  curl -sS -D - --data-binary @{} {url}/v1/functions/orientation/invoke", image.display())?;
    writeln!(
        out,
        "  curl -sS -D - -d '{{\"input\": [\"The cat sat on the mat.\", \"A feline rested on the rug.\"]}}' {url}/v1/functions/embeddings/invoke"
    )?;
    writeln!(
        out,
        "  curl -sS -D - -d '{{\"tokens\": [504, 3575, 282, 4649, 314], \"max_tokens\": 8}}' {url}/v1/functions/complete/invoke"
    )?;
    writeln!(out, "  curl -sS -D - -d 'hello, wasmnn' {url}/v1/functions/echo/invoke")?;
    writeln!(out, "OpenAI-compatible (any OpenAI client with base URL {url}/v1):")?;
    writeln!(
        out,
        "  curl -sS -N -d '{{\"model\": \"chat\", \"messages\": [{{\"role\": \"user\", \"content\": \"What is the capital of France? Answer in one word.\"}}], \"max_tokens\": 32, \"stream\": true}}' {url}/v1/chat/completions"
    )?;
    writeln!(
        out,
        "  curl -sS -d '{{\"model\": \"embeddings\", \"input\": \"The cat sat on the mat.\"}}' {url}/v1/embeddings"
    )?;
    writeln!(out, "  curl -sS {url}/v1/models")?;
    writeln!(out, "  wasmnn chat {url} chat")?;
    writeln!(out, "  curl -sS {url}/v1/functions")?;
    writeln!(out, "  curl -sS {url}/healthz")?;
    writeln!(out, "  curl -sS {url}/metrics")?;
    writeln!(out, "Stop with Ctrl-C.")?;
    out.flush()?;
    Ok(())
}
