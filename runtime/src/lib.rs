//! wasmnn runtime: the wasmtime embedding (deterministic engine, wasi-nn host bridge,
//! invocation pipeline, receipts, HTTP server).
//!
//! Only the backend selection exists so far; the sandbox arrives with the handler issue.

use std::fmt;
use std::str::FromStr;

/// Which executor runs model graphs (`--backend` on every command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The GPU if an adapter passes the self-test, else the CPU.
    #[default]
    Auto,
    /// The CPU reference executor.
    Cpu,
    /// The wgpu executor.
    Gpu,
}

/// Errors selecting a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The name is not one of `auto`, `cpu`, `gpu`.
    #[error("unknown backend (expected auto, cpu or gpu): {0:?}")]
    Unknown(String),
    /// The GPU was required but the wgpu executor is not available.
    #[error("the gpu backend is not available yet: the wgpu executor lands with the next issue; use --backend cpu")]
    GpuUnavailable,
}

impl FromStr for Backend {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            other => Err(BackendError::Unknown(other.to_owned())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        })
    }
}

/// The executor a backend choice resolves to on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedBackend {
    /// The CPU reference executor.
    Cpu,
}

impl Backend {
    /// Resolves the choice: `auto` falls back to the CPU while no GPU executor exists.
    ///
    /// # Errors
    /// [`BackendError::GpuUnavailable`] for an explicit `gpu`.
    pub fn resolve(self) -> Result<ResolvedBackend, BackendError> {
        match self {
            Backend::Auto | Backend::Cpu => Ok(ResolvedBackend::Cpu),
            Backend::Gpu => Err(BackendError::GpuUnavailable),
        }
    }
}
