//! The `wasmnn` command-line tool. It stays thin: it parses arguments into typed structs
//! and each subcommand (one module under `commands/`) calls the library crates.
//!
//! Exit codes: 0 on success; 1 on any error, printed to stderr as one line `error: …`
//! with its whole cause chain; 2 on command-line usage errors (printed by clap).
//! Logs go to stderr: warnings by default, more with `-v`/`-vv`/`-vvv`, or as `RUST_LOG`
//! says.

mod commands;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgAction, Parser, Subcommand};
use wasmnn_runtime::Backend;

use crate::commands::{
    Globals, build, chat, demo, dispute, functions, gc, invoke, keygen, model_inspect, model_run, models_fetch,
    models_list, new, publish, pull, run, selftest, serve, verify, yank,
};

/// Verifiable, sandboxed inference functions.
#[derive(Debug, Parser)]
#[command(name = "wasmnn", version, about)]
struct Cli {
    /// Log more to stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Executor for model graphs: auto (the GPU if an adapter passes the self-test, else the
    /// CPU), cpu or gpu.
    #[arg(long, global = true, default_value = "auto", value_name = "auto|cpu|gpu")]
    backend: Backend,
    /// Model cache folder [default: $WASMNN_MODEL_CACHE, else $XDG_CACHE_HOME/wasmnn/models,
    /// else ~/.cache/wasmnn/models].
    #[arg(long, global = true, value_name = "DIR")]
    cache: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The known models: list them or fetch them into the cache.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// One model (a .onnx file or a known model's name): inspect or run it.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Scaffold a handler crate (Cargo.toml, wasmnn.toml, src/lib.rs) that builds as is.
    New(new::Args),
    /// Build a handler crate into a component; prints its path.
    Build(build::Args),
    /// Run a handler once on an input; the output goes to stdout, a summary to stderr.
    Run(run::Args),
    /// Check the GPU: run every op family's canary cases on the adapter and compare them bit
    /// for bit with the CPU reference.
    Selftest,
    /// The main job in one command: build the example handlers, publish them into the
    /// node's registry under the data dir, and serve them (prints curl lines to try).
    Demo(demo::Args),
    /// Run a node: the registry under a data dir and the HTTP API (docs/REGISTRY.md).
    Serve(serve::Args),
    /// Make an ed25519 key: a publisher key (the default), or with --node a node's key.
    Keygen(keygen::Args),
    /// Build a handler crate, sign its manifest with the publisher key, and publish it to a
    /// node; prints the manifest digest.
    Publish(publish::Args),
    /// Copy a published function (by name or manifest digest) from one node to another node
    /// or into a data dir, verifying every byte; prints the manifest digest.
    Pull(pull::Args),
    /// List the functions a node serves.
    Functions(functions::Args),
    /// Yank a version (hide it from resolution by name), or un-yank it with --undo.
    Yank(yank::Args),
    /// Run a published function on a node: the output goes to stdout once its signed
    /// receipt checks out, a summary to stderr.
    Invoke(invoke::Args),
    /// Chat with a chat function on a node in the terminal: streams each reply and checks
    /// its receipt.
    Chat(chat::Args),
    /// Re-execute the call a receipt describes (on --backend) and say whether its output,
    /// fuel and op count match; exit 1 on a mismatch.
    Verify(verify::Args),
    /// Dispute a receipt with a node by bisecting op traces to the first differing op;
    /// check a verdict; print a call's trace.
    Dispute(dispute::Args),
    /// Remove a data dir's unreferenced blobs and expired pending manifests (node stopped).
    Gc(gc::Args),
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// List the known models, their sources and digests, and whether they are cached.
    List,
    /// Fetch known models into the cache and print their paths.
    Fetch(models_fetch::Args),
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Print a model's inputs, outputs, op counts, constants and metadata.
    Inspect(model_inspect::Args),
    /// Run a model on .npy inputs and write its outputs as .npy files.
    Run(model_run::Args),
}

fn main() -> ExitCode {
    quiet_vulkan_device_select();
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` connects to a Wayland
/// display to rank devices and prints `error: XDG_RUNTIME_DIR is invalid…` on headless
/// machines; we pick the adapter ourselves, so it is disabled (its documented switch,
/// `NODEVICE_SELECT=1`) unless the user set that variable.
fn quiet_vulkan_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists, so no
        // other code can be reading the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_logging(cli.verbose)?;
    let globals = Globals { backend: cli.backend, cache: cli.cache };
    match cli.command {
        Command::Models { command: ModelsCommand::List } => models_list::run(&globals),
        Command::Models { command: ModelsCommand::Fetch(args) } => models_fetch::run(&args, &globals),
        Command::Model { command: ModelCommand::Inspect(args) } => model_inspect::run(&args, &globals),
        Command::Model { command: ModelCommand::Run(args) } => model_run::run(&args, &globals),
        Command::New(args) => new::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Run(args) => run::run(&args, &globals),
        Command::Selftest => selftest::run(&globals),
        Command::Serve(args) => serve::run(&args, &globals),
        Command::Demo(args) => demo::run(&args, &globals),
        Command::Keygen(args) => keygen::run(&args),
        Command::Publish(args) => publish::run(&args, &globals),
        Command::Pull(args) => pull::run(&args),
        Command::Functions(args) => functions::run(&args),
        Command::Yank(args) => yank::run(&args),
        Command::Invoke(args) => invoke::run(&args),
        Command::Chat(args) => chat::run(&args),
        Command::Verify(args) => verify::run(&args, &globals),
        Command::Dispute(args) => dispute::run(&args, &globals),
        Command::Gc(args) => gc::run(&args),
    }
}

fn init_logging(verbose: u8) -> anyhow::Result<()> {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!(e))
        .context("cannot set up logging")
}
