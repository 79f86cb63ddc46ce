//! Compiled graphs, cached by model sha256 across calls, and the executor that runs them.
//!
//! A model is read, checked against its declared sha256, imported and (on the GPU)
//! compiled once per runtime; every call that loads it by name shares the result.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use wasmnn_host_gpu::gpu::{GpuError, GpuModel};
use wasmnn_host_gpu::llm::gpu::{GpuLlama, GpuSession};
use wasmnn_host_gpu::llm::{CpuSession, Llama, LlmError, TracedSession};
use wasmnn_host_gpu::trace::Tap;
use wasmnn_host_gpu::{CpuExecutor, ExecError, Graph, Tensor, onnx};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::handler::ModelEncoding;

use crate::backend::{Backend, ResolvedBackend};
use crate::function::ModelFile;

/// Tokens an LLM execution context holds at most (prompt and generated tokens together).
pub const LLM_CONTEXT: usize = 2048;

/// A model ready to run on this runtime's backend.
#[expect(clippy::large_enum_variant, reason = "one per model, held behind an Arc")]
pub enum LoadedGraph {
    /// A stateless graph (ONNX).
    Graph {
        /// The imported graph (what the CPU runs).
        graph: Graph,
        /// The GPU compilation, when the backend is the GPU and the graph runs there.
        gpu: Option<GpuModel>,
    },
    /// A llama model (GGUF): each execution context is a session with its KV cache.
    Llm {
        /// The checked weights (what the CPU runs).
        model: Arc<Llama>,
        /// The weights on the GPU, when the backend is the GPU.
        gpu: Option<Arc<GpuLlama>>,
    },
}

/// A new LLM session and the executor it runs on.
pub type StartedSession = (Box<dyn TracedSession>, ExecutorUsed);

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
    /// The op count one run (or LLM step) adds to the call's total.
    pub fn op_count(&self) -> u64 {
        match self {
            LoadedGraph::Graph { graph, .. } => graph.nodes().len() as u64,
            LoadedGraph::Llm { model, .. } => model.ops_per_step(),
        }
    }

    /// A fresh LLM session (`None` for a stateless graph) and the executor it runs on: the
    /// GPU when the weights are there, else the CPU reference. Traced calls use it too
    /// (both trace a step to the same leaves).
    ///
    /// # Errors
    /// When the GPU cannot allocate the session.
    pub fn new_session(&self) -> Option<Result<StartedSession, String>> {
        let LoadedGraph::Llm { model, gpu } = self else { return None };
        Some(match gpu {
            Some(gpu) => GpuSession::new(Arc::clone(gpu), LLM_CONTEXT)
                .map(|s| (Box::new(s) as Box<dyn TracedSession>, ExecutorUsed::Gpu))
                .map_err(|e| format!("cannot start a GPU session: {e}")),
            None => Ok((Box::new(CpuSession::new(Arc::clone(model), LLM_CONTEXT)), ExecutorUsed::Cpu)),
        })
    }

    /// Bytes of KV cache one token of an LLM session takes (0 for a graph).
    pub fn kv_bytes_per_token(&self) -> usize {
        match self {
            LoadedGraph::Graph { .. } => 0,
            LoadedGraph::Llm { model, .. } => model.kv_bytes_per_token(),
        }
    }

    /// Runs a stateless graph, asking `stop` between ops.
    pub fn run(
        &self,
        inputs: Vec<(String, Tensor)>,
        stop: &dyn Fn() -> bool,
    ) -> Result<(Vec<(String, Tensor)>, ExecutorUsed), RunFailure> {
        let (graph, gpu) = match self {
            LoadedGraph::Graph { graph, gpu } => (graph, gpu),
            LoadedGraph::Llm { .. } => {
                return Err(RunFailure::Inputs("an LLM runs in its execution context's session".into()));
            }
        };
        match gpu {
            Some(model) => model.run_until(inputs, stop).map(|(out, _)| (out, ExecutorUsed::Gpu)).map_err(gpu_failure),
            None => CpuExecutor.run_until(graph, inputs, stop).map(|out| (out, ExecutorUsed::Cpu)).map_err(cpu_failure),
        }
    }

    /// Runs a stateless graph showing `tap` every input and node output: on the GPU when
    /// the graph is compiled there (each node's output read back as it is made), else on
    /// the CPU reference, specialized to the inputs' shapes (the graph the GPU runs) and
    /// unfused. Both give the same leaves bit for bit.
    pub fn run_traced(
        &self,
        inputs: Vec<(String, Tensor)>,
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<(Vec<(String, Tensor)>, ExecutorUsed), RunFailure> {
        if let LoadedGraph::Graph { gpu: Some(model), .. } = self {
            return model.run_traced(inputs, stop, tap).map(|(out, _)| (out, ExecutorUsed::Gpu)).map_err(gpu_failure);
        }
        let graph = self.specialized(&inputs)?;
        CpuExecutor.run_traced(&graph, inputs, stop, tap).map(|out| (out, ExecutorUsed::Cpu)).map_err(cpu_failure)
    }

    /// The graph specialized to the shapes of `inputs`: what traced runs execute, and what
    /// a referee re-executes one node of.
    ///
    /// # Errors
    /// [`RunFailure::Inputs`] when the inputs do not fit the graph.
    pub fn specialized(&self, inputs: &[(String, Tensor)]) -> Result<Graph, RunFailure> {
        let LoadedGraph::Graph { graph, .. } = self else {
            return Err(RunFailure::Inputs("an LLM runs in its execution context's session".into()));
        };
        let shapes: Vec<(&str, Vec<usize>)> = inputs.iter().map(|(n, t)| (n.as_str(), t.shape().to_vec())).collect();
        graph.specialize(&shapes).map_err(|e| RunFailure::Inputs(e.to_string()))
    }

    /// The LLM's weights (`None` for a stateless graph).
    pub fn llama(&self) -> Option<&Arc<Llama>> {
        match self {
            LoadedGraph::Llm { model, .. } => Some(model),
            LoadedGraph::Graph { .. } => None,
        }
    }

    /// A one-line description of the graph's inputs, for error messages.
    pub fn describe_inputs(&self) -> String {
        let graph = match self {
            LoadedGraph::Graph { graph, .. } => graph,
            LoadedGraph::Llm { .. } => return LLM_INPUT.to_owned(),
        };
        let inputs: Vec<String> = graph
            .inputs()
            .iter()
            .map(|&id| {
                let value = graph.value(id);
                format!("{} {}", value.name, value.fact)
            })
            .collect();
        inputs.join(", ")
    }
}

