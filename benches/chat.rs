//! Chat over HTTP: what the sandbox and the node add to each token of a streamed chat
//! completion (docs/BENCHMARKS.md "Chat over HTTP").
//!
//! One fixed conversation, 64 tokens, measured at three levels on the CPU backend:
//! - **engine**: the llama engine alone (`CpuSession`): a prefill of as many tokens as the
//!   chat function's prompt, then greedy decode steps, no tokenizer, no sampler;
//! - **sandbox**: the release `chat` component in the runtime (`Runtime::invoke_streaming`),
//!   chunks timed as the guest emits them: adds the instance, the tokenizer, the chat
//!   template, the sampler and JSON chunks, and wasi-nn's copies of the logits;
//! - **http**: a `wasmnn serve` node (this build's binary) and a streamed
//!   `POST /v1/chat/completions`, chunks timed as they arrive: adds HTTP, the SSE framing,
//!   the receipt and the durable record.
//!
//! Time to first token (TTFT) runs from the request to the first content chunk; tokens/s
//! counts the tokens after it over the time to the last. Greedy and sampled (temperature
//! 0.8, top_p 0.95) requests; the median of `WASMNN_CHAT_RUNS` (default 5) runs each.
//! Prints a markdown table. `cargo bench --bench chat`.

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

#[path = "../tests/e2e/node.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod node;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmnn_host_gpu::llm::{CpuSession, Llama, Session, argmax};
use wasmnn_registry::handler::HandlerConfig;
use wasmnn_registry::models::ModelCache;
use wasmnn_runtime::streamed::StreamedReply;
use wasmnn_runtime::{Function, resolve_models};

/// Tokens generated per run.
const TOKENS: usize = 64;

/// One run's timings: time to the first token, and when each later token arrived.
struct Run {
    ttft: Duration,
    /// Tokens after the first.
    rest: usize,
    /// Time from the first token to the last.
    rest_time: Duration,
}

impl Run {
    fn tokens_per_second(&self) -> f64 {
        self.rest as f64 / self.rest_time.as_secs_f64()
    }
}

/// The request: greedy or sampled, streamed with usage.
fn request(temperature: f64) -> Value {
    json!({
        "model": "chat",
        "messages": [{"role": "user", "content": "Tell me a long story about a dragon who learns to fly."}],
        "max_tokens": TOKENS,
        "temperature": temperature,
        "top_p": 0.95,
        "seed": 5,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
}

/// The release `chat` component, built once.
fn release_component() -> Vec<u8> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--locked", "--quiet", "--release", "-p", "chat"])
        .current_dir(support::examples_dir())
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the chat example failed");
    std::fs::read(support::examples_dir().join("target/wasm32-wasip2/release/chat.wasm")).expect("chat.wasm")
}

/// Times content chunks: `arrived` is called with each chunk's JSON as it arrives.
#[derive(Default)]
struct ChunkClock {
    started: Option<Instant>,
    first: Option<Duration>,
    last: Duration,
    content_chunks: usize,
    completion_tokens: usize,
}

impl ChunkClock {
    fn start(&mut self) {
        self.started = Some(Instant::now());
    }

    fn arrived(&mut self, chunk: &Value) {
        let at = self.started.map_or(Duration::ZERO, |s| s.elapsed());
        if let Some(tokens) = chunk["usage"]["completion_tokens"].as_u64() {
            self.completion_tokens = tokens as usize;
        }
        if chunk["choices"][0]["delta"]["content"].as_str().is_some_and(|c| !c.is_empty()) {
            self.content_chunks += 1;
            self.first.get_or_insert(at);
            self.last = at;
        }
    }

    fn run(&self) -> Run {
        let ttft = self.first.expect("at least one content chunk");
        let tokens = self.completion_tokens.max(self.content_chunks);
        Run { ttft, rest: tokens.saturating_sub(1), rest_time: self.last - ttft }
    }
}

/// The llama engine alone: prefill `prompt` tokens, then greedy steps.
fn engine(model: &Arc<Llama>, prompt: usize, tokens: usize) -> Run {
    let ids: Vec<i64> = (0..prompt as i64).map(|i| (i * 7919) % 48000 + 100).collect();
    let mut session = CpuSession::new(Arc::clone(model), prompt + tokens + 1);
    let started = Instant::now();
    let mut next = argmax(&session.forward(&ids, &|| false).expect("prefill"));
    let ttft = started.elapsed();
    for _ in 1..tokens {
        next = argmax(&session.forward(&[next], &|| false).expect("decode"));
    }
    Run { ttft, rest: tokens - 1, rest_time: started.elapsed() - ttft }
}

/// The component in the runtime, chunks timed as they are emitted; also the prompt size.
fn sandbox(function: &Function, runtime: &wasmnn_runtime::Runtime, body: &[u8]) -> (Run, usize) {
    let clock = Arc::new(Mutex::new(ChunkClock::default()));
    let listener_clock = Arc::clone(&clock);
    let listener = Box::new(move |chunk: &[u8]| {
        let chunk = serde_json::from_slice(chunk).expect("a JSON chunk");
        listener_clock.lock().expect("clock").arrived(&chunk);
    });
    clock.lock().expect("clock").start();
    let outcome = runtime
        .invoke_streaming(function, body, 5, &function.default_limits(), None, Some(listener))
        .expect("the chat call succeeds");
    let mut clock = clock.lock().expect("clock");
    let usage: Value = serde_json::from_slice(&outcome.output).expect("the usage chunk");
    clock.arrived(&usage);
    (clock.run(), usage["usage"]["prompt_tokens"].as_u64().expect("prompt tokens") as usize)
}

/// A streamed request to the node, chunks timed as they arrive.
fn http(node: &node::Node, body: &[u8]) -> Run {
    let mut clock = ChunkClock::default();
    clock.start();
    let mut events = node.client().chat_stream(body).expect("a stream").events;
    let mut reply = StreamedReply::new(1 << 24);
    while let Some(event) = events.next_event().expect("a well-formed stream") {
        if let Some(chunk) = reply.push(&event).expect("a well-formed event") {
            clock.arrived(chunk);
        }
    }
    reply.finish().expect("a receipt at the end");
    clock.run()
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.tokens_per_second().total_cmp(&b.tokens_per_second()));
    let ttfts = {
        let mut t: Vec<Duration> = runs.iter().map(|r| r.ttft).collect();
        t.sort();
        t[t.len() / 2]
    };
    let middle = runs.swap_remove(runs.len() / 2);
    Run { ttft: ttfts, ..middle }
}

