//! `wasmnn pull NAME[@VERSION]|sha256:<hex> --from URL (--to URL | --data DIR)`: replicate
//! a published function from one node to another node, or into a data dir.
//!
//! The signed manifest is the publisher's, relayed as is: its signature is verified here,
//! and every blob is downloaded into a temporary file, checked against its digest, and only
//! then handed on. The manifest digest goes to stdout, progress and a summary to stderr.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::RegistryClient;
use wasmnn_registry::handler::is_valid_function_name;
use wasmnn_registry::manifest::{BlobRef, SignedManifest};
use wasmnn_registry::replicate::{PushReport, ReplicateError, download_blob, pull_function, push};
use wasmnn_registry::store::{Policy, Store};

use crate::commands::publish::{WithProgress, byte_bar, summary};

/// Arguments of `pull`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to pull: NAME (its highest version not yanked), NAME@VERSION, or a manifest
    /// digest sha256:<hex> (yanked or not).
    what: Pullable,
    /// The node to pull from, e.g. http://10.0.0.5:8080.
    #[arg(long, value_name = "URL")]
    from: String,
    /// The node to publish to.
    #[arg(long, value_name = "URL", required_unless_present = "data", conflicts_with = "data")]
    to: Option<String>,
    /// The data dir to store it in (of a node that is not running).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// What `pull` (and `yank`) name: a function by name, or a manifest by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pullable {
    /// `NAME` or `NAME@VERSION`.
    Name {
        /// The function name.
        name: String,
        /// The version, if given.
        version: Option<semver::Version>,
    },
    /// `sha256:<hex>`.
    Digest(Sha256Digest),
}

impl FromStr for Pullable {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("sha256:") {
            return Sha256Digest::parse_prefixed(text).map(Pullable::Digest).map_err(|e| e.to_string());
        }
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => {
                let version = semver::Version::parse(version)
                    .map_err(|e| format!("{version:?} is not a semver version (like 0.1.0): {e}"))?;
                (name, Some(version))
            }
            None => (text, None),
        };
        if !is_valid_function_name(name) {
            return Err(format!(
                "{name:?} is not a function name ([a-z0-9][a-z0-9._-]*, at most 64 bytes); expected NAME, \
                 NAME@VERSION or sha256:<hex>"
            ));
        }
        Ok(Pullable::Name { name: name.to_owned(), version })
    }
}

/// Resolves on the source, then publishes on the target node or into the data dir.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let source = RegistryClient::new(&args.from)?;
    let target = args.to.as_deref().map(RegistryClient::new).transpose()?;
    let signed = match &args.what {
        Pullable::Name { name, version } => source.resolve(name, version.as_ref())?.1,
        Pullable::Digest(digest) => source.manifest(digest)?,
    };
    let (report, place) = match (&target, &args.data) {
        (Some(target), _) => {
            let report = push(&WithProgress(target), &signed, |blob, label| {
                let file = download(&source, blob, label)?;
                Ok(Box::new(BufReader::new(file)) as Box<dyn Read>)
            })?;
            (report, target.url().to_owned())
        }
        (None, Some(dir)) => (pull_into_store(&source, &signed, dir)?, dir.display().to_string()),
        (None, None) => bail!("say where to pull to: --to URL or --data DIR"),
    };
    println!("{}", signed.digest().prefixed());
    eprintln!("{}", summary(&report, &signed, &place));
    Ok(ExitCode::SUCCESS)
}

/// Publishes `signed` into the data dir `dir`, downloading the blobs it lacks from
/// `source` with a progress bar each.
pub(crate) fn pull_into_store(
    source: &RegistryClient,
    signed: &SignedManifest,
    dir: &Path,
) -> anyhow::Result<PushReport> {
    let store =
        Store::open(dir, Policy::default()).with_context(|| format!("cannot open data dir {}", dir.display()))?;
    let mut bar: Option<(String, ProgressBar)> = None;
    let report = pull_function(source, signed, &store, |label, done, total| {
        if bar.as_ref().is_none_or(|(shown, _)| shown != label) {
            bar = Some((label.to_owned(), byte_bar(format!("downloading {label}"), total)));
        }
        if let Some((_, bar)) = &bar {
            bar.set_position(done);
        }
    });
    if let Some((_, bar)) = bar {
        bar.finish_and_clear();
    }
    Ok(report?)
}

/// Downloads `blob` from `source` into a temporary file with a progress bar.
fn download(source: &RegistryClient, blob: &BlobRef, label: &str) -> Result<File, ReplicateError> {
    let bar = byte_bar(format!("downloading {label}"), blob.size);
    let file = download_blob(source, blob, label, None, |n| bar.set_position(n));
    bar.finish_and_clear();
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_to_pull() {
        assert_eq!("orientation".parse(), Ok(Pullable::Name { name: "orientation".into(), version: None }));
        let version = semver::Version::new(0, 1, 0);
        assert_eq!(
            "orientation@0.1.0".parse(),
            Ok(Pullable::Name { name: "orientation".into(), version: Some(version) })
        );
        let digest = Sha256Digest::of_bytes(b"");
        assert_eq!(digest.prefixed().parse(), Ok(Pullable::Digest(digest)));
        for bad in ["", "Orientation", "x@", "x@1", "sha256:00", "@0.1.0", "a/b"] {
            assert!(bad.parse::<Pullable>().is_err(), "{bad}");
        }
    }
}
