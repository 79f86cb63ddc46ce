//! Whole-model benchmarks on the CPU reference executor, at 1 and 2 threads, on the same
//! inputs `scripts/bench_ort.py` times ONNX Runtime with (see docs/BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};
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

fn models(c: &mut Criterion) {
    let orientation = support::load_model("orientation");
    let input = support::read_npy(&support::fixture("orientation/input_0.npy"));
    bench_model(c, "orientation", &orientation, &[("x".into(), input)]);
    let minilm = support::load_model("minilm");
    bench_model(c, "minilm-seq128", &minilm, &minilm_inputs());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = models
}
criterion_main!(benches);
