//! Compiled graphs, cached by model sha256 across calls, and the executor that runs them.
//!
//! A model is read, checked against its declared sha256, imported and (on the GPU)
//! compiled once per runtime; every call that loads it by name shares the result.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use wasmnn_host_gpu::gpu::{GpuError, GpuModel};
use wasmnn_host_gpu::{CpuExecutor, ExecError, Graph, Tensor, onnx};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::handler::ModelEncoding;

use crate::backend::{Backend, ResolvedBackend};
use crate::function::ModelFile;

/// A model ready to run on this runtime's backend.
pub struct LoadedGraph {
    /// The imported graph (what the CPU runs).
    graph: Graph,
    /// The GPU compilation, when the backend is the GPU and the graph runs there.
    gpu: Option<GpuModel>,
}

/// Which executor ran a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorUsed {
    /// The CPU reference executor.
    Cpu,
    /// The wgpu executor.
    Gpu,
}

/// Why a run failed.
#[derive(Debug)]
pub enum RunFailure {
    /// The inputs do not fit the graph (a guest mistake): message for the guest.
    Inputs(String),
    /// The stop check fired (deadline or cancel).
    Cancelled,
    /// The executor failed on valid inputs.
    Executor(String),
}

impl LoadedGraph {
    /// Graph nodes: the op count one run adds to the call's total.
    pub fn op_count(&self) -> u64 {
        self.graph.nodes().len() as u64
    }

    /// Runs the graph, asking `stop` between ops.
    pub fn run(
        &self,
        inputs: Vec<(String, Tensor)>,
        stop: &dyn Fn() -> bool,
    ) -> Result<(Vec<(String, Tensor)>, ExecutorUsed), RunFailure> {
        match &self.gpu {
            Some(model) => {
                model.run_until(inputs, stop).map(|(out, _)| (out, ExecutorUsed::Gpu)).map_err(|e| match e {
                    GpuError::UnknownInput(_) | GpuError::MissingInput(_) | GpuError::Input { .. } => {
                        RunFailure::Inputs(e.to_string())
                    }
                    GpuError::Cancelled(_) => RunFailure::Cancelled,
                    other => RunFailure::Executor(other.to_string()),
                })
            }
            None => {
                CpuExecutor.run_until(&self.graph, inputs, stop).map(|out| (out, ExecutorUsed::Cpu)).map_err(
                    |e| match e {
                        ExecError::MissingInput(_) | ExecError::UnknownInput(_) | ExecError::BadInput { .. } => {
                            RunFailure::Inputs(e.to_string())
                        }
                        ExecError::Cancelled { .. } => RunFailure::Cancelled,
                        other => RunFailure::Executor(other.to_string()),
                    },
                )
            }
        }
    }

    /// A one-line description of the graph's inputs, for error messages.
    pub fn describe_inputs(&self) -> String {
        let inputs: Vec<String> = self
            .graph
            .inputs()
            .iter()
            .map(|&id| {
                let value = self.graph.value(id);
                format!("{} {}", value.name, value.fact)
            })
            .collect();
        inputs.join(", ")
    }
}

/// Compiled graphs by (model sha256, backend), shared by every call of a runtime.
pub struct GraphCache {
    backend: ResolvedBackend,
    choice: Backend,
    graphs: Mutex<HashMap<Sha256Digest, Arc<LoadedGraph>>>,
}

impl GraphCache {
    /// An empty cache compiling for `backend` (`choice` says whether a GPU compile failure
    /// may fall back to the CPU: only under `auto`).
    pub fn new(backend: ResolvedBackend, choice: Backend) -> Self {
        GraphCache { backend, choice, graphs: Mutex::new(HashMap::new()) }
    }

    /// The backend graphs are compiled for.
    pub fn backend(&self) -> &ResolvedBackend {
        &self.backend
    }

    /// The compiled graph of a declared model, loading it on first use.
    ///
    /// # Errors
    /// A message for the guest: unreadable file, digest mismatch, unsupported encoding or
    /// graph.
    pub fn get(&self, model: &ModelFile) -> Result<Arc<LoadedGraph>, String> {
        if let Some(graph) = self.graphs.lock().unwrap_or_else(PoisonError::into_inner).get(&model.sha256) {
            return Ok(Arc::clone(graph));
        }
        let loaded = Arc::new(self.load(model)?);
        let mut graphs = self.graphs.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(graphs.entry(model.sha256).or_insert(loaded)))
    }

    /// Number of compiled graphs held.
    pub fn len(&self) -> usize {
        self.graphs.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn load(&self, model: &ModelFile) -> Result<LoadedGraph, String> {
        let graph = match model.encoding {
            ModelEncoding::Onnx => read_onnx(&model.path, &model.sha256)?,
            ModelEncoding::Ggml => return Err("the ggml encoding is not supported yet".to_owned()),
        };
        let gpu = match &self.backend {
            ResolvedBackend::Cpu => None,
            ResolvedBackend::Gpu(ctx) => match GpuModel::new(Arc::clone(ctx), graph.clone()) {
                Ok(model) => Some(model),
                Err(GpuError::Unsupported { node, message }) if self.choice == Backend::Auto => {
                    tracing::info!(%node, %message, "this model runs on the CPU executor");
                    None
                }
                Err(e) => return Err(format!("cannot compile the model for the GPU: {e}")),
            },
        };
        tracing::debug!(sha256 = %model.sha256, nodes = graph.nodes().len(), gpu = gpu.is_some(), "model compiled");
        Ok(LoadedGraph { graph, gpu })
    }
}

/// Reads an ONNX file, checks its digest and imports it.
fn read_onnx(path: &Path, sha256: &Sha256Digest) -> Result<Graph, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read model file {}: {e}", path.display()))?;
    let actual = Sha256Digest::of_bytes(&bytes);
    if actual != *sha256 {
        return Err(format!("model file {} has sha256 {actual}, expected {sha256}", path.display()));
    }
    onnx::load(&bytes).map_err(|e| format!("cannot import model {}: {e}", path.display()))
}
