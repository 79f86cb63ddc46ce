//! MatMul: the f32 matrix product with numpy rules (ONNX MatMul).
//!
//! Shapes: a rank-1 `a` is read as `[1, K]` and a rank-1 `b` as `[K, 1]`, and the
//! promoted dimension is dropped from the result; the leading (batch) dimensions of the
//! two operands broadcast against each other. Only f32 is supported.
//!
//! # Numerics
//!
//! For each output element `(i, j)` of each batch item:
//!
//! ```text
//! acc = +0.0
//! for k in 0..K:  acc = add(acc, mul(a[i, k], b[k, j]))   // sequential in k
//! out[i, j] = canonical(acc)
//! ```
//!
//! where `mul` rounds the product to f32 and flushes a subnormal result to zero of the
//! same sign, and `add` does the same for the sum ([`crate::numerics`]). Nothing else is
//! specified: tiling, vectorization across outputs and threads are free. With `K = 0`
//! every output is `+0.0`.
//!
//! ## Skipping the flushes
//!
//! The CPU kernel omits the flushes on a tile when it can prove they are all no-ops, so
//! the bits are those of the order above. Let `α` be the smallest nonzero non-NaN `|a|`
//! in the tile's rows and `β` the smallest nonzero non-NaN `|b|` in its columns (each
//! `+inf` when there is none). If `α · β ≥ 2^-103` (computed exactly in f64), or either
//! is infinite, then:
//!
//! 1. every product `a·b` is `±0` (a factor is zero), infinite or NaN, or its exact value
//!    is at least `2^-103` in magnitude; rounding is monotone and `2^-103` is an f32, so
//!    the rounded product is also at least `2^-103`, hence normal (the flush is a
//!    no-op) and, having exponent ≥ -103 and 24 significant bits, a multiple of
//!    `2^-126`;
//! 2. by induction every partial sum is `±0`, infinite, NaN or a multiple of `2^-126`:
//!    the exact sum `s` of two multiples of `2^-126` is one; if `|s| < 2^-102` then
//!    `s = n · 2^-126` with `|n| < 2^24` is an f32, so it is not rounded; otherwise the
//!    rounded sum has exponent ≥ -102, so it is a multiple of `2^-125`;
//! 3. a nonzero multiple of `2^-126` is at least `2^-126` in magnitude, i.e. normal, so
//!    every flush of a partial sum is a no-op too. Infinities and NaNs pass through the
//!    flush unchanged, so they take the same path in both variants.
//!
//! Inputs are canonical (the executor flushes them), but the argument holds for any
//! input: a subnormal input makes `α · β` tiny, and the tile takes the flushing path.
//! The tests compare both variants with an always-flushing reference, bit for bit.

pub(crate) mod cases;
mod cpu;
pub(crate) mod gpu;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

pub(crate) use cpu::{Lhs, Rhs, avx2_dispatch, flush_is_noop, gemm, min_nonzero_bits};

use super::broadcast::{broadcast_dims, broadcast_shapes, broadcast_strides, for_each_offset};
use super::{InferInput, OpError, concrete, expect_inputs, fixed_dims};
use crate::ir::{Dim, Fact};
use crate::tensor::{DType, Tensor};

/// Output fact of MatMul: broadcast batch dims, then the rows of `a` and columns of `b`.
pub(crate) fn infer(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (a, b) = (inputs[0].fact, inputs[1].fact);
    check_dtypes(a.dtype, b.dtype)?;
    let shape = match (&a.shape, &b.shape) {
        (Some(sa), Some(sb)) => Some(output_dims(sa, sb)?),
        _ => None,
    };
    Ok(Fact { dtype: DType::F32, shape })
}

/// Multiplies two f32 tensors (the numerics are in the module documentation).
pub(crate) fn eval(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (a, b) = (inputs[0], inputs[1]);
    check_dtypes(a.dtype(), b.dtype())?;
    let out_shape = concrete(&output_dims(&fixed_dims(a.shape()), &fixed_dims(b.shape()))?)?;
    let (pa, pb) = (promote_a(a.shape(), 1), promote_b(b.shape(), 1));
    let data = batched_product(a.as_f32()?, &pa, b.as_f32()?, &pb)?;
    Ok(Tensor::from_f32(out_shape, data)?)
}

