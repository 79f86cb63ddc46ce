//! Elementwise ops: unary functions, broadcast binary arithmetic/comparison/logic,
//! `Where` and `Cast`.
//!
//! Numerics: each output element depends on its own inputs only. f32 results are
//! [`numerics::canonical`]; the float functions are in [`scalar`] and call the shared
//! algorithms of [`crate::numerics`]. Integer arithmetic wraps (two's complement) and is
//! exact; integer division truncates toward zero and division by zero is an error.
//! f16 tensors take part only in `Identity`, `Where`, comparisons of equality and `Cast`:
//! arithmetic happens in f32.

pub(crate) mod cases;
mod cast;
pub(crate) mod gpu;
mod scalar;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

pub(crate) use cast::{eval_cast, infer_cast};
pub(crate) use scalar::{maps_f32, unary_f32_chunk};

use super::broadcast::{broadcast_dims, broadcast_shapes, broadcast_strides, for_each_offset};
use super::{InferInput, OpError, expect_inputs};
use crate::ir::{BinaryOp, Fact, UnaryOp};
use crate::tensor::{DType, Tensor, TensorData};

/// Element count above which elementwise kernels split work across rayon threads.
const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Output fact of a unary op: same shape; bool for `IsNaN`.
pub(crate) fn infer_unary(op: UnaryOp, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let fact = inputs[0].fact;
    let dtype = unary_output_dtype(op, fact.dtype)?;
    Ok(Fact { dtype, shape: fact.shape.clone() })
}

fn unary_output_dtype(op: UnaryOp, dtype: DType) -> Result<DType, OpError> {
    let ok = match op {
        UnaryOp::Identity => true,
        UnaryOp::Not => dtype == DType::Bool,
        UnaryOp::IsNaN => dtype.is_float(),
        UnaryOp::Neg | UnaryOp::Abs => matches!(dtype, DType::F32 | DType::I32 | DType::I64),
        _ => dtype == DType::F32,
    };
    if !ok {
        return Err(OpError::new(format!("input dtype is not supported: {dtype}")));
    }
    Ok(if op == UnaryOp::IsNaN { DType::Bool } else { dtype })
}

/// Applies a unary op.
pub(crate) fn eval_unary(op: UnaryOp, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    unary_output_dtype(op, inputs[0].dtype())?;
    apply_unary(op, inputs[0].clone())
}

/// Applies a unary op to a tensor the caller gives up: float → float ops write their
/// results over its buffer.
pub(crate) fn apply_unary(op: UnaryOp, mut x: Tensor) -> Result<Tensor, OpError> {
    unary_output_dtype(op, x.dtype())?;
    if let (Some(v), true) = (x.f32_mut(), maps_f32(op)) {
        scalar::unary_f32(op, v)?;
        return Ok(x);
    }
    let data = match (op, x.data()) {
        (UnaryOp::Identity, _) => return Ok(x),
        (UnaryOp::Not, TensorData::Bool(v)) => TensorData::Bool(v.iter().map(|b| !b).collect()),
        (UnaryOp::IsNaN, TensorData::F32(v)) => {
            TensorData::Bool(v.iter().map(|&x| crate::numerics::is_nan(x)).collect())
        }
        (UnaryOp::IsNaN, TensorData::F16(v)) => TensorData::Bool(v.iter().map(|x| x.is_nan()).collect()),
        (UnaryOp::Neg, TensorData::I32(v)) => TensorData::I32(v.iter().map(|x| x.wrapping_neg()).collect()),
        (UnaryOp::Neg, TensorData::I64(v)) => TensorData::I64(v.iter().map(|x| x.wrapping_neg()).collect()),
        (UnaryOp::Abs, TensorData::I32(v)) => TensorData::I32(v.iter().map(|x| x.wrapping_abs()).collect()),
        (UnaryOp::Abs, TensorData::I64(v)) => TensorData::I64(v.iter().map(|x| x.wrapping_abs()).collect()),
        (_, data) => return Err(OpError::new(format!("input dtype is not supported: {}", data.dtype()))),
    };
    Ok(Tensor::new(x.shape().to_vec(), data)?)
}

