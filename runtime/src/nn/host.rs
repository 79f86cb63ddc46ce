//! The wasi-nn host functions (and the world's `emit`), implemented on the call state.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use wasmnn_host_gpu::llm::LlmError;
use wasmtime::component::Resource;

use super::bindings::HandlerImports;
use super::bindings::wasi::nn::errors::{self, ErrorCode};
use super::bindings::wasi::nn::graph::{self, ExecutionTarget, GraphBuilder, GraphEncoding};
use super::bindings::wasi::nn::inference;
use super::bindings::wasi::nn::tensor::{self, TensorData, TensorDimensions, TensorType};
use super::graphs::{LLM_INPUT, LoadedGraph, RunFailure};
use super::tensor::{GuestTensor, TENSOR_OVERHEAD};
use super::{ExecutionContext, GraphHandle, LlmContext, NnError};
use crate::invoke::InvokeError;
use crate::state::CallState;
use crate::trace::ComputeScope;

/// A host function's result: a guest-visible error, or a trap.
type NnResult<T> = wasmtime::Result<Result<T, Resource<NnError>>>;

/// A named tensor handle as the bindings pass it.
type NamedTensor = (String, Resource<GuestTensor>);

impl CallState {
    /// Returns a wasi-nn error to the guest (charged like a tensor, so that a guest that
    /// collects errors still meets the budget).
    fn nn_error<T>(&mut self, code: ErrorCode, message: String) -> NnResult<T> {
        tracing::debug!(?code, %message, "wasi-nn error returned to the guest");
        self.charge(message.len() + TENSOR_OVERHEAD)?;
        let error = self.table.push(NnError { code, message })?;
        Ok(Err(error))
    }

    /// Charges `bytes` against the tensor budget, trapping when it is exhausted.
    fn charge(&mut self, bytes: usize) -> wasmtime::Result<()> {
        let live = self.nn.live_bytes.saturating_add(bytes);
        if live > self.nn.budget {
            let fault = InvokeError::TensorBudget { limit: self.nn.budget, requested: live };
            return Err(self.trap(fault));
        }
        self.nn.live_bytes = live;
        Ok(())
    }

    /// Gives `bytes` back to the tensor budget.
    fn refund(&mut self, bytes: usize) {
        self.nn.live_bytes = self.nn.live_bytes.saturating_sub(bytes);
    }

    /// Converts and charges a run's outputs and hands them to the guest.
    fn return_outputs(&mut self, outputs: Vec<(String, wasmnn_host_gpu::Tensor)>) -> NnResult<Vec<NamedTensor>> {
        let mut named = Vec::with_capacity(outputs.len());
        for (name, tensor) in outputs {
            let guest = match GuestTensor::from_tensor(&name, &tensor) {
                Ok(guest) => guest,
                Err(message) => return self.nn_error(ErrorCode::UnsupportedOperation, message),
            };
            self.charge(guest.charge())?;
            named.push((name, self.table.push(guest)?));
        }
        Ok(Ok(named))
    }
}

impl CallState {
    /// One step of an LLM context: the token ids of the single input tensor are appended
    /// to the session, whose KV cache growth is charged to the tensor budget; the output is
    /// `logits`, FP32 `[1, vocab]`.
    fn llm_step(
        &mut self,
        context: &Resource<ExecutionContext>,
        graph: &LoadedGraph,
        guests: Vec<(String, GuestTensor)>,
    ) -> NnResult<Vec<NamedTensor>> {
        let tokens = match token_ids(guests) {
            Ok(tokens) => tokens,
            Err(message) => {
                return self.nn_error(ErrorCode::InvalidArgument, format!("{message} (an LLM takes {LLM_INPUT})"));
            }
        };
        let growth = tokens.len().saturating_mul(graph.kv_bytes_per_token());
        self.charge(growth)?;
        let stop = self.stop.clone();
        let started = Instant::now();
        let context = self.table.get_mut(context)?;
        let scope = ComputeScope { context: context.index, model: &context.model };
        let llm = context.session.as_mut().ok_or_else(|| wasmtime::format_err!("not an LLM context"))?;
        let session = &mut llm.session;
        let result = match self.nn.tracer.as_mut() {
            Some(tracer) => tracer.compute(scope, |tap| session.forward_traced(&tokens, &|| stop.fired(), tap)),
            None => session.forward(&tokens, &|| stop.fired()),
        };
        let executor = llm.executor;
        if result.is_ok() {
            llm.charged += growth;
        }
        self.nn.compute_time += started.elapsed();
        let logits = match result {
            Ok(logits) => logits,
            Err(e) => {
                self.refund(growth);
                let code = match e {
                    LlmError::Cancelled => return Err(self.trap(stop.fault())),
                    LlmError::NoTokens | LlmError::BadToken { .. } => ErrorCode::InvalidArgument,
                    LlmError::ContextFull { .. } => ErrorCode::TooLarge,
                    _ => ErrorCode::RuntimeError,
                };
                return self.nn_error(code, e.to_string());
            }
        };
        self.nn.ops += graph.op_count();
        self.nn.used.push(executor);
        let vocab = logits.len();
        match wasmnn_host_gpu::Tensor::from_f32(vec![1, vocab], logits) {
            Ok(tensor) => self.return_outputs(vec![("logits".to_owned(), tensor)]),
            Err(e) => self.nn_error(ErrorCode::RuntimeError, e.to_string()),
        }
    }
}

