//! Normalizations: inference-mode `BatchNorm` and `LayerNorm`.
//!
//! Numerics (part of the specification; `add`/`mul` are the flushing ops of
//! [`crate::numerics`], sums run in index order):
//! - BatchNorm, per channel `c`: `s = mul(scale[c], rsqrt(add(var[c], eps)))`,
//!   `t = bias[c] - mul(mean[c], s)` (flushed), then `y = add(mul(x, s), t)`.
//! - LayerNorm, per row of the `N` normalized elements: `mean = mul(Σ x, reciprocal(N))`,
//!   `d = x - mean` (flushed), `var = mul(Σ mul(d, d), reciprocal(N))`,
//!   `inv = rsqrt(add(var, eps))`, `y = add(mul(mul(d, inv), scale), bias)`.

pub(crate) mod cases;
pub(crate) mod gpu;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use super::{InferInput, OpError, expect_inputs, normalize_axis};
use crate::ir::Fact;
use crate::numerics::{add, canonical, mul, reciprocal, rsqrt};
use crate::ops::matmul::avx2_dispatch;
use crate::tensor::{DType, Tensor, checked_numel};

/// Output fact of `BatchNorm`: the input's.
pub(crate) fn infer_batch_norm(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 5, 5)?;
    let x = inputs[0].fact;
    if x.rank().is_some_and(|r| r < 2) {
        return Err(OpError::new(format!("input must have a channel axis, got {x}")));
    }
    let channels = x.shape.as_ref().and_then(|s| s[1].fixed());
    for (name, param) in ["scale", "bias", "mean", "var"].iter().zip(&inputs[1..]) {
        check_f32(name, param.fact)?;
        if let (Some(c), Some(shape)) = (channels, param.fact.concrete_shape())
            && shape != [c]
        {
            return Err(OpError::new(format!("{name} must have shape [{c}], got {shape:?}")));
        }
    }
    check_f32("input", x)?;
    Ok(x.clone())
}

fn check_f32(name: &str, fact: &Fact) -> Result<(), OpError> {
    if fact.dtype != DType::F32 {
        return Err(OpError::new(format!("{name} must be f32, got {}", fact.dtype)));
    }
    Ok(())
}

/// Inference-mode batch normalization over axis 1.
pub(crate) fn eval_batch_norm(epsilon: f32, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 5, 5)?;
    apply_batch_norm(epsilon, inputs[0].clone(), &inputs[1..])
}

/// Batch normalization of a tensor the caller gives up, written over its buffer;
/// `params` are scale, bias, mean and variance.
pub(crate) fn apply_batch_norm(epsilon: f32, mut x: Tensor, params: &[&Tensor]) -> Result<Tensor, OpError> {
    let shape = x.shape().to_vec();
    if shape.len() < 2 {
        return Err(OpError::new(format!("input must have a channel axis, got shape {shape:?}")));
    }
    let channels = shape[1];
    let coefficients = batch_norm_parameters(epsilon, params, channels)?;
    let inner: usize = shape[2..].iter().product();
    let dtype = x.dtype();
    let data = x.f32_mut().ok_or_else(|| OpError::new(format!("input must be f32, got {dtype}")))?;
    if inner > 0 {
        data.par_chunks_mut(inner).enumerate().for_each(|(plane, values)| {
            let (s, t) = coefficients[plane % channels];
            scale_shift(values, s, t);
        });
    }
    Ok(x)
}

/// The per-channel `(s, t)` of batch normalization from its `params` (scale, bias, mean,
/// variance), checked to be f32 vectors of `channels` elements.
pub(crate) fn batch_norm_parameters(
    epsilon: f32,
    params: &[&Tensor],
    channels: usize,
) -> Result<Vec<(f32, f32)>, OpError> {
    expect_inputs(params, 4, 4)?;
    let [scale, bias, mean, var] = [0, 1, 2, 3].map(|i| params[i].as_f32());
    let (scale, bias, mean, var) = (scale?, bias?, mean?, var?);
    if [scale.len(), bias.len(), mean.len(), var.len()].iter().any(|&n| n != channels) {
        return Err(OpError::new(format!("parameters must have {channels} elements")));
    }
    Ok(batch_norm_coefficients(epsilon, scale, bias, mean, var))
}

