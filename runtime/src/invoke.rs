//! The invocation pipeline: [`Runtime`] holds the deterministic engine and the caches;
//! [`Runtime::invoke`] runs one call in a fresh store and instance.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::backend::{Backend, ResolvedBackend};
use crate::compile::{CompileError, ComponentCache, PreparedComponent};
use crate::function::Function;
use crate::limits::Limits;
use crate::nn::bindings::Handler;
use crate::nn::{ExecutorUsed, GraphCache, NnState};
use crate::state::{CallState, EmitListener, MemoryLimiter, OutputSink, StopCheck};
use crate::trace::{Trace, TraceRequest, Tracer};
use crate::wasi;
use wasmnn_registry::Sha256Digest;

/// How often the epoch advances: the resolution of the wall-clock kill switch.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Errors setting up a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the engine configuration or the host bindings (a bug).
    #[error("cannot set up the wasm engine: {0}")]
    Engine(String),
}

/// Why a call produced no output. [`InvokeError::code`] is a stable identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The bytes are not a valid handler component.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// The guest used all its fuel.
    #[error("out of fuel: the call used all of its {limit} fuel")]
    OutOfFuel {
        /// The fuel limit.
        limit: u64,
    },
    /// The wall-clock kill switch fired.
    #[error("deadline exceeded: the call ran longer than its timeout")]
    Deadline,
    /// The caller cancelled the call.
    #[error("the call was cancelled")]
    Cancelled,
    /// The guest tried to grow its linear memory past the limit.
    #[error("memory limit: the guest asked for {requested} bytes of linear memory, the limit is {limit}")]
    MemoryLimit {
        /// The limit in bytes.
        limit: usize,
        /// The size asked for.
        requested: usize,
    },
    /// The guest's live wasi-nn tensors would exceed the byte budget.
    #[error("tensor budget: the guest's wasi-nn tensors would hold {requested} bytes, the budget is {limit}")]
    TensorBudget {
        /// The budget in bytes.
        limit: usize,
        /// The total that was refused.
        requested: usize,
    },
    /// Emitted plus returned output would exceed the limit.
    #[error("output limit: the call's output would be {requested} bytes, the limit is {limit}")]
    OutputLimit {
        /// The limit in bytes.
        limit: usize,
        /// The total that was refused.
        requested: usize,
    },
    /// The guest wrote more than the captured stdout/stderr may hold.
    #[error("stdio limit: the guest wrote more than {limit} bytes to stdout or stderr")]
    StdioLimit {
        /// The per-stream limit in bytes.
        limit: usize,
    },
    /// The guest panicked (its panic message, from stderr).
    #[error("the handler panicked: {0}")]
    Panic(String),
    /// The guest trapped for another reason.
    #[error("the handler trapped: {0}")]
    Trap(String),
    /// The handler returned an error.
    #[error("the handler returned an error: {0}")]
    Handler(String),
}

impl InvokeError {
    /// A stable snake_case identifier of the kind of failure (for HTTP error codes).
    pub fn code(&self) -> &'static str {
        match self {
            InvokeError::InvalidComponent(_) => "invalid_component",
            InvokeError::OutOfFuel { .. } => "out_of_fuel",
            InvokeError::Deadline => "deadline_exceeded",
            InvokeError::Cancelled => "cancelled",
            InvokeError::MemoryLimit { .. } => "memory_limit",
            InvokeError::TensorBudget { .. } => "tensor_budget",
            InvokeError::OutputLimit { .. } => "output_limit",
            InvokeError::StdioLimit { .. } => "stdio_limit",
            InvokeError::Panic(_) => "handler_panic",
            InvokeError::Trap(_) => "handler_trap",
            InvokeError::Handler(_) => "handler_error",
        }
    }
}

/// Where the time of a call went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Creating the store and instantiating the component.
    pub instantiate: Duration,
    /// Running `handle`, including model computes.
    pub run: Duration,
    /// Inside wasi-nn `compute` (part of `run`).
    pub compute: Duration,
}

/// The result of a successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The bytes `handle` returned.
    pub output: Vec<u8>,
    /// The chunks passed to `emit`, in order.
    pub emitted: Vec<Vec<u8>>,
    /// Fuel the guest used (deterministic: the same for the same input and seed).
    pub fuel: u64,
    /// Graph ops the models executed.
    pub ops: u64,
    /// The executor that ran the models: `cpu`, `gpu`, or the runtime's backend when no
    /// model ran.
    pub backend: &'static str,
    /// Where the time went.
    pub timings: Timings,
}

