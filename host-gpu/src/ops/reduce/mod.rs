//! Reductions over a set of axes: `Sum`, `Mean`, `Max`, `Min`.
//!
//! Numerics (part of the specification): each output element visits its reduced input
//! elements in row-major order of the reduced axes. Sum: `acc = +0`, `acc = add(acc, x)`,
//! output `canonical(acc)`;
//! Mean: `mul(sum, reciprocal(count))`; Max/Min: start from the first element and fold
//! with [`numerics::max`]/[`numerics::min`] (NaN propagates). Empty reductions: Sum gives
//! +0, Mean NaN, Max -inf, Min +inf. Integer sums wrap.

pub(crate) mod cases;
pub(crate) mod gpu;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use super::broadcast::strides;
use super::norm::exact_count;
use super::{InferInput, OpError, expect_inputs, normalize_axis};
use crate::ir::{Dim, Fact, ReduceKind};
use crate::numerics::{self, add, canonical, mul, reciprocal};
use crate::tensor::{DType, Tensor, TensorData};

/// Output fact of a reduction.
pub(crate) fn infer(
    kind: ReduceKind,
    axes: &[i64],
    keepdims: bool,
    inputs: &[InferInput<'_>],
) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let x = inputs[0].fact;
    if !matches!(x.dtype, DType::F32 | DType::I32 | DType::I64) || (kind == ReduceKind::Mean && x.dtype != DType::F32) {
        return Err(OpError::new(format!("input dtype is not supported: {}", x.dtype)));
    }
    let Some(dims) = &x.shape else { return Ok(Fact::unknown(x.dtype)) };
    let reduced = reduced_axes(axes, dims.len())?;
    let shape = dims
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match (reduced[i], keepdims) {
            (true, true) => Some(Dim::Fixed(1)),
            (true, false) => None,
            (false, _) => Some(d.clone()),
        })
        .collect();
    Ok(Fact { dtype: x.dtype, shape: Some(shape) })
}

/// Which axes are reduced (all when `axes` is empty).
fn reduced_axes(axes: &[i64], rank: usize) -> Result<Vec<bool>, OpError> {
    let mut reduced = vec![axes.is_empty(); rank];
    for &a in axes {
        let a = normalize_axis(a, rank)?;
        if std::mem::replace(&mut reduced[a], true) {
            return Err(OpError::new(format!("axis listed twice: {a}")));
        }
    }
    Ok(reduced)
}

/// Reduces the input over `axes`.
pub(crate) fn eval(kind: ReduceKind, axes: &[i64], keepdims: bool, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let x = inputs[0];
    let shape = x.shape();
    let reduced = reduced_axes(axes, shape.len())?;
    let layout = Layout::new(shape, &reduced);
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (reduced[i], keepdims) {
            (true, true) => Some(1),
            (true, false) => None,
            (false, _) => Some(d),
        })
        .collect();
    let data = match (x.data(), kind) {
        // Canonical like every f32 output: `inf + -inf` gives a NaN whose sign the
        // platform chooses (0xFFC00000 on x86).
        (TensorData::F32(v), ReduceKind::Sum) => {
            TensorData::F32(layout.fold(v, 0.0, add).into_iter().map(canonical).collect())
        }
        (TensorData::F32(v), ReduceKind::Mean) => {
            let inv = reciprocal(exact_count(layout.offsets.len())?);
            let sums = layout.fold(v, 0.0, add);
            TensorData::F32(sums.into_iter().map(|s| canonical(mul(s, inv))).collect())
        }
        (TensorData::F32(v), ReduceKind::Max) => TensorData::F32(layout.fold(v, f32::NEG_INFINITY, numerics::max)),
        (TensorData::F32(v), ReduceKind::Min) => TensorData::F32(layout.fold(v, f32::INFINITY, numerics::min)),
        (TensorData::I64(v), k) => TensorData::I64(layout.fold(v, int_identity(k, i64::MIN, i64::MAX), int_step(k))),
        (TensorData::I32(v), k) => TensorData::I32(layout.fold(v, int_identity(k, i32::MIN, i32::MAX), int_step(k))),
        (d, _) => return Err(OpError::new(format!("input dtype is not supported: {}", d.dtype()))),
    };
    Ok(Tensor::new(out_shape, data)?)
}

fn int_identity<T: Default>(kind: ReduceKind, min: T, max: T) -> T {
    match kind {
        ReduceKind::Max => min,
        ReduceKind::Min => max,
        ReduceKind::Sum | ReduceKind::Mean => T::default(),
    }
}

trait WrappingAdd: Ord + Copy {
    fn wrapping_sum(self, other: Self) -> Self;
}
impl WrappingAdd for i32 {
    fn wrapping_sum(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
}
impl WrappingAdd for i64 {
    fn wrapping_sum(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
}

fn int_step<T: WrappingAdd>(kind: ReduceKind) -> fn(T, T) -> T {
    match kind {
        ReduceKind::Max => Ord::max,
        ReduceKind::Min => Ord::min,
        ReduceKind::Sum | ReduceKind::Mean => T::wrapping_sum,
    }
}

/// Where each output's inputs live: the base offset of every output element and the
/// offsets of its reduced elements in row-major order of the reduced axes.
struct Layout {
    bases: Vec<usize>,
    offsets: Vec<usize>,
}

impl Layout {
    fn new(shape: &[usize], reduced: &[bool]) -> Self {
        let st = strides(shape);
        let expand = |keep: bool| {
            let mut offsets = vec![0usize];
            for (i, &d) in shape.iter().enumerate() {
                if reduced[i] != keep {
                    let stride = st[i];
                    offsets = offsets.iter().flat_map(|&o| (0..d).map(move |k| o + k * stride)).collect();
                }
            }
            offsets
        };
        Layout { bases: expand(true), offsets: expand(false) }
    }

    fn fold<T: Copy + Send + Sync>(&self, data: &[T], init: T, f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
        self.bases.par_iter().map(|&base| self.offsets.iter().fold(init, |acc, &o| f(acc, data[base + o]))).collect()
    }
}