/// The per-channel `(s, t)` of batch normalization: `y = add(mul(x, s), t)`.
fn batch_norm_coefficients(epsilon: f32, scale: &[f32], bias: &[f32], mean: &[f32], var: &[f32]) -> Vec<(f32, f32)> {
    scale
        .iter()
        .zip(bias)
        .zip(mean.iter().zip(var))
        .map(|((&scale, &bias), (&mean, &var))| {
            let s = mul(scale, rsqrt(add(var, epsilon)));
            (s, canonical(bias - mul(mean, s)))
        })
        .collect()
}

avx2_dispatch! {
    /// `v = canonical(add(mul(v, s), t))` over one channel plane, in place: the batch
    /// normalization of one channel, compiled for AVX2 when the CPU has it.
    pub(crate) fn scale_shift(values: &mut [f32], s: f32, t: f32) => scale_shift_body
}

#[inline(always)]
fn scale_shift_body(values: &mut [f32], s: f32, t: f32) {
    for v in values {
        *v = canonical(add(mul(*v, s), t));
    }
}

/// Output fact of `LayerNorm`: the input's.
pub(crate) fn infer_layer_norm(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 3)?;
    let x = inputs[0].fact;
    check_f32("input", x)?;
    for param in &inputs[1..] {
        check_f32("scale and bias", param.fact)?;
    }
    if let Some(rank) = x.rank() {
        normalize_axis(axis, rank)?;
    }
    Ok(x.clone())
}

/// Layer normalization over the trailing axes from `axis`.
pub(crate) fn eval_layer_norm(axis: i64, epsilon: f32, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 3)?;
    let x = inputs[0];
    let data = x.as_f32()?;
    let axis = normalize_axis(axis, x.rank())?;
    let n = checked_numel(&x.shape()[axis..]).ok_or_else(|| OpError::new("normalized size overflows"))?;
    let scale = inputs[1].as_f32()?;
    let bias = inputs.get(2).map(|b| b.as_f32()).transpose()?;
    if scale.len() != n || bias.is_some_and(|b| b.len() != n) {
        return Err(OpError::new(format!("scale and bias must have {n} elements (the normalized size)")));
    }
    let mut out = vec![0.0f32; data.len()];
    if n > 0 {
        let inv_n = reciprocal(exact_count(n)?);
        out.par_chunks_mut(n).zip(data.par_chunks(n)).for_each(|(o, row)| {
            normalize_row(row, o, inv_n, epsilon, scale, bias);
        });
    }
    Ok(Tensor::from_f32(x.shape().to_vec(), out)?)
}

/// A count as an exact f32 (counts reach 2^24 only in hostile models).
pub(crate) fn exact_count(n: usize) -> Result<f32, OpError> {
    if n >= 1 << 24 {
        return Err(OpError::new(format!("reduction over too many elements: {n}")));
    }
    // n < 2^24, so the conversion is exact.
    Ok(n as f32)
}

fn normalize_row(row: &[f32], out: &mut [f32], inv_n: f32, epsilon: f32, scale: &[f32], bias: Option<&[f32]>) {
    let mean = mul(row.iter().fold(0.0, |acc, &v| add(acc, v)), inv_n);
    for (o, &v) in out.iter_mut().zip(row) {
        *o = canonical(v - mean);
    }
    let var = mul(out.iter().fold(0.0, |acc, &d| add(acc, mul(d, d))), inv_n);
    let inv = rsqrt(add(var, epsilon));
    for (i, o) in out.iter_mut().enumerate() {
        let scaled = mul(mul(*o, inv), scale[i]);
        *o = canonical(match bias {
            Some(b) => add(scaled, b[i]),
            None => scaled,
        });
    }
}
