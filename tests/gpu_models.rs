//! Both real models on the wgpu executor, bit-identical to the CPU reference executor
//! (and through the CLI: `--backend gpu` writes the same .npy bytes as `--backend cpu`,
//! and `wasmnn run` of the example handlers prints the same bytes and fuel on both).
//! libtest-mimic: without an adapter the trials are ignored, unless
//! `WASMNN_REQUIRE_GPU=1`, which makes that a failure.

#[path = "e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

#[path = "e2e/node.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod node;

use std::process::{Command, ExitCode};
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use support::{examples_dir, fixture, load_model, read_npy, wasmnn};
use wasmnn_host_gpu::conformance::first_difference;
use wasmnn_host_gpu::gpu::{GpuContext, GpuModel};
use wasmnn_host_gpu::{CpuExecutor, Graph, Tensor};
use wasmnn_runtime::receipt::SignedReceipt;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let required = std::env::var("WASMNN_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let names = [
        "gpu/orientation_bit_identical",
        "gpu/minilm_bit_identical",
        "gpu/cli_backend_gpu_writes_cpu_bytes",
        "gpu/handlers_same_bytes_and_fuel",
        "gpu/two_nodes_agree",
    ];
    let trials = match GpuContext::new() {
        Ok(ctx) => {
            let ctx = Arc::new(ctx);
            let (a, b) = (Arc::clone(&ctx), Arc::clone(&ctx));
            vec![
                Trial::test(names[0], move || orientation(&a)),
                Trial::test(names[1], move || minilm(&b)),
                Trial::test(names[2], cli_backend_gpu),
                Trial::test(names[3], handlers_same_bytes_and_fuel),
                Trial::test(names[4], two_nodes_agree),
            ]
        }
        Err(e) if required => {
            vec![Trial::test("gpu/adapter", move || Err(format!("WASMNN_REQUIRE_GPU=1 but {e}").into()))]
        }
        Err(_) => names.iter().map(|n| Trial::test(*n, || Ok(())).with_ignored_flag(true)).collect(),
    };
    libtest_mimic::run(&args, trials).exit_code()
}

/// Runs `inputs` on both executors and compares every output bit for bit.
fn compare(ctx: &Arc<GpuContext>, graph: &Graph, cases: Vec<(String, Vec<(String, Tensor)>)>) -> Result<(), Failed> {
    let model = GpuModel::new(Arc::clone(ctx), graph.clone()).map_err(|e| e.to_string())?;
    for (label, inputs) in cases {
        let cpu = CpuExecutor.run(graph, inputs.clone()).map_err(|e| e.to_string())?;
        let gpu = model.run(inputs).map_err(|e| format!("{label}: {e}"))?;
        for ((name, want), (_, got)) in cpu.iter().zip(&gpu) {
            if let Some(difference) = first_difference(want, got) {
                return Err(format!("{label}, output {name}: {difference}").into());
            }
        }
    }
    Ok(())
}

fn orientation(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let graph = load_model("orientation");
    let cases = (0..4)
        .map(|i| {
            (format!("input_{i}"), vec![("x".to_owned(), read_npy(&fixture(&format!("orientation/input_{i}.npy"))))])
        })
        .collect();
    compare(ctx, &graph, cases)
}

fn minilm(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let graph = load_model("minilm");
    let dir = fixture("minilm");
    let cases = ["0", "3", "batch"]
        .iter()
        .map(|prefix| {
            let inputs = ["input_ids", "attention_mask", "token_type_ids"]
                .iter()
                .map(|n| ((*n).to_owned(), read_npy(&dir.join(format!("{prefix}_{n}.npy")))))
                .collect();
            ((*prefix).to_owned(), inputs)
        })
        .collect();
    compare(ctx, &graph, cases)
}

/// `wasmnn model run --backend gpu` and `--backend cpu` write identical files.
fn cli_backend_gpu() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let input = format!("x={}", fixture("orientation/input.npy").display());
    let mut files = Vec::new();
    for backend in ["cpu", "gpu"] {
        let out = dir.path().join(backend);
        let output = Command::new(env!("CARGO_BIN_EXE_wasmnn"))
            .args(["model", "run", "orientation", "--backend", backend, "--input", &input, "--out"])
            .arg(&out)
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !stdout.contains(&format!("backend {backend}")) {
            return Err(format!("{backend}: {stdout}{}", String::from_utf8_lossy(&output.stderr)).into());
        }
        files.push(std::fs::read(out.join("fetch_name_0.npy")).map_err(|e| e.to_string())?);
    }
    if files[0] != files[1] { Err("the gpu output file differs from the cpu one".into()) } else { Ok(()) }
}

