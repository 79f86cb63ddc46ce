//! Shape and data-movement ops: Shape, Reshape, Transpose, Squeeze, Unsqueeze, Concat,
//! Slice, Gather, GatherND, Range, Expand and Flatten.
//!
//! These ops copy element bits and never change them, so one generic kernel serves every
//! dtype. Each kernel:
//! 1. validates its inputs and computes the output shape, where possible with the same
//!    function inference uses (run on fixed [`Dim`]s at eval);
//! 2. describes where each output element comes from as a [`copy::Plan`]: a strided
//!    [`copy::View`] of one input, or contiguous runs of the inputs, every index checked;
//! 3. lets [`copy::move_elements`] dispatch once on the dtype and fill the output, copying
//!    whole contiguous runs wherever the layout allows.
//!
//! Reshape, Squeeze, Unsqueeze and Flatten change only the shape. Range generates i32 or
//! i64 values; f32 Range is rejected (see [`range`]).

pub(crate) mod cases;
mod concat;
mod copy;
mod expand;
mod gather;
pub(crate) mod gpu;
mod range;
mod reshape;
mod slice;
#[cfg(test)]
mod tests;
mod transpose;

pub(crate) use concat::{eval_concat, infer_concat};
pub(crate) use expand::{eval_expand, infer_expand};
pub(crate) use gather::{eval_gather, eval_gather_nd, infer_gather, infer_gather_nd};
pub(crate) use range::{eval_range, infer_range};
pub(crate) use reshape::{
    eval_flatten, eval_reshape, eval_shape, eval_squeeze, eval_unsqueeze, infer_flatten, infer_reshape, infer_shape,
    infer_squeeze, infer_unsqueeze, shape_of,
};
pub(crate) use slice::{eval_slice, infer_slice};
pub(crate) use transpose::{eval_transpose, infer_transpose};

use super::{InferInput, OpError, concrete, fixed_dims, normalize_axis};
use crate::ir::{Dim, Fact};
use crate::tensor::{DType, Tensor};

/// Most elements a Range, Expand, Gather or GatherND output may have: inputs that ask for
/// more are hostile or broken, and are refused before anything is allocated.
const MAX_ELEMENTS: usize = 1 << 31;

/// `count` if it is known and at most [`MAX_ELEMENTS`].
///
/// # Errors
/// When `count` overflowed (`None`) or is over the limit, naming `what` was counted.
fn within_limit(count: Option<usize>, what: &str) -> Result<usize, OpError> {
    count.filter(|&n| n <= MAX_ELEMENTS).ok_or_else(|| OpError::new(format!("too many elements: {what}")))
}

/// The element count of some dims of a tensor: exact for a non-empty tensor, saturating
/// (never panicking) for an empty one, whose output is empty and never reads it.
fn product(dims: &[usize]) -> usize {
    dims.iter().fold(1, |acc, &d| acc.saturating_mul(d))
}

/// Checks that an index or shape input is i32 or i64.
fn check_index_dtype(dtype: DType, what: &str) -> Result<(), OpError> {
    if matches!(dtype, DType::I32 | DType::I64) {
        Ok(())
    } else {
        Err(OpError::new(format!("{what} must be i32 or i64, got {dtype}")))
    }
}

/// The values of an index or shape input, widened to i64.
fn index_values(tensor: &Tensor, what: &str) -> Result<Vec<i64>, OpError> {
    check_index_dtype(tensor.dtype(), what)?;
    Ok(tensor.to_i64_vec()?)
}

/// The values of an index or shape input at inference, when it is a constant.
fn known_values(input: &InferInput<'_>, what: &str) -> Result<Option<Vec<i64>>, OpError> {
    check_index_dtype(input.fact.dtype, what)?;
    input.value.map(|t| index_values(t, what)).transpose()
}

/// The length of a 1-D shape-like input, when its fact fixes it.
fn known_length(fact: &Fact) -> Option<usize> {
    match fact.shape.as_deref() {
        Some([Dim::Fixed(n)]) => Some(*n),
        _ => None,
    }
}

/// Marks the axes named in `axes` (negative count from the end) among `rank` axes.
///
/// # Errors
/// When an axis is out of range or named twice.
fn axis_mask(axes: &[i64], rank: usize) -> Result<Vec<bool>, OpError> {
    let mut mask = vec![false; rank];
    for &axis in axes {
        let a = normalize_axis(axis, rank)?;
        if std::mem::replace(&mut mask[a], true) {
            return Err(OpError::new(format!("axis is repeated: {axis}")));
        }
    }
    Ok(mask)
}

/// Two dims that must be equal, merged into what is known of both.
///
/// # Errors
/// When both are fixed and differ.
fn unify(a: &Dim, b: &Dim) -> Result<Dim, OpError> {
    match (a, b) {
        (Dim::Fixed(x), Dim::Fixed(y)) if x != y => Err(OpError::new(format!("dimensions differ: {x} and {y}"))),
        (Dim::Fixed(_), _) | (Dim::Symbol(_), Dim::Symbol(_) | Dim::Unknown) => Ok(a.clone()),
        _ => Ok(b.clone()),
    }
}
