//! The per-element functions of the elementwise family, one monomorphized loop per op.

use rayon::prelude::*;

use super::{PARALLEL_THRESHOLD, Zip};
use crate::ir::{BinaryOp, UnaryOp};
use crate::numerics::{self, canonical};
use crate::ops::OpError;
use crate::ops::matmul::avx2_dispatch;
use crate::tensor::TensorData;

/// `1/6` rounded to f32: the slope of `HardSwish`.
const ONE_SIXTH: f32 = f32::from_bits(0x3E2A_AAAB);

/// `clamp(alpha * x + beta, 0, 1)`, NaN propagating: the same bits as
/// `max(0, min(1, v))` with [`numerics::max`]/[`numerics::min`] (so `-0` becomes `+0`),
/// written as a select chain that vectorizes.
#[inline(always)]
pub(super) fn hard_sigmoid(x: f32, alpha: f32, beta: f32) -> f32 {
    let v = numerics::add(numerics::mul(alpha, x), beta);
    if v >= 1.0 {
        1.0
    } else if v > 0.0 || numerics::is_nan(v) {
        v
    } else {
        0.0
    }
}

/// Applies a float → float unary op to every element of `v`, in place, across rayon
/// threads for large slices.
pub(crate) fn unary_f32(op: UnaryOp, v: &mut [f32]) -> Result<(), OpError> {
    if !maps_f32(op) {
        return Err(OpError::new(format!("{op:?} does not map f32 to f32")));
    }
    if v.len() >= PARALLEL_THRESHOLD {
        v.par_chunks_mut(PARALLEL_THRESHOLD / 4).for_each(|chunk| unary_f32_chunk(op, chunk));
    } else {
        unary_f32_chunk(op, v);
    }
    Ok(())
}

/// `v[i] = body(v[i])` for every element: a plain loop with the body written in place
/// (a closure or fn item passed down would not be inlined into the AVX2 function), so
/// LLVM vectorizes it across elements.
macro_rules! map_in_place {
    ($v:expr, |$x:ident| $body:expr) => {
        for slot in $v.iter_mut() {
            let $x: f32 = *slot;
            *slot = $body;
        }
    };
}

avx2_dispatch! {
    /// [`unary_f32`] on one chunk, on this thread, compiled for AVX2 when the CPU has it
    /// (the dispatch sits inside the rayon split: closures that rayon inlines would not
    /// get the feature). `op` must satisfy [`maps_f32`]; other ops leave `v` as it is.
    pub(crate) fn unary_f32_chunk(op: UnaryOp, v: &mut [f32]) => unary_f32_chunk_body
}

#[inline(always)]
fn unary_f32_chunk_body(op: UnaryOp, v: &mut [f32]) {
    match op {
        UnaryOp::Identity => {}
        UnaryOp::Neg => map_in_place!(v, |x| canonical(-x)),
        UnaryOp::Abs => map_in_place!(v, |x| canonical(f32::from_bits(x.to_bits() & 0x7FFF_FFFF))),
        UnaryOp::Relu => map_in_place!(v, |x| numerics::max(x, 0.0)),
        UnaryOp::Sigmoid => map_in_place!(v, |x| numerics::sigmoid(x)),
        UnaryOp::HardSigmoid { alpha, beta } => map_in_place!(v, |x| canonical(hard_sigmoid(x, alpha, beta))),
        UnaryOp::HardSwish => map_in_place!(v, |x| canonical(numerics::mul(x, hard_sigmoid(x, ONE_SIXTH, 0.5)))),
        UnaryOp::Tanh => map_in_place!(v, |x| numerics::tanh(x)),
        UnaryOp::Erf => map_in_place!(v, |x| numerics::erf(x)),
        UnaryOp::Exp => map_in_place!(v, |x| numerics::exp(x)),
        UnaryOp::Log => map_in_place!(v, |x| numerics::log(x)),
        UnaryOp::Sqrt => map_in_place!(v, |x| numerics::sqrt(x)),
        UnaryOp::Reciprocal => map_in_place!(v, |x| numerics::reciprocal(x)),
        UnaryOp::Clip { min, max } => map_in_place!(v, |x| numerics::max(min, numerics::min(max, x))),
        UnaryOp::Floor => map_in_place!(v, |x| canonical(x.floor())),
        UnaryOp::Ceil => map_in_place!(v, |x| canonical(x.ceil())),
        // Not float maps: rejected by `unary_f32` and `ChannelEpilogue::push_unary`.
        UnaryOp::Not | UnaryOp::IsNaN => {}
    }
}

/// Whether `op` maps f32 to f32 (every unary op but `Not` and `IsNaN`).
pub(crate) fn maps_f32(op: UnaryOp) -> bool {
    !matches!(op, UnaryOp::Not | UnaryOp::IsNaN)
}

