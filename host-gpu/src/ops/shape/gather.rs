//! Gather and GatherND: the output is a list of contiguous blocks of the data, one per
//! index (Gather) or per index tuple (GatherND); negative indices count from the end.
//! Block positions are exact for non-empty data; they saturate rather than overflow for
//! empty data, whose (empty) output never reads them.

use super::copy::{Runs, move_elements};
use super::{check_index_dtype, concrete, fixed_dims, index_values, known_values, product, unify, within_limit};
use crate::ir::{Dim, Fact};
use crate::ops::{InferInput, OpError, expect_inputs, normalize_axis};
use crate::tensor::Tensor;

/// An index into an axis of size `dim`, negative counting from the end.
///
/// # Errors
/// When the index is out of range, naming it.
fn wrap_index(index: i64, dim: usize) -> Result<usize, OpError> {
    let d = i64::try_from(dim).unwrap_or(i64::MAX);
    let wrapped = if index < 0 { index + d } else { index };
    usize::try_from(wrapped)
        .ok()
        .filter(|&i| i < dim)
        .ok_or_else(|| OpError::new(format!("index {index} is out of range for an axis of size {dim}")))
}

/// Output dims of Gather: the data dims with the indexed axis replaced by the index dims.
fn gather_dims(data: &[Dim], indices: &[Dim], axis: usize) -> Vec<Dim> {
    [&data[..axis], indices, &data[axis + 1..]].concat()
}

/// Output fact of Gather; constant indices are checked against a fixed axis size.
pub(crate) fn infer_gather(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let data = inputs[0].fact;
    let indices = known_values(&inputs[1], "gather indices")?;
    let Some(dims) = &data.shape else {
        return Ok(Fact::unknown(data.dtype));
    };
    let axis = normalize_axis(axis, dims.len())?;
    if let (Some(values), Dim::Fixed(d)) = (&indices, &dims[axis]) {
        values.iter().try_for_each(|&i| wrap_index(i, *d).map(drop))?;
    }
    let shape = inputs[1].fact.shape.as_ref().map(|index_dims| gather_dims(dims, index_dims, axis));
    Ok(Fact { dtype: data.dtype, shape })
}

/// Gather: for each index, the block of the data at that position of `axis`.
pub(crate) fn eval_gather(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (x, indices) = (inputs[0], inputs[1]);
    let axis = normalize_axis(axis, x.rank())?;
    let dim = x.shape()[axis];
    let indices_values = index_values(indices, "gather indices")?;
    let positions = indices_values.iter().map(|&i| wrap_index(i, dim)).collect::<Result<Vec<_>, _>>()?;
    let shape = [&x.shape()[..axis], indices.shape(), &x.shape()[axis + 1..]].concat();
    let (outer, inner) = (product(&x.shape()[..axis]), product(&x.shape()[axis + 1..]));
    within_limit(outer.checked_mul(positions.len()), "gather blocks")?;
    let starts = (0..outer)
        .flat_map(|o| positions.iter().map(move |&p| o.saturating_mul(dim).saturating_add(p).saturating_mul(inner)))
        .collect();
    move_elements(&Runs { len: inner, starts }, &[x], shape)
}

/// Output dims of GatherND, or `None` when the tuple length is not fixed.
///
/// # Errors
/// When the ranks, the tuple length or the batch dims do not fit together.
fn gather_nd_dims(data: &[Dim], indices: &[Dim], batch_dims: usize) -> Result<Option<Vec<Dim>>, OpError> {
    let (r, q) = (data.len(), indices.len());
    if batch_dims >= r.min(q) {
        return Err(OpError::new(format!("batch_dims must be below both ranks ({r} and {q}): {batch_dims}")));
    }
    let Some(m) = indices[q - 1].fixed() else {
        return Ok(None);
    };
    if m == 0 || m > r - batch_dims {
        return Err(OpError::new(format!("index tuples must have 1 to {} elements: {m}", r - batch_dims)));
    }
    let batch = data[..batch_dims].iter().zip(indices).map(|(a, b)| unify(a, b)).collect::<Result<Vec<_>, _>>()?;
    Ok(Some([&batch, &indices[batch_dims..q - 1], &data[batch_dims + m..]].concat()))
}

/// Output fact of GatherND.
pub(crate) fn infer_gather_nd(batch_dims: usize, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let data = inputs[0].fact;
    check_index_dtype(inputs[1].fact.dtype, "gathernd indices")?;
    let shape = match (&data.shape, &inputs[1].fact.shape) {
        (Some(d), Some(i)) => gather_nd_dims(d, i, batch_dims)?,
        _ => None,
    };
    Ok(Fact { dtype: data.dtype, shape })
}

/// GatherND: for each index tuple (within its batch), the block of the data it names.
pub(crate) fn eval_gather_nd(batch_dims: usize, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (x, indices) = (inputs[0], inputs[1]);
    let (data_dims, index_dims) = (fixed_dims(x.shape()), fixed_dims(indices.shape()));
    let dims = gather_nd_dims(&data_dims, &index_dims, batch_dims)?;
    let shape = concrete(&dims.ok_or_else(|| OpError::new("gathernd output shape is unknown"))?)?;
    let m = indices.shape()[indices.rank() - 1];
    let tuples = index_values(indices, "gathernd indices")?;
    let rest = &x.shape()[batch_dims..];
    let (tuple_shape, slice_shape) = rest.split_at(m);
    let (slice, batch_size) = (product(slice_shape), product(rest));
    let per_batch = product(&indices.shape()[batch_dims..indices.rank() - 1]);
    let mut starts = Vec::with_capacity(tuples.len() / m);
    for (t, tuple) in tuples.chunks_exact(m).enumerate() {
        let batch = t.checked_div(per_batch).unwrap_or(0);
        let mut at = 0usize;
        for (&index, &dim) in tuple.iter().zip(tuple_shape) {
            at = at.saturating_mul(dim).saturating_add(wrap_index(index, dim)?);
        }
        starts.push(batch.saturating_mul(batch_size).saturating_add(at.saturating_mul(slice)));
    }
    move_elements(&Runs { len: slice, starts }, &[x], shape)
}
