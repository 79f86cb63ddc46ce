//! SmolLM2-135M-Instruct (Q4_1) on the llama engine: prefill of 16 tokens and decode of
//! 64 tokens, on the CPU at 1 and 2 threads and on wgpu when an adapter exists, the loads
//! `llama-bench -p 16 -n 64` measures (`scripts/llama_bench.sh`; docs/BENCHMARKS.md).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wasmnn_host_gpu::gpu::GpuContext;
use wasmnn_host_gpu::llm::gpu::{GpuLlama, GpuSession};
use wasmnn_host_gpu::llm::{CpuSession, Llama, Session};

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

/// Prompt tokens of the prefill benchmark.
const PREFILL: usize = 16;
/// Generated tokens of the decode benchmark.
const DECODE: usize = 64;
/// The context the sessions hold.
const CONTEXT: usize = PREFILL + DECODE + 1;

/// A fixed prompt of `PREFILL` ids (any ids do: the cost does not depend on them).
fn prompt() -> Vec<i64> {
    (0..PREFILL as i64).map(|i| (i * 7919) % 48000 + 100).collect()
}

/// Times `DECODE` single-token steps after an untimed prefill, `iters` times.
fn decode(new_session: &dyn Fn() -> Box<dyn Session>, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut session = new_session();
        let mut token = [black_box(prompt())[0]];
        session.forward(&prompt(), &|| false).expect("prefill");
        let start = Instant::now();
        for step in 0..DECODE {
            let logits = session.forward(&token, &|| false).expect("decode");
            token[0] = (step as i64 * 31 + i64::from(logits[0].to_bits() & 1)) % 48000 + 100;
        }
        total += start.elapsed();
    }
    total
}

fn bench_session(c: &mut Criterion, name: &str, new_session: &dyn Fn() -> Box<dyn Session>) {
    let mut group = c.benchmark_group("llm");
    group.sample_size(10);
    group.bench_function(format!("{name}/prefill{PREFILL}"), |b| {
        b.iter(|| new_session().forward(&prompt(), &|| false).expect("prefill"))
    });
    group.bench_function(format!("{name}/decode{DECODE}"), |b| b.iter_custom(|iters| decode(new_session, iters)));
    group.finish();
}

fn benches(c: &mut Criterion) {
    let bytes = std::fs::read(support::model_path("smollm2")).expect("SmolLM2 readable");
    let model = Arc::new(Llama::from_gguf_bytes(bytes, CONTEXT).expect("SmolLM2 loads"));
    for threads in [1, 2] {
        let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool"));
        let session = |model: &Arc<Llama>, pool: &Arc<rayon::ThreadPool>| -> Box<dyn Session> {
            Box::new(PooledSession { inner: CpuSession::new(Arc::clone(model), CONTEXT), pool: Arc::clone(pool) })
        };
        bench_session(c, &format!("cpu/threads={threads}"), &|| session(&model, &pool));
    }
    match GpuContext::new() {
        Ok(ctx) => {
            let adapter = ctx.adapter().name.clone();
            let gpu = Arc::new(GpuLlama::new(Arc::new(ctx), Arc::clone(&model)).expect("SmolLM2 loads on the GPU"));
            eprintln!("wgpu adapter: {adapter}");
            bench_session(c, "wgpu", &|| Box::new(GpuSession::new(Arc::clone(&gpu), CONTEXT).expect("GPU session")));
        }
        Err(e) => eprintln!("no GPU adapter, wgpu not measured: {e}"),
    }
}

/// A CPU session whose steps run in a given rayon pool.
struct PooledSession {
    inner: CpuSession,
    pool: Arc<rayon::ThreadPool>,
}

impl Session for PooledSession {
    /// Never stops: the benchmark's steps always run to the end.
    fn forward(&mut self, tokens: &[i64], _: &dyn Fn() -> bool) -> Result<Vec<f32>, wasmnn_host_gpu::llm::LlmError> {
        let inner = &mut self.inner;
        self.pool.install(|| inner.forward(tokens, &|| false))
    }

    fn position(&self) -> usize {
        self.inner.position()
    }

    fn context_limit(&self) -> usize {
        self.inner.context_limit()
    }
}

criterion_group! {
    name = llm;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(llm);