/// `wasmnn run` of both example handlers prints the same output bytes and the same fuel on
/// `--backend gpu` as on `--backend cpu`.
fn handlers_same_bytes_and_fuel() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sentences = dir.path().join("sentences.json");
    let text = r#"{"input": ["A man is eating food.", "Deterministic inference, bit for bit."]}"#;
    std::fs::write(&sentences, text).map_err(|e| e.to_string())?;
    let cases = [("orientation", fixture("orientation/image_1.png")), ("embeddings", sentences)];
    for (example, input) in cases {
        let crate_dir = examples_dir().join(example);
        let mut runs = Vec::new();
        for backend in ["cpu", "gpu"] {
            let args = ["run", &crate_dir.display().to_string(), "--debug", "--backend", backend, "--input"]
                .into_iter()
                .map(str::to_owned)
                .chain([input.display().to_string()])
                .collect::<Vec<_>>();
            let output = wasmnn(&args.iter().map(String::as_str).collect::<Vec<_>>());
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if !output.status.success() || !stderr.contains(&format!("backend {backend}")) {
                return Err(format!("{example} on {backend}: {stderr}").into());
            }
            let fuel = stderr.split("fuel ").nth(1).and_then(|rest| rest.split(' ').next()).map(str::to_owned);
            runs.push((output.stdout, fuel.ok_or_else(|| format!("no fuel in: {stderr}"))?));
        }
        if runs[0].0 != runs[1].0 {
            return Err(format!("{example}: the gpu output differs from the cpu output").into());
        }
        if runs[0].1 != runs[1].1 {
            return Err(format!("{example}: fuel differs: cpu {} gpu {}", runs[0].1, runs[1].1).into());
        }
    }
    Ok(())
}

/// Node A on the GPU and node B on the CPU serve the same function (B pulled it from A by
/// digest): the same call gives the same output bytes, and receipts with the same output
/// digest, fuel and op count, each signed by its own node; `wasmnn verify` re-runs each
/// node's receipt on the other backend and finds a match.
fn two_nodes_agree() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let a = node::Node::try_start(&dir.path().join("a"), &["--backend", "gpu"])?;
    let b = node::Node::start(&dir.path().join("b"), &["--backend", "cpu"]);
    for (node, expected) in [(&a, "passed the self-test"), (&b, "cpu: chosen with --backend cpu")] {
        let health = node.request("GET", "/healthz", &[], b"").json();
        let report = health["backend_report"].as_str().unwrap_or_default();
        if !report.contains(expected) {
            return Err(format!("{}: /healthz backend_report {report:?} lacks {expected:?}", node.url).into());
        }
    }
    let key = dir.path().join("publisher.key");
    let key_arg = key.display().to_string();
    let example = examples_dir().join("orientation").display().to_string();
    for args in [
        vec!["keygen", "--out", &key_arg],
        vec!["publish", &example, "--registry", &a.url, "--key", &key_arg, "--debug"],
        vec!["pull", "orientation", "--from", &a.url, "--to", &b.url],
    ] {
        let output = wasmnn(&args);
        if !output.status.success() {
            return Err(format!("wasmnn {args:?}: {}", String::from_utf8_lossy(&output.stderr)).into());
        }
    }
    let image = std::fs::read(fixture("orientation/image_1.png")).map_err(|e| e.to_string())?;
    let mut calls = Vec::new();
    for node in [&a, &b] {
        let response = node.request("POST", "/v1/functions/orientation/invoke?seed=9", &[], &image);
        if response.status != 200 {
            return Err(format!("{}: {}", node.url, String::from_utf8_lossy(&response.body)).into());
        }
        let header = response.header("wasmnn-receipt").ok_or("no receipt")?;
        let receipt = SignedReceipt::from_header(header).map_err(|e| e.to_string())?;
        calls.push((response.body, receipt));
    }
    let ((out_a, receipt_a), (out_b, receipt_b)) = (&calls[0], &calls[1]);
    let (ra, rb) = (receipt_a.receipt(), receipt_b.receipt());
    if out_a != out_b || ra.output != rb.output {
        return Err("the GPU node and the CPU node answered differently".into());
    }
    if (ra.fuel, ra.ops, ra.manifest, ra.input) != (rb.fuel, rb.ops, rb.manifest, rb.input) {
        return Err(format!("receipts differ: {ra:?} vs {rb:?}").into());
    }
    if (ra.backend.as_str(), rb.backend.as_str()) != ("gpu", "cpu") || ra.node == rb.node {
        return Err(format!("backends or node keys: {ra:?} vs {rb:?}").into());
    }
    // Each receipt re-executes on the other backend, input fetched from its own node and
    // the function from the other node.
    let cache = dir.path().join("verify-cache");
    for (receipt, own, other, backend) in [(receipt_a, &a, &b, "cpu"), (receipt_b, &b, &a, "gpu")] {
        let file = dir.path().join(format!("{}.json", receipt.receipt().backend));
        std::fs::write(&file, receipt.to_json()).map_err(|e| e.to_string())?;
        let file = file.display().to_string();
        let args = ["--backend", backend, "verify", &file, "--from", &own.url, "--registry", &other.url];
        let output = support::wasmnn_with(&args, None, &[("WASMNN_VERIFY_DATA", &cache)]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !stdout.starts_with("match") {
            return Err(
                format!("verify {file} on {backend}: {stdout} {}", String::from_utf8_lossy(&output.stderr)).into()
            );
        }
    }
    Ok(())
}
