//! Range: `start, start + delta, …` while below `limit` (above it for a negative delta),
//! for i32 and i64 scalars. The count is `max(ceil((limit - start) / delta), 0)`, computed
//! exactly in i128. f32 Range is rejected: its ONNX count needs a float division whose
//! rounding the numerics specification does not define, and no supported model needs it.

use super::{index_values, within_limit};
use crate::ir::{Dim, Fact};
use crate::ops::{InferInput, OpError, expect_inputs};
use crate::tensor::{DType, Tensor, TensorData};

/// Checks the dtype shared by the three inputs.
fn check_dtypes(dtypes: [DType; 3]) -> Result<DType, OpError> {
    let [start, limit, delta] = dtypes;
    if limit != start || delta != start {
        return Err(OpError::new(format!("range inputs differ in dtype: {start}, {limit} and {delta}")));
    }
    if !matches!(start, DType::I32 | DType::I64) {
        return Err(OpError::new(format!("range supports i32 and i64 only, got {start}")));
    }
    Ok(start)
}

/// The value of a scalar input.
fn scalar(tensor: &Tensor, what: &str) -> Result<i64, OpError> {
    match index_values(tensor, what)?.as_slice() {
        [value] => Ok(*value),
        _ => Err(OpError::new(format!("{what} must be a scalar, got shape {:?}", tensor.shape()))),
    }
}

/// The number of elements of a Range.
///
/// # Errors
/// When `delta` is 0 or the count is above [`super::MAX_ELEMENTS`].
fn range_count(start: i64, limit: i64, delta: i64) -> Result<usize, OpError> {
    if delta == 0 {
        return Err(OpError::new("range delta is zero"));
    }
    let span = i128::from(limit) - i128::from(start);
    let count = if span != 0 && (span > 0) == (delta > 0) {
        span.unsigned_abs().div_ceil(u128::from(delta.unsigned_abs()))
    } else {
        0
    };
    within_limit(usize::try_from(count).ok(), &format!("range from {start} to {limit} by {delta}"))
}

/// The three scalar inputs of a Range.
fn bounds(inputs: [&Tensor; 3]) -> Result<[i64; 3], OpError> {
    let [start, limit, delta] = inputs;
    Ok([scalar(start, "range start")?, scalar(limit, "range limit")?, scalar(delta, "range delta")?])
}

/// Output fact of Range: 1-D, of known length when the bounds are constants.
pub(crate) fn infer_range(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 3, 3)?;
    let dtype = check_dtypes([inputs[0].fact.dtype, inputs[1].fact.dtype, inputs[2].fact.dtype])?;
    let len = match (inputs[0].value, inputs[1].value, inputs[2].value) {
        (Some(s), Some(l), Some(d)) => {
            let [start, limit, delta] = bounds([s, l, d])?;
            Dim::Fixed(range_count(start, limit, delta)?)
        }
        _ => Dim::Unknown,
    };
    Ok(Fact { dtype, shape: Some(vec![len]) })
}

/// Range: the arithmetic sequence.
pub(crate) fn eval_range(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 3, 3)?;
    let dtype = check_dtypes([inputs[0].dtype(), inputs[1].dtype(), inputs[2].dtype()])?;
    let [start, limit, delta] = bounds([inputs[0], inputs[1], inputs[2]])?;
    let count = range_count(start, limit, delta)?;
    // Every value lies between start and limit, so it fits the dtype of both.
    let values = (0..count).map(|i| i128::from(start) + i as i128 * i128::from(delta));
    let data = match dtype {
        DType::I32 => TensorData::I32(values.map(|v| i32::try_from(v).unwrap_or(i32::MAX)).collect()),
        _ => TensorData::I64(values.map(|v| i64::try_from(v).unwrap_or(i64::MAX)).collect()),
    };
    Ok(Tensor::new(vec![count], data)?)
}
