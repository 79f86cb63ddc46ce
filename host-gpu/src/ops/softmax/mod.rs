//! `Softmax` along one axis.
//!
//! Numerics (part of the specification), per slice along the axis: `m` = running
//! [`numerics::max`] in index order (NaN propagates); `e_i = exp(x_i - m)` (difference
//! flushed); `s` = Σ e_i in index order with `add`; `y_i = mul(e_i, reciprocal(s))`.

pub(crate) mod cases;
pub(crate) mod gpu;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use super::{InferInput, OpError, expect_inputs, normalize_axis};
use crate::ir::Fact;
use crate::numerics::{self, add, canonical, exp, mul, reciprocal};
use crate::tensor::{DType, Tensor};

/// Output fact of `Softmax`: the input's.
pub(crate) fn infer(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let x = inputs[0].fact;
    if x.dtype != DType::F32 {
        return Err(OpError::new(format!("input must be f32, got {}", x.dtype)));
    }
    if let Some(rank) = x.rank() {
        normalize_axis(axis, rank)?;
    }
    Ok(x.clone())
}

/// Softmax of every slice along `axis`.
pub(crate) fn eval(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let x = inputs[0];
    let data = x.as_f32()?;
    let axis = normalize_axis(axis, x.rank())?;
    let len = x.shape()[axis];
    let inner: usize = x.shape()[axis + 1..].iter().product();
    let mut out = vec![0.0f32; data.len()];
    let block = len * inner;
    if block > 0 {
        out.par_chunks_mut(block).zip(data.par_chunks(block)).for_each(|(o, xs)| {
            if inner == 1 {
                softmax_contiguous(xs, o);
            } else {
                softmax_strided(xs, o, len, inner);
            }
        });
    }
    Ok(Tensor::from_f32(x.shape().to_vec(), out)?)
}

fn softmax_contiguous(xs: &[f32], out: &mut [f32]) {
    let m = xs.iter().fold(f32::NEG_INFINITY, |m, &v| numerics::max(m, v));
    // The exponentials first (independent, so they vectorize), then the sum in order.
    for (o, &v) in out.iter_mut().zip(xs) {
        *o = exp(canonical(v - m));
    }
    let sum = out.iter().fold(0.0f32, |acc, &e| add(acc, e));
    let r = reciprocal(sum);
    for o in out.iter_mut() {
        *o = canonical(mul(*o, r));
    }
}

fn softmax_strided(xs: &[f32], out: &mut [f32], len: usize, inner: usize) {
    let mut row = vec![0.0f32; len];
    let mut res = vec![0.0f32; len];
    for j in 0..inner {
        for (i, r) in row.iter_mut().enumerate() {
            *r = xs[i * inner + j];
        }
        softmax_contiguous(&row, &mut res);
        for (i, r) in res.iter().enumerate() {
            out[i * inner + j] = *r;
        }
    }
}
