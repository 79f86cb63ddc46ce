//! Per-call overhead of the sandbox: a warm call (fresh store and instance of an already
//! compiled component, one wasi-nn round trip on a 2-op graph) and a cold start (a new
//! runtime loading the compiled component from the on-disk cache, then the same call).
//! The `probe` test handler provides the calls; `echo` measures a call with no model.

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

use std::collections::HashMap;
use std::path::Path;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::handler::{LimitDefaults, ModelEncoding};
use wasmnn_runtime::{Backend, Function, Limits, ModelFile, ResolvedBackend, Runtime};

fn probe(runtime: &Runtime, component: &[u8]) -> Function {
    let prepared = runtime.prepare(component).expect("probe compiles");
    let path = support::fixture("tiny/tiny.onnx");
    let sha256 = Sha256Digest::of_bytes(&std::fs::read(&path).expect("tiny.onnx"));
    let models = HashMap::from([("tiny".to_owned(), ModelFile { encoding: ModelEncoding::Onnx, sha256, path })]);
    Function::new("probe", prepared, models, LimitDefaults::default())
}

fn new_runtime(cache: &Path) -> Runtime {
    Runtime::new(ResolvedBackend::Cpu, Backend::Cpu, Some(cache)).expect("runtime")
}

fn handlers(c: &mut Criterion) {
    let component = support::example_component("probe");
    let cache = tempfile::tempdir().expect("cache dir");
    let runtime = new_runtime(cache.path());
    let function = probe(&runtime, &component);
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
            || new_runtime(cache.path()),
            |fresh| {
                let function = probe(&fresh, &component);
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
