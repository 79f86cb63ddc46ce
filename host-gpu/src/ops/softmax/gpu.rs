//! GPU lowering of the softmax family. (To be written: see notes/gpu-kernels.md.)

use crate::gpu::kernel::{GpuInput, Lowered};
use crate::ir::Op;
use crate::ops::OpError;

/// How a node of this family runs on the GPU.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    let _ = (inputs, output);
    Err(OpError::new(format!("{} has no GPU kernel yet", op.kind_name())))
}
