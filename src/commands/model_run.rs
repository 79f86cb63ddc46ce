//! `wasmnn model run MODEL --input NAME=FILE.npy … --out DIR`: run a model on .npy
//! inputs and write each output to `DIR/<output>.npy`.
//!
//! Output names are made file-safe by `wasmnn_host_gpu::npy::output_file_names`:
//! characters outside `[A-Za-z0-9_.-]` become `_`, a leading `.` becomes `_`, and a name
//! that collides with an earlier one gets `-<position>` appended.

use std::collections::HashSet;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use wasmnn_host_gpu::gpu::{GpuContext, GpuError, GpuModel};
use wasmnn_host_gpu::{CpuExecutor, Graph, Tensor, npy, onnx};
use wasmnn_runtime::{Backend, ResolvedBackend};

use crate::commands::{Globals, resolve_model};

/// Arguments of `model run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A .onnx file, or a known model's name (fetched into the cache if needed).
    model: String,
    /// A graph input as NAME=FILE.npy; repeat for each input.
    #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_input)]
    inputs: Vec<(String, PathBuf)>,
    /// Threads for the CPU executor [default: one per core]; results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,
    /// Folder for the outputs, created if missing: one <output name>.npy per output.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Loads the model and inputs, runs it on the resolved backend, writes the outputs and
/// prints `name  dtype[shape]  path` per output and the run's wall time.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let path = resolve_model(&args.model, globals)?;
    let graph = onnx::load_file(&path).with_context(|| format!("cannot load model {}", path.display()))?;
    let inputs = read_inputs(&args.inputs)?;
    let backend = globals.backend.resolve()?;
    let start = Instant::now();
    let (outputs, how) = match &backend {
        ResolvedBackend::Gpu(ctx) => match run_gpu(ctx, &graph, inputs.clone()) {
            Err(GpuError::Unsupported { node, message }) if globals.backend == Backend::Auto => {
                tracing::info!(%message, %node, "using the CPU executor for this model");
                run_cpu(&graph, inputs, args.threads)?
            }
            result => result.context("cannot run the model on the GPU")?,
        },
        ResolvedBackend::Cpu => run_cpu(&graph, inputs, args.threads)?,
    };
    let elapsed = start.elapsed();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output folder {}", args.out.display()))?;
    let names: Vec<&str> = outputs.iter().map(|(name, _)| name.as_str()).collect();
    let mut out = std::io::stdout().lock();
    for ((name, tensor), file) in outputs.iter().zip(npy::output_file_names(&names)) {
        let file = args.out.join(file);
        npy::write_npy(&file, tensor).with_context(|| format!("cannot write output {name} to {}", file.display()))?;
        writeln!(out, "{name}  {}{:?}  {}", tensor.dtype(), tensor.shape(), file.display())?;
    }
    writeln!(out, "time  {:.1} ms ({how})", elapsed.as_secs_f64() * 1000.0)?;
    Ok(ExitCode::SUCCESS)
}

/// Parses `NAME=FILE.npy`.
fn parse_input(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => Ok((name.to_owned(), PathBuf::from(file))),
        _ => Err(format!("expected NAME=FILE.npy, got: {text}")),
    }
}

/// Reads every input file, refusing a name given twice.
fn read_inputs(inputs: &[(String, PathBuf)]) -> anyhow::Result<Vec<(String, Tensor)>> {
    let mut seen = HashSet::new();
    inputs
        .iter()
        .map(|(name, file)| {
            if !seen.insert(name.as_str()) {
                bail!("input given twice: {name}");
            }
            let tensor =
                npy::read_npy(file).with_context(|| format!("cannot read input {name} from {}", file.display()))?;
            Ok((name.clone(), tensor))
        })
        .collect()
}

/// Outputs and a description of how they were computed.
type Outcome = (Vec<(String, Tensor)>, String);

/// Runs on the wgpu executor; describes the adapter and where the time went.
fn run_gpu(ctx: &Arc<GpuContext>, graph: &Graph, inputs: Vec<(String, Tensor)>) -> Result<Outcome, GpuError> {
    let model = GpuModel::new(Arc::clone(ctx), graph.clone())?;
    let (outputs, stats) = model.run_with_stats(inputs)?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let how = format!(
        "backend gpu on {}: upload {:.1} ms, compute {:.1} ms, readback {:.1} ms, {} dispatches",
        ctx.adapter().name,
        ms(stats.upload),
        ms(stats.compute),
        ms(stats.readback),
        stats.dispatches
    );
    Ok((outputs, how))
}

/// Runs on the CPU reference executor, in a pool of `threads` threads when given.
fn run_cpu(graph: &Graph, inputs: Vec<(String, Tensor)>, threads: Option<NonZeroUsize>) -> anyhow::Result<Outcome> {
    let run = || CpuExecutor.run(graph, inputs).context("cannot run the model");
    let (outputs, threads) = match threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n.get()).build()?;
            (pool.install(run)?, n.get())
        }
        None => (run()?, rayon::current_num_threads()),
    };
    Ok((outputs, format!("backend cpu, {threads} threads")))
}
