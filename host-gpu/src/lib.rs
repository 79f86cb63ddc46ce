//! wasmnn host-gpu: tensors, the graph IR, model importers and the executors.
//!
//! - [`tensor`]: dense tensors of the supported element types.
//! - [`ir`]: the typed op set and [`ir::Graph`], built through [`ir::GraphBuilder`] with
//!   fact inference and constant folding at load.
//! - [`onnx`]: lowers ONNX models to the IR; [`gguf`]: reads GGUF files.
//! - [`cpu`]: the CPU reference executor. Its kernels, with [`numerics`], **are** the
//!   numerics specification (`docs/NUMERICS.md`); every other executor must match their
//!   bits.

pub mod conformance;
pub mod cpu;
pub mod gguf;
pub mod gpu;
pub mod ir;
pub mod llm;
pub mod npy;
pub mod numerics;
pub mod onnx;
pub mod ops;
pub mod tensor;
#[cfg(test)]
mod testutil;
pub mod trace;

pub use cpu::{CpuExecutor, ExecError};
pub use ir::{Graph, GraphError};
pub use tensor::{DType, Tensor, TensorData, TensorError};

/// Version of the numerics specification. It changes whenever any op's output bits
/// change, so that nodes on different specs refuse to compare results.
pub const SPEC_VERSION: u32 = 3;
