//! `wasmnn dispute`: op-trace disputes over a receipt (docs/TRACES.md).
//!
//! - `dispute run RECEIPT [--node URL]`: this process is challenger and referee. It traces
//!   the call locally (on the global `--backend`; the referee's op re-execution is always
//!   the CPU reference), asks the node (`POST /v1/traces`) to commit
//!   to its trace, bisects the two Merkle trees to the first differing leaf, re-executes
//!   that op from the node's inputs and prints the signed verdict (`--verdict-out` keeps
//!   it, `--json` prints a machine-readable summary). Exit 0 once the traces agree or a
//!   verdict is reached.
//! - `dispute check VERDICT`: checks a verdict file's signatures and evidence.
//! - `dispute trace RECEIPT`: prints the local trace's root and every leaf's descriptor.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use wasmnn_registry::keys::SecretKey;
use wasmnn_runtime::dispute::challenge::{Challenge, Report, local_trace};
use wasmnn_runtime::dispute::remote::Timeouts;
use wasmnn_runtime::dispute::verdict::{SignedVerdict, Winner};

use crate::commands::Globals;
use crate::commands::verify::{Call, CallArgs};

/// Arguments of `dispute`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DisputeCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DisputeCommand {
    /// Dispute a receipt with a node: bisect the two op traces to the first differing op,
    /// re-execute it, print the signed verdict.
    Run(RunArgs),
    /// Check a verdict file: signatures, inclusion proofs, first-difference proof, winner.
    Check(CheckArgs),
    /// Trace a receipt's call locally and print its root and leaves.
    Trace(TraceArgs),
}

/// Arguments of `dispute run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    call: CallArgs,
    /// The node to dispute with [default: --from, or the node of a receipt URL].
    #[arg(long, value_name = "URL")]
    node: Option<String>,
    /// The key that signs this side's commitment and the verdict [default: a fresh key].
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Write the signed verdict JSON here.
    #[arg(long, value_name = "FILE")]
    verdict_out: Option<PathBuf>,
    /// Print one JSON object instead of the summary line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: ChallengeOptions,
}

/// How long the node may take.
#[derive(Debug, Clone, clap::Args)]
pub struct ChallengeOptions {
    /// Seconds the node may take to commit to its trace (it re-runs the call).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    commit_timeout: f64,
    /// Seconds the node may take per bisection answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    answer_timeout: f64,
    /// Seconds the node may take to hand over the op's input tensors.
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    tensor_timeout: f64,
}

impl Default for ChallengeOptions {
    fn default() -> Self {
        ChallengeOptions { commit_timeout: 300.0, answer_timeout: 10.0, tensor_timeout: 120.0 }
    }
}

impl ChallengeOptions {
    fn timeouts(&self) -> anyhow::Result<Timeouts> {
        let seconds = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s).with_context(|| format!("--{what} must be a positive number of seconds"))
        };
        Ok(Timeouts {
            commit: seconds(self.commit_timeout, "commit-timeout")?,
            answer: seconds(self.answer_timeout, "answer-timeout")?,
            tensors: seconds(self.tensor_timeout, "tensor-timeout")?,
        })
    }
}

/// Arguments of `dispute check`.
#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The signed verdict JSON file.
    verdict: PathBuf,
}

/// Arguments of `dispute trace`.
#[derive(Debug, clap::Args)]
struct TraceArgs {
    #[command(flatten)]
    call: CallArgs,
    /// Print the trace as JSON (root, leaf count, every descriptor and digest).
    #[arg(long)]
    json: bool,
}

/// Runs `dispute`.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    match &args.command {
        DisputeCommand::Run(args) => {
            let call = Call::resolve(&args.call, globals)?;
            let Some(node) = args.node.clone().or_else(|| call.from.clone()) else {
                bail!("say which node to dispute with: --node URL");
            };
            let key = challenger_key(args.key.as_deref())?;
            let report = run_challenge(&call, &node, &key, &args.options)?;
            if let (Report::Verdict { verdict, .. }, Some(path)) = (&report, &args.verdict_out) {
                std::fs::write(path, verdict.to_json())
                    .with_context(|| format!("cannot write the verdict to {}", path.display()))?;
            }
            print_report(&report, args.json);
            Ok(ExitCode::SUCCESS)
        }
        DisputeCommand::Check(args) => check(&args.verdict),
        DisputeCommand::Trace(args) => trace(&args.call, args.json, globals),
    }
}

