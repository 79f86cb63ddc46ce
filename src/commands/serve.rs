//! `wasmnn serve`: run a node — the registry under a data dir and the HTTP API.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use wasmnn_registry::keys::PublicKey;
use wasmnn_registry::store::{Policy, Store};
use wasmnn_runtime::node::{self, NodeState};

use crate::commands::default_data_dir;

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
}

/// Opens the data dir and serves until Ctrl-C or SIGTERM.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let data = match &args.data {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let policy = Policy {
        allowed_publishers: (!args.allow_publishers.is_empty())
            .then(|| args.allow_publishers.iter().copied().collect::<BTreeSet<_>>()),
        quota_bytes: args.quota_mib.map(|mib| mib.saturating_mul(1 << 20)),
        max_blob_bytes: args.max_blob_mib.saturating_mul(1 << 20),
        ..Policy::default()
    };
    let store = Store::open(&data, policy).with_context(|| format!("cannot open the data dir {}", data.display()))?;
    let state = Arc::new(NodeState::new(store));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    runtime.block_on(async {
        let listener = node::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "wasmnn node listening on http://{address} (data {})", data.display())?;
        stdout.flush()?;
        node::serve(listener, state, node::shutdown_signal()).await.context("the node failed")
    })?;
    Ok(ExitCode::SUCCESS)
}
