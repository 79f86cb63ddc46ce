//! `wasmnn keygen [--out PATH] [--force] [--node]`: make an ed25519 key (a publisher key,
//! or with `--node` a node's receipt-signing key) and write it, readable by its owner only.
//!
//! The public key goes to stdout, the file's path to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use wasmnn_registry::keys::{KeyError, NODE_KEY_FILE, PUBLISHER_KEY_FILE, SecretKey, default_key_path};

/// Arguments of `keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the key [default: $XDG_CONFIG_HOME/wasmnn/publisher.key (node.key with
    /// --node), else ~/.config/wasmnn/…].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Replace an existing key file (the old key is lost).
    #[arg(long)]
    force: bool,
    /// Make a node's receipt-signing key (node.key) instead of a publisher key.
    #[arg(long)]
    node: bool,
}

/// Generates and writes the key; prints the public key.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let kind = if args.node { "node" } else { "publisher" };
    let path = match &args.out {
        Some(path) => path.clone(),
        None => default_key_path(if args.node { NODE_KEY_FILE } else { PUBLISHER_KEY_FILE })?,
    };
    let key = SecretKey::generate()?;
    match key.write_new(&path, args.force) {
        Ok(()) => {}
        Err(KeyError::Exists { path }) => {
            let lost = if args.node {
                "receipts signed with the old key then no longer match this node's key"
            } else {
                "names published with the old key can then no longer get new versions or be yanked"
            };
            bail!(
                "{} already exists; refusing to overwrite it. Pass --force to replace it ({lost}), or --out PATH \
                 to write the new key elsewhere",
                path.display()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("cannot write the {kind} key")),
    }
    println!("{}", key.public());
    eprintln!("wrote {kind} key to {}", path.display());
    Ok(ExitCode::SUCCESS)
}
