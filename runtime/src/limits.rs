//! The resource limits of one call.

use std::time::Duration;

use wasmnn_registry::handler::LimitDefaults;

/// What one call may use. Fuel is the cost unit (deterministic, reported per call); the
/// timeout is only a wall-clock kill switch; the byte limits bound what the host
/// allocates on the guest's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel: roughly one unit per wasm instruction executed by the guest.
    pub fuel: u64,
    /// Linear memory the instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock kill switch: checked by wasmtime (epochs) while the guest runs and by
    /// the executors between ops while a model runs.
    pub timeout: Duration,
    /// Live bytes of wasi-nn tensors the host holds for the guest (created by it or
    /// returned to it by `compute`).
    pub tensor_bytes: usize,
    /// Bytes of output: every `emit`ted chunk plus the returned bytes.
    pub output_bytes: usize,
    /// Bytes captured from each of stdout and stderr; writing more ends the call.
    pub stdio_bytes: usize,
}

/// Most linear memory a function may ask for, in MiB (the wasm32 address space).
pub const MAX_MEMORY_MIB: u32 = 4096;

impl Default for Limits {
    /// Generous defaults for a single function on a developer machine.
    fn default() -> Self {
        Limits {
            fuel: 20_000_000_000,
            memory_bytes: 512 << 20,
            timeout: Duration::from_secs(60),
            tensor_bytes: 512 << 20,
            output_bytes: 16 << 20,
            stdio_bytes: 64 << 10,
        }
    }
}

impl Limits {
    /// The defaults with a function's `[limits]` from its `wasmnn.toml` applied.
    pub fn for_function(declared: &LimitDefaults) -> Self {
        let mut limits = Limits::default();
        limits.apply(declared);
        limits
    }

    /// Replaces the limits that `overrides` sets.
    pub fn apply(&mut self, overrides: &LimitDefaults) {
        if let Some(fuel) = overrides.fuel {
            self.fuel = fuel;
        }
        if let Some(mib) = overrides.memory_mib {
            self.memory_bytes = mib_to_bytes(mib);
        }
        if let Some(ms) = overrides.timeout_ms {
            self.timeout = Duration::from_millis(ms);
        }
    }
}

/// MiB to bytes, capped at [`MAX_MEMORY_MIB`].
fn mib_to_bytes(mib: u32) -> usize {
    usize::try_from(mib.min(MAX_MEMORY_MIB)).unwrap_or(usize::MAX).saturating_mul(1 << 20)
}
