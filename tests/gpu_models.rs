//! The real models on the wgpu executor, bit-identical to the CPU reference executor
//! (and through the CLI: `--backend gpu` writes the same .npy bytes as `--backend cpu`,
//! and `wasmnn run` of the example handlers prints the same bytes and fuel on both);
//! SmolLM2 on the llama engine's `GpuSession`, the same logits bits as `CpuSession`; a
//! sampled, streamed chat completion the same on a GPU node and a CPU node; per real model
//! (orientation, MiniLM `embeddings`, SmolLM2 `complete`), a GPU node and a CPU node commit
//! to the same op-trace root for a call the GPU node ran, and `wasmnn verify --against`
//! finds no dispute (docs/TRACES.md). libtest-mimic: without an adapter the trials are ignored, unless
//! `WASMNN_REQUIRE_GPU=1`, which makes that a failure.

#[path = "e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

#[path = "e2e/node.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod node;

use std::process::{Command, ExitCode};

use base64::Engine as _;
use serde_json::{Value, json};
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use support::{examples_dir, fixture, load_model, model_path, read_npy, wasmnn};
use wasmnn_host_gpu::conformance::first_difference;
use wasmnn_host_gpu::gpu::{GpuContext, GpuModel};
use wasmnn_host_gpu::llm::gpu::{GpuLlama, GpuSession};
use wasmnn_host_gpu::llm::{CpuSession, Llama, Session, argmax};
use wasmnn_host_gpu::{CpuExecutor, Graph, Tensor};
use wasmnn_registry::client::ChatStream;
use wasmnn_runtime::receipt::SignedReceipt;
use wasmnn_runtime::streamed::StreamedReply;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let required = std::env::var("WASMNN_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let names = [
        "gpu/orientation_bit_identical",
        "gpu/minilm_bit_identical",
        "gpu/cli_backend_gpu_writes_cpu_bytes",
        "gpu/handlers_same_bytes_and_fuel",
        "gpu/two_nodes_agree",
        "gpu/smollm2_bit_identical",
        "gpu/chat_nodes_agree",
        "gpu/orientation_traces_agree",
        "gpu/minilm_traces_agree",
        "gpu/smollm2_traces_agree",
    ];
    let trials = match GpuContext::new() {
        Ok(ctx) => {
            let ctx = Arc::new(ctx);
            let (a, b, c) = (Arc::clone(&ctx), Arc::clone(&ctx), Arc::clone(&ctx));
            vec![
                Trial::test(names[0], move || orientation(&a)),
                Trial::test(names[1], move || minilm(&b)),
                Trial::test(names[2], cli_backend_gpu),
                Trial::test(names[3], handlers_same_bytes_and_fuel),
                Trial::test(names[4], two_nodes_agree),
                Trial::test(names[5], move || smollm2(&c)),
                Trial::test(names[6], chat_nodes_agree),
                Trial::test(names[7], || traces_agree(&TRACE_CASES[0])),
                Trial::test(names[8], || traces_agree(&TRACE_CASES[1])),
                Trial::test(names[9], || traces_agree(&TRACE_CASES[2])),
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

/// The SmolLM2 prompt of the bit-identity check.
const SMOLLM2_PROMPT: [i64; 5] = [504, 3575, 282, 4649, 314];
/// Greedy decode steps after the prefill (8 generated tokens in all).
const SMOLLM2_DECODE_STEPS: usize = 7;

/// The logits bits of every step and the generated tokens of a greedy run, with the time of
/// the prefill and of the decode steps.
type Generation = (Vec<Vec<u32>>, Vec<i64>, std::time::Duration, std::time::Duration);

fn generate(session: &mut dyn Session) -> Result<Generation, Failed> {
    let started = std::time::Instant::now();
    let mut logits = vec![session.forward(&SMOLLM2_PROMPT, &|| false).map_err(|e| format!("prefill: {e}"))?];
    let prefill = started.elapsed();
    let mut tokens = vec![argmax(&logits[0])];
    let started = std::time::Instant::now();
    for step in 0..SMOLLM2_DECODE_STEPS {
        let next =
            session.forward(&tokens[tokens.len() - 1..], &|| false).map_err(|e| format!("decode {step}: {e}"))?;
        tokens.push(argmax(&next));
        logits.push(next);
    }
    let decode = started.elapsed();
    let bits = logits.iter().map(|l| l.iter().map(|v| v.to_bits()).collect()).collect();
    Ok((bits, tokens, prefill, decode))
}

/// SmolLM2 on `GpuSession` and `CpuSession`: the same logits bits at every step of a greedy
/// run (prefill and 7 decode steps) and the same tokens; a second GPU session repeats them.
fn smollm2(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let bytes = std::fs::read(model_path("smollm2")).map_err(|e| e.to_string())?;
    let model = Arc::new(Llama::from_gguf_bytes(bytes, 256).map_err(|e| e.to_string())?);
    let started = std::time::Instant::now();
    let gpu_model = Arc::new(GpuLlama::new(Arc::clone(ctx), Arc::clone(&model)).map_err(|e| e.to_string())?);
    eprintln!("SmolLM2 uploaded to {} in {:?}", ctx.adapter().name, started.elapsed());
    let (cpu_bits, cpu_tokens, ..) = generate(&mut CpuSession::new(Arc::clone(&model), 256))?;
    let mut runs = Vec::new();
    for run in 0..2 {
        let mut session = GpuSession::new(Arc::clone(&gpu_model), 256).map_err(|e| e.to_string())?;
        let (bits, tokens, prefill, decode) = generate(&mut session)?;
        eprintln!(
            "GPU run {run}: prefill of {} tokens {prefill:?}, {:?} per decode step; tokens {tokens:?}",
            SMOLLM2_PROMPT.len(),
            decode / SMOLLM2_DECODE_STEPS as u32
        );
        runs.push((bits, tokens));
    }
    for (run, (bits, tokens)) in runs.iter().enumerate() {
        for (step, (want, got)) in cpu_bits.iter().zip(bits).enumerate() {
            if let Some(i) = want.iter().zip(got).position(|(a, b)| a != b) {
                let differing = want.iter().zip(got).filter(|(a, b)| a != b).count();
                return Err(format!(
                    "GPU run {run}, step {step}: {differing} logits differ; first at {i}: cpu {:#010x}, gpu {:#010x}",
                    want[i], got[i]
                )
                .into());
            }
        }
        if *tokens != cpu_tokens {
            return Err(format!("GPU run {run} generated {tokens:?}, the CPU {cpu_tokens:?}").into());
        }
    }
    Ok(())
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

/// `wasmnn run` of the example handlers prints the same output bytes and the same fuel on
/// `--backend gpu` as on `--backend cpu` (`complete` drives SmolLM2 through wasi-nn `ggml`
/// for four tokens).
fn handlers_same_bytes_and_fuel() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sentences = dir.path().join("sentences.json");
    let text = r#"{"input": ["A man is eating food.", "Deterministic inference, bit for bit."]}"#;
    std::fs::write(&sentences, text).map_err(|e| e.to_string())?;
    let tokens = dir.path().join("tokens.json");
    std::fs::write(&tokens, r#"{"tokens": [504, 3575, 282, 4649, 314], "max_tokens": 4}"#)
        .map_err(|e| e.to_string())?;
    let cases = [("orientation", fixture("orientation/image_1.png")), ("embeddings", sentences), ("complete", tokens)];
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

/// A streamed chat completion sampled at temperature 0.8 on a GPU node and a CPU node: the
/// same chunks (but for `created`), output digest, fuel and ops; the CPU node's receipt
/// re-executes on the GPU and matches.
fn chat_nodes_agree() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let gpu = node::Node::try_start(&dir.path().join("gpu"), &["--backend", "gpu"])?;
    let cpu = node::Node::start(&dir.path().join("cpu"), &["--backend", "cpu"]);
    let key = dir.path().join("publisher.key").display().to_string();
    let example = examples_dir().join("chat").display().to_string();
    for args in [
        vec!["keygen", "--out", &key],
        vec!["publish", &example, "--registry", &gpu.url, "--key", &key, "--debug"],
        vec!["pull", "chat", "--from", &gpu.url, "--to", &cpu.url],
    ] {
        let output = wasmnn(&args);
        if !output.status.success() {
            return Err(format!("wasmnn {args:?}: {}", String::from_utf8_lossy(&output.stderr)).into());
        }
    }
    let request = serde_json::json!({
        "model": "chat",
        "messages": [{"role": "user", "content": "Tell me about the moon."}],
        "temperature": 0.8,
        "seed": 7,
        "max_tokens": 6,
        "stream": true,
    });
    let body = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let mut calls = Vec::new();
    for node in [&gpu, &cpu] {
        let ChatStream { mut events, manifest } = node.client().chat_stream(&body).map_err(|e| e.to_string())?;
        let mut reply = StreamedReply::new(1 << 24);
        while let Some(event) = events.next_event().map_err(|e| e.to_string())? {
            reply.push(&event).map_err(|e| format!("{}: {e}", node.url))?;
        }
        let finished = reply.finish().map_err(|e| format!("{}: {e}", node.url))?;
        finished.check(&body, 7, manifest.as_ref()).map_err(|e| format!("{}: {e}", node.url))?;
        calls.push((finished.output, finished.receipt));
    }
    let ((out_gpu, receipt_gpu), (out_cpu, receipt_cpu)) = (&calls[0], &calls[1]);
    let (rg, rc) = (receipt_gpu.receipt(), receipt_cpu.receipt());
    if out_gpu != out_cpu {
        let text = |o: &[u8]| String::from_utf8_lossy(o).into_owned();
        return Err(format!("the nodes sampled differently:\n{}\nvs\n{}", text(out_gpu), text(out_cpu)).into());
    }
    if (rg.fuel, rg.ops, rg.manifest, rg.input, rg.backend.as_str()) != (rc.fuel, rc.ops, rc.manifest, rc.input, "gpu")
    {
        return Err(format!("receipts differ: {rg:?} vs {rc:?}").into());
    }
    let file = dir.path().join("cpu-chat.json");
    std::fs::write(&file, receipt_cpu.to_json()).map_err(|e| e.to_string())?;
    let file = file.display().to_string();
    let cache = dir.path().join("verify-cache");
    let output = support::wasmnn_with(
        &["--backend", "gpu", "verify", &file, "--from", &cpu.url],
        None,
        &[("WASMNN_VERIFY_DATA", &cache)],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !stdout.starts_with("match") {
        return Err(format!("verify on gpu: {stdout} {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(())
}

/// One honest-pair trace check: the example function and the input of its call.
struct TraceCase {
    /// The example handler (published under this name).
    function: &'static str,
    /// The call's input: a fixture file, or these bytes.
    input: TraceInput,
}

/// Where a [`TraceCase`]'s input comes from.
enum TraceInput {
    /// A committed fixture.
    Fixture(&'static str),
    /// Literal bytes.
    Bytes(&'static str),
}

/// The honest pairs: the orientation CNN on an image, MiniLM on two short sentences (a
/// dynamic-shape graph, traced as specialized to them), SmolLM2 for 8 greedy tokens.
static TRACE_CASES: [TraceCase; 3] = [
    TraceCase { function: "orientation", input: TraceInput::Fixture("orientation/image_1.png") },
    TraceCase {
        function: "embeddings",
        input: TraceInput::Bytes(r#"{"input": ["A man is eating food.", "Deterministic inference, bit for bit."]}"#),
    },
    TraceCase {
        function: "complete",
        input: TraceInput::Bytes(r#"{"tokens": [504, 3575, 282, 4649, 314], "max_tokens": 8}"#),
    },
];

/// Runs `wasmnn args` with `env`; its output, or an error with its stdout and stderr.
fn wasmnn_ok(args: &[&str], env: &[(&str, &std::path::Path)]) -> Result<std::process::Output, Failed> {
    let output = support::wasmnn_with(args, None, env);
    if output.status.success() {
        Ok(output)
    } else {
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        Err(format!("wasmnn {args:?} ({}): {stdout}{stderr}", output.status).into())
    }
}

/// Asks `node` to commit to the op trace of `receipt`'s call (`POST /v1/traces`, with the
/// input when given); returns the commitment after checking that it restates the receipt.
fn commit(node: &node::Node, receipt: &SignedReceipt, input: Option<&[u8]>) -> Result<Value, Failed> {
    let receipt_json: Value = serde_json::from_slice(&receipt.to_json()).map_err(|e| e.to_string())?;
    let mut body = json!({"receipt": receipt_json});
    if let Some(input) = input {
        body["input"] = base64::engine::general_purpose::STANDARD.encode(input).into();
    }
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let response = node.request("POST", "/v1/traces", &[("content-type", "application/json")], &body);
    if response.status != 200 {
        return Err(format!(
            "{}: POST /v1/traces {}: {}",
            node.url,
            response.status,
            String::from_utf8_lossy(&response.body)
        )
        .into());
    }
    let commitment = response.json()["commitment"]["commitment"].clone();
    if commitment["receipt"].as_str() != Some(receipt.id().prefixed().as_str()) {
        return Err(format!("{}: the commitment does not restate the receipt: {commitment}", node.url).into());
    }
    Ok(commitment)
}

/// An honest pair, node A on the GPU (lavapipe here) and node B on the CPU, serving the
/// same function (B pulled it from A): for a call A ran on the GPU, A (its own receipt)
/// and B (a foreign receipt, so with the input) commit to the same trace root, top and leaf
/// count; `wasmnn --backend cpu verify RECEIPT_URL --against A` re-executes the call,
/// traces it on the CPU reference and reports a trace match (exit 0: no dispute).
fn traces_agree(case: &TraceCase) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let gpu = node::Node::try_start(&dir.path().join("gpu"), &["--backend", "gpu"])?;
    let cpu = node::Node::start(&dir.path().join("cpu"), &["--backend", "cpu"]);
    let key = dir.path().join("publisher.key").display().to_string();
    let example = examples_dir().join(case.function).display().to_string();
    wasmnn_ok(&["keygen", "--out", &key], &[])?;
    wasmnn_ok(&["publish", &example, "--registry", &gpu.url, "--key", &key, "--debug"], &[])?;
    wasmnn_ok(&["pull", case.function, "--from", &gpu.url, "--to", &cpu.url], &[])?;
    let input = match case.input {
        TraceInput::Fixture(path) => std::fs::read(fixture(path)).map_err(|e| e.to_string())?,
        TraceInput::Bytes(text) => text.as_bytes().to_vec(),
    };
    let response = gpu.request("POST", &format!("/v1/functions/{}/invoke", case.function), &[], &input);
    if response.status != 200 {
        return Err(format!("invoke on the GPU node: {}", String::from_utf8_lossy(&response.body)).into());
    }
    let receipt = SignedReceipt::from_header(response.header("wasmnn-receipt").ok_or("no receipt")?)
        .map_err(|e| e.to_string())?;
    if receipt.receipt().backend.as_str() != "gpu" {
        return Err(format!("the GPU node ran the call on {}", receipt.receipt().backend).into());
    }

    let on_gpu = commit(&gpu, &receipt, None)?;
    let on_cpu = commit(&cpu, &receipt, Some(&input))?;
    let leaves = on_gpu["leaves"].as_u64().ok_or("no leaf count")?;
    for field in ["root", "top", "leaves", "output", "fuel", "ops"] {
        if on_gpu[field] != on_cpu[field] || on_gpu[field].is_null() {
            return Err(format!("{}: {field} differs: GPU node {on_gpu}, CPU node {on_cpu}", case.function).into());
        }
    }
    if on_gpu["node"] == on_cpu["node"] {
        return Err("both commitments are signed by one key".into());
    }
    // Graph inputs, at least one op and the end leaf.
    if leaves < 3 {
        return Err(format!("{}: a trace of {leaves} leaves", case.function).into());
    }

    let url = format!("{}/v1/receipts/{}", gpu.url, receipt.id().prefixed());
    let cache = dir.path().join("verify-cache");
    let output =
        wasmnn_ok(&["--backend", "cpu", "verify", &url, "--against", &gpu.url], &[("WASMNN_VERIFY_DATA", &cache)])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let root = on_gpu["root"].as_str().unwrap_or_default();
    let said = format!("· {leaves} leaves · root {root}");
    if !stdout.starts_with("match") || !stdout.lines().any(|l| l.starts_with("trace match") && l.contains(&said)) {
        return Err(format!("{}: verify --against said: {stdout}", case.function).into());
    }
    Ok(())
}
