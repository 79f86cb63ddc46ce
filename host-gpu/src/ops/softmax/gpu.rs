//! GPU lowering of the softmax family (kernel in `softmax.wgsl`).

use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::Op;
use crate::ops::{OpError, expect_inputs, normalize_axis};

/// Softmax, one invocation per slice along the axis.
static SOFTMAX: Kernel = Kernel { name: "softmax/softmax", wgsl: include_str!("softmax.wgsl"), entry: "softmax" };

/// How a softmax node runs on the GPU.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    let Op::Softmax { axis } = op else {
        return Err(OpError::new(format!("{} is not a softmax op", op.kind_name())));
    };
    expect_inputs(inputs, 1, 1)?;
    let shape = inputs[0].shape;
    let axis = normalize_axis(*axis, shape.len())?;
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let total: usize = output.shape.iter().product();
    let slices = total.checked_div(len).unwrap_or(0);
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &SOFTMAX,
        constants: Vec::new(),
        params: vec![count(len)?, count(inner.max(1))?],
        inputs: vec![0],
        invocations: count(slices)?,
    }]))
}