fn check_dtypes(a: DType, b: DType) -> Result<(), OpError> {
    for dtype in [a, b] {
        if dtype != DType::F32 {
            return Err(OpError::new(format!("matmul supports f32 only, got {dtype}")));
        }
    }
    Ok(())
}

/// `a`'s shape as a matrix stack: rank 1 `[K]` becomes `[1, K]`.
fn promote_a<T: Clone>(shape: &[T], one: T) -> Vec<T> {
    if shape.len() == 1 { vec![one, shape[0].clone()] } else { shape.to_vec() }
}

/// `b`'s shape as a matrix stack: rank 1 `[K]` becomes `[K, 1]`.
fn promote_b<T: Clone>(shape: &[T], one: T) -> Vec<T> {
    if shape.len() == 1 { vec![shape[0].clone(), one] } else { shape.to_vec() }
}

/// The output dims of `a × b` under numpy rules.
fn output_dims(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, OpError> {
    if a.is_empty() || b.is_empty() {
        return Err(OpError::new(format!("matmul operands need rank 1 or more: a is {}, b is {}", show(a), show(b))));
    }
    let (pa, pb) = (promote_a(a, Dim::Fixed(1)), promote_b(b, Dim::Fixed(1)));
    let (ra, rb) = (pa.len(), pb.len());
    if let (Dim::Fixed(ka), Dim::Fixed(kb)) = (&pa[ra - 1], &pb[rb - 2])
        && ka != kb
    {
        return Err(OpError::new(format!("inner dimensions differ: a is {}, b is {}", show(a), show(b))));
    }
    let mut out = broadcast_dims(&pa[..ra - 2], &pb[..rb - 2])?;
    if a.len() > 1 {
        out.push(pa[ra - 2].clone());
    }
    if b.len() > 1 {
        out.push(pb[rb - 1].clone());
    }
    Ok(out)
}

/// Dims as `[1, 128, 384]`.
fn show(dims: &[Dim]) -> String {
    let dims: Vec<String> = dims.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// The product of two promoted matrix stacks (rank ≥ 2 each, inner dims equal), batch
/// dims broadcast, as a row-major buffer.
fn batched_product(x: &[f32], pa: &[usize], y: &[f32], pb: &[usize]) -> Result<Vec<f32>, OpError> {
    let (ra, rb) = (pa.len(), pb.len());
    let (m, k, n) = (pa[ra - 2], pa[ra - 1], pb[rb - 1]);
    let (a_batch, b_batch) = (&pa[..ra - 2], &pb[..rb - 2]);
    let out_batch = broadcast_shapes(a_batch, b_batch)?;
    let items: usize = out_batch.iter().product();
    let mut out = vec![0.0; items * m * n];
    if out.is_empty() {
        return Ok(out);
    }
    if b_batch.iter().product::<usize>() == 1 {
        // Every item shares `b`, and `a`'s items are stored back to back: one tall product.
        gemm(&Lhs::new(x, items * m, k), &Rhs::new(y, k, n), None, &mut out);
        return Ok(out);
    }
    let sa = broadcast_strides(a_batch, &out_batch);
    let sb = broadcast_strides(b_batch, &out_batch);
    let mut pairs = Vec::with_capacity(items);
    for_each_offset(&out_batch, [&sa, &sb], |_, [ia, ib]| pairs.push((ia, ib)));
    out.par_chunks_mut(m * n).zip(pairs).for_each(|(o, (ia, ib))| {
        let a_item = Lhs::new(&x[ia * m * k..(ia + 1) * m * k], m, k);
        let b_item = Rhs::new(&y[ib * k * n..(ib + 1) * k * n], k, n);
        gemm(&a_item, &b_item, None, o);
    });
    Ok(out)
}
