//! Conv: 2-D convolution, NCHW, f32 (ONNX Conv), with groups (depthwise included),
//! strides, asymmetric padding, dilations and an optional bias.
//!
//! Shapes: `x` is `[N, C, H, W]`, `w` is `[M, C/group, kH, kW]`, `bias` is `[M]`; the
//! output is `[N, M, OH, OW]` with `OH = (H + pad_top + pad_bottom - dH·(kH-1) - 1) / sH + 1`
//! (likewise `OW`). Output channel `m` belongs to group `g = m / (M/group)` and reads the
//! input channels `g·C/group ..`.
//!
//! # Numerics
//!
//! For each output `(n, m, oy, ox)`, with `cg = C/group` and `g` the group of `m`:
//!
//! ```text
//! acc = +0.0
//! for c in 0..cg:            // input channel g·cg + c
//!   for ky in 0..kH:
//!     for kx in 0..kW:
//!       iy = oy·sH - pad_top + ky·dH;  ix = ox·sW - pad_left + kx·dW
//!       if 0 <= iy < H and 0 <= ix < W:          // padded taps are skipped
//!         acc = add(acc, mul(x[n, g·cg + c, iy, ix], w[m, c, ky, kx]))
//! if bias: acc = add(acc, bias[m])
//! out = canonical(acc)
//! ```
//!
//! Padded taps are **skipped**, not added as `mul(0, w)`: the two differ when `acc` is
//! `-0` (a zero product would turn it into `+0`) and when `w` is infinite or NaN
//! (`0 · inf` is NaN). Every executor must skip them.
//!
//! The CPU kernels keep this order per output: groups with `cg == 1` (depthwise) run a
//! direct kernel, vectorized across `ox`, that applies the taps in order and leaves each
//! output's skipped taps out; other convolutions lay the taps out as a matrix
//! (`cg·kH·kW` rows in the order above, one column per output pixel) and use the MatMul
//! engine, whose per-element order is the same sequential sum; the outputs whose window
//! touches the padding are then recomputed tap by tap with the skipping rule. Flushes are
//! skipped only where they are proven no-ops, as for MatMul.

pub(crate) mod cases;
mod cpu;
mod depthwise;
pub(crate) mod gpu;
#[cfg(test)]
mod tests;

use super::{InferInput, OpError, concrete, expect_inputs, fixed_dims};
use crate::ir::{ConvAttrs, Dim, Fact};
use crate::ops::epilogue::ChannelEpilogue;
use crate::tensor::{DType, Tensor};

/// Output fact of Conv: `[N, M, OH, OW]`, sizes known where the inputs fix them.
pub(crate) fn infer(attrs: &ConvAttrs, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 3)?;
    for input in inputs {
        check_f32(input.fact.dtype)?;
    }
    let (Some(x), Some(w)) = (&inputs[0].fact.shape, &inputs[1].fact.shape) else {
        return Ok(Fact::unknown(DType::F32));
    };
    let bias = inputs.get(2).and_then(|b| b.fact.shape.as_deref());
    Ok(Fact { dtype: DType::F32, shape: Some(output_dims(attrs, x, w, bias)?) })
}

/// The geometry of a convolution on concrete shapes, checked by the inference rule, and
/// its output shape (shared by the CPU kernel and the GPU lowering).
///
/// # Errors
/// When the shapes do not fit together (as [`infer`] reports).
pub(crate) fn geometry(
    attrs: &ConvAttrs,
    x: &[usize],
    w: &[usize],
    bias: Option<&[usize]>,
) -> Result<(cpu::Geometry, Vec<usize>), OpError> {
    let bias_dims = bias.map(fixed_dims);
    let out_shape = concrete(&output_dims(attrs, &fixed_dims(x), &fixed_dims(w), bias_dims.as_deref())?)?;
    Ok((cpu::Geometry::new(attrs, x, w, &out_shape), out_shape))
}

/// Runs the convolution (the numerics are in the module documentation).
pub(crate) fn eval(attrs: &ConvAttrs, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    eval_fused(attrs, inputs, &ChannelEpilogue::default())
}

