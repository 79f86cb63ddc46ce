//! The GPU suite (libtest-mimic): shader validation with naga (no GPU needed), op-kind
//! coverage of the conformance cases, and every conformance case on the adapter, bit for
//! bit against the CPU reference; likewise every llama kernel (`llm/<kernel>/<case>`,
//! [`wasmnn_host_gpu::llm::gpu::conformance`]) and its shader. Without an adapter the GPU
//! trials are reported as ignored, unless `WASMNN_REQUIRE_GPU=1`, which turns that into a
//! failure.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use wasmnn_host_gpu::conformance::{self, Case};
use wasmnn_host_gpu::gpu::{self, GpuContext, ShaderVariant};
use wasmnn_host_gpu::ir::Op;
use wasmnn_host_gpu::llm::gpu::conformance::{self as llm_conformance, LlmCase};

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
    let names: Vec<String> =
        cases.iter().map(|c| format!("gpu/{}", c.id())).chain(llm_cases.iter().map(LlmCase::id)).collect();
    match GpuContext::new() {
        Ok(ctx) => {
            let ctx = Arc::new(ctx);
            eprintln!("adapter: {:?}", ctx.adapter());
            let graph_trials = cases.into_iter().map(|case| {
                let ctx = Arc::clone(&ctx);
                Trial::test(format!("gpu/{}", case.id()), move || case.check(&ctx).map_err(Failed::from))
            });
            let llm_trials = llm_cases.into_iter().map(|case| {
                let ctx = Arc::clone(&ctx);
                Trial::test(case.id(), move || case.check(&ctx).map_err(Failed::from))
            });
            graph_trials.chain(llm_trials).collect()
        }
        Err(e) if required => {
            vec![Trial::test("gpu/adapter", move || Err(format!("WASMNN_REQUIRE_GPU=1 but {e}").into()))]
        }
        Err(_) => names.into_iter().map(|name| Trial::test(name, || Ok(())).with_ignored_flag(true)).collect(),
    }
}
