//! wasmnn runtime: the wasmtime embedding that runs handlers deterministically.
//!
//! - [`Runtime`]: one per process (or node): the deterministic wasmtime engine, the WASI
//!   sandbox and the wasi-nn host bridge, the compiled-component and compiled-graph
//!   caches, and the resolved [`Backend`].
//! - [`Function`]: a handler component plus the models it declares in its `wasmnn.toml`.
//! - [`Runtime::invoke`]: one call, in a fresh store and instance, under [`Limits`];
//!   it returns an [`Outcome`] (output, emitted chunks, fuel, op count, backend, timings)
//!   or an [`InvokeError`] that says precisely what stopped the call;
//!   [`Runtime::invoke_streaming`] also hands each emitted chunk to an [`EmitListener`] as
//!   it happens.
//!
//! A call is a pure function of (component, models, input bytes, seed): no state survives
//! between calls, WASI has fixed clocks and a seeded RNG, float NaNs are canonical, and
//! the models run on executors that compute the same bits on every backend.

mod backend;
mod compile;
pub mod dispute;
mod function;
mod invoke;
mod limits;
mod nn;
pub mod node;
pub mod receipt;
pub mod signed;
mod state;
pub mod streamed;
pub mod trace;
mod wasi;

pub use backend::{Backend, BackendError, ResolvedBackend, open_tested_gpu};
pub use compile::PreparedComponent;
pub use function::{Function, FunctionError, FunctionLoadError, ModelFile, model_file_override, resolve_models};
pub use invoke::{InvokeError, Outcome, Runtime, RuntimeError, Timings};
pub use limits::Limits;
pub use state::EmitListener;
