//! Traces and disputes (docs/TRACES.md; docs/BENCHMARKS.md "Traces and disputes"): what an
//! op trace adds to a call, and what a whole dispute costs, per real model on the CPU
//! backend: the orientation CNN on a PNG, MiniLM (`embeddings`) on two sentences, SmolLM2
//! (`complete`) for 8 greedy tokens.
//!
//! - **plain vs traced** (criterion): the release example component in the runtime,
//!   `Runtime::invoke` against `Runtime::invoke_traced` (the same call with every op's output
//!   hashed into the trace's leaves); the leaf count N is printed first.
//! - **dispute** (timed by hand, the median of `WASMNN_DISPUTE_RUNS`, default 3): a
//!   `wasmnn serve` node on loopback (this build's binary: `cargo bench` builds the root
//!   package's dev-dependencies, so the node has the test build's fault injection) with an
//!   op fault at the middle op (`PUT /v1/debug/fault`); `POST /v1/traces` of an honest call
//!   (the node's traced re-run and commitment, timed), then `wasmnn dispute run --json` of
//!   the faulty call, timed from spawn to exit: the CLI's own start-up and function load,
//!   its local traced run, the node's commitment, the bisection, the fetch of the op's input
//!   tensors (the node re-runs the call capturing them) and the referee's re-execution of
//!   the op. Rounds and bytes are the verdict's.
//!
//! Prints a markdown table of the disputes. `cargo bench --bench dispute`.

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

#[path = "../tests/e2e/node.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod node;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use serde_json::{Value, json};
use wasmnn_registry::handler::HandlerConfig;
use wasmnn_registry::models::ModelCache;
use wasmnn_runtime::receipt::SignedReceipt;
use wasmnn_runtime::trace::TraceRequest;
use wasmnn_runtime::{Function, Runtime, resolve_models};

/// The calls measured: the example function and its input.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let image = std::fs::read(support::fixture("orientation/image_1.png")).expect("the orientation fixture");
    let sentences = json!({"input": ["A man is eating food.", "Deterministic inference, bit for bit."]});
    let tokens = json!({"tokens": [504, 3575, 282, 4649, 314], "max_tokens": 8});
    vec![
        ("orientation", image),
        ("embeddings", serde_json::to_vec(&sentences).expect("JSON")),
        ("complete", serde_json::to_vec(&tokens).expect("JSON")),
    ]
}

/// Builds the release components of the measured examples (what `wasmnn publish` builds).
fn build_release_components() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--locked", "--quiet", "--release", "-p", "orientation", "-p", "embeddings", "-p", "complete"])
        .current_dir(support::examples_dir())
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the example handlers failed");
}

/// The release component of example `name` on `runtime`, with its models from the cache.
fn release_function(runtime: &Runtime, name: &str) -> Function {
    let dir = support::examples_dir().join(name);
    let config = HandlerConfig::read_dir(&dir).expect("the example's wasmnn.toml");
    let cache = ModelCache::from_env().expect("model cache");
    let models = resolve_models(&config, &dir, &cache, &|_, _| {}).expect("the example's models");
    let wasm = support::examples_dir().join(format!("target/wasm32-wasip2/release/{name}.wasm"));
    let component = runtime.prepare(&std::fs::read(&wasm).expect("the release component")).expect("it compiles");
    Function::new(config.function.name.clone(), component, models, config.limits)
}

/// Plain against traced calls in the runtime, per model.
fn plain_vs_traced(c: &mut Criterion, dir: &Path) {
    let runtime = support::cpu_runtime(&dir.join("compiled"));
    for (name, input) in cases() {
        let function = release_function(&runtime, name);
        let limits = function.default_limits();
        let plain = runtime.invoke(&function, &input, 0, &limits, None).expect("the call succeeds");
        let (traced, trace) =
            runtime.invoke_traced(&function, &input, 0, &limits, None, TraceRequest::default()).expect("traced");
        assert_eq!((plain.full_output(), plain.fuel, plain.ops), (traced.full_output(), traced.fuel, traced.ops));
        let ops = trace
            .leaves
            .iter()
            .filter(|l| {
                let d: Value = serde_json::from_str(&l.descriptor).expect("a JSON descriptor");
                d["k"] == "op" || (d["k"] == "llm" && d["op"] != "input")
            })
            .count();
        println!(
            "{name}: N = {} leaves ({ops} of them ops), receipt ops {}, fuel {}",
            trace.leaves.len(),
            plain.ops,
            plain.fuel
        );
        let mut group = c.benchmark_group(format!("trace/{name}"));
        group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(8));
        group
            .bench_function("plain", |b| b.iter(|| runtime.invoke(&function, &input, 0, &limits, None).expect("call")));
        group.bench_function("traced", |b| {
            b.iter(|| {
                runtime.invoke_traced(&function, &input, 0, &limits, None, TraceRequest::default()).expect("traced")
            })
        });
        group.finish();
    }
}

/// One model's dispute figures.
struct Dispute {
    name: &'static str,
    leaves: u64,
    leaf: u64,
    commit: Duration,
    wall: Duration,
    took: Duration,
    rounds: u64,
    rounds_to_name: u64,
    sent: u64,
    received: u64,
}

/// The node a dispute runs against, and the CLI's environment.
struct Disputes {
    dir: tempfile::TempDir,
    node: node::Node,
}

impl Disputes {
    fn start() -> Disputes {
        let dir = tempfile::tempdir().expect("temp dir");
        let node = node::Node::start(&dir.path().join("node"), &["--backend", "cpu"]);
        let health = node.request("GET", "/healthz", &[], b"").json();
        assert_eq!(health["fault_injection"], true, "the node lacks fault injection (a test build's): {health}");
        let key = dir.path().join("publisher.key").display().to_string();
        support::assert_success(&support::wasmnn(&["keygen", "--out", &key]));
        for (name, _) in cases() {
            let example = support::examples_dir().join(name).display().to_string();
            support::assert_success(&support::wasmnn(&["publish", &example, "--registry", &node.url, "--key", &key]));
        }
        Disputes { dir, node }
    }

