//! The GPU suite (libtest-mimic): shader validation with naga (no GPU needed), op-kind
//! coverage of the conformance cases, and every conformance case on the adapter, bit for
//! bit against the CPU reference; likewise every llama kernel (`llm/<kernel>/<case>`,
//! [`wasmnn_host_gpu::llm::gpu::conformance`]) and its shader; and every conformance case
//! traced (`trace/<case>`): the GPU's leaves equal the CPU reference's on the specialized
//! graph, bit for bit; and traced LLM steps (`trace/llm/…`): a small model's leaves on the
//! GPU, over chunked and single-chunk steps, equal the CPU session's (tap point, shape,
//! digest), and its traced logits equal the plain GPU session's. Without an adapter the
//! GPU trials are reported as ignored, unless `WASMNN_REQUIRE_GPU=1`, which turns that
//! into a failure.

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
use wasmnn_host_gpu::llm::gpu::{GpuLlama, GpuSession};
use wasmnn_host_gpu::llm::{CpuSession, LlmError, QKind, Session, TracedSession};
use wasmnn_host_gpu::tensor::Tensor;
use wasmnn_host_gpu::trace::{Hash, LeafTensor, Tap, TapPoint, f32_digest, tensor_digest};

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
        .chain(LLM_TRACE_TRIALS.iter().map(|name| (*name).to_owned()))
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
            graph_trials
                .chain(llm_trials)
                .chain(trace_trials)
                .chain([stop_trial, dynamic_trial])
                .chain(llm_trace_trials(&ctx))
                .collect()
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

/// The traced LLM trials.
const LLM_TRACE_TRIALS: [&str; 2] = ["trace/llm/leaves_equal_cpu", "trace/llm/logits_equal_plain"];

/// The steps of the traced LLM trials: a prompt of 5 tokens, then two single tokens.
const LLM_STEPS: [&[i64]; 3] = [&[5, 17, 3, 39, 0], &[22], &[8]];

fn llm_trace_trials(ctx: &Arc<GpuContext>) -> Vec<Trial> {
    let [leaves, logits] = LLM_TRACE_TRIALS;
    let (a, b) = (Arc::clone(ctx), Arc::clone(ctx));
    vec![
        Trial::test(leaves, move || llm_leaves_equal_cpu(&a).map_err(Failed::from)),
        Trial::test(logits, move || llm_logits_equal_plain(&b).map_err(Failed::from)),
    ]
}

/// One leaf of a traced LLM step: its tap point (spelled out), shape and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LlmLeaf {
    at: String,
    shape: Vec<usize>,
    digest: Hash,
}

/// Records every leaf of traced LLM steps.
#[derive(Default)]
struct LlmRecorder {
    leaves: Vec<LlmLeaf>,
}

impl Tap for LlmRecorder {
    fn leaf(&mut self, at: TapPoint<'_>, tensor: LeafTensor<'_>) {
        let (shape, digest) = match tensor {
            LeafTensor::Tensor(t) => (t.shape().to_vec(), tensor_digest(t)),
            LeafTensor::F32 { shape, data } => (shape.to_vec(), f32_digest(&shape, data)),
        };
        self.leaves.push(LlmLeaf { at: format!("{at:?}"), shape, digest });
    }
}

/// The small model of the LLM conformance cases (9 blocks: two submissions per chunk),
/// with its weights on the device.
fn llm_model(ctx: &Arc<GpuContext>) -> Result<(Arc<wasmnn_host_gpu::llm::Llama>, Arc<GpuLlama>), String> {
    let model = Arc::new(llm_conformance::tiny_model(70, false, QKind::Q8_0));
    let gpu = GpuLlama::new(Arc::clone(ctx), Arc::clone(&model)).map_err(|e| format!("GPU load: {e}"))?;
    Ok((model, Arc::new(gpu)))
}

