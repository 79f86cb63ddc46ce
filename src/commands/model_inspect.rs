//! `wasmnn model inspect MODEL`: what a model takes, gives and is made of.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use wasmnn_host_gpu::ir::ValueId;
use wasmnn_host_gpu::{Graph, onnx};

use crate::commands::{Globals, resolve_model};

/// Arguments of `model inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A .onnx file, or a known model's name (fetched into the cache if needed).
    model: String,
}

/// Loads the model (import, inference and folding, as for a run) and prints its report.
pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let path = resolve_model(&args.model, globals)?;
    let graph = onnx::load_file(&path).with_context(|| format!("cannot load model {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "model      {}", path.display())?;
    report(&mut out, &graph)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes inputs and outputs with their facts, node and op counts, constants and
/// metadata.
fn report(out: &mut impl Write, graph: &Graph) -> std::io::Result<()> {
    let (constants, constant_bytes) = graph.constant_stats();
    let values = |ids: &[ValueId]| ids.iter().map(|&id| graph.value(id)).collect::<Vec<_>>();
    let (inputs, outputs) = (values(graph.inputs()), values(graph.outputs()));
    let width = inputs.iter().chain(&outputs).map(|v| v.name.len()).max().unwrap_or(0);
    for (title, values) in [("inputs", &inputs), ("outputs", &outputs)] {
        writeln!(out, "{title}")?;
        for value in values {
            writeln!(out, "  {:width$}  {}", value.name, value.fact)?;
        }
    }
    writeln!(out, "nodes      {}", graph.nodes().len())?;
    writeln!(out, "constants  {constants} ({})", human_bytes(constant_bytes))?;
    writeln!(out, "ops")?;
    let op_counts = graph.op_counts();
    let width = op_counts.iter().map(|(op, _)| op.len()).max().unwrap_or(0);
    for (op, count) in op_counts {
        writeln!(out, "  {op:width$}  {count}")?;
    }
    writeln!(out, "metadata")?;
    for (key, value) in graph.metadata() {
        writeln!(out, "  {key}: {}", value.replace(['\r', '\n'], " "))?;
    }
    if graph.metadata().is_empty() {
        writeln!(out, "  (none)")?;
    }
    Ok(())
}

/// A byte count with a binary unit (`6.52 MiB`).
fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}