impl Outcome {
    /// The call's whole output: every emitted chunk followed by the returned bytes (what
    /// the output digest covers).
    pub fn full_output(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.emitted.iter().map(Vec::len).sum::<usize>() + self.output.len());
        for chunk in &self.emitted {
            all.extend_from_slice(chunk);
        }
        all.extend_from_slice(&self.output);
        all
    }
}

/// The deterministic wasm runtime: engine, host bindings, caches and backend.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    components: ComponentCache,
    graphs: Arc<GraphCache>,
    /// The op fault of a test build ([`Runtime::set_op_fault`]).
    #[cfg(feature = "fault-injection")]
    fault: std::sync::Mutex<Option<crate::trace::fault::OpFault>>,
    /// Dropping it stops the epoch ticker.
    _ticker: mpsc::Sender<()>,
}

impl Runtime {
    /// A runtime running models on `backend` (`choice` is what the user asked for: under
    /// `auto` a graph the GPU cannot run falls back to the CPU). Compiled components are
    /// cached under `cache_dir` when given.
    ///
    /// # Errors
    /// wasmtime rejects the configuration (a bug).
    pub fn new(backend: ResolvedBackend, choice: Backend, cache_dir: Option<&Path>) -> Result<Self, RuntimeError> {
        Runtime::with_config(deterministic_config(), backend, choice, cache_dir)
    }