/// The key that signs a challenger's commitment and verdict: `path`, or a fresh one.
pub fn challenger_key(path: Option<&Path>) -> anyhow::Result<SecretKey> {
    match path {
        Some(path) => SecretKey::read(path).with_context(|| format!("cannot read the key {}", path.display())),
        None => Ok(SecretKey::generate()?),
    }
}

/// Compares traces with `node` for `verify --against`: prints the outcome; true when the
/// traces agree.
///
/// # Errors
/// No verdict could be reached.
pub fn challenge(
    call: &Call,
    node: &str,
    key: &SecretKey,
    options: &ChallengeOptions,
    json: bool,
) -> anyhow::Result<bool> {
    let report = run_challenge(call, node, key, options)?;
    print_report(&report, json);
    Ok(matches!(report, Report::Agree { .. }))
}

fn run_challenge(call: &Call, node: &str, key: &SecretKey, options: &ChallengeOptions) -> anyhow::Result<Report> {
    let challenge = Challenge {
        runtime: &call.runtime,
        function: &call.function,
        input: &call.input,
        receipt: &call.signed,
        node,
        key,
        timeouts: options.timeouts()?,
    };
    challenge.run().with_context(|| format!("the dispute with {node} reached no verdict"))
}

fn print_report(report: &Report, as_json: bool) {
    match report {
        Report::Agree { commitment, took } => {
            let c = commitment.value();
            if as_json {
                let summary = json!({
                    "outcome": "agree", "trace": commitment.id().prefixed(), "leaves": c.leaves,
                    "root": hex::encode(c.root), "took_ms": took.as_millis() as u64,
                });
                println!("{summary}");
            } else {
                println!(
                    "trace match {} · {} leaves · root {} · {:.2} s",
                    commitment.id().prefixed(),
                    c.leaves,
                    hex::encode(c.root),
                    took.as_secs_f64()
                );
            }
        }
        Report::Verdict { verdict, rounds_to_name, took } => {
            let v = verdict.value();
            let leaf = v.difference.as_ref().map(|d| d.index);
            let winner = match v.winner {
                Winner::Challenger => "challenger right",
                Winner::Node => "node right",
                Winner::Neither => "neither right",
            };
            if as_json {
                let summary = json!({
                    "outcome": "verdict", "verdict": verdict.id().prefixed(), "winner": v.winner,
                    "reason": v.reason, "leaf": leaf, "detail": v.detail, "rounds": v.rounds,
                    "rounds_to_name": rounds_to_name, "bytes_sent": v.bytes_sent,
                    "bytes_received": v.bytes_received,
                    "leaves": v.node_commitment.as_ref().map(|c| c.value().leaves),
                    "took_ms": took.as_millis() as u64,
                });
                println!("{summary}");
            } else {
                println!(
                    "verdict {} · {winner} · {:?} · {} · {} rounds (op named in {rounds_to_name}) · {} B sent, {} B received · {:.2} s",
                    verdict.id().prefixed(),
                    v.reason,
                    v.detail,
                    v.rounds,
                    v.bytes_sent,
                    v.bytes_received,
                    took.as_secs_f64()
                );
            }
        }
    }
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let verdict =
        SignedVerdict::from_json(&bytes).with_context(|| format!("{} is not a valid verdict", path.display()))?;
    match verdict.value().check_evidence() {
        Ok(()) => {
            let v = verdict.value();
            println!("verdict ok {} · {:?} ({:?}) · {}", verdict.id().prefixed(), v.winner, v.reason, v.detail);
            Ok(ExitCode::SUCCESS)
        }
        Err(rule) => {
            println!("verdict INVALID {}: {rule}", verdict.id().prefixed());
            Ok(ExitCode::from(1))
        }
    }
}

fn trace(args: &CallArgs, as_json: bool, globals: &Globals) -> anyhow::Result<ExitCode> {
    let call = Call::resolve(args, globals)?;
    let receipt = call.signed.receipt();
    let trace =
        local_trace(&call.runtime, &call.function, &call.input, receipt.seed).context("the traced run failed")?;
    let tree = trace.tree();
    if as_json {
        let leaves: Vec<_> =
            trace.leaves.iter().map(|l| json!({"descriptor": l.descriptor, "tensor": hex::encode(l.tensor)})).collect();
        println!("{}", json!({"root": hex::encode(tree.root()), "leaves": tree.len(), "trace": leaves}));
    } else {
        println!("root {} · {} leaves", hex::encode(tree.root()), tree.len());
        for (i, leaf) in trace.leaves.iter().enumerate() {
            println!("{i:>7} {} {}", hex::encode(&leaf.tensor[..8]), leaf.descriptor);
        }
    }
    Ok(ExitCode::SUCCESS)
}