/// How a GPU run's failure reaches the guest.
fn gpu_failure(e: GpuError) -> RunFailure {
    match e {
        GpuError::UnknownInput(_) | GpuError::MissingInput(_) | GpuError::Input { .. } => {
            RunFailure::Inputs(e.to_string())
        }
        GpuError::Cancelled(_) => RunFailure::Cancelled,
        other => RunFailure::Executor(other.to_string()),
    }
}

/// How a CPU run's failure reaches the guest.
fn cpu_failure(e: ExecError) -> RunFailure {
    match e {
        ExecError::MissingInput(_) | ExecError::UnknownInput(_) | ExecError::BadInput { .. } => {
            RunFailure::Inputs(e.to_string())
        }
        ExecError::Cancelled { .. } => RunFailure::Cancelled,
        other => RunFailure::Executor(other.to_string()),
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
        let bytes = read_checked(&model.path, &model.sha256)?;
        match model.encoding {
            ModelEncoding::Onnx => self.load_graph(&bytes, &model.path),
            ModelEncoding::Ggml => self.load_llm(bytes, &model.path),
        }
    }

    fn load_graph(&self, bytes: &[u8], path: &Path) -> Result<LoadedGraph, String> {
        let graph = onnx::load(bytes).map_err(|e| format!("cannot import model {}: {e}", path.display()))?;
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
        tracing::debug!(path = %path.display(), nodes = graph.nodes().len(), gpu = gpu.is_some(), "model compiled");
        Ok(LoadedGraph::Graph { graph, gpu })
    }

    fn load_llm(&self, bytes: Vec<u8>, path: &Path) -> Result<LoadedGraph, String> {
        let model = Llama::from_gguf_bytes(bytes, LLM_CONTEXT)
            .map(Arc::new)
            .map_err(|e| format!("cannot import model {}: {e}", path.display()))?;
        let gpu = match &self.backend {
            ResolvedBackend::Cpu => None,
            ResolvedBackend::Gpu(ctx) => match GpuLlama::new(Arc::clone(ctx), Arc::clone(&model)) {
                Ok(gpu) => Some(Arc::new(gpu)),
                Err(LlmError::Gpu(e)) if self.choice == Backend::Auto => {
                    tracing::info!(error = %e, "this model runs on the CPU executor");
                    None
                }
                Err(e) => return Err(format!("cannot load the model on the GPU: {e}")),
            },
        };
        tracing::debug!(path = %path.display(), layers = model.layers.len(), gpu = gpu.is_some(), "LLM loaded");
        Ok(LoadedGraph::Llm { model, gpu })
    }
}

/// What an LLM's `compute` takes and gives (for error messages and docs/HANDLERS.md).
pub const LLM_INPUT: &str = "one tensor of token ids (I32 or I64, dims [n] or [1, n]); \
     the output \"logits\" is FP32 [1, vocab], the logits of the last token";

/// Reads a model file and checks its digest.
fn read_checked(path: &Path, sha256: &Sha256Digest) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read model file {}: {e}", path.display()))?;
    let actual = Sha256Digest::of_bytes(&bytes);
    if actual != *sha256 {
        return Err(format!("model file {} has sha256 {actual}, expected {sha256}", path.display()));
    }
    Ok(bytes)
}
