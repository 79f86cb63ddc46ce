//! `wasmnn yank NAME@VERSION --registry URL [--key PATH] [--undo]`: hide a version from
//! resolution by name (or, with `--undo`, show it again), by a statement signed with the
//! name's owner key. The version stays fetchable by digest.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use std::path::PathBuf;
use wasmnn_registry::client::RegistryClient;
use wasmnn_registry::manifest::YankStatement;

use crate::commands::publish::read_publisher_key;
use crate::commands::pull::Pullable;

/// Arguments of `yank`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version to yank: NAME@VERSION.
    #[arg(value_name = "NAME@VERSION")]
    what: Pullable,
    /// The node to send the statement to.
    #[arg(long, value_name = "URL")]
    registry: String,
    /// The owner's publisher key [default: $XDG_CONFIG_HOME/wasmnn/publisher.key, else
    /// ~/.config/wasmnn/publisher.key].
    #[arg(long, value_name = "PATH")]
    key: Option<PathBuf>,
    /// Un-yank: make the version resolvable by name again.
    #[arg(long)]
    undo: bool,
}

/// Signs the statement with the current time and sends it.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Pullable::Name { name, version: Some(version) } = &args.what else {
        bail!("say which version to yank: NAME@VERSION");
    };
    let client = RegistryClient::new(&args.registry)?;
    let key = read_publisher_key(args.key.as_deref())?;
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).context("the system clock is before 1970")?.as_secs();
    let statement = YankStatement { name: name.clone(), version: version.clone(), yanked: !args.undo, timestamp };
    let signed = statement.sign(&key).context("cannot sign the yank statement")?;
    client.post_yank(&signed)?;
    let done = if args.undo { "un-yanked" } else { "yanked" };
    eprintln!("{done} {name}@{version} on {}", client.url());
    Ok(ExitCode::SUCCESS)
}
