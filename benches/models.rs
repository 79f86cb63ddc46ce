//! Whole-model benchmarks on the CPU reference executor, at 1 and 2 threads, on the same
//! inputs `scripts/bench_ort.py` times ONNX Runtime with, and on the wgpu executor when an
//! adapter exists (see docs/BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;

use wasmnn_host_gpu::gpu::{GpuContext, GpuModel, RunStats};
use wasmnn_host_gpu::{CpuExecutor, Graph, Tensor};

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

/// The MiniLM benchmark input: batch 1, 128 tokens, the formula of `scripts/common.py`.
fn minilm_inputs() -> Vec<(String, Tensor)> {
    let seq = 128;
    let mut ids = vec![101i64];
    ids.extend((0..seq as i64 - 2).map(|i| (i * 7919) % 28000 + 1000));
    ids.push(102);
    let tensor = |v: Vec<i64>| Tensor::from_i64(vec![1, seq], v).expect("shape");
    vec![
        ("input_ids".into(), tensor(ids)),
        ("attention_mask".into(), tensor(vec![1; seq])),
        ("token_type_ids".into(), tensor(vec![0; seq])),
    ]
}

fn bench_model(c: &mut Criterion, name: &str, graph: &Graph, inputs: &[(String, Tensor)]) {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
        c.bench_function(&format!("cpu/{name}/threads={threads}"), |b| {
            b.iter(|| pool.install(|| CpuExecutor.run(graph, inputs.to_vec()).expect("model runs")))
        });
    }
}

/// The model on the wgpu executor (one plan, reused), and the mean upload / compute /
/// readback split of the timed runs on stderr.
fn bench_gpu(c: &mut Criterion, ctx: &Arc<GpuContext>, name: &str, graph: &Graph, inputs: &[(String, Tensor)]) {
    let model = GpuModel::new(Arc::clone(ctx), graph.clone()).expect("model loads on the GPU");
    let mut runs: Vec<RunStats> = Vec::new();
    let mut group = c.benchmark_group("gpu");
    // Software adapters (lavapipe) take seconds per run: criterion's minimum sample count.
    group.sample_size(10);
    group.bench_function(name, |b| {
        b.iter(|| {
            let (outputs, stats) = model.run_with_stats(inputs.to_vec()).expect("model runs");
            runs.push(stats);
            outputs
        })
    });
    group.finish();
    let n = runs.len().max(1) as f64;
    let mean = |f: fn(&RunStats) -> Duration| runs.iter().map(|r| f(r).as_secs_f64()).sum::<f64>() / n * 1000.0;
    eprintln!(
        "gpu/{name} on {}: mean upload {:.3} ms, compute {:.3} ms, readback {:.3} ms, {} dispatches",
        ctx.adapter().name,
        mean(|r| r.upload),
        mean(|r| r.compute),
        mean(|r| r.readback),
        runs.first().map_or(0, |r| r.dispatches)
    );
}

fn models(c: &mut Criterion) {
    let orientation = support::load_model("orientation");
    let input = vec![("x".to_owned(), support::read_npy(&support::fixture("orientation/input_0.npy")))];
    bench_model(c, "orientation", &orientation, &input);
    let minilm = support::load_model("minilm");
    bench_model(c, "minilm-seq128", &minilm, &minilm_inputs());
    match GpuContext::new() {
        Ok(ctx) => {
            let ctx = Arc::new(ctx);
            bench_gpu(c, &ctx, "orientation", &orientation, &input);
            bench_gpu(c, &ctx, "minilm-seq128", &minilm, &minilm_inputs());
        }
        Err(e) => eprintln!("skipping the GPU benchmarks: {e}"),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = models
}
criterion_main!(benches);
