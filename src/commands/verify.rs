//! `wasmnn verify RECEIPT [--input FILE | --from URL] [--registry URL] [--against URL]`: re-execute the
//! call a receipt describes and say whether it matches (DESIGN.md "Receipts and
//! verification").
//!
//! RECEIPT is a file holding the signed receipt JSON (`wasmnn invoke --receipt-out`, or
//! `GET /v1/receipts/{id}`), or that URL, `http(s)://NODE/v1/receipts/sha256:…` (then
//! `--from` defaults to NODE). The checks, in order:
//!
//! 1. the receipt parses and its signature verifies with the node key it names;
//! 2. its numerics spec version is the one this wasmnn implements;
//! 3. the input (`--input`, else the node's record `GET {from}/v1/receipts/{id}/input`)
//!    has the receipt's input digest;
//! 4. the function, fetched by manifest digest from `--registry` (default `--from`) into
//!    a local function cache (a registry data dir: `$WASMNN_VERIFY_DATA`, else
//!    `$XDG_CACHE_HOME/wasmnn/verify`, else `~/.cache/wasmnn/verify`), is loaded as a
//!    node loads it and re-run on the global `--backend` with its default limits and the
//!    receipt's seed;
//! 5. the local output digest, fuel and op count equal the receipt's.
//!
//! With `--against URL`, the call is also traced (docs/TRACES.md) and its Merkle root
//! compared with the one the node at URL commits to; when they differ the dispute runs as
//! `wasmnn dispute run` (exit 1 with the verdict printed).
//!
//! A match prints `match …` to stdout (exit 0); a mismatch prints `MISMATCH …` and one
//! line per differing field (exit 1). A receipt that cannot be checked (bad signature,
//! wrong input, nothing to fetch from) is an error (exit 1) naming the failed check.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::RegistryClient;
use wasmnn_registry::manifest::SignedManifest;
use wasmnn_registry::store::{CallData, Policy, Store, StoreError};
use wasmnn_runtime::receipt::{ReceiptError, SignedReceipt};
use wasmnn_runtime::{Function, Runtime};

use crate::commands::Globals;
use crate::commands::invoke::read_input;
use crate::commands::pull::pull_into_store;

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    call: CallArgs,
    /// Also compare op traces with this node (`POST URL/v1/traces`): equal Merkle roots
    /// print `trace match`; otherwise the dispute runs (`wasmnn dispute run`) and its
    /// verdict is printed (exit 1).
    #[arg(long, value_name = "URL")]
    against: Option<String>,
    /// The key that signs this side's trace commitment and a verdict [default: a fresh key
    /// for this run].
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

/// Which call to re-execute: the receipt and where its input and function come from
/// (shared by `verify` and `dispute`).
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The receipt: a file holding its JSON, or its URL
    /// http(s)://NODE/v1/receipts/sha256:<hex>.
    receipt: String,
    /// The call's input bytes: a file, or `-` for stdin [default: the input the node
    /// recorded, from --from].
    #[arg(long, value_name = "FILE|-")]
    input: Option<PathBuf>,
    /// The node that ran the call (for its recorded input, and as the default registry)
    /// [default: the node of a receipt URL].
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// The node to fetch the function from, by manifest digest, when the local function
    /// cache lacks it [default: --from].
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
}

/// A checked receipt with its input, and the function loaded on a local runtime.
pub struct Call {
    /// The receipt (signature and spec version checked).
    pub signed: SignedReceipt,
    /// The call's input (digest checked).
    pub input: Vec<u8>,
    /// The function the receipt names.
    pub function: Function,
    /// The runtime it is loaded on (the global --backend).
    pub runtime: Runtime,
    /// `name@version (sha256:…)`.
    pub name: String,
    /// The node the receipt came from (`--from`, or a receipt URL's node).
    pub from: Option<String>,
}

