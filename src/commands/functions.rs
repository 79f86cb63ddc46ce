//! `wasmnn functions [URL] [--json]`: the functions a node serves, one line each.

use std::io::Write;
use std::process::ExitCode;

use wasmnn_registry::api::FunctionSummary;
use wasmnn_registry::client::RegistryClient;

/// Arguments of `functions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node.
    #[arg(default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Print the node's listing as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the table (name, latest version, number of versions, owner, digest of the
/// latest version) or the JSON list.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let client = RegistryClient::new(&args.url)?;
    let functions = client.functions()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&functions)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if functions.is_empty() {
        eprintln!("node {} has no functions", client.url());
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = functions.iter().map(row).collect();
    let header = ["name", "latest", "versions", "owner", "digest"].map(str::to_owned);
    let mut widths = [0usize; 5];
    for cells in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for cells in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> =
            cells.iter().zip(widths).map(|(cell, width)| format!("{cell:width$}")).collect::<Vec<_>>();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One table row.
fn row(function: &FunctionSummary) -> [String; 5] {
    let latest = function.latest.as_ref();
    let digest = latest
        .and_then(|latest| function.versions.iter().find(|v| v.version == *latest))
        .map_or_else(|| "-".to_owned(), |v| shorten(&v.digest.prefixed(), "sha256:".len() + 8));
    let yanked = function.versions.iter().filter(|v| v.yanked).count();
    let versions = match yanked {
        0 => function.versions.len().to_string(),
        n => format!("{} ({n} yanked)", function.versions.len()),
    };
    [
        function.name.clone(),
        latest.map_or_else(|| "-".to_owned(), ToString::to_string),
        versions,
        shorten(&function.owner.to_string(), "ed25519:".len() + 8),
        digest,
    ]
}

/// The first `chars` characters of `text` and `…`, or all of it if that is short.
fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars + 1 {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(chars).collect();
    short.push('…');
    short
}