/// Applies a float binary op; comparisons give bool. IEEE comparisons: NaN compares
/// unequal and unordered, `+0 == -0`.
pub(super) fn binary_f32(op: BinaryOp, zip: &Zip<'_>, x: &[f32], y: &[f32]) -> Result<TensorData, OpError> {
    Ok(match op {
        BinaryOp::Add => TensorData::F32(zip.apply(x, y, |a, b| canonical(a + b))),
        BinaryOp::Sub => TensorData::F32(zip.apply(x, y, |a, b| canonical(a - b))),
        BinaryOp::Mul => TensorData::F32(zip.apply(x, y, |a, b| canonical(a * b))),
        BinaryOp::Div => TensorData::F32(zip.apply(x, y, numerics::div)),
        BinaryOp::Pow => TensorData::F32(zip.apply(x, y, numerics::pow)),
        BinaryOp::Max => TensorData::F32(zip.apply(x, y, numerics::max)),
        BinaryOp::Min => TensorData::F32(zip.apply(x, y, numerics::min)),
        BinaryOp::Equal => TensorData::Bool(zip.apply(x, y, |a, b| a == b)),
        BinaryOp::Less => TensorData::Bool(zip.apply(x, y, |a, b| a < b)),
        BinaryOp::LessOrEqual => TensorData::Bool(zip.apply(x, y, |a, b| a <= b)),
        BinaryOp::Greater => TensorData::Bool(zip.apply(x, y, |a, b| a > b)),
        BinaryOp::GreaterOrEqual => TensorData::Bool(zip.apply(x, y, |a, b| a >= b)),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => return Err(unsupported(op, "f32")),
    })
}

/// The integer types binary ops support, with the exact operations they need.
pub(super) trait WrappingInt: Copy + Default + Ord + Send + Sync {
    /// Zero.
    const ZERO: Self;
    /// Two's complement sum.
    fn add(self, other: Self) -> Self;
    /// Two's complement difference.
    fn sub(self, other: Self) -> Self;
    /// Two's complement product.
    fn mul(self, other: Self) -> Self;
    /// Quotient truncated toward zero (the divisor is checked nonzero beforehand).
    fn div(self, other: Self) -> Self;
    /// `self` to a non-negative power, wrapping.
    fn pow(self, exponent: Self) -> Self;
}

macro_rules! wrapping_int {
    ($t:ty) => {
        impl WrappingInt for $t {
            const ZERO: Self = 0;
            fn add(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            fn sub(self, other: Self) -> Self {
                self.wrapping_sub(other)
            }
            fn mul(self, other: Self) -> Self {
                self.wrapping_mul(other)
            }
            fn div(self, other: Self) -> Self {
                self.checked_div(other).unwrap_or(Self::MIN)
            }
            fn pow(self, exponent: Self) -> Self {
                self.wrapping_pow(u32::try_from(exponent).unwrap_or(u32::MAX))
            }
        }
    };
}
wrapping_int!(i32);
wrapping_int!(i64);

/// Applies an integer binary op; `wrap` builds the value tensor data. A zero divisor
/// and a negative exponent are errors.
pub(super) fn binary_int<T: WrappingInt>(
    op: BinaryOp,
    zip: &Zip<'_>,
    x: &[T],
    y: &[T],
    wrap: fn(Vec<T>) -> TensorData,
) -> Result<TensorData, OpError> {
    if op == BinaryOp::Div && y.contains(&T::ZERO) {
        return Err(OpError::new("integer division by zero"));
    }
    if op == BinaryOp::Pow && y.iter().any(|v| *v < T::ZERO) {
        return Err(OpError::new("integer power with a negative exponent"));
    }
    Ok(match op {
        BinaryOp::Add => wrap(zip.apply(x, y, T::add)),
        BinaryOp::Sub => wrap(zip.apply(x, y, T::sub)),
        BinaryOp::Mul => wrap(zip.apply(x, y, T::mul)),
        BinaryOp::Div => wrap(zip.apply(x, y, T::div)),
        BinaryOp::Pow => wrap(zip.apply(x, y, T::pow)),
        BinaryOp::Max => wrap(zip.apply(x, y, Ord::max)),
        BinaryOp::Min => wrap(zip.apply(x, y, Ord::min)),
        BinaryOp::Equal => TensorData::Bool(zip.apply(x, y, |a, b| a == b)),
        BinaryOp::Less => TensorData::Bool(zip.apply(x, y, |a, b| a < b)),
        BinaryOp::LessOrEqual => TensorData::Bool(zip.apply(x, y, |a, b| a <= b)),
        BinaryOp::Greater => TensorData::Bool(zip.apply(x, y, |a, b| a > b)),
        BinaryOp::GreaterOrEqual => TensorData::Bool(zip.apply(x, y, |a, b| a >= b)),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => return Err(unsupported(op, "integer")),
    })
}

/// Applies a logical op (or `Equal`) to bools.
pub(super) fn binary_bool(op: BinaryOp, zip: &Zip<'_>, x: &[bool], y: &[bool]) -> Result<TensorData, OpError> {
    Ok(TensorData::Bool(match op {
        BinaryOp::And => zip.apply(x, y, |a, b| a && b),
        BinaryOp::Or => zip.apply(x, y, |a, b| a || b),
        BinaryOp::Xor => zip.apply(x, y, |a, b| a != b),
        BinaryOp::Equal => zip.apply(x, y, |a, b| a == b),
        _ => return Err(unsupported(op, "bool")),
    }))
}

fn unsupported(op: BinaryOp, what: &str) -> OpError {
    OpError::new(format!("{op:?} is not defined on {what} inputs"))
}