    /// Runs `wasmnn --backend cpu args` with its own function cache.
    fn cli(&self, args: &[&str]) -> std::process::Output {
        let cache = self.dir.path().join("verify-cache");
        let output =
            support::wasmnn_with(&[&["--backend", "cpu"], args].concat(), None, &[("WASMNN_VERIFY_DATA", &cache)]);
        support::assert_success(&output);
        output
    }

    /// Calls `name` on the node; the receipt, also written to a file.
    fn call(&self, name: &str, input: &[u8], label: &str) -> (SignedReceipt, PathBuf) {
        let response = self.node.request("POST", &format!("/v1/functions/{name}/invoke"), &[], input);
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        let receipt = SignedReceipt::from_header(response.header("wasmnn-receipt").expect("a receipt")).expect("valid");
        let path = self.dir.path().join(format!("{name}-{label}.json"));
        std::fs::write(&path, receipt.to_json()).expect("receipt file");
        (receipt, path)
    }

    fn set_fault(&self, fault: &Value) {
        let body = serde_json::to_vec(fault).expect("JSON");
        let response = self.node.request("PUT", "/v1/debug/fault", &[("content-type", "application/json")], &body);
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    }

    /// The median figures of `runs` disputes of a call of `name` whose middle op is faulty.
    fn measure(&self, name: &'static str, input: &[u8], runs: usize) -> Dispute {
        let input_file = self.dir.path().join(format!("{name}.input"));
        std::fs::write(&input_file, input).expect("input file");
        let input_arg = input_file.display().to_string();
        let (honest, honest_file) = self.call(name, input, "honest");
        // The local trace (untimed; it also fills the CLI's function and compile caches).
        let args = ["dispute", "trace", path(&honest_file), "--input", &input_arg, "--registry", &self.node.url];
        let trace: Value = serde_json::from_slice(&self.cli(&[&args[..], &["--json"]].concat()).stdout).expect("JSON");
        let ops: Vec<u64> = trace["trace"]
            .as_array()
            .expect("leaves")
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                let d: Value = serde_json::from_str(l["descriptor"].as_str().expect("descriptor")).expect("JSON");
                d["k"] == "op" || (d["k"] == "llm" && d["op"] != "input")
            })
            .map(|(i, _)| i as u64)
            .collect();
        let leaf = ops[ops.len() / 2];

        // The node's side alone: a traced re-run and a signed commitment.
        let body =
            serde_json::to_vec(&json!({"receipt": serde_json::from_slice::<Value>(&honest.to_json()).expect("JSON")}))
                .expect("JSON");
        let mut commits = (0..runs)
            .map(|_| {
                let started = Instant::now();
                let response = self.node.request("POST", "/v1/traces", &[("content-type", "application/json")], &body);
                assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
                started.elapsed()
            })
            .collect::<Vec<_>>();
        commits.sort();

        self.set_fault(&json!({"op": {"leaf": leaf}}));
        let (_, faulty) = self.call(name, input, "faulty");
        let mut results = (0..runs)
            .map(|_| {
                let started = Instant::now();
                let output = self.cli(&[
                    "dispute",
                    "run",
                    path(&faulty),
                    "--input",
                    &input_arg,
                    "--node",
                    &self.node.url,
                    "--json",
                ]);
                let wall = started.elapsed();
                let verdict: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
                assert_eq!(
                    (verdict["winner"].as_str(), verdict["leaf"].as_u64()),
                    (Some("challenger"), Some(leaf)),
                    "{verdict}"
                );
                (wall, verdict)
            })
            .collect::<Vec<_>>();
        self.set_fault(&Value::Null);
        results.sort_by_key(|(wall, _)| *wall);
        let (wall, verdict) = &results[results.len() / 2];
        let number = |field: &str| verdict[field].as_u64().unwrap_or_else(|| panic!("no {field} in {verdict}"));
        Dispute {
            name,
            leaves: number("leaves"),
            leaf,
            commit: commits[commits.len() / 2],
            wall: *wall,
            took: Duration::from_millis(number("took_ms")),
            rounds: number("rounds"),
            rounds_to_name: number("rounds_to_name"),
            sent: number("bytes_sent"),
            received: number("bytes_received"),
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Full disputes over loopback HTTP, one table row per model.
fn disputes(runs: usize) {
    let disputes = Disputes::start();
    let rows: Vec<Dispute> = cases().into_iter().map(|(name, input)| disputes.measure(name, &input, runs)).collect();
    println!();
    println!(
        "| model | leaves N | faulty leaf | node commit (ms) | dispute wall (s) | dispute in CLI (s) | rounds (to name) | ⌈log2 N⌉ + 2 | bytes sent | bytes received |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for d in rows {
        let bound = u64::from(d.leaves.next_power_of_two().trailing_zeros()) + 2;
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} ({}) | {bound} | {} | {} |",
            d.name,
            d.leaves,
            d.leaf,
            d.commit.as_secs_f64() * 1e3,
            d.wall.as_secs_f64(),
            d.took.as_secs_f64(),
            d.rounds,
            d.rounds_to_name,
            d.sent,
            d.received
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` runs everything once.
    let bench = std::env::args().any(|a| a == "--bench");
    let runs =
        if bench { std::env::var("WASMNN_DISPUTE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3) } else { 1 };
    build_release_components();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut criterion = Criterion::default().configure_from_args();
    plain_vs_traced(&mut criterion, dir.path());
    criterion.final_summary();
    disputes(runs);
}
