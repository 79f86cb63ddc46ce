//! `wasmnn yank NAME@VERSION --registry URL [--key PATH] [--undo]`: hide a version from
//! resolution by name (or, with `--undo`, show it again), by a statement signed with the
//! name's owner key. The version stays fetchable by digest.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use wasmnn_registry::client::{ClientError, RegistryClient};
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
    let post = |timestamp: u64| -> anyhow::Result<Result<(), ClientError>> {
        let statement = YankStatement { name: name.clone(), version: version.clone(), yanked: !args.undo, timestamp };
        let signed = statement.sign(&key).context("cannot sign the yank statement")?;
        Ok(client.post_yank(&signed))
    };
    let first = unix_now()?;
    match post(first)? {
        // Statements are ordered by their second: one made in the same second as the last
        // one applied (a yank and an un-yank in quick succession) is refused as stale, so
        // wait for the next second and sign again, once.
        Err(e) if e.code() == Some("stale_statement") => {
            let wait = 1000 - SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
            std::thread::sleep(Duration::from_millis(u64::from(wait) + 10));
            post(unix_now()?.max(first + 1))??;
        }
        result => result?,
    }
    let done = if args.undo { "un-yanked" } else { "yanked" };
    eprintln!("{done} {name}@{version} on {}", client.url());
    Ok(ExitCode::SUCCESS)
}

/// Unix seconds now.
fn unix_now() -> anyhow::Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH).context("the system clock is before 1970")?.as_secs())
}