    /// Like [`Runtime::new`], for a server that runs at most `concurrent` calls at once:
    /// instances come from a pool of that many pre-reserved slots (wasmtime's pooling
    /// allocator), so a call maps and unmaps no memory, which otherwise costs a page-table
    /// teardown and a TLB shootdown on every core per call. A call beyond `concurrent`
    /// at once fails to instantiate, so the caller must bound its concurrency.
    ///
    /// # Errors
    /// wasmtime rejects the configuration (a bug), or the pool's address space cannot be
    /// reserved.
    pub fn pooled(
        backend: ResolvedBackend,
        choice: Backend,
        cache_dir: Option<&Path>,
        concurrent: u32,
    ) -> Result<Self, RuntimeError> {
        let mut config = deterministic_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(instance_pool(concurrent)));
        Runtime::with_config(config, backend, choice, cache_dir)
    }

    fn with_config(
        config: Config,
        backend: ResolvedBackend,
        choice: Backend,
        cache_dir: Option<&Path>,
    ) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Handler::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |state| state)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let components = ComponentCache::new(&engine, cache_dir);
        let ticker = start_epoch_ticker(&engine);
        Ok(Runtime {
            engine,
            linker,
            components,
            graphs: Arc::new(GraphCache::new(backend, choice)),
            #[cfg(feature = "fault-injection")]
            fault: std::sync::Mutex::new(crate::trace::fault::op_fault_from_env()),
            _ticker: ticker,
        })
    }

    /// `cpu` or `gpu`: where models run.
    pub fn backend(&self) -> &ResolvedBackend {
        self.graphs.backend()
    }

    /// Compiles (or finds in the caches) a component.
    ///
    /// # Errors
    /// [`InvokeError::InvalidComponent`] with the reason: not a component, invalid wasm,
    /// or imports/exports that do not fit the handler world.
    pub fn prepare(&self, bytes: &[u8]) -> Result<Arc<PreparedComponent>, InvokeError> {
        self.components
            .prepare(&self.engine, &self.linker, bytes)
            .map_err(|CompileError(message)| InvokeError::InvalidComponent(message))
    }

    /// The compiled model of a function's declared model file (for the referee).
    pub(crate) fn loaded_graph(
        &self,
        model: &crate::function::ModelFile,
    ) -> Result<Arc<crate::nn::LoadedGraph>, String> {
        self.graphs.get(model)
    }

    /// Compiled components and graphs held in memory (for metrics and tests).
    pub fn cached(&self) -> (usize, usize) {
        (self.components.len(), self.graphs.len())
    }

    /// Runs one call of `function` on `input` with `seed`, under `limits`, in a fresh store
    /// and instance. Setting `cancel` abandons the call (at the next epoch tick or between
    /// model ops).
    ///
    /// # Errors
    /// [`InvokeError`] saying precisely what stopped the call.
    pub fn invoke(
        &self,
        function: &Function,
        input: &[u8],
        seed: u64,
        limits: &Limits,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<Outcome, InvokeError> {
        self.invoke_streaming(function, input, seed, limits, cancel, None)
    }

    /// [`Runtime::invoke`], telling `listener` of each chunk the guest emits as soon as it
    /// is accepted (the chunks are also in [`Outcome::emitted`]). A call that fails after
    /// emitting has told the listener of chunks that belong to no outcome.
    ///
    /// # Errors
    /// [`InvokeError`] saying precisely what stopped the call.
    pub fn invoke_streaming(
        &self,
        function: &Function,
        input: &[u8],
        seed: u64,
        limits: &Limits,
        cancel: Option<Arc<AtomicBool>>,
        listener: Option<EmitListener>,
    ) -> Result<Outcome, InvokeError> {
        // A test build with an op fault traces every call, so that the fault shows.
        #[cfg(feature = "fault-injection")]
        let tracer = self.op_fault().map(|_| self.tracer(TraceRequest::default()));
        #[cfg(not(feature = "fault-injection"))]
        let tracer = None;
        self.run_call(function, input, seed, limits, cancel, listener, tracer).map(|(outcome, _)| outcome)
    }

    /// [`Runtime::invoke`], recording the call's op trace (`docs/TRACES.md`): graphs and
    /// LLM steps run on their executor (GPU or CPU), showing every op's output to the
    /// tracer. The outcome is the same as an untraced call's.
    ///
    /// # Errors
    /// [`InvokeError`] saying precisely what stopped the call.
    pub fn invoke_traced(
        &self,
        function: &Function,
        input: &[u8],
        seed: u64,
        limits: &Limits,
        cancel: Option<Arc<AtomicBool>>,
        request: TraceRequest,
    ) -> Result<(Outcome, Trace), InvokeError> {
        let tracer = self.tracer(request);
        let (outcome, tracer) = self.run_call(function, input, seed, limits, cancel, None, Some(tracer))?;
        let tracer = tracer.ok_or_else(|| InvokeError::Trap("the call's tracer was lost".into()))?;
        let output = Sha256Digest::of_bytes(&outcome.full_output());
        let trace = tracer.finish(&output, outcome.fuel, outcome.ops);
        Ok((outcome, trace))
    }

    /// A tracer for one call (perturbing the op fault's leaf in a test build that has one).
    fn tracer(&self, request: TraceRequest) -> Tracer {
        #[cfg(feature = "fault-injection")]
        if let Some(fault) = self.op_fault() {
            return Tracer::with_fault(request, fault);
        }
        Tracer::new(request)
    }

    /// Makes every later call of this runtime perturb the output of trace leaf
    /// `fault.leaf` (test builds only), or stops doing so.
    #[cfg(feature = "fault-injection")]
    pub fn set_op_fault(&self, fault: Option<crate::trace::fault::OpFault>) {
        *self.fault.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = fault;
    }

    #[cfg(feature = "fault-injection")]
    fn op_fault(&self) -> Option<crate::trace::fault::OpFault> {
        *self.fault.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One call, traced when `tracer` is given; the tracer comes back with the outcome.
    #[expect(clippy::too_many_arguments, reason = "the one place every call option meets")]
    fn run_call(
        &self,
        function: &Function,
        input: &[u8],
        seed: u64,
        limits: &Limits,
        cancel: Option<Arc<AtomicBool>>,
        listener: Option<EmitListener>,
        tracer: Option<Tracer>,
    ) -> Result<(Outcome, Option<Tracer>), InvokeError> {
        let started = Instant::now();
        let (wasi_ctx, stdio) = wasi::sandbox_ctx(seed, limits.stdio_bytes);
        let stop = StopCheck { deadline: started + limits.timeout, cancel };
        let mut state = CallState {
            wasi: wasi_ctx,
            table: ResourceTable::new(),
            limiter: MemoryLimiter { memory_bytes: limits.memory_bytes, refused_memory: None },
            nn: NnState::new(function.model_map(), Arc::clone(&self.graphs), limits.tensor_bytes),
            output: OutputSink::new(limits.output_bytes, listener),
            stop: stop.clone(),
            fault: None,
        };
        state.nn.tracer = tracer;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_fuel(limits.fuel).map_err(|e| InvokeError::Trap(format!("{e:#}")))?;
        // Every tick checks the deadline and the cancel flag.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if stop.fired() {
                Err(wasmtime::Error::new(Trap::Interrupt))
            } else {
                Ok(wasmtime::UpdateDeadline::Continue(1))
            }
        });

        let result =
            function.component().pre().instantiate(&mut store).map(|handler| (handler, started.elapsed())).and_then(
                |(handler, instantiate)| {
                    let run_started = Instant::now();
                    handler.call_handle(&mut store, input).map(|result| (result, instantiate, run_started.elapsed()))
                },
            );
        let fuel = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        stdio.log();
        let state = store.data_mut();
        let (output, instantiate, run) = match result {
            Ok((Ok(output), instantiate, run)) => (output, instantiate, run),
            Ok((Err(message), ..)) => return Err(InvokeError::Handler(message)),
            Err(error) => return Err(classify(error, state, limits, &stdio.stderr_text())),
        };
        let total = state.output.bytes.saturating_add(output.len());
        if total > limits.output_bytes {
            return Err(InvokeError::OutputLimit { limit: limits.output_bytes, requested: total });
        }
        let backend = match state.nn.used.as_slice() {
            [] => self.backend().name(),
            used if used.iter().all(|u| *u == ExecutorUsed::Gpu) => "gpu",
            _ => "cpu",
        };
        let outcome = Outcome {
            output,
            emitted: std::mem::take(&mut state.output.chunks),
            fuel,
            ops: state.nn.ops,
            backend,
            timings: Timings { instantiate, run, compute: state.nn.compute_time },
        };
        Ok((outcome, state.nn.tracer.take()))
    }
}

