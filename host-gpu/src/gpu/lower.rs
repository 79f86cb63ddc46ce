//! The one place that maps every [`Op`] to its family's GPU lowering.

use super::kernel::{GpuInput, Lowered};
use crate::ir::Op;
use crate::ops::{OpError, conv, elementwise, matmul, norm, pool, reduce, shape, softmax};

/// How `op` runs on the GPU for these concrete inputs and output.
///
/// # Errors
/// When the family has no GPU kernel for this case.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    match op {
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } => elementwise::gpu::lower(op, inputs, output),
        Op::MatMul => matmul::gpu::lower(op, inputs, output),
        Op::Conv(_) => conv::gpu::lower(op, inputs, output),
        Op::BatchNorm { .. } | Op::LayerNorm { .. } => norm::gpu::lower(op, inputs, output),
        Op::Pool(_) => pool::gpu::lower(op, inputs, output),
        Op::Softmax { .. } => softmax::gpu::lower(op, inputs, output),
        Op::Reduce { .. } => reduce::gpu::lower(op, inputs, output),
        Op::Shape { .. }
        | Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Concat { .. }
        | Op::Slice
        | Op::Gather { .. }
        | Op::GatherNd { .. }
        | Op::Range
        | Op::Expand
        | Op::Flatten { .. } => shape::gpu::lower(op, inputs, output),
    }
}
