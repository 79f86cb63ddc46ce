//! `wasmnn invoke URL NAME [--input FILE|-] [--version V | --digest sha256:…] [--seed N]
//! [--receipt-out FILE]`: run a published function on a node (docs/HTTP.md).
//!
//! The output bytes go to stdout once the node's receipt checks out: it parses, its
//! signature verifies with the node key it names, its id is the one the node announced,
//! and its input and output digests are those of the bytes sent and received (and its
//! seed and manifest those asked for). The receipt JSON can be kept with `--receipt-out`
//! for `wasmnn verify`; a one-line summary goes to stderr.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::{InvokeQuery, RegistryClient};
use wasmnn_runtime::receipt::{SignedReceipt, is_valid_seed};

/// Arguments of `invoke`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node, e.g. http://127.0.0.1:8080.
    url: String,
    /// The function name.
    name: String,
    /// The input bytes: a file, or `-` for stdin.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    input: PathBuf,
    /// Run this version [default: the highest version not yanked].
    #[arg(long, value_name = "V", conflicts_with = "digest")]
    version: Option<semver::Version>,
    /// Run exactly this manifest (yanked or not): sha256:<hex>.
    #[arg(long, value_name = "sha256:HEX", value_parser = parse_digest)]
    digest: Option<Sha256Digest>,
    /// The seed of the guest's random numbers, 0 to 2^53 - 1 [default: the node's, 0].
    #[arg(long, value_name = "N", value_parser = parse_seed)]
    seed: Option<u64>,
    /// Write the signed receipt JSON to this file (for `wasmnn verify`).
    #[arg(long, value_name = "FILE")]
    receipt_out: Option<PathBuf>,
}

/// Invokes, checks the receipt, writes the output, the receipt file and the summary.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let client = RegistryClient::new(&args.url)?;
    let input = read_input(&args.input)?;
    let query = InvokeQuery { version: args.version.clone(), digest: args.digest, seed: args.seed };
    let invoked = client.invoke(&args.name, &query, &input)?;
    let signed = SignedReceipt::from_header(&invoked.receipt_header)
        .with_context(|| format!("node {} sent a receipt that does not check out", client.url()))?;
    check_receipt(&signed, &invoked.receipt_id, &input, &invoked.output, &query)
        .with_context(|| format!("node {} sent a receipt that does not match the call", client.url()))?;
    if let Some(path) = &args.receipt_out {
        std::fs::write(path, signed.to_json())
            .with_context(|| format!("cannot write the receipt to {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&invoked.output).context("cannot write the output")?;
    stdout.flush().context("cannot write the output")?;
    let receipt = signed.receipt();
    eprintln!(
        "receipt {} · fuel {} · ops {} · backend {} · node {}",
        signed.id().prefixed(),
        receipt.fuel,
        receipt.ops,
        receipt.backend,
        receipt.node
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks that a (signature-checked) receipt describes this call.
fn check_receipt(
    signed: &SignedReceipt,
    announced_id: &str,
    input: &[u8],
    output: &[u8],
    query: &InvokeQuery,
) -> anyhow::Result<()> {
    let receipt = signed.receipt();
    if announced_id != signed.id().prefixed() {
        bail!("it announced receipt id {announced_id}, but the receipt's id is {}", signed.id().prefixed());
    }
    let input_digest = Sha256Digest::of_bytes(input);
    if receipt.input != input_digest {
        bail!("its input digest is {}, but the input sent is {}", receipt.input.prefixed(), input_digest.prefixed());
    }
    let output_digest = Sha256Digest::of_bytes(output);
    if receipt.output != output_digest {
        bail!(
            "its output digest is {}, but the output received is {}",
            receipt.output.prefixed(),
            output_digest.prefixed()
        );
    }
    let seed = query.seed.unwrap_or(0);
    if receipt.seed != seed {
        bail!("its seed is {}, but the call asked for {seed}", receipt.seed);
    }
    if let Some(digest) = query.digest.filter(|d| *d != receipt.manifest) {
        bail!("it ran manifest {}, but the call asked for {}", receipt.manifest.prefixed(), digest.prefixed());
    }
    Ok(())
}

/// The bytes of `path`, or of stdin for `-`.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("cannot read the input from stdin")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read input {}", path.display()))
}

/// Parses `sha256:<hex>`.
pub(crate) fn parse_digest(text: &str) -> Result<Sha256Digest, String> {
    Sha256Digest::parse_prefixed(text).map_err(|e| e.to_string())
}

/// Parses a seed a receipt can carry (at most 2^53 - 1).
pub(crate) fn parse_seed(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(seed) if is_valid_seed(seed) => Ok(seed),
        _ => Err(format!("{text:?} is not an integer from 0 to 2^53 - 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_must_fit_a_receipt() {
        assert_eq!(parse_seed("0"), Ok(0));
        assert_eq!(parse_seed("9007199254740991"), Ok(9_007_199_254_740_991));
        for bad in ["9007199254740992", "-1", "x", ""] {
            assert!(parse_seed(bad).is_err(), "{bad}");
        }
    }
}
