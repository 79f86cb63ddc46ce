//! The wgpu executor: the same graphs as the CPU reference executor, on a GPU, with the
//! same bits.
//!
//! - [`GpuContext`] opens the adapter (Vulkan preferred) and caches compiled pipelines;
//! - [`GpuModel`] prepares a graph on it and runs it: one upload of the inputs, every
//!   kernel in one submission, one readback of the outputs, intermediates on the device;
//! - each op family lowers its nodes to [`kernel::Dispatch`]es of WGSL kernels that sit
//!   next to its CPU code (`ops/<family>/gpu.rs` and `*.wgsl`), all compiled with the
//!   numerics prelude `shaders/prelude.wgsl`, the WGSL twin of [`crate::numerics`].

mod context;
pub(crate) mod kernel;
mod lower;
mod model;
mod plan;
mod selftest;
mod transfer;

pub use context::{AdapterSummary, GpuContext};
pub use model::{GpuModel, RunStats};
pub use selftest::{FamilyResult, SelfTestReport, selftest};

use crate::ir::{Graph, GraphError};

/// One compiled form of a kernel: its complete WGSL and the override constants a
/// pipeline sets.
#[derive(Debug, Clone)]
pub struct ShaderVariant {
    /// Kernel name (`family/entry`).
    pub kernel: &'static str,
    /// Entry point.
    pub entry: &'static str,
    /// Prelude, common helpers and the family's source.
    pub source: String,
    /// Override constants.
    pub constants: Vec<(&'static str, f64)>,
}

/// The shader variants running `graph` needs (its facts must be concrete): what a
/// device-free validation checks.
///
/// # Errors
/// When a node cannot run on the GPU.
pub fn shader_variants(graph: &Graph) -> Result<Vec<ShaderVariant>, GpuError> {
    let mut variants: Vec<ShaderVariant> = Vec::new();
    for lowered in plan::lower_nodes(graph)? {
        let kernel::Lowered::Dispatches(dispatches) = lowered else { continue };
        for d in dispatches {
            if !variants.iter().any(|v| v.kernel == d.kernel.name && v.constants == d.constants) {
                variants.push(ShaderVariant {
                    kernel: d.kernel.name,
                    entry: d.kernel.entry,
                    source: d.kernel.source(),
                    constants: d.constants,
                });
            }
        }
    }
    Ok(variants)
}

/// Errors of the GPU executor.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// The caller's stop check said to stop (a deadline or a cancelled call).
    #[error("the run was cancelled {0}")]
    Cancelled(&'static str),
    /// No adapter is available (no GPU and no software Vulkan such as lavapipe).
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    /// The device could not be opened or failed.
    #[error("GPU device error: {0}")]
    Device(String),
    /// The driver rejected a shader.
    #[error("kernel {kernel} failed to compile: {message}")]
    Shader {
        /// Kernel name.
        kernel: &'static str,
        /// The driver's message.
        message: String,
    },
    /// Nodes that cannot run on the GPU (each named with the reason).
    #[error("{message}: {node}")]
    Unsupported {
        /// The nodes and reasons.
        node: String,
        /// Summary.
        message: String,
    },
    /// A supplied tensor does not name a graph input.
    #[error("unknown input: {0:?}")]
    UnknownInput(String),
    /// A graph input was not supplied.
    #[error("missing input: {0:?}")]
    MissingInput(String),
    /// A bad input tensor.
    #[error("input {name:?}: {message}")]
    Input {
        /// Input name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor larger than the device's buffer limit.
    #[error("{name:?} needs {bytes} bytes, more than the device allows in one buffer ({limit})")]
    TooLarge {
        /// Value name.
        name: String,
        /// Bytes needed.
        bytes: u64,
        /// The device limit.
        limit: u64,
    },
    /// Specializing the graph to the input shapes failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Reading results back failed.
    #[error("reading results back: {0}")]
    Readback(String),
    /// A bug in the executor.
    #[error("internal error in the GPU executor: {0}")]
    Internal(String),
}