/// The token ids of an LLM step's single input: I32 or I64, dims `[n]` or `[1, n]`.
fn token_ids(guests: Vec<(String, GuestTensor)>) -> Result<Vec<i64>, String> {
    let [(name, guest)]: [(String, GuestTensor); 1] =
        guests.try_into().map_err(|g: Vec<_>| format!("{} input tensors were given", g.len()))?;
    let tensor = guest.to_tensor().map_err(|message| format!("input {name:?}: {message}"))?;
    let shape = tensor.shape();
    if !matches!(shape, [_] | [1, _]) {
        return Err(format!("input {name:?} has dims {shape:?}"));
    }
    match tensor.data() {
        wasmnn_host_gpu::TensorData::I64(ids) => Ok(ids.clone()),
        wasmnn_host_gpu::TensorData::I32(ids) => Ok(ids.iter().map(|&id| i64::from(id)).collect()),
        _ => Err(format!("input {name:?} has element type {}", tensor.dtype())),
    }
}

impl HandlerImports for CallState {
    fn emit(&mut self, chunk: Vec<u8>) -> wasmtime::Result<()> {
        self.output.accept(chunk).map_err(|fault| self.trap(fault))
    }
}

impl tensor::Host for CallState {}

impl tensor::HostTensor for CallState {
    fn new(
        &mut self,
        dimensions: TensorDimensions,
        ty: TensorType,
        data: TensorData,
    ) -> wasmtime::Result<Resource<GuestTensor>> {
        let tensor = GuestTensor { dims: dimensions, ty, data };
        self.charge(tensor.charge())?;
        Ok(self.table.push(tensor)?)
    }

    fn dimensions(&mut self, tensor: Resource<GuestTensor>) -> wasmtime::Result<TensorDimensions> {
        Ok(self.table.get(&tensor)?.dims.clone())
    }

    fn ty(&mut self, tensor: Resource<GuestTensor>) -> wasmtime::Result<TensorType> {
        Ok(self.table.get(&tensor)?.ty)
    }

    fn data(&mut self, tensor: Resource<GuestTensor>) -> wasmtime::Result<TensorData> {
        Ok(self.table.get(&tensor)?.data.clone())
    }

    fn drop(&mut self, tensor: Resource<GuestTensor>) -> wasmtime::Result<()> {
        let tensor = self.table.delete(tensor)?;
        self.refund(tensor.charge());
        Ok(())
    }
}

impl graph::Host for CallState {
    fn load(&mut self, _: Vec<GraphBuilder>, _: GraphEncoding, _: ExecutionTarget) -> NnResult<Resource<GraphHandle>> {
        let message = "wasmnn loads models only by name (load-by-name with a name from wasmnn.toml)";
        self.nn_error(ErrorCode::UnsupportedOperation, message.to_owned())
    }

    fn load_by_name(&mut self, name: String) -> NnResult<Resource<GraphHandle>> {
        let Some(model) = self.nn.models.get(&name).cloned() else {
            let mut declared: Vec<&str> = self.nn.models.keys().map(String::as_str).collect();
            declared.sort_unstable();
            let message = format!("no model named {name:?} is declared by this function (declared: {declared:?})");
            return self.nn_error(ErrorCode::NotFound, message);
        };
        match self.nn.graphs.get(&model) {
            Ok(graph) => Ok(Ok(self.table.push(GraphHandle { graph, model: model.sha256 })?)),
            Err(message) => self.nn_error(ErrorCode::RuntimeError, format!("cannot load model {name:?}: {message}")),
        }
    }
}

