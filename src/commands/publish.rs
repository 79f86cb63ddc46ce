//! `wasmnn publish [DIR] --registry URL [--key PATH] [--debug]`: build a handler crate,
//! sign its manifest with the publisher key, and publish it to a node, uploading the blobs
//! the node lacks (docs/REGISTRY.md "Publishing protocol").
//!
//! The manifest digest goes to stdout; progress bars and a summary line go to stderr.
//! Pushing goes through [`wasmnn_registry::replicate`]; this module adds the progress bars
//! and the summary line that `pull` and `demo` share.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{DecimalBytes, ProgressBar, ProgressStyle};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::RegistryClient;
use wasmnn_registry::handler::HandlerConfig;
use wasmnn_registry::keys::{KeyError, PUBLISHER_KEY_FILE, SecretKey, default_key_path};
use wasmnn_registry::manifest::{BlobRef, Manifest, SignedManifest};
use wasmnn_registry::replicate::{Destination, PushReport, ReplicateError, push};

use crate::commands::{Globals, build, run};

/// Arguments of `publish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The handler crate (the folder with Cargo.toml and wasmnn.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The node to publish to, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    registry: String,
    /// The publisher key [default: $XDG_CONFIG_HOME/wasmnn/publisher.key, else
    /// ~/.config/wasmnn/publisher.key].
    #[arg(long, value_name = "PATH")]
    key: Option<PathBuf>,
    /// Build the component without optimizations.
    #[arg(long)]
    debug: bool,
}

/// Builds, signs and publishes; prints the manifest digest.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let client = RegistryClient::new(&args.registry)?;
    let key = read_publisher_key(args.key.as_deref())?;
    let local = LocalFunction::build(&args.dir, &key, !args.debug, globals)?;
    let report = push(&WithProgress(&client), &local.signed, |blob, _label| local.open(blob))?;
    println!("{}", local.signed.digest().prefixed());
    eprintln!("{}", summary(&report, &local.signed, client.url()));
    Ok(ExitCode::SUCCESS)
}

/// A handler crate built and signed for publishing: its signed manifest and the local
/// files of its blobs.
pub(crate) struct LocalFunction {
    /// The signed manifest.
    pub signed: SignedManifest,
    files: HashMap<Sha256Digest, PathBuf>,
}

impl LocalFunction {
    /// Builds the crate at `dir` (release unless `release` is false), resolves its models,
    /// hashes everything and signs the manifest with `key`.
    pub(crate) fn build(dir: &Path, key: &SecretKey, release: bool, globals: &Globals) -> anyhow::Result<Self> {
        let config = HandlerConfig::read_dir(dir)?;
        let component_path = build::build(dir, release)?;
        let models = run::models(Some(&config), Some(dir), &[], globals)?;
        let mut files = HashMap::new();
        let component = file_blob(&component_path)?;
        files.insert(component.digest, component_path);
        let mut model_sizes = Vec::with_capacity(config.models.len());
        for decl in &config.models {
            let file = models.get(&decl.name).with_context(|| format!("model {:?} was not resolved", decl.name))?;
            let size = std::fs::metadata(&file.path)
                .with_context(|| format!("cannot read model {:?} at {}", decl.name, file.path.display()))?
                .len();
            model_sizes.push(size);
            files.insert(decl.sha256, file.path.clone());
        }
        let manifest =
            Manifest::from_handler(&config, component, &model_sizes, key.public(), wasmnn_host_gpu::SPEC_VERSION)
                .context("cannot make the manifest")?;
        let signed = manifest.sign(key).context("cannot sign the manifest")?;
        Ok(LocalFunction { signed, files })
    }

    /// Opens the local file of `blob` for upload.
    pub(crate) fn open(&self, blob: &BlobRef) -> Result<Box<dyn Read>, ReplicateError> {
        let opened = match self.files.get(&blob.digest) {
            Some(path) => open_exact(path, blob.size),
            None => Err(anyhow::anyhow!("no local file for blob {:?}", blob.digest)),
        };
        opened.map_err(|e| ReplicateError::Open(e.into()))
    }
}

/// Reads the publisher key from `path`, or from the default location; a missing default
/// key says how to make one.
pub(crate) fn read_publisher_key(path: Option<&Path>) -> anyhow::Result<SecretKey> {
    let (path, explicit) = match path {
        Some(path) => (path.to_path_buf(), true),
        None => (default_key_path(PUBLISHER_KEY_FILE)?, false),
    };
    match SecretKey::read(&path) {
        Ok(key) => Ok(key),
        Err(KeyError::Missing { path }) if !explicit => {
            bail!("no publisher key at {}: run `wasmnn keygen` to make one (or pass --key PATH)", path.display())
        }
        Err(e) => Err(e).context("cannot read the publisher key"),
    }
}

/// The digest and size of a local file.
fn file_blob(path: &Path) -> anyhow::Result<BlobRef> {
    let read = || format!("cannot read {}", path.display());
    let size = std::fs::metadata(path).with_context(read)?.len();
    let digest = Sha256Digest::of_reader(BufReader::new(File::open(path).with_context(read)?)).with_context(read)?;
    Ok(BlobRef { digest, size })
}

/// Opens a file to upload, checking that it still has the size the manifest declares.
fn open_exact(path: &Path, size: u64) -> anyhow::Result<Box<dyn Read>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let actual = file.metadata().with_context(|| format!("cannot read {}", path.display()))?.len();
    if actual != size {
        bail!("{} changed while publishing: it is {actual} bytes, the manifest says {size}", path.display());
    }
    Ok(Box::new(BufReader::new(file)))
}

/// The stderr summary of a push, e.g. `published orientation@0.1.0 (sha256:…) to URL:
/// uploaded 2 blobs, 6.6 MB`.
pub(crate) fn summary(report: &PushReport, signed: &SignedManifest, node: &str) -> String {
    let manifest = signed.manifest();
    let what = format!("{}@{} ({})", manifest.name, manifest.version, signed.digest().prefixed());
    let blobs = |n: usize| if n == 1 { "" } else { "s" };
    match (report.created, report.uploaded) {
        (false, 0) => format!("{what} is already published on {node}, nothing uploaded"),
        (false, n) => format!(
            "{what} is already published on {node}; restored {n} blob{} it had quarantined, {}",
            blobs(n),
            DecimalBytes(report.bytes)
        ),
        (true, 0) => format!("published {what} to {node}: its blobs were already there, nothing uploaded"),
        (true, n) => {
            format!("published {what} to {node}: uploaded {n} blob{}, {}", blobs(n), DecimalBytes(report.bytes))
        }
    }
}

/// A node as a publishing destination, with a byte progress bar per upload.
pub(crate) struct WithProgress<'a>(pub &'a RegistryClient);

impl Destination for WithProgress<'_> {
    fn post(&self, signed: &SignedManifest) -> Result<Option<Vec<Sha256Digest>>, ReplicateError> {
        self.0.post(signed)
    }

    fn has_blob(&self, digest: &Sha256Digest) -> Result<bool, ReplicateError> {
        self.0.has_blob(digest)
    }

    fn put(&self, blob: &BlobRef, label: &str, reader: Box<dyn Read>) -> Result<(), ReplicateError> {
        let bar = byte_bar(format!("uploading {label}"), blob.size);
        let uploaded = self.0.put_blob(&blob.digest, blob.size, reader, |n| bar.set_position(n));
        bar.finish_and_clear();
        uploaded?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// A byte progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn byte_bar(message: String, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(message);
    bar
}
