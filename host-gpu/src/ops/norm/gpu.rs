//! GPU lowering of the norm family (kernels in `batch_norm.wgsl` and `layer_norm.wgsl`).

use super::exact_count;
use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::Op;
use crate::numerics::reciprocal;
use crate::ops::{OpError, expect_inputs, normalize_axis};

/// BatchNorm, one invocation per element.
static BATCH_NORM: Kernel =
    Kernel { name: "norm/batch_norm", wgsl: include_str!("batch_norm.wgsl"), entry: "batch_norm" };

/// LayerNorm, one invocation per row (`BIAS`: whether a bias is added).
static LAYER_NORM: Kernel =
    Kernel { name: "norm/layer_norm", wgsl: include_str!("layer_norm.wgsl"), entry: "layer_norm" };

/// How a norm node runs on the GPU.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    match op {
        Op::BatchNorm { epsilon } => lower_batch_norm(*epsilon, inputs, output),
        Op::LayerNorm { axis, epsilon } => lower_layer_norm(*axis, *epsilon, inputs, output),
        _ => Err(OpError::new(format!("{} is not a norm op", op.kind_name()))),
    }
}

/// BatchNorm: one invocation per element, the channel's coefficients computed in place.
fn lower_batch_norm(epsilon: f32, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 5, 5)?;
    let shape = inputs[0].shape;
    if shape.len() < 2 {
        return Err(OpError::new(format!("input must have a channel axis, got shape {shape:?}")));
    }
    let channels = shape[1];
    if inputs[1..].iter().any(|p| p.shape.iter().product::<usize>() != channels) {
        return Err(OpError::new(format!("parameters must have {channels} elements")));
    }
    let inner: usize = shape[2..].iter().product();
    let elements = count(output.shape.iter().product())?;
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &BATCH_NORM,
        constants: Vec::new(),
        params: vec![count(inner.max(1))?, count(channels.max(1))?, epsilon.to_bits()],
        inputs: vec![0, 1, 2, 3, 4],
        invocations: elements,
    }]))
}

/// LayerNorm: one invocation per row of the normalized axes. Without a bias, the scale is
/// bound in the bias slot too and the `BIAS = 0` variant never reads it.
fn lower_layer_norm(
    axis: i64,
    epsilon: f32,
    inputs: &[GpuInput<'_>],
    output: &GpuInput<'_>,
) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 2, 3)?;
    let shape = inputs[0].shape;
    let axis = normalize_axis(axis, shape.len())?;
    let n: usize = shape[axis..].iter().product();
    if inputs[1..].iter().any(|p| p.shape.iter().product::<usize>() != n) {
        return Err(OpError::new(format!("scale and bias must have {n} elements (the normalized size)")));
    }
    let total: usize = output.shape.iter().product();
    let rows = total.checked_div(n).unwrap_or(0);
    let inv_n = if n == 0 { 0.0 } else { reciprocal(exact_count(n)?) };
    let has_bias = inputs.len() == 3;
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &LAYER_NORM,
        constants: vec![("BIAS", f64::from(u8::from(has_bias)))],
        params: vec![count(n)?, inv_n.to_bits(), epsilon.to_bits()],
        inputs: vec![0, 1, if has_bias { 2 } else { 1 }],
        invocations: count(rows)?,
    }]))
}