impl graph::HostGraph for CallState {
    fn init_execution_context(&mut self, graph: Resource<GraphHandle>) -> NnResult<Resource<ExecutionContext>> {
        let handle = self.table.get(&graph)?;
        let (graph, model) = (Arc::clone(&handle.graph), handle.model);
        // Traced calls too run on the backend's executor: every executor traces a step the
        // same way, bit for bit.
        let session = match graph.new_session() {
            None => None,
            Some(Ok((session, executor))) => Some(LlmContext { session, executor, charged: 0 }),
            Some(Err(message)) => return self.nn_error(ErrorCode::RuntimeError, message),
        };
        let index = self.nn.contexts;
        self.nn.contexts += 1;
        Ok(Ok(self.table.push(ExecutionContext { graph, model, index, session })?))
    }

    fn drop(&mut self, graph: Resource<GraphHandle>) -> wasmtime::Result<()> {
        self.table.delete(graph)?;
        Ok(())
    }
}

impl inference::Host for CallState {}

impl inference::HostGraphExecutionContext for CallState {
    fn compute(&mut self, context: Resource<ExecutionContext>, inputs: Vec<NamedTensor>) -> NnResult<Vec<NamedTensor>> {
        let graph = Arc::clone(&self.table.get(&context)?.graph);
        // The handles are owned: take every one out of the table before judging any.
        let mut guests = Vec::with_capacity(inputs.len());
        for (name, handle) in inputs {
            let guest = self.table.delete(handle)?;
            self.refund(guest.charge());
            guests.push((name, guest));
        }
        if guests.is_empty() {
            let message = format!("compute needs the graph's inputs: {}", graph.describe_inputs());
            return self.nn_error(ErrorCode::InvalidArgument, message);
        }
        if self.table.get(&context)?.session.is_some() {
            return self.llm_step(&context, &graph, guests);
        }
        let mut seen = HashSet::new();
        let mut tensors = Vec::with_capacity(guests.len());
        for (name, guest) in guests {
            if !seen.insert(name.clone()) {
                return self.nn_error(ErrorCode::InvalidArgument, format!("input {name:?} is given twice"));
            }
            match guest.to_tensor() {
                Ok(tensor) => tensors.push((name, tensor)),
                Err(message) => return self.nn_error(ErrorCode::InvalidArgument, format!("input {name:?}: {message}")),
            }
        }
        let stop = self.stop.clone();
        let started = Instant::now();
        let context = self.table.get(&context)?;
        let result = match self.nn.tracer.as_mut() {
            None => graph.run(tensors, &|| stop.fired()),
            Some(tracer) => {
                let scope = ComputeScope { context: context.index, model: &context.model };
                tracer.compute(scope, |tap| graph.run_traced(tensors, &|| stop.fired(), tap))
            }
        };
        self.nn.compute_time += started.elapsed();
        match result {
            Ok((outputs, used)) => {
                self.nn.ops += graph.op_count();
                self.nn.used.push(used);
                self.return_outputs(outputs)
            }
            Err(RunFailure::Inputs(message)) => {
                let message = format!("{message} (the graph takes: {})", graph.describe_inputs());
                self.nn_error(ErrorCode::InvalidArgument, message)
            }
            Err(RunFailure::Executor(message)) => self.nn_error(ErrorCode::RuntimeError, message),
            Err(RunFailure::Cancelled) => Err(self.trap(stop.fault())),
        }
    }

    fn drop(&mut self, context: Resource<ExecutionContext>) -> wasmtime::Result<()> {
        let context = self.table.delete(context)?;
        if let Some(llm) = context.session {
            self.refund(llm.charged);
        }
        Ok(())
    }
}

impl errors::Host for CallState {}

impl errors::HostError for CallState {
    fn code(&mut self, error: Resource<NnError>) -> wasmtime::Result<ErrorCode> {
        Ok(self.table.get(&error)?.code)
    }

    fn data(&mut self, error: Resource<NnError>) -> wasmtime::Result<String> {
        Ok(self.table.get(&error)?.message.clone())
    }

    fn drop(&mut self, error: Resource<NnError>) -> wasmtime::Result<()> {
        let error = self.table.delete(error)?;
        self.refund(error.message.len() + TENSOR_OVERHEAD);
        Ok(())
    }
}