/// Runs [`LLM_STEPS`] traced on `session`: every step's logits and every leaf.
fn traced_steps(session: &mut dyn TracedSession) -> Result<(Vec<Vec<f32>>, Vec<LlmLeaf>), LlmError> {
    let mut recorder = LlmRecorder::default();
    let mut logits = Vec::new();
    for tokens in LLM_STEPS {
        logits.push(session.forward_traced(tokens, &|| false, &mut recorder)?);
    }
    Ok((logits, recorder.leaves))
}

/// Bits of logits, for comparisons that see NaN payloads and signed zeros.
fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Traced on the GPU with chunks of 2 tokens (the prompt spans three chunks) and of the
/// default size, every leaf of every step (tap point, shape, digest) equals the CPU
/// session's, and so do the logits.
fn llm_leaves_equal_cpu(ctx: &Arc<GpuContext>) -> Result<(), String> {
    let (model, gpu_model) = llm_model(ctx)?;
    let mut cpu = CpuSession::new(Arc::clone(&model), 20);
    let (cpu_logits, cpu_leaves) = traced_steps(&mut cpu).map_err(|e| format!("CPU traced: {e}"))?;
    let per_step = wasmnn_host_gpu::llm::trace::step_slots(model.layers.len()).count();
    if cpu_leaves.len() != LLM_STEPS.len() * per_step {
        return Err(format!("the CPU showed {} leaves, expected {}", cpu_leaves.len(), LLM_STEPS.len() * per_step));
    }
    for chunk in [2, wasmnn_host_gpu::llm::gpu::CHUNK] {
        let mut gpu = GpuSession::with_chunk(Arc::clone(&gpu_model), 20, chunk).map_err(|e| e.to_string())?;
        let (gpu_logits, gpu_leaves) = traced_steps(&mut gpu).map_err(|e| format!("GPU traced: {e}"))?;
        if gpu_leaves.len() != cpu_leaves.len() {
            return Err(format!(
                "chunk {chunk}: {} leaves on the GPU, {} on the CPU",
                gpu_leaves.len(),
                cpu_leaves.len()
            ));
        }
        if let Some((i, (c, g))) = cpu_leaves.iter().zip(&gpu_leaves).enumerate().find(|(_, (c, g))| c != g) {
            return Err(format!("chunk {chunk}: leaf {i} differs:\nCPU {c:?}\nGPU {g:?}"));
        }
        for (step, (c, g)) in cpu_logits.iter().zip(&gpu_logits).enumerate() {
            if bits(c) != bits(g) {
                return Err(format!("chunk {chunk}: the logits of step {step} differ"));
            }
        }
    }
    Ok(())
}

/// The traced GPU session's logits equal the plain GPU session's at every step; a traced
/// step cancelled between blocks leaves the session where it was (and the following
/// steps still agree).
fn llm_logits_equal_plain(ctx: &Arc<GpuContext>) -> Result<(), String> {
    let (_, gpu_model) = llm_model(ctx)?;
    let mut plain = GpuSession::with_chunk(Arc::clone(&gpu_model), 20, 2).map_err(|e| e.to_string())?;
    let mut traced = GpuSession::with_chunk(gpu_model, 20, 2).map_err(|e| e.to_string())?;
    let mut recorder = LlmRecorder::default();
    for (step, tokens) in LLM_STEPS.iter().enumerate() {
        if step == 1 {
            let result = traced.forward_traced(tokens, &|| true, &mut recorder);
            if !matches!(result, Err(LlmError::Cancelled)) {
                return Err(format!("a stopped traced step gave {result:?}"));
            }
            if traced.position() != LLM_STEPS[0].len() {
                return Err(format!("position {} after a cancelled step", traced.position()));
            }
        }
        let want = plain.forward(tokens, &|| false).map_err(|e| format!("plain step {step}: {e}"))?;
        let got =
            traced.forward_traced(tokens, &|| false, &mut recorder).map_err(|e| format!("traced step {step}: {e}"))?;
        if bits(&want) != bits(&got) {
            return Err(format!("the logits of step {step} differ from the plain session's"));
        }
    }
    Ok(())
}