/// Runs the convolution followed by the per-channel `epilogue` (the same bits as running
/// the epilogue's ops one after the other).
pub(crate) fn eval_fused(attrs: &ConvAttrs, inputs: &[&Tensor], epilogue: &ChannelEpilogue) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 3)?;
    for input in inputs {
        check_f32(input.dtype())?;
    }
    let (geometry, out_shape) =
        geometry(attrs, inputs[0].shape(), inputs[1].shape(), inputs.get(2).map(|b| b.shape()))?;
    let bias = inputs.get(2).map(|b| b.as_f32()).transpose()?;
    let out = cpu::conv(&geometry, inputs[0].as_f32()?, inputs[1].as_f32()?, bias, epilogue);
    Ok(Tensor::from_f32(out_shape, out)?)
}

fn check_f32(dtype: DType) -> Result<(), OpError> {
    if dtype != DType::F32 {
        return Err(OpError::new(format!("conv supports f32 only, got {dtype}")));
    }
    Ok(())
}

/// Checks the attributes and shapes, and returns the output dims.
fn output_dims(attrs: &ConvAttrs, x: &[Dim], w: &[Dim], bias: Option<&[Dim]>) -> Result<Vec<Dim>, OpError> {
    check_attrs(attrs)?;
    if x.len() != 4 || w.len() != 4 {
        return Err(OpError::new(format!(
            "conv needs rank-4 input and weights, got ranks {} and {}",
            x.len(),
            w.len()
        )));
    }
    let group = attrs.group;
    if let (Some(kh), Some(kw)) = (w[2].fixed(), w[3].fixed())
        && [kh, kw] != attrs.kernel
    {
        return Err(OpError::new(format!(
            "kernel_shape {:?} does not match weights of kernel [{kh}, {kw}]",
            attrs.kernel
        )));
    }
    if let Some(c) = x[1].fixed() {
        if c % group != 0 {
            return Err(OpError::new(format!("input channels {c} are not divisible by group {group}")));
        }
        if let Some(cg) = w[1].fixed()
            && cg * group != c
        {
            return Err(OpError::new(format!("weights expect {} input channels, input has {c}", cg * group)));
        }
    }
    if let Some(m) = w[0].fixed()
        && m % group != 0
    {
        return Err(OpError::new(format!("output channels {m} are not divisible by group {group}")));
    }
    if let Some(bias) = bias {
        check_bias(bias, &w[0])?;
    }
    let oh = spatial(x[2].fixed(), attrs, 0)?;
    let ow = spatial(x[3].fixed(), attrs, 1)?;
    Ok(vec![x[0].clone(), w[0].clone(), oh, ow])
}

fn check_attrs(attrs: &ConvAttrs) -> Result<(), OpError> {
    let sizes = attrs.kernel.iter().chain(&attrs.strides).chain(&attrs.dilations);
    if sizes.chain([&attrs.group]).any(|&v| v == 0) {
        return Err(OpError::new(format!("conv kernel, strides, dilations and group must be positive: {attrs:?}")));
    }
    Ok(())
}

fn check_bias(bias: &[Dim], m: &Dim) -> Result<(), OpError> {
    if bias.len() != 1 {
        return Err(OpError::new(format!("conv bias must have rank 1, got rank {}", bias.len())));
    }
    if let (Some(b), Some(m)) = (bias[0].fixed(), m.fixed())
        && b != m
    {
        return Err(OpError::new(format!("conv bias has {b} values for {m} output channels")));
    }
    Ok(())
}

/// Output size along spatial axis `axis` (0: height, 1: width) for an input of `size`.
fn spatial(size: Option<usize>, attrs: &ConvAttrs, axis: usize) -> Result<Dim, OpError> {
    let Some(size) = size else {
        return Ok(Dim::Unknown);
    };
    let padded = size + attrs.pads[axis] + attrs.pads[axis + 2];
    let span = attrs.dilations[axis] * (attrs.kernel[axis] - 1) + 1;
    if padded < span {
        return Err(OpError::new(format!("padded input size {padded} is smaller than the dilated kernel {span}")));
    }
    Ok(Dim::Fixed((padded - span) / attrs.strides[axis] + 1))
}
