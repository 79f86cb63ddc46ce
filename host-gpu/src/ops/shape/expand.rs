//! Expand: broadcasts the input against a target shape (numpy rules, both ways), copied
//! through a view whose broadcast axes have stride 0.

use super::copy::{View, move_elements};
use super::{fixed_dims, index_values, known_length, known_values};
use crate::ir::{Dim, Fact};
use crate::ops::broadcast::{broadcast_dims, broadcast_shapes, broadcast_strides};
use crate::ops::{InferInput, OpError, expect_inputs};
use crate::tensor::{Tensor, checked_numel};

/// The target shape of Expand as sizes.
fn target_dims(values: &[i64]) -> Result<Vec<usize>, OpError> {
    values
        .iter()
        .map(|&v| usize::try_from(v).map_err(|_| OpError::new(format!("expand target has a negative dimension: {v}"))))
        .collect()
}

/// Output fact of Expand: the broadcast of the input with the target (its values when
/// constant, else only its length).
pub(crate) fn infer_expand(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let data = inputs[0].fact;
    let target = match known_values(&inputs[1], "expand target")? {
        Some(values) => Some(fixed_dims(&target_dims(&values)?)),
        None => known_length(inputs[1].fact).map(|n| vec![Dim::Unknown; n]),
    };
    let shape = match (&data.shape, target) {
        (Some(dims), Some(target)) => Some(broadcast_dims(dims, &target)?),
        _ => None,
    };
    Ok(Fact { dtype: data.dtype, shape })
}

/// Expand: repeats the input along its size-1 (and new leading) axes.
pub(crate) fn eval_expand(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let x = inputs[0];
    let target = target_dims(&index_values(inputs[1], "expand target")?)?;
    let shape = broadcast_shapes(x.shape(), &target)?;
    if checked_numel(&shape) == Some(0) {
        // An empty input only broadcasts to an empty output; its strides may not fit.
        return Ok(Tensor::zeros(x.dtype(), shape)?);
    }
    move_elements(&broadcast_view(x.shape(), &shape), &[x], shape)
}

/// The view that reads an input of `shape` broadcast to `target` (a shape it broadcasts
/// to; shared with the GPU lowering).
pub(super) fn broadcast_view(shape: &[usize], target: &[usize]) -> View {
    let strides = broadcast_strides(shape, target);
    let dims = target.iter().zip(strides).map(|(&n, s)| (n, isize::try_from(s).unwrap_or(isize::MAX))).collect();
    View { offset: 0, dims }
}