/// The engine configuration that makes execution deterministic and bounded.
fn deterministic_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Floats: one NaN bit pattern everywhere; relaxed SIMD pinned to its deterministic
    // lowering and disabled. Threads (shared memory) are compiled out: the `threads`
    // feature of wasmtime is off.
    config.cranelift_nan_canonicalization(true);
    config.relaxed_simd_deterministic(true);
    config.wasm_relaxed_simd(false);
    // Cost accounting and the kill switch.
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(1 << 20);
    config
}

/// Instance slots for `concurrent` calls at once. A handler component holds one main
/// module (one memory, one table) and a few small glue modules, so each call gets room
/// for 8 core instances, 2 memories and 8 tables. Freed slots are reset with `madvise`
/// (wasmtime's default): keeping 1 MiB resident and resetting it with `memset` instead
/// cost 10 % of the CPU for no gain (docs/BENCHMARKS.md).
fn instance_pool(concurrent: u32) -> PoolingAllocationConfig {
    let concurrent = concurrent.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(concurrent)
        .total_core_instances(concurrent.saturating_mul(8))
        .total_memories(concurrent.saturating_mul(2))
        .total_tables(concurrent.saturating_mul(8))
        .total_stacks(0);
    pool
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the returned sender is dropped.
fn start_epoch_ticker(engine: &Engine) -> mpsc::Sender<()> {
    let (sender, receiver) = mpsc::channel::<()>();
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("wasmnn-epoch".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = receiver.recv_timeout(EPOCH_TICK) {
                engine.increment_epoch();
            }
        })
        .map_err(|e| tracing::error!(error = %e, "cannot start the epoch ticker: deadlines will not fire"))
        .ok();
    sender
}

/// Names the reason a call trapped: a fault the host recorded, a limit, or the trap.
fn classify(error: wasmtime::Error, state: &mut CallState, limits: &Limits, stderr: &str) -> InvokeError {
    if let Some(fault) = state.fault.take() {
        return fault;
    }
    if let Some(requested) = state.limiter.refused_memory {
        return InvokeError::MemoryLimit { limit: limits.memory_bytes, requested };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => InvokeError::OutOfFuel { limit: limits.fuel },
        Some(Trap::Interrupt) if state.stop.cancelled() => InvokeError::Cancelled,
        Some(Trap::Interrupt) => InvokeError::Deadline,
        Some(Trap::UnreachableCodeReached) if stderr.contains("panicked at") => {
            InvokeError::Panic(panic_message(stderr))
        }
        _ => {
            let message = format!("{error:#}");
            if message.contains("write beyond capacity") {
                InvokeError::StdioLimit { limit: limits.stdio_bytes }
            } else {
                InvokeError::Trap(message)
            }
        }
    }
}

/// The panic message Rust's default hook printed: the lines after `panicked at …:`.
fn panic_message(stderr: &str) -> String {
    let after = stderr.rsplit_once("panicked at").map_or(stderr, |(_, rest)| rest);
    let mut lines = after.lines();
    let location = lines.next().unwrap_or_default().trim().trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    format!("{} (at {location})", message.join("\n").trim())
}
