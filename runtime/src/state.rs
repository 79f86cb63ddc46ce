//! The per-call store data: WASI, the resource table, the limits that the host enforces
//! itself, the wasi-nn state and the output collected so far.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::invoke::InvokeError;
use crate::nn::NnState;

/// Everything a call's `Store` holds.
pub(crate) struct CallState {
    /// The sandboxed WASI context.
    pub wasi: WasiCtx,
    /// Resources handed to the guest (WASI streams, wasi-nn tensors, graphs, errors).
    pub table: ResourceTable,
    /// Linear memory and table limits.
    pub limiter: MemoryLimiter,
    /// wasi-nn state.
    pub nn: NnState,
    /// Emitted chunks and the output byte budget.
    pub output: OutputSink,
    /// When to stop a model run between ops.
    pub stop: StopCheck,
    /// Why the host trapped the guest, when it did (read after the call fails).
    pub fault: Option<InvokeError>,
}

impl CallState {
    /// Records why the host is ending the call and returns the trap to raise.
    pub fn trap(&mut self, fault: InvokeError) -> wasmtime::Error {
        let error = wasmtime::Error::msg(fault.to_string());
        self.fault = Some(fault);
        error
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Called with each chunk the guest emits, right after it is accepted (on the calling
/// thread, while the guest waits): how a caller streams a call's output.
pub type EmitListener = Box<dyn FnMut(&[u8]) + Send>;

/// The output of a call so far.
pub(crate) struct OutputSink {
    /// Chunks passed to `emit`, in order.
    pub chunks: Vec<Vec<u8>>,
    /// Bytes emitted so far.
    pub bytes: usize,
    /// The most bytes emitted plus returned.
    pub limit: usize,
    /// Told of each accepted chunk.
    pub listener: Option<EmitListener>,
}

impl OutputSink {
    /// An empty sink holding at most `limit` bytes, telling `listener` of each chunk.
    pub fn new(limit: usize, listener: Option<EmitListener>) -> Self {
        OutputSink { chunks: Vec::new(), bytes: 0, limit, listener }
    }

    /// Accepts an emitted chunk and tells the listener, or refuses it when the output
    /// would exceed the limit.
    pub fn accept(&mut self, chunk: Vec<u8>) -> Result<(), InvokeError> {
        let bytes = self.bytes.saturating_add(chunk.len());
        if bytes > self.limit {
            return Err(InvokeError::OutputLimit { limit: self.limit, requested: bytes });
        }
        self.bytes = bytes;
        self.chunks.push(chunk);
        if let (Some(listener), Some(chunk)) = (self.listener.as_mut(), self.chunks.last()) {
            listener(chunk);
        }
        Ok(())
    }
}

/// The deadline and the external cancel flag of a call.
#[derive(Clone)]
pub(crate) struct StopCheck {
    /// The wall-clock kill switch.
    pub deadline: Instant,
    /// Set by the caller to abandon the call.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl StopCheck {
    /// Whether the call was cancelled by its caller.
    pub fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Whether the call should stop now.
    pub fn fired(&self) -> bool {
        self.cancelled() || Instant::now() >= self.deadline
    }

    /// Why the call stopped once [`StopCheck::fired`]: cancelled by its caller, else past
    /// its deadline.
    pub fn fault(&self) -> InvokeError {
        if self.cancelled() { InvokeError::Cancelled } else { InvokeError::Deadline }
    }
}

/// Limits linear memories and tables, remembering a refused growth so that the call's
/// error can say what was asked for.
pub(crate) struct MemoryLimiter {
    /// Most bytes of linear memory.
    pub memory_bytes: usize,
    /// A refused memory growth: the size asked for.
    pub refused_memory: Option<usize>,
}

/// Most elements in a table (function references).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Most core instances, tables and memories in one component instance.
const MAX_INSTANCES: usize = 256;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.refused_memory = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "memory limit: the guest asked for {desired} bytes of linear memory, the limit is {}",
                self.memory_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_INSTANCES
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn the_listener_sees_each_accepted_chunk_and_no_refused_one() {
        let seen = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let record = Arc::clone(&seen);
        let mut sink =
            OutputSink::new(3, Some(Box::new(move |chunk: &[u8]| record.lock().unwrap().push(chunk.to_vec()))));
        assert_eq!(sink.accept(b"ab".to_vec()), Ok(()));
        assert_eq!(sink.accept(b"c".to_vec()), Ok(()));
        assert_eq!(sink.accept(b"d".to_vec()), Err(InvokeError::OutputLimit { limit: 3, requested: 4 }));
        assert_eq!(sink.chunks, [b"ab".to_vec(), b"c".to_vec()]);
        assert_eq!(sink.bytes, 3);
        assert_eq!(*seen.lock().unwrap(), [b"ab".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_sink_without_a_listener_only_collects() {
        let mut sink = OutputSink::new(8, None);
        assert_eq!(sink.accept(b"abc".to_vec()), Ok(()));
        assert_eq!(sink.chunks, [b"abc".to_vec()]);
    }
}
