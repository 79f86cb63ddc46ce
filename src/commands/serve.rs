//! `wasmnn serve`: run a node — the registry under a data dir, invocation with signed
//! receipts, and the HTTP API.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wasmnn_registry::client::RegistryClient;
use wasmnn_registry::keys::{KeyError, NODE_KEY_FILE, PublicKey, SecretKey, default_key_path};
use wasmnn_registry::store::{Policy, Store};
use wasmnn_runtime::Runtime;
use wasmnn_runtime::node::spot::SpotCheckConfig;
use wasmnn_runtime::node::{self, NodeConfig, NodeState};

use crate::commands::{Globals, default_data_dir};

/// The node's receipt-signing key: read from `path` (or the default place), created there
/// on first start.
fn node_key(path: Option<&Path>) -> anyhow::Result<SecretKey> {
    let path = match path {
        Some(path) => path.to_owned(),
        None => default_key_path(NODE_KEY_FILE)?,
    };
    match SecretKey::read(&path) {
        Ok(key) => Ok(key),
        Err(KeyError::Missing { .. }) => {
            let key = SecretKey::generate()?;
            key.write_new(&path, false).with_context(|| format!("cannot create the node key {}", path.display()))?;
            eprintln!("created node key {} ({})", path.display(), key.public());
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the node key {}", path.display())),
    }
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node's data dir (registry index and blobs) [default: $XDG_DATA_HOME/wasmnn, else
    /// ~/.local/share/wasmnn].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Accept functions only from this publisher key (`ed25519:…`); repeat for several.
    /// Without it the node is open to every publisher.
    #[arg(long = "allow-publisher", value_name = "KEY")]
    allow_publishers: Vec<PublicKey>,
    /// Storage quota per publisher, in MiB [default: unlimited].
    #[arg(long, value_name = "MIB")]
    quota_mib: Option<u64>,
    /// The largest blob (component or model) accepted, in MiB.
    #[arg(long, default_value_t = 4096, value_name = "MIB")]
    max_blob_mib: u64,
    /// The key that signs receipts, created (0600) if missing [default:
    /// $XDG_CONFIG_HOME/wasmnn/node.key, else ~/.config/wasmnn/node.key].
    #[arg(long, value_name = "PATH")]
    node_key: Option<PathBuf>,
    /// Calls that run at once [default: one per core].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Calls that may wait for a worker; more get 429.
    #[arg(long, default_value_t = 64, value_name = "N")]
    queue: usize,
    /// The largest call input, in MiB.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    max_input_mib: usize,
    /// How long the node keeps each call's receipt, input and output, in hours.
    #[arg(long, default_value_t = 7 * 24, value_name = "HOURS")]
    retention_hours: u64,
    /// How many MiB of call inputs and outputs the node keeps (the oldest calls go first).
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    retention_mib: u64,
    /// The longest any call may run, in milliseconds (a function's own limit may be lower).
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    max_timeout_ms: u64,
    /// Spot-check this peer node: walk its receipts, re-execute a fraction of them, and
    /// dispute any that differ (results at GET /v1/spot-checks); repeat for several.
    #[arg(long = "spot-check", value_name = "URL")]
    spot_check: Vec<String>,
    /// The fraction of each peer's receipts to re-execute, from 0 to 1.
    #[arg(long, default_value_t = 0.05, value_name = "F", value_parser = fraction)]
    spot_check_fraction: f64,
    /// How often to ask each peer for new receipts, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    spot_check_every_ms: u64,
}

/// A number from 0 to 1.
fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{text:?} is not a fraction from 0 to 1")),
    }
}

/// Opens the data dir, chooses the backend, and serves until Ctrl-C or SIGTERM.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    serve(args, globals, |_| Ok(()))
}

impl Args {
    /// The data dir: `--data`, else the default.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.data {
            Some(dir) => Ok(dir.clone()),
            None => default_data_dir(),
        }
    }

    /// What to spot-check, from the flags; each peer URL is checked here.
    pub fn spot_check(&self) -> anyhow::Result<SpotCheckConfig> {
        let mut peers = Vec::with_capacity(self.spot_check.len());
        for url in &self.spot_check {
            let client = RegistryClient::new(url).with_context(|| format!("--spot-check {url}"))?;
            peers.push(client.url().to_owned());
        }
        Ok(SpotCheckConfig {
            peers,
            fraction: self.spot_check_fraction,
            every: Duration::from_millis(self.spot_check_every_ms),
            ..SpotCheckConfig::default()
        })
    }

    /// What the node accepts, from the flags.
    pub fn policy(&self) -> Policy {
        Policy {
            allowed_publishers: (!self.allow_publishers.is_empty())
                .then(|| self.allow_publishers.iter().copied().collect::<BTreeSet<_>>()),
            quota_bytes: self.quota_mib.map(|mib| mib.saturating_mul(1 << 20)),
            max_blob_bytes: self.max_blob_mib.saturating_mul(1 << 20),
            call_retention: Duration::from_secs(self.retention_hours.saturating_mul(3600)),
            call_retention_bytes: self.retention_mib.saturating_mul(1 << 20),
            ..Policy::default()
        }
    }
}

/// Serves as `run` does, calling `announce` with the node's URL once it listens (after
/// the `listening` line on stdout).
pub fn serve(
    args: &Args,
    globals: &Globals,
    announce: impl FnOnce(&str) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let data = args.data_dir()?;
    let store =
        Store::open(&data, args.policy()).with_context(|| format!("cannot open the data dir {}", data.display()))?;
    let key = node_key(args.node_key.as_deref())?;
    let (backend, backend_report) = globals.backend.resolve_explained()?;
    tracing::info!(backend = %backend_report, node = %key.public(), "node");
    let mut config = NodeConfig {
        queue: args.queue,
        max_input_bytes: args.max_input_mib.saturating_mul(1 << 20),
        max_timeout: Duration::from_millis(args.max_timeout_ms),
        backend_report,
        spot_check: args.spot_check()?,
        ..NodeConfig::default()
    };
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    let slots = u32::try_from(config.workers).unwrap_or(u32::MAX);
    let runtime = Runtime::pooled(backend, globals.backend, Some(&globals.compile_cache()?), slots)?;
    let state = Arc::new(NodeState::new(store, runtime, key, config));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    runtime.block_on(async {
        let listener = node::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "wasmnn node listening on http://{address} (data {})", data.display())?;
        stdout.flush()?;
        announce(&format!("http://{address}"))?;
        node::serve(listener, state, node::shutdown_signal()).await.context("the node failed")
    })?;
    Ok(ExitCode::SUCCESS)
}