/// Output fact of a binary op: the broadcast shape; bool for comparisons.
pub(crate) fn infer_binary(op: BinaryOp, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (a, b) = (inputs[0].fact, inputs[1].fact);
    if a.dtype != b.dtype {
        return Err(OpError::new(format!("input dtypes differ: {} and {}", a.dtype, b.dtype)));
    }
    let dtype = binary_output_dtype(op, a.dtype)?;
    let shape = match (&a.shape, &b.shape) {
        (Some(sa), Some(sb)) => Some(broadcast_dims(sa, sb)?),
        _ => None,
    };
    Ok(Fact { dtype, shape })
}

fn binary_output_dtype(op: BinaryOp, dtype: DType) -> Result<DType, OpError> {
    let ok = if op.is_logical() {
        dtype == DType::Bool
    } else if op == BinaryOp::Equal {
        true
    } else {
        matches!(dtype, DType::F32 | DType::I32 | DType::I64)
    };
    if !ok {
        return Err(OpError::new(format!("input dtype is not supported: {dtype}")));
    }
    Ok(if op.is_comparison() { DType::Bool } else { dtype })
}

/// Applies a broadcast binary op.
pub(crate) fn eval_binary(op: BinaryOp, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (a, b) = (inputs[0], inputs[1]);
    if a.dtype() != b.dtype() {
        return Err(OpError::new(format!("input dtypes differ: {} and {}", a.dtype(), b.dtype())));
    }
    binary_output_dtype(op, a.dtype())?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let zip = Zip { a: a.shape(), b: b.shape(), out: &shape };
    let data = match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => scalar::binary_f32(op, &zip, x, y)?,
        (TensorData::I64(x), TensorData::I64(y)) => scalar::binary_int(op, &zip, x, y, TensorData::I64)?,
        (TensorData::I32(x), TensorData::I32(y)) => scalar::binary_int(op, &zip, x, y, TensorData::I32)?,
        (TensorData::Bool(x), TensorData::Bool(y)) => scalar::binary_bool(op, &zip, x, y)?,
        (x, y) => TensorData::Bool(equal_any(&zip, x, y)?),
    };
    Ok(Tensor::new(shape, data)?)
}

/// `Equal` on the remaining dtypes (f16, i8, u8): compares values, as IEEE does for f16.
fn equal_any(zip: &Zip<'_>, x: &TensorData, y: &TensorData) -> Result<Vec<bool>, OpError> {
    Ok(match (x, y) {
        (TensorData::F16(x), TensorData::F16(y)) => zip.apply(x, y, |a, b| a == b),
        (TensorData::I8(x), TensorData::I8(y)) => zip.apply(x, y, |a, b| a == b),
        (TensorData::U8(x), TensorData::U8(y)) => zip.apply(x, y, |a, b| a == b),
        (x, _) => return Err(OpError::new(format!("input dtype is not supported: {}", x.dtype()))),
    })
}

/// Walks two inputs broadcast to an output shape.
struct Zip<'a> {
    a: &'a [usize],
    b: &'a [usize],
    out: &'a [usize],
}

