//! The wasi-nn host bridge (`wasi:nn@0.2.0-rc-2024-10-28`) backed by the wasmnn executors.
//!
//! We own the bindings (`bindgen!` over `wit/`) rather than using `wasmtime-wasi-nn`: its
//! errors reach the guest without their message, and its tensors sit outside our limits.
//!
//! - Guest mistakes (unknown model name, wrong shape or type, missing inputs) are wasi-nn
//!   `error` resources with a code and a precise message; the guest can handle them.
//! - Limits (tensor budget, deadline) and host bugs are traps: the call ends.
//! - `load-by-name` resolves only the models the function declares; `load` (raw bytes) is
//!   refused, since a function's models are content-addressed in its manifest.

mod graphs;
mod host;
mod tensor;

use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use graphs::LoadedGraph;
pub use graphs::{ExecutorUsed, GraphCache};

use wasmnn_registry::Sha256Digest;

use crate::function::ModelFile;
use crate::trace::Tracer;
use bindings::wasi::nn::errors::ErrorCode;

/// The generated bindings of the `wasmnn:handler/handler` world.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmnn:handler/handler",
        imports: { default: trappable },
        with: {
            "wasi:nn/tensor.tensor": super::tensor::GuestTensor,
            "wasi:nn/graph.graph": super::GraphHandle,
            "wasi:nn/inference.graph-execution-context": super::ExecutionContext,
            "wasi:nn/errors.error": super::NnError,
        },
    });
}

/// A graph the guest loaded: the shared compiled model and its digest.
pub struct GraphHandle {
    graph: Arc<graphs::LoadedGraph>,
    model: Sha256Digest,
}

/// An execution context: one use of a graph; for an LLM, a session with its KV cache.
pub struct ExecutionContext {
    graph: Arc<graphs::LoadedGraph>,
    /// The model's digest (named in trace leaves).
    model: Sha256Digest,
    /// The context's index among the call's `init-execution-context`s (named in trace leaves).
    index: u64,
    session: Option<LlmContext>,
}

/// The state of an LLM execution context.
struct LlmContext {
    /// The backend executor's session; in a traced call, its traced steps show the
    /// tracer every op (the same leaves on every executor).
    session: Box<dyn wasmnn_host_gpu::llm::TracedSession>,
    executor: ExecutorUsed,
    /// KV cache bytes charged to the tensor budget so far (refunded on drop).
    charged: usize,
}

/// A wasi-nn error as the guest sees it.
#[derive(Debug)]
pub struct NnError {
    code: ErrorCode,
    message: String,
}

/// The wasi-nn state of one call.
pub struct NnState {
    /// The function's declared models by load-by-name key.
    models: Arc<HashMap<String, ModelFile>>,
    /// The runtime's compiled graphs.
    graphs: Arc<GraphCache>,
    /// Live bytes the host holds for the guest's tensors and errors.
    live_bytes: usize,
    /// The most `live_bytes` may reach.
    budget: usize,
    /// Graph ops executed so far.
    pub ops: u64,
    /// Which executors ran the call's graphs.
    pub used: Vec<ExecutorUsed>,
    /// Time spent inside `compute`.
    pub compute_time: std::time::Duration,
    /// Execution contexts created so far.
    contexts: u64,
    /// Records the call's op trace, when one is asked for.
    pub(crate) tracer: Option<Tracer>,
}

impl NnState {
    /// The state of a call of a function with these `models`.
    pub fn new(models: Arc<HashMap<String, ModelFile>>, graphs: Arc<GraphCache>, budget: usize) -> Self {
        NnState {
            models,
            graphs,
            live_bytes: 0,
            budget,
            ops: 0,
            used: Vec::new(),
            compute_time: Default::default(),
            contexts: 0,
            tracer: None,
        }
    }
}
