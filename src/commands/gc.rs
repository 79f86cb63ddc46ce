//! `wasmnn gc [--data DIR] [--dry-run]`: collect a data dir's garbage (pending manifests
//! whose blobs never came, and blobs nothing references). Run it with the node stopped.
//!
//! What is removed goes to stdout, one line each; the totals to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::DecimalBytes;
use wasmnn_registry::store::{Policy, Store};

use crate::commands::default_data_dir;

/// Arguments of `gc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data dir [default: $XDG_DATA_HOME/wasmnn, else ~/.local/share/wasmnn].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Only say what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Drop pending manifests (published but still missing blobs) older than this many
    /// seconds, and the blobs only they reference.
    #[arg(long, default_value_t = 24 * 3600, value_name = "SECS")]
    pending_ttl_secs: u64,
}

/// Collects (or, with `--dry-run`, lists) the garbage.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let policy = Policy { pending_ttl: Duration::from_secs(args.pending_ttl_secs), ..Policy::default() };
    let store = Store::open(&dir, policy).with_context(|| format!("cannot open data dir {}", dir.display()))?;
    let report = store.gc(args.dry_run)?;
    let mut out = std::io::stdout().lock();
    for digest in &report.expired_pending {
        writeln!(out, "expired pending manifest {}", digest.prefixed())?;
    }
    for (digest, size) in &report.removed_blobs {
        writeln!(out, "blob {} {}", digest.prefixed(), DecimalBytes(*size))?;
    }
    let (verb, freed) = if args.dry_run { ("would remove", "would free") } else { ("removed", "freed") };
    eprintln!(
        "{}: {verb} {} expired pending manifest{} and {} blob{}, {freed} {}",
        dir.display(),
        report.expired_pending.len(),
        plural(report.expired_pending.len()),
        report.removed_blobs.len(),
        plural(report.removed_blobs.len()),
        DecimalBytes(report.freed_bytes())
    );
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
