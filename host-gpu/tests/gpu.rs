//! The GPU suite (libtest-mimic): shader validation with naga (no GPU needed), op-kind
//! coverage of the conformance cases, and every conformance case on the adapter, bit for
//! bit against the CPU reference; likewise every llama kernel (`llm/<kernel>/<case>`,
//! [`wasmnn_host_gpu::llm::gpu::conformance`]) and its shader; and every conformance case
//! traced (`trace/<case>`): the GPU's leaves equal the CPU reference's on the specialized
//! graph, bit for bit. Without an adapter the GPU trials are reported as ignored, unless
//! `WASMNN_REQUIRE_GPU=1`, which turns that into a failure.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use wasmnn_host_gpu::conformance::{self, Case, first_difference};
use wasmnn_host_gpu::cpu::CpuExecutor;
use wasmnn_host_gpu::gpu::{self, GpuContext, GpuError, GpuModel, ShaderVariant};
use wasmnn_host_gpu::ir::{BinaryOp, Dim, Fact, Graph, GraphBuilder, Op, UnaryOp};
use wasmnn_host_gpu::llm::gpu::conformance::{self as llm_conformance, LlmCase};
use wasmnn_host_gpu::tensor::Tensor;
use wasmnn_host_gpu::trace::{LeafTensor, Tap, TapPoint};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let cases = match conformance::all() {
        Ok(cases) => cases,
        Err(e) => {
            eprintln!("conformance cases do not build: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut trials = vec![coverage_trial(&cases)];
    trials.extend(shader_trials(&cases));
    trials.extend(gpu_trials(cases, llm_conformance::cases()));
    libtest_mimic::run(&args, trials).exit_code()
}

/// Every op kind of the IR has at least one conformance case.
fn coverage_trial(cases: &[Case]) -> Trial {
    let covered: BTreeSet<&str> = cases.iter().flat_map(Case::kinds).collect();
    Trial::test("coverage/every_op_kind_has_cases", move || {
        let missing: Vec<&str> = Op::KIND_NAMES.iter().copied().filter(|k| !covered.contains(k)).collect();
        if missing.is_empty() { Ok(()) } else { Err(format!("op kinds without cases: {missing:?}").into()) }
    })
}

/// Every shader variant the cases use, parsed and validated by naga and translated to
/// SPIR-V with its override constants applied.
fn shader_trials(cases: &[Case]) -> Vec<Trial> {
    let mut variants: Vec<ShaderVariant> = wasmnn_host_gpu::llm::gpu::shader_variants();
    let mut failures = Vec::new();
    for case in cases {
        match gpu::shader_variants(&case.graph) {
            Ok(found) => {
                for v in found {
                    if !variants.iter().any(|w| w.kernel == v.kernel && w.constants == v.constants) {
                        variants.push(v);
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.id())),
        }
    }
    let mut trials: Vec<Trial> = variants
        .into_iter()
        .map(|v| {
            let constants: Vec<String> = v.constants.iter().map(|(n, x)| format!("{n}={x}")).collect();
            Trial::test(format!("shaders/{}/{}", v.kernel, constants.join(",")), move || validate(&v))
        })
        .collect();
    trials.push(Trial::test("shaders/every_case_lowers", move || {
        if failures.is_empty() { Ok(()) } else { Err(failures.join("\n").into()) }
    }));
    trials
}

fn validate(variant: &ShaderVariant) -> Result<(), Failed> {
    use naga::valid::{Capabilities, ValidationFlags, Validator};
    let module = naga::front::wgsl::parse_str(&variant.source).map_err(|e| e.emit_to_string(&variant.source))?;
    let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
        .validate(&module)
        .map_err(|e| e.emit_to_string(&variant.source))?;
    let constants: naga::back::PipelineConstants = variant.constants.iter().map(|&(n, v)| (n.to_owned(), v)).collect();
    let entry = Some((naga::ShaderStage::Compute, variant.entry));
    let (module, info) = naga::back::pipeline_constants::process_overrides(&module, &info, entry, &constants)
        .map_err(|e| format!("overrides: {e}"))?;
    naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None)
        .map_err(|e| format!("SPIR-V: {e}"))?;
    Ok(())
}

/// The conformance cases and the llama kernel cases on the adapter: ignored without one,
/// failing without one when `WASMNN_REQUIRE_GPU=1`.
fn gpu_trials(cases: Vec<Case>, llm_cases: Vec<LlmCase>) -> Vec<Trial> {
    let required = std::env::var("WASMNN_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let names: Vec<String> = cases
        .iter()
        .map(|c| format!("gpu/{}", c.id()))
        .chain(llm_cases.iter().map(LlmCase::id))
        .chain(cases.iter().map(|c| format!("trace/{}", c.id())))
        .chain(["trace/stop_between_batches".to_owned(), "trace/dynamic_batch".to_owned()])
        .collect();
    match GpuContext::new() {
        Ok(ctx) => {
            let ctx = Arc::new(ctx);
            eprintln!("adapter: {:?}", ctx.adapter());
            let stop_trial = stop_trial(&cases, &ctx);
            let dynamic_trial = {
                let ctx = Arc::clone(&ctx);
                Trial::test("trace/dynamic_batch", move || dynamic_batch(&ctx).map_err(Failed::from))
            };
            let trace_trials: Vec<Trial> = cases
                .iter()
                .map(|case| {
                    let (ctx, case) = (Arc::clone(&ctx), case.clone());
                    Trial::test(format!("trace/{}", case.id()), move || check_trace(&case, &ctx).map_err(Failed::from))
                })
                .collect();
            let graph_trials = cases.into_iter().map(|case| {
                let ctx = Arc::clone(&ctx);
                Trial::test(format!("gpu/{}", case.id()), move || case.check(&ctx).map_err(Failed::from))
            });
            let llm_trials = llm_cases.into_iter().map(|case| {
                let ctx = Arc::clone(&ctx);
                Trial::test(case.id(), move || case.check(&ctx).map_err(Failed::from))
            });
            graph_trials.chain(llm_trials).chain(trace_trials).chain([stop_trial, dynamic_trial]).collect()
        }
        Err(e) if required => {
            vec![Trial::test("gpu/adapter", move || Err(format!("WASMNN_REQUIRE_GPU=1 but {e}").into()))]
        }
        Err(_) => names.into_iter().map(|name| Trial::test(name, || Ok(())).with_ignored_flag(true)).collect(),
    }
}

/// Records every leaf of a traced run: its tap point (spelled out) and a copy of the tensor.
#[derive(Default)]
struct Recorder {
    labels: Vec<String>,
    leaves: Vec<Tensor>,
    /// Leaves seen so far, shared with a `stop` check.
    seen: Rc<Cell<usize>>,
}

impl Tap for Recorder {
    fn leaf(&mut self, at: TapPoint<'_>, tensor: LeafTensor<'_>) {
        self.labels.push(format!("{at:?}"));
        match tensor {
            LeafTensor::Tensor(t) => self.leaves.push(t.clone()),
            LeafTensor::F32 { shape, .. } => {
                self.labels.push(format!("unexpected f32 leaf {shape:?}"));
            }
        }
        self.seen.set(self.seen.get() + 1);
    }
}

/// The case's graph specialized to its inputs' shapes, as both executors trace it.
fn specialized(case: &Case) -> Result<Graph, String> {
    let shapes = case
        .graph
        .inputs()
        .iter()
        .map(|&id| {
            let name = &case.graph.value(id).name;
            let (_, tensor) = case.inputs.iter().find(|(n, _)| n == name).ok_or(format!("no input {name:?}"))?;
            Ok(tensor.shape().to_vec())
        })
        .collect::<Result<Vec<_>, String>>()?;
    case.graph.specialize_for(&shapes).map_err(|e| format!("specialize: {e}"))
}

/// The CPU reference's leaves of the case, traced on the specialized graph.
fn cpu_leaves(case: &Case) -> Result<Recorder, String> {
    let graph = specialized(case)?;
    let mut cpu = Recorder::default();
    CpuExecutor.run_traced(&graph, case.inputs.clone(), &|| false, &mut cpu).map_err(|e| format!("CPU traced: {e}"))?;
    Ok(cpu)
}

/// The same leaves (tap points and bits) in the same order.
fn same_leaves(what: &str, expected: &Recorder, got: &Recorder) -> Result<(), String> {
    if expected.labels != got.labels {
        return Err(format!("{what}: tap points differ:\nCPU {:?}\nGPU {:?}", expected.labels, got.labels));
    }
    for ((label, e), g) in expected.labels.iter().zip(&expected.leaves).zip(&got.leaves) {
        if let Some(d) = first_difference(e, g) {
            return Err(format!("{what}: leaf {label}: {d}"));
        }
    }
    Ok(())
}

/// GPU traced leaves == CPU traced leaves on the specialized graph, bit for bit, with the
/// default batch and (for graphs of several nodes) one node per submission, each on a fresh
/// model (so no buffer holds an earlier run's values); the traced outputs equal those of an
/// untraced run of the same model afterwards.
fn check_trace(case: &Case, ctx: &Arc<GpuContext>) -> Result<(), String> {
    let cpu = cpu_leaves(case)?;
    let nodes = cpu.leaves.len().saturating_sub(case.graph.inputs().len());
    let batches: &[u64] = if nodes > 1 { &[64 << 20, 1] } else { &[64 << 20] };
    for &batch in batches {
        let what = format!("batch of {batch} bytes");
        let model = GpuModel::new(Arc::clone(ctx), case.graph.clone())
            .map_err(|e| format!("GPU load: {e}"))?
            .with_trace_batch_bytes(batch);
        let mut gpu = Recorder::default();
        let (outputs, _) =
            model.run_traced(case.inputs.clone(), &|| false, &mut gpu).map_err(|e| format!("GPU traced: {e}"))?;
        same_leaves(&what, &cpu, &gpu)?;
        let plain = model.run(case.inputs.clone()).map_err(|e| format!("GPU run: {e}"))?;
        if outputs.len() != plain.len() {
            return Err(format!("{what}: {} outputs, untraced {}", outputs.len(), plain.len()));
        }
        for ((name, t), (plain_name, p)) in outputs.iter().zip(&plain) {
            if name != plain_name {
                return Err(format!("{what}: output {name:?} where the untraced run has {plain_name:?}"));
            }
            if let Some(d) = first_difference(p, t) {
                return Err(format!("{what}: output {name:?} differs from the untraced run: {d}"));
            }
        }
    }
    Ok(())
}

/// A `stop` that fires after the first node batch ends the traced run with
/// [`GpuError::Cancelled`], the tap having seen exactly the inputs and that batch's leaves
/// (one node per batch here), equal to the CPU's.
fn stop_trial(cases: &[Case], ctx: &Arc<GpuContext>) -> Trial {
    let ctx = Arc::clone(ctx);
    let case = cases.iter().max_by_key(|c| c.graph.nodes().len()).cloned();
    Trial::test("trace/stop_between_batches", move || {
        let case = case.ok_or("no conformance cases")?;
        let cpu = cpu_leaves(&case)?;
        let inputs = case.graph.inputs().len();
        if cpu.leaves.len() < inputs + 2 {
            return Err(format!("{} has fewer than two nodes", case.id()).into());
        }
        let model =
            GpuModel::new(ctx, case.graph.clone()).map_err(|e| format!("GPU load: {e}"))?.with_trace_batch_bytes(1);
        let mut gpu = Recorder::default();
        let seen = Rc::clone(&gpu.seen);
        let stop = move || seen.get() > inputs;
        match model.run_traced(case.inputs.clone(), &stop, &mut gpu) {
            Err(GpuError::Cancelled(_)) => {}
            Err(e) => return Err(format!("expected a cancellation, got {e}").into()),
            Ok(_) => return Err("the run was not cancelled".into()),
        }
        let expected = Recorder {
            labels: cpu.labels[..=inputs].to_vec(),
            leaves: cpu.leaves[..=inputs].to_vec(),
            seen: Rc::default(),
        };
        same_leaves(&case.id(), &expected, &gpu).map_err(Failed::from)
    })
}

/// A graph with a dynamic batch whose shape subgraph (`Shape` feeding `Reshape`) folds when
/// specialized: one model traced at two batch sizes (two plans) shows the leaves of each
/// specialized graph, equal to the CPU's.
fn dynamic_batch(ctx: &Arc<GpuContext>) -> Result<(), String> {
    let build = || -> Result<Graph, wasmnn_host_gpu::GraphError> {
        let mut b = GraphBuilder::new();
        let fact =
            Fact { dtype: wasmnn_host_gpu::DType::F32, shape: Some(vec![Dim::Symbol("batch".into()), Dim::Fixed(6)]) };
        b.input("x", fact)?;
        b.node("shape", Op::Shape { start: 0, end: None }, vec!["x".into()], "s");
        b.node("neg", Op::Unary(UnaryOp::Neg), vec!["x".into()], "t");
        b.node("reshape", Op::Reshape { allowzero: false }, vec!["t".into(), "s".into()], "r");
        b.node("square", Op::Binary(BinaryOp::Mul), vec!["r".into(), "r".into()], "u");
        b.node("softmax", Op::Softmax { axis: -1 }, vec!["u".into()], "y");
        b.output("y");
        b.output("r");
        b.build()
    };
    let graph = build().map_err(|e| format!("build: {e}"))?;
    let model = GpuModel::new(Arc::clone(ctx), graph.clone()).map_err(|e| format!("GPU load: {e}"))?;
    for batch in [3, 5] {
        let x = conformance::values(&[batch, 6], 40 + batch as u64, conformance::Values::WithSpecials(4.0));
        let case = Case::graph("trace", format!("dynamic_batch_{batch}"), graph.clone(), vec![("x".into(), x)]);
        let nodes = specialized(&case)?.nodes().len();
        if nodes >= graph.nodes().len() {
            return Err(format!("batch {batch}: specializing left {nodes} of {} nodes", graph.nodes().len()));
        }
        let cpu = cpu_leaves(&case)?;
        let mut gpu = Recorder::default();
        let (outputs, _) =
            model.run_traced(case.inputs.clone(), &|| false, &mut gpu).map_err(|e| format!("GPU traced: {e}"))?;
        same_leaves(&case.id(), &cpu, &gpu)?;
        let plain = model.run(case.inputs.clone()).map_err(|e| format!("GPU run: {e}"))?;
        for ((name, t), (_, p)) in outputs.iter().zip(&plain) {
            if let Some(d) = first_difference(p, t) {
                return Err(format!("batch {batch}: output {name:?} differs from the untraced run: {d}"));
            }
        }
    }
    Ok(())
}