fn main() {
    let runs: usize = std::env::var("WASMNN_CHAT_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = support::cpu_runtime(&dir.path().join("compiled"));
    let config = HandlerConfig::read_dir(&support::examples_dir().join("chat")).expect("chat's wasmnn.toml");
    let cache = ModelCache::from_env().expect("model cache");
    let models = resolve_models(&config, &support::examples_dir().join("chat"), &cache, &|_, _| {}).expect("models");
    let component = runtime.prepare(&release_component()).expect("chat compiles");
    let function = Function::new(config.function.name.clone(), component, models, config.limits);
    let bytes = std::fs::read(support::model_path("smollm2")).expect("SmolLM2 readable");
    let model = Arc::new(Llama::from_gguf_bytes(bytes, 2048).expect("SmolLM2 loads"));

    let node = node::Node::start(&dir.path().join("node"), &["--backend", "cpu"]);
    let key = dir.path().join("publisher.key").display().to_string();
    let example = support::examples_dir().join("chat").display().to_string();
    for args in [vec!["keygen", "--out", &key], vec!["publish", &example, "--registry", &node.url, "--key", &key]] {
        support::assert_success(&support::wasmnn(&args));
    }

    println!("| request | level | TTFT (ms) | tokens/s | ms/token | prompt | tokens |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (label, temperature) in [("greedy", 0.0), ("T 0.8, top_p 0.95", 0.8)] {
        let body = serde_json::to_vec(&request(temperature)).expect("JSON");
        let (_, prompt) = sandbox(&function, &runtime, &body);
        let measured = [
            ("engine", median((0..runs).map(|_| engine(&model, prompt, TOKENS)).collect())),
            ("sandbox", median((0..runs).map(|_| sandbox(&function, &runtime, &body).0).collect())),
            ("http", median((0..runs).map(|_| http(&node, &body)).collect())),
        ];
        for (level, run) in measured {
            let tps = run.tokens_per_second();
            println!(
                "| {label} | {level} | {:.1} | {tps:.1} | {:.2} | {prompt} | {} |",
                run.ttft.as_secs_f64() * 1e3,
                1e3 / tps,
                run.rest + 1
            );
        }
    }
}
