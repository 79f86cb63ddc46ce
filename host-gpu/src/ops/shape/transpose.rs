//! Transpose: output axis `i` is input axis `perm[i]`, copied through a strided view so
//! that the innermost contiguous block moves as one run.

use super::copy::{View, move_elements, signed_strides};
use crate::ir::{Dim, Fact};
use crate::ops::{InferInput, OpError, expect_inputs};
use crate::tensor::Tensor;

/// The permutation for a rank: `perm` itself, or the reversal when it is empty (the ONNX
/// default).
///
/// # Errors
/// When `perm` is not a permutation of `0..rank`.
fn resolve_perm(perm: &[usize], rank: usize) -> Result<Vec<usize>, OpError> {
    if perm.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    let mut seen = vec![false; rank];
    let valid = perm.len() == rank && perm.iter().all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
    if !valid {
        return Err(OpError::new(format!("perm is not a permutation of the {rank} input axes: {perm:?}")));
    }
    Ok(perm.to_vec())
}

/// Output fact of Transpose: the input dims, permuted.
pub(crate) fn infer_transpose(perm: &[usize], inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let fact = inputs[0].fact;
    let shape = match &fact.shape {
        Some(dims) => Some(resolve_perm(perm, dims.len())?.into_iter().map(|p| dims[p].clone()).collect()),
        None if perm.is_empty() => None,
        None => {
            resolve_perm(perm, perm.len())?;
            Some(vec![Dim::Unknown; perm.len()])
        }
    };
    Ok(Fact { dtype: fact.dtype, shape })
}

/// Transpose: permutes the axes.
pub(crate) fn eval_transpose(perm: &[usize], inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let x = inputs[0];
    let view = transpose_view(perm, x.shape())?;
    let shape = view.dims.iter().map(|&(n, _)| n).collect();
    move_elements(&view, &[x], shape)
}

/// The view of an input of `shape` that reads it transposed by `perm` (shared with the
/// GPU lowering).
///
/// # Errors
/// When `perm` is not a permutation of the input axes.
pub(super) fn transpose_view(perm: &[usize], shape: &[usize]) -> Result<View, OpError> {
    let perm = resolve_perm(perm, shape.len())?;
    let strides = signed_strides(shape);
    Ok(View { offset: 0, dims: perm.iter().map(|&p| (shape[p], strides[p])).collect() })
}