impl Zip<'_> {
    /// `f(a, b)` for every output element, with fast paths for equal shapes and scalars.
    fn apply<A, B, O>(&self, x: &[A], y: &[B], f: impl Fn(A, B) -> O + Sync) -> Vec<O>
    where
        A: Copy + Sync,
        B: Copy + Sync,
        O: Send + Copy,
    {
        let n: usize = self.out.iter().product();
        if x.len() == n && y.len() == n && self.a == self.b {
            if n >= PARALLEL_THRESHOLD {
                return x
                    .par_iter()
                    .zip(y.par_iter())
                    .with_min_len(PARALLEL_THRESHOLD / 4)
                    .map(|(&a, &b)| f(a, b))
                    .collect();
            }
            return x.iter().zip(y).map(|(&a, &b)| f(a, b)).collect();
        }
        if y.len() == 1 && x.len() == n {
            let b = y[0];
            return x.iter().map(|&a| f(a, b)).collect();
        }
        if x.len() == 1 && y.len() == n {
            let a = x[0];
            return y.iter().map(|&b| f(a, b)).collect();
        }
        let sa = broadcast_strides(self.a, self.out);
        let sb = broadcast_strides(self.b, self.out);
        let Some((&len, outer)) = self.out.split_last() else {
            return vec![f(x[0], y[0])];
        };
        let rank = outer.len();
        // Walk the output row by row (the last dimension), so the per-element work is a
        // contiguous or constant read on each side.
        let mut out = Vec::with_capacity(n);
        for_each_offset(outer, [&sa[..rank], &sb[..rank]], |_, [ia, ib]| match (sa[rank], sb[rank]) {
            (0, 0) => out.extend(std::iter::repeat_n(f(x[ia], y[ib]), len)),
            (0, _) => out.extend(y[ib..ib + len].iter().map(|&b| f(x[ia], b))),
            (_, 0) => out.extend(x[ia..ia + len].iter().map(|&a| f(a, y[ib]))),
            _ => out.extend(x[ia..ia + len].iter().zip(&y[ib..ib + len]).map(|(&a, &b)| f(a, b))),
        });
        out
    }
}

/// Output fact of `Where(cond, x, y)`.
pub(crate) fn infer_where(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 3, 3)?;
    let (c, x, y) = (inputs[0].fact, inputs[1].fact, inputs[2].fact);
    if c.dtype != DType::Bool {
        return Err(OpError::new(format!("condition must be bool, got {}", c.dtype)));
    }
    if x.dtype != y.dtype {
        return Err(OpError::new(format!("branch dtypes differ: {} and {}", x.dtype, y.dtype)));
    }
    let shape = match (&c.shape, &x.shape, &y.shape) {
        (Some(sc), Some(sx), Some(sy)) => Some(broadcast_dims(&broadcast_dims(sc, sx)?, sy)?),
        _ => None,
    };
    Ok(Fact { dtype: x.dtype, shape })
}

/// `Where(cond, x, y)`: picks `x` where the condition holds, else `y` (bits copied).
pub(crate) fn eval_where(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 3, 3)?;
    let (c, x, y) = (inputs[0], inputs[1], inputs[2]);
    let cond = c.as_bool()?;
    if x.dtype() != y.dtype() {
        return Err(OpError::new(format!("branch dtypes differ: {} and {}", x.dtype(), y.dtype())));
    }
    let shape = broadcast_shapes(&broadcast_shapes(c.shape(), x.shape())?, y.shape())?;
    let strides = [c.shape(), x.shape(), y.shape()].map(|s| broadcast_strides(s, &shape));
    fn pick<T: Copy + Default>(shape: &[usize], strides: &[Vec<usize>; 3], cond: &[bool], x: &[T], y: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); shape.iter().product()];
        for_each_offset(shape, [&strides[0], &strides[1], &strides[2]], |i, [ic, ix, iy]| {
            out[i] = if cond[ic] { x[ix] } else { y[iy] };
        });
        out
    }
    let data = match (x.data(), y.data()) {
        (TensorData::F32(a), TensorData::F32(b)) => TensorData::F32(pick(&shape, &strides, cond, a, b)),
        (TensorData::F16(a), TensorData::F16(b)) => TensorData::F16(pick(&shape, &strides, cond, a, b)),
        (TensorData::I8(a), TensorData::I8(b)) => TensorData::I8(pick(&shape, &strides, cond, a, b)),
        (TensorData::U8(a), TensorData::U8(b)) => TensorData::U8(pick(&shape, &strides, cond, a, b)),
        (TensorData::I32(a), TensorData::I32(b)) => TensorData::I32(pick(&shape, &strides, cond, a, b)),
        (TensorData::I64(a), TensorData::I64(b)) => TensorData::I64(pick(&shape, &strides, cond, a, b)),
        (TensorData::Bool(a), TensorData::Bool(b)) => TensorData::Bool(pick(&shape, &strides, cond, a, b)),
        _ => return Err(OpError::new("branch dtypes differ")),
    };
    Ok(Tensor::new(shape, data)?)
}
