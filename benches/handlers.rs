//! Per-call overhead of the sandbox: a warm call (fresh store and instance of an already
//! compiled component, one wasi-nn round trip on a 2-op graph) and a cold start (a new
//! runtime loading the compiled component from the on-disk cache, then the same call).
//! The `probe` test handler provides the calls; `echo` measures a call with no model.

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use wasmnn_runtime::Limits;

fn handlers(c: &mut Criterion) {
    let component = support::example_component("probe");
    let cache = tempfile::tempdir().expect("cache dir");
    let runtime = support::cpu_runtime(cache.path());
    let function = support::probe_function(&runtime, &component);
    let limits = Limits::default();
    let mut group = c.benchmark_group("handler");
    for command in ["echo x", "tiny"] {
        let name = format!("warm/{}", command.split(' ').next().unwrap_or(command));
        group.bench_function(name, |b| {
            b.iter(|| runtime.invoke(&function, command.as_bytes(), 0, &limits, None).expect("call"));
        });
    }
    group.bench_function("cold/tiny", |b| {
        b.iter_batched(
            || support::cpu_runtime(cache.path()),
            |fresh| {
                let function = support::probe_function(&fresh, &component);
                fresh.invoke(&function, b"tiny", 0, &limits, None).expect("call");
                fresh
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, handlers);
criterion_main!(benches);
