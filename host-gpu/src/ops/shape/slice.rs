//! Slice (ONNX opsets 13+): on each named axis, `start`, `end` and `step` are resolved
//! against the dim as ONNX specifies (negative bounds count from the end, then clamp, so
//! `i64::MIN`/`i64::MAX` work as "from the very start"/"to the very end"), and the output
//! is a strided view of the input; negative steps walk backwards.

use super::copy::{View, move_elements, signed_strides};
use super::{axis_mask, check_index_dtype, index_values, known_values};
use crate::ir::{Dim, Fact};
use crate::ops::{InferInput, OpError, expect_inputs, normalize_axis};
use crate::tensor::Tensor;

/// The bounds of one sliced axis, as given.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    axis: usize,
    start: i64,
    end: i64,
    step: i64,
}

/// One sliced axis resolved against its size: first index, element count and step.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Resolved {
    start: usize,
    count: usize,
    step: i64,
}

impl Bound {
    /// Applies the ONNX clamping rules for an axis of size `dim`.
    fn resolve(self, dim: usize) -> Result<Resolved, OpError> {
        let d = i64::try_from(dim).map_err(|_| OpError::new(format!("dimension is too large: {dim}")))?;
        let wrap = |v: i64| if v < 0 { v + d } else { v };
        let (start, end) = (wrap(self.start), wrap(self.end));
        let (start, span) = if self.step > 0 {
            let (s, e) = (start.clamp(0, d), end.clamp(0, d));
            (s, e - s)
        } else {
            let (s, e) = (start.max(0).min(d - 1), end.max(-1).min(d - 1));
            (s, s - e)
        };
        let count = u64::try_from(span).map_or(0, |span| span.div_ceil(self.step.unsigned_abs()));
        let count = usize::try_from(count).map_err(|_| OpError::new(format!("slice is too long: {count}")))?;
        // A slice of at most one element starts in range; its step is never taken.
        let start = if count == 0 { 0 } else { usize::try_from(start).unwrap_or(0) };
        Ok(Resolved { start, count, step: if count <= 1 { 1 } else { self.step } })
    }

    /// Whether this bound keeps the whole axis whatever its size.
    fn is_whole(self) -> bool {
        self.step == 1 && matches!(self.start, 0 | i64::MIN) && self.end == i64::MAX
    }
}

/// Pairs the bound inputs up per axis (`axes` defaults to `0..n`, `steps` to 1).
///
/// # Errors
/// When lengths differ, an axis is out of range or repeated, or a step is 0.
fn bounds(
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
    rank: usize,
) -> Result<Vec<Bound>, OpError> {
    let n = starts.len();
    let default_axes: Vec<i64> = (0..i64::try_from(n).unwrap_or(0)).collect();
    let axes = axes.unwrap_or(&default_axes);
    let lengths = [ends.len(), axes.len(), steps.map_or(n, <[i64]>::len)];
    if lengths.iter().any(|&len| len != n) {
        return Err(OpError::new(format!("slice starts, ends, axes and steps differ in length: {n} and {lengths:?}")));
    }
    axis_mask(axes, rank)?;
    (0..n)
        .map(|i| {
            let step = steps.map_or(1, |s| s[i]);
            if step == 0 {
                return Err(OpError::new(format!("slice step is zero on axis {}", axes[i])));
            }
            Ok(Bound { axis: normalize_axis(axes[i], rank)?, start: starts[i], end: ends[i], step })
        })
        .collect()
}

/// Output fact of Slice: with constant bounds, the sliced size of each fixed dim (a
/// symbolic dim survives a whole-axis slice); otherwise the rank, with the dims of
/// possibly sliced axes unknown.
pub(crate) fn infer_slice(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 3, 5)?;
    let data = inputs[0].fact;
    let names = ["slice starts", "slice ends", "slice axes", "slice steps"];
    for (input, what) in inputs[1..].iter().zip(names) {
        check_index_dtype(input.fact.dtype, what)?;
    }
    let Some(dims) = &data.shape else {
        return Ok(Fact::unknown(data.dtype));
    };
    let values =
        inputs[1..].iter().zip(names).map(|(input, what)| known_values(input, what)).collect::<Result<Vec<_>, _>>()?;
    let shape = match values.as_slice() {
        [Some(starts), Some(ends), rest @ ..] if rest.iter().all(Option::is_some) => {
            let [axes, steps] = [rest.first(), rest.get(1)].map(|v| v.and_then(Option::as_deref));
            sliced_dims(dims, &bounds(starts, ends, axes, steps, dims.len())?)?
        }
        [_, _, Some(axes), ..] => {
            let mask = axis_mask(axes, dims.len())?;
            dims.iter().zip(mask).map(|(d, sliced)| if sliced { Dim::Unknown } else { d.clone() }).collect()
        }
        _ => vec![Dim::Unknown; dims.len()],
    };
    Ok(Fact { dtype: data.dtype, shape: Some(shape) })
}

/// The dims after slicing by constant bounds.
fn sliced_dims(dims: &[Dim], bounds: &[Bound]) -> Result<Vec<Dim>, OpError> {
    let mut out = dims.to_vec();
    for bound in bounds {
        out[bound.axis] = match &dims[bound.axis] {
            Dim::Fixed(d) => Dim::Fixed(bound.resolve(*d)?.count),
            dim if bound.is_whole() => dim.clone(),
            _ => Dim::Unknown,
        };
    }
    Ok(out)
}

/// Slice: a strided window of the input.
pub(crate) fn eval_slice(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 3, 5)?;
    let x = inputs[0];
    let view = slice_view(x.shape(), &inputs[1..])?;
    let shape = view.dims.iter().map(|&(n, _)| n).collect();
    move_elements(&view, &[x], shape)
}

/// The view of an input of `shape` that reads the slice given by the bound tensors
/// (starts, ends, then optionally axes and steps; shared with the GPU lowering).
///
/// # Errors
/// When the bounds are malformed (see [`bounds`]) or not integer tensors.
pub(super) fn slice_view(shape: &[usize], bound_tensors: &[&Tensor]) -> Result<View, OpError> {
    let names = ["slice starts", "slice ends", "slice axes", "slice steps"];
    let values =
        bound_tensors.iter().zip(names).map(|(t, what)| index_values(t, what)).collect::<Result<Vec<_>, _>>()?;
    let (starts, ends) = (&values[0], &values[1]);
    let bounds = bounds(starts, ends, values.get(2).map(Vec::as_slice), values.get(3).map(Vec::as_slice), shape.len())?;
    let strides = signed_strides(shape);
    let mut dims: Vec<(usize, isize)> = shape.iter().copied().zip(strides.iter().copied()).collect();
    let mut offset = 0usize;
    for bound in bounds {
        let r = bound.resolve(shape[bound.axis])?;
        let stride = strides[bound.axis];
        // Saturation only happens for empty tensors, where nothing is read.
        offset = offset.saturating_add(r.start.saturating_mul(stride.unsigned_abs()));
        let step = isize::try_from(r.step).unwrap_or(isize::MAX);
        dims[bound.axis] = (r.count, stride.saturating_mul(step));
    }
    Ok(View { offset, dims })
}
