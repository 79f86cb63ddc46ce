//! Concat: joins inputs of one dtype and rank along an axis; for each position of the
//! outer axes, the output takes one contiguous block from each input in turn.

use super::copy::{Plan, move_elements, run};
use super::{concrete, fixed_dims, product, unify};
use crate::ir::{Dim, Fact};
use crate::ops::{InferInput, OpError, expect_inputs, normalize_axis};
use crate::tensor::Tensor;

/// Output dims of Concat from the inputs' dims (`None`: rank unknown); `None` when no
/// input's rank is known.
///
/// # Errors
/// When ranks differ or are 0, the axis is out of range, or other dims differ.
fn concat_dims(inputs: &[Option<&[Dim]>], axis: i64) -> Result<Option<Vec<Dim>>, OpError> {
    let mut known = inputs.iter().flatten();
    let Some(first) = known.next() else {
        return Ok(None);
    };
    let axis = normalize_axis(axis, first.len())?;
    let mut out = first.to_vec();
    for dims in known {
        if dims.len() != out.len() {
            return Err(OpError::new(format!("concat inputs differ in rank: {} and {}", out.len(), dims.len())));
        }
        for (i, (o, d)) in out.iter_mut().zip(dims.iter()).enumerate() {
            if i != axis {
                *o = unify(o, d).map_err(|e| OpError::new(format!("concat inputs differ off the axis: {e}")))?;
            }
        }
    }
    let sizes: Option<Vec<usize>> = inputs.iter().map(|dims| dims.and_then(|d| d[axis].fixed())).collect();
    out[axis] = match sizes {
        Some(sizes) => Dim::Fixed(
            sizes
                .iter()
                .try_fold(0usize, |acc, &n| acc.checked_add(n))
                .ok_or_else(|| OpError::new("concat is too large"))?,
        ),
        None => Dim::Unknown,
    };
    Ok(Some(out))
}

/// Output fact of Concat: the inputs' dims, summed along the axis.
pub(crate) fn infer_concat(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, usize::MAX)?;
    let dtype = inputs[0].fact.dtype;
    if let Some(other) = inputs.iter().find(|i| i.fact.dtype != dtype) {
        return Err(OpError::new(format!("concat inputs differ in dtype: {dtype} and {}", other.fact.dtype)));
    }
    let dims: Vec<Option<&[Dim]>> = inputs.iter().map(|i| i.fact.shape.as_deref()).collect();
    Ok(Fact { dtype, shape: concat_dims(&dims, axis)? })
}

/// Concat: the inputs joined along the axis.
pub(crate) fn eval_concat(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, usize::MAX)?;
    let all: Vec<Vec<Dim>> = inputs.iter().map(|t| fixed_dims(t.shape())).collect();
    let dims = concat_dims(&all.iter().map(|d| Some(d.as_slice())).collect::<Vec<_>>(), axis)?;
    let shape = concrete(&dims.ok_or_else(|| OpError::new("concat output shape is unknown"))?)?;
    let axis = normalize_axis(axis, shape.len())?;
    let blocks = inputs.iter().map(|t| product(&t.shape()[axis..])).collect();
    move_elements(&Blocks { outer: product(&shape[..axis]), blocks }, inputs, shape)
}

/// For each of `outer` positions, one block of `blocks[i]` elements from each source `i`.
struct Blocks {
    outer: usize,
    blocks: Vec<usize>,
}

impl Plan for Blocks {
    fn fill<T: Copy>(&self, sources: &[&[T]], out: &mut Vec<T>) -> Result<(), OpError> {
        for o in 0..self.outer {
            for (source, &len) in sources.iter().zip(&self.blocks) {
                out.extend_from_slice(run(source, o.saturating_mul(len), len)?);
            }
        }
        Ok(())
    }
}