/// Checks and re-executes the receipt's call; prints `match` or `MISMATCH`, then, with
/// `--against`, compares traces.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let call = Call::resolve(&args.call, globals)?;
    let (signed, receipt) = (&call.signed, call.signed.receipt());
    let id = signed.id();
    let outcome = call
        .runtime
        .invoke(&call.function, &call.input, receipt.seed, &call.function.default_limits(), None)
        .with_context(|| format!("re-executing the call of receipt {} failed locally", id.prefixed()))?;
    let differences = receipt.differences(&outcome);
    let matched = differences.is_empty();
    if matched {
        println!(
            "match {} · output {} · fuel {} · ops {} · backend {} (receipt: {})",
            id.prefixed(),
            receipt.output.prefixed(),
            outcome.fuel,
            outcome.ops,
            outcome.backend,
            receipt.backend
        );
    } else {
        println!(
            "MISMATCH {} · {} re-executed on backend {} (receipt: {}, node {})",
            id.prefixed(),
            call.name,
            outcome.backend,
            receipt.backend,
            receipt.node
        );
        for difference in differences {
            println!("{difference}");
        }
    }
    let traces_agree = match &args.against {
        Some(node) => {
            let key = crate::commands::dispute::challenger_key(args.key.as_deref())?;
            let options = crate::commands::dispute::ChallengeOptions::default();
            crate::commands::dispute::challenge(&call, node, &key, &options, false)?
        }
        None => true,
    };
    Ok(if matched && traces_agree { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

impl Call {
    /// Reads and checks the receipt, fetches and checks the input, and loads the function
    /// (fetching it by manifest digest into the local function cache when needed).
    ///
    /// # Errors
    /// The check that failed, or what could not be fetched.
    pub fn resolve(args: &CallArgs, globals: &Globals) -> anyhow::Result<Call> {
        let (json, receipt_node) = read_receipt(&args.receipt)?;
        let signed = match SignedReceipt::from_json(&json) {
            Ok(signed) => signed,
            Err(ReceiptError::BadSignature) => bail!(
                "bad signature: the receipt {} does not verify with the node key it names; it was altered or forged",
                args.receipt
            ),
            Err(e) => return Err(e).with_context(|| format!("{} is not a signed receipt", args.receipt)),
        };
        let receipt = signed.receipt();
        let id = signed.id();
        if receipt.spec_version != wasmnn_host_gpu::SPEC_VERSION {
            bail!(
                "the receipt was made under numerics spec version {}, but this wasmnn implements version {}; \
             verify it with a wasmnn of that version",
                receipt.spec_version,
                wasmnn_host_gpu::SPEC_VERSION
            );
        }
        let from = args.from.clone().or(receipt_node);

        let (input, input_from) = match (&args.input, &from) {
            (Some(path), _) => (read_input(path)?, format!("the input {}", path.display())),
            (None, Some(url)) => {
                let client = RegistryClient::new(url)?;
                let mut bytes = Vec::new();
                client
                    .call_data(&id, CallData::Input, &mut bytes)
                    .with_context(|| format!("cannot fetch the input of receipt {}", id.prefixed()))?;
                (bytes, format!("the input recorded by {}", client.url()))
            }
            (None, None) => {
                bail!("say where the call's input is: --input FILE, or --from URL (the node that recorded the call)")
            }
        };
        let input_digest = Sha256Digest::of_bytes(&input);
        if input_digest != receipt.input {
            bail!(
                "input digest mismatch: the receipt's input is {}, but {input_from} is {}",
                receipt.input.prefixed(),
                input_digest.prefixed()
            );
        }

        let dir = verify_data_dir()?;
        let registry = args.registry.as_deref().or(from.as_deref());
        let manifest = cached_function(&dir, &receipt.manifest, registry)?;
        let backend = globals.backend.resolve()?;
        let runtime = Runtime::new(backend, globals.backend, Some(&globals.compile_cache()?))?;
        let store = Store::open(&dir, Policy::default())
            .with_context(|| format!("cannot open function cache {}", dir.display()))?;
        let function = Function::from_store(&manifest, &store, &runtime)
            .with_context(|| format!("cannot load function {} from {}", describe(&manifest), dir.display()))?;
        drop(store);
        let name = describe(&manifest);
        Ok(Call { signed, input, function, runtime, name, from })
    }
}

/// The receipt JSON and, for a receipt URL, the node's base URL.
fn read_receipt(receipt: &str) -> anyhow::Result<(Vec<u8>, Option<String>)> {
    if !(receipt.starts_with("http://") || receipt.starts_with("https://")) {
        let json = std::fs::read(receipt).with_context(|| format!("cannot read receipt file {receipt}"))?;
        return Ok((json, None));
    }
    let (node, id) = parse_receipt_url(receipt)?;
    let client = RegistryClient::new(&node)?;
    let json = client.receipt(&id).with_context(|| format!("cannot fetch receipt {}", id.prefixed()))?;
    Ok((json, Some(client.url().to_owned())))
}

/// Splits `http(s)://NODE/v1/receipts/sha256:<hex>` into NODE and the id.
fn parse_receipt_url(url: &str) -> anyhow::Result<(String, Sha256Digest)> {
    let Some((node, id)) = url.rsplit_once("/v1/receipts/") else {
        bail!("{url} is not a receipt URL (expected http(s)://NODE/v1/receipts/sha256:<hex>) nor a file");
    };
    let id = Sha256Digest::parse_prefixed(id.trim_end_matches('/'))
        .with_context(|| format!("{url} is not a receipt URL: it must end with /v1/receipts/sha256:<hex>"))?;
    Ok((node.to_owned(), id))
}

/// The local function cache: `$WASMNN_VERIFY_DATA`, else `$XDG_CACHE_HOME/wasmnn/verify`,
/// else `~/.cache/wasmnn/verify`.
fn verify_data_dir() -> anyhow::Result<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("WASMNN_VERIFY_DATA") {
        return Ok(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(dir.join("wasmnn/verify"));
    }
    let home = var("HOME").context("none of WASMNN_VERIFY_DATA, XDG_CACHE_HOME and HOME is set")?;
    Ok(home.join(".cache/wasmnn/verify"))
}

/// The signed manifest `digest` with all its blobs in the function cache at `dir`:
/// already there, else pulled from `registry` as `pull --data` does.
fn cached_function(dir: &Path, digest: &Sha256Digest, registry: Option<&str>) -> anyhow::Result<SignedManifest> {
    if let Some(signed) = complete_in_cache(dir, digest)? {
        return Ok(signed);
    }
    let Some(url) = registry else {
        bail!(
            "function {} is not in the function cache {}: give --registry URL (or --from URL) to fetch it",
            digest.prefixed(),
            dir.display()
        );
    };
    let source = RegistryClient::new(url)?;
    let signed = source.manifest(digest).with_context(|| format!("cannot fetch function {}", digest.prefixed()))?;
    let report = pull_into_store(&source, &signed, dir)?;
    eprintln!(
        "fetched {} from {} into {} ({} blob{}, {} bytes)",
        describe(&signed),
        source.url(),
        dir.display(),
        report.uploaded,
        if report.uploaded == 1 { "" } else { "s" },
        report.bytes
    );
    Ok(signed)
}

/// The manifest `digest` if the cache at `dir` holds it and a good copy of every blob.
fn complete_in_cache(dir: &Path, digest: &Sha256Digest) -> anyhow::Result<Option<SignedManifest>> {
    let store =
        Store::open(dir, Policy::default()).with_context(|| format!("cannot open function cache {}", dir.display()))?;
    let signed = match store.manifest(digest) {
        Ok(signed) => signed,
        Err(StoreError::UnknownManifest(_)) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read function cache {}", dir.display())),
    };
    for blob in signed.manifest().blobs() {
        if store.blob_size(&blob.digest)?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(signed))
}

/// `name@version (sha256:…)`.
fn describe(signed: &SignedManifest) -> String {
    let manifest = signed.manifest();
    format!("{}@{} ({})", manifest.name, manifest.version, signed.digest().prefixed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_urls_name_the_node_and_the_id() {
        let id = Sha256Digest::of_bytes(b"receipt");
        let url = format!("http://127.0.0.1:8080/v1/receipts/{}", id.prefixed());
        assert_eq!(parse_receipt_url(&url).unwrap(), ("http://127.0.0.1:8080".to_owned(), id));
        let url = format!("https://node.example/wasmnn/v1/receipts/{}/", id.prefixed());
        assert_eq!(parse_receipt_url(&url).unwrap(), ("https://node.example/wasmnn".to_owned(), id));
        for bad in ["http://n/v1/receipt/x", "http://n/v1/receipts/sha256:00", "http://n/v1/receipts/"] {
            assert!(parse_receipt_url(bad).is_err(), "{bad}");
        }
        let input = format!("http://n/v1/receipts/{}/input", id.prefixed());
        assert!(parse_receipt_url(&input).is_err());
    }
}
