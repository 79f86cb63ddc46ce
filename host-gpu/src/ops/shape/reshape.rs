//! Ops that change only the shape, never the elements: Shape, Reshape, Squeeze, Unsqueeze
//! and Flatten. Each computes its output dims with one function over [`Dim`]s, used by
//! inference (symbolic dims) and by eval (fixed dims) alike.

use super::{axis_mask, concrete, fixed_dims, index_values, known_length, known_values};
use crate::ir::{Dim, Fact};
use crate::ops::{InferInput, OpError, expect_inputs};
use crate::tensor::{DType, Tensor};

/// The dims `start..end` of a shape as an i64 vector (ONNX Shape): negative bounds count
/// from the end, then both are clamped to `0..=rank`; an empty range gives an empty vector.
///
/// # Errors
/// Only if a dim does not fit i64.
pub(crate) fn shape_of(start: i64, end: Option<i64>, dims: &[usize]) -> Result<Tensor, OpError> {
    let (lo, hi) = shape_range(start, end, dims.len());
    let values = dims[lo..hi]
        .iter()
        .map(|&d| i64::try_from(d).map_err(|_| OpError::new(format!("dimension does not fit i64: {d}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::from_i64(vec![values.len()], values)?)
}

/// The clamped `start..end` of Shape over `rank` dims, with `start <= end`.
fn shape_range(start: i64, end: Option<i64>, rank: usize) -> (usize, usize) {
    let r = i64::try_from(rank).unwrap_or(i64::MAX);
    let clamp = |v: i64| {
        let v = if v < 0 { v.saturating_add(r) } else { v };
        usize::try_from(v.clamp(0, r)).unwrap_or(0)
    };
    let lo = clamp(start);
    (lo, end.map_or(rank, clamp).max(lo))
}

/// Output fact of Shape: i64 of the sliced rank.
pub(crate) fn infer_shape(start: i64, end: Option<i64>, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let len = match inputs[0].fact.rank() {
        Some(rank) => {
            let (lo, hi) = shape_range(start, end, rank);
            Dim::Fixed(hi - lo)
        }
        None => Dim::Unknown,
    };
    Ok(Fact { dtype: DType::I64, shape: Some(vec![len]) })
}

/// Shape: the input's dims as an i64 vector.
pub(crate) fn eval_shape(start: i64, end: Option<i64>, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    shape_of(start, end, inputs[0].shape())
}

/// A product of dims kept symbolic: `fixed × Π symbols`, the symbols sorted.
#[derive(Debug, Clone, PartialEq)]
struct Product {
    fixed: usize,
    symbols: Vec<String>,
}

impl Product {
    /// The product of `dims`; `None` when one of them is unknown.
    fn of(dims: &[Dim]) -> Result<Option<Product>, OpError> {
        let mut product = Product { fixed: 1, symbols: Vec::new() };
        for dim in dims {
            match dim {
                Dim::Fixed(n) => {
                    product.fixed = product
                        .fixed
                        .checked_mul(*n)
                        .ok_or_else(|| OpError::new(format!("shape has too many elements: {dims:?}")))?;
                }
                Dim::Symbol(s) => product.symbols.push(s.clone()),
                Dim::Unknown => return Ok(None),
            }
        }
        product.symbols.sort();
        Ok(Some(product))
    }

    /// The product as one dim, when it is a plain number or a lone symbol.
    fn to_dim(&self) -> Dim {
        match self.symbols.as_slice() {
            _ if self.fixed == 0 => Dim::Fixed(0),
            [] => Dim::Fixed(self.fixed),
            [symbol] if self.fixed == 1 => Dim::Symbol(symbol.clone()),
            _ => Dim::Unknown,
        }
    }

    /// `self / divisor`, when it is exact whatever (non-zero) values the symbols take.
    fn divide(&self, divisor: &Product) -> Option<Product> {
        if divisor.fixed == 0 || !self.fixed.is_multiple_of(divisor.fixed) {
            return None;
        }
        let mut symbols = self.symbols.clone();
        for symbol in &divisor.symbols {
            let at = symbols.iter().position(|s| s == symbol)?;
            symbols.remove(at);
        }
        Some(Product { fixed: self.fixed / divisor.fixed, symbols })
    }
}

/// Output dims of Reshape from the input dims (`None`: rank unknown) and the target.
///
/// # Errors
/// For an invalid target (two -1, values below -1, 0 beyond the input rank, 0 with -1
/// under `allowzero`) and for element counts that cannot match.
fn reshape_dims(input: Option<&[Dim]>, target: &[i64], allowzero: bool) -> Result<Vec<Dim>, OpError> {
    let inferred = check_target(target, allowzero)?;
    let mut out =
        target.iter().enumerate().map(|(i, &t)| target_dim(input, i, t, allowzero)).collect::<Result<Vec<_>, _>>()?;
    let Some(input) = input else {
        return Ok(out);
    };
    let others: Vec<Dim> =
        out.iter().enumerate().filter(|&(i, _)| Some(i) != inferred).map(|(_, d)| d.clone()).collect();
    let (Some(total), Some(known)) = (Product::of(input)?, Product::of(&others)?) else {
        return Ok(out);
    };
    let exact = total.symbols.is_empty() && known.symbols.is_empty();
    let mismatch = || OpError::new(format!("cannot reshape {} elements into {target:?}", total.fixed));
    match inferred {
        Some(i) => match total.divide(&known) {
            Some(quotient) => out[i] = quotient.to_dim(),
            None if exact => return Err(mismatch()),
            None => {}
        },
        None if exact && total.fixed != known.fixed => return Err(mismatch()),
        None => {}
    }
    Ok(out)
}

/// Validates a Reshape target; returns the position of its -1, if any.
fn check_target(target: &[i64], allowzero: bool) -> Result<Option<usize>, OpError> {
    if let Some(bad) = target.iter().find(|&&t| t < -1) {
        return Err(OpError::new(format!("reshape target has a negative dimension: {bad}")));
    }
    let mut minus = target.iter().enumerate().filter(|&(_, &t)| t == -1).map(|(i, _)| i);
    let inferred = minus.next();
    if minus.next().is_some() {
        return Err(OpError::new(format!("reshape target has more than one -1: {target:?}")));
    }
    if allowzero && inferred.is_some() && target.contains(&0) {
        return Err(OpError::new(format!("reshape target has both 0 and -1 under allowzero: {target:?}")));
    }
    Ok(inferred)
}

/// Output dim `i` of Reshape before any -1 is resolved (-1 gives [`Dim::Unknown`]).
fn target_dim(input: Option<&[Dim]>, i: usize, t: i64, allowzero: bool) -> Result<Dim, OpError> {
    Ok(match t {
        -1 => Dim::Unknown,
        0 if !allowzero => match input {
            Some(dims) => dims.get(i).cloned().ok_or_else(|| {
                OpError::new(format!("reshape target copies dimension {i} of a rank-{} input", dims.len()))
            })?,
            None => Dim::Unknown,
        },
        _ => Dim::Fixed(usize::try_from(t).map_err(|_| OpError::new(format!("dimension is too large: {t}")))?),
    })
}

/// Output fact of Reshape: exact when the target is constant (0 keeps a symbolic dim,
/// -1 is resolved when the element counts allow), else only the rank.
pub(crate) fn infer_reshape(allowzero: bool, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let data = inputs[0].fact;
    let shape = match known_values(&inputs[1], "reshape target")? {
        Some(target) => Some(reshape_dims(data.shape.as_deref(), &target, allowzero)?),
        None => known_length(inputs[1].fact).map(|n| vec![Dim::Unknown; n]),
    };
    Ok(Fact { dtype: data.dtype, shape })
}

/// Reshape: the same elements under the target shape.
pub(crate) fn eval_reshape(allowzero: bool, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let target = index_values(inputs[1], "reshape target")?;
    let dims = reshape_dims(Some(&fixed_dims(inputs[0].shape())), &target, allowzero)?;
    with_shape(inputs[0], &dims)
}

/// The input's elements under new dims (all fixed).
fn with_shape(input: &Tensor, dims: &[Dim]) -> Result<Tensor, OpError> {
    Ok(Tensor::new(concrete(dims)?, input.data().clone())?)
}

/// Output dims of Squeeze; `None` when empty `axes` meet a dim that may or may not be 1.
///
/// # Errors
/// When an axis is out of range, repeated, or names a dim that is not 1.
fn squeeze_dims(dims: &[Dim], axes: &[i64]) -> Result<Option<Vec<Dim>>, OpError> {
    if axes.is_empty() {
        if dims.iter().any(|d| d.fixed().is_none()) {
            return Ok(None);
        }
        return Ok(Some(dims.iter().filter(|&d| *d != Dim::Fixed(1)).cloned().collect()));
    }
    let mask = axis_mask(axes, dims.len())?;
    let mut out = Vec::with_capacity(dims.len());
    for (i, (dim, squeezed)) in dims.iter().zip(mask).enumerate() {
        match (squeezed, dim) {
            (false, _) => out.push(dim.clone()),
            (true, Dim::Fixed(n)) if *n != 1 => {
                return Err(OpError::new(format!("cannot squeeze axis {i} of size {n}")));
            }
            (true, _) => {}
        }
    }
    Ok(Some(out))
}

/// Output fact of Squeeze.
pub(crate) fn infer_squeeze(axes: &[i64], inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let fact = inputs[0].fact;
    let shape = match &fact.shape {
        Some(dims) => squeeze_dims(dims, axes)?,
        None => None,
    };
    Ok(Fact { dtype: fact.dtype, shape })
}

/// Squeeze: drops size-1 dims.
pub(crate) fn eval_squeeze(axes: &[i64], inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let dims = squeeze_dims(&fixed_dims(inputs[0].shape()), axes)?;
    with_shape(inputs[0], &dims.ok_or_else(|| OpError::new("squeezed shape is unknown"))?)
}

/// Output dims of Unsqueeze: `axes` name positions of the output.
///
/// # Errors
/// When an axis is out of range for the output rank, or repeated.
fn unsqueeze_dims(dims: &[Dim], axes: &[i64]) -> Result<Vec<Dim>, OpError> {
    let mask = axis_mask(axes, dims.len() + axes.len())?;
    let mut rest = dims.iter();
    Ok(mask
        .into_iter()
        .map(|new| if new { Dim::Fixed(1) } else { rest.next().cloned().unwrap_or(Dim::Unknown) })
        .collect())
}

/// Output fact of Unsqueeze.
pub(crate) fn infer_unsqueeze(axes: &[i64], inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let fact = inputs[0].fact;
    let shape = fact.shape.as_deref().map(|dims| unsqueeze_dims(dims, axes)).transpose()?;
    Ok(Fact { dtype: fact.dtype, shape })
}

/// Unsqueeze: inserts size-1 dims.
pub(crate) fn eval_unsqueeze(axes: &[i64], inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    with_shape(inputs[0], &unsqueeze_dims(&fixed_dims(inputs[0].shape()), axes)?)
}

/// The split point of Flatten: `axis` in `-rank..=rank`, negative counting from the end.
fn flatten_axis(axis: i64, rank: usize) -> Result<usize, OpError> {
    let r = i64::try_from(rank).unwrap_or(i64::MAX);
    let a = if axis < 0 { axis + r } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a <= rank)
        .ok_or_else(|| OpError::new(format!("flatten axis {axis} is out of range for rank {rank}")))
}

/// Output dims of Flatten: the products before and from the split point.
fn flatten_dims(dims: &[Dim], axis: i64) -> Result<Vec<Dim>, OpError> {
    let split = flatten_axis(axis, dims.len())?;
    [&dims[..split], &dims[split..]]
        .into_iter()
        .map(|part| Ok(Product::of(part)?.map_or(Dim::Unknown, |p| p.to_dim())))
        .collect()
}

/// Output fact of Flatten: always rank 2.
pub(crate) fn infer_flatten(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let fact = inputs[0].fact;
    let dims = match &fact.shape {
        Some(dims) => flatten_dims(dims, axis)?,
        None => vec![Dim::Unknown; 2],
    };
    Ok(Fact { dtype: fact.dtype, shape: Some(dims) })
}

/// Flatten: the same elements as a matrix.
pub(crate) fn eval_flatten(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    with_shape(inputs[0], &flatten_dims(&fixed_dims(inputs[0].shape()), axis)?)
}
