//! `Cast`: element type conversion.
//!
//! Rules (part of the numerics specification):
//! - int → f32 only when |value| < 2^24 (exact); larger values are an error, because WGSL
//!   leaves the rounding of inexact conversions open (DESIGN rule 4).
//! - f32 → int truncates toward zero; NaN, ±inf and values outside the target range are
//!   an error. f32 → bool: nonzero (NaN included) is true.
//! - f32 → f16 rounds to nearest, ties to even (overflow → ±inf); f16 → f32 is exact.
//! - int → int wraps (two's complement); int → bool: nonzero is true; bool → number: 1/0.

use half::f16;

use crate::ir::Fact;
use crate::numerics::canonical;
use crate::ops::{InferInput, OpError, expect_inputs};
use crate::tensor::{DType, Tensor, TensorData};

/// Largest magnitude (exclusive) an integer may have to be converted to f32.
const EXACT_F32_LIMIT: i64 = 1 << 24;

/// Output fact of `Cast`: same shape, the target dtype.
pub(crate) fn infer_cast(to: DType, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    Ok(Fact { dtype: to, shape: inputs[0].fact.shape.clone() })
}

/// Converts every element to `to`.
pub(crate) fn eval_cast(to: DType, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let x = inputs[0];
    let data = match x.data() {
        TensorData::F32(v) => from_f32(v, to)?,
        TensorData::F16(v) => from_f32(&v.iter().map(|h| h.to_f32()).collect::<Vec<_>>(), to)?,
        TensorData::Bool(v) => from_ints(v.iter().map(|&b| i64::from(b)), to)?,
        TensorData::I8(v) => from_ints(v.iter().map(|&i| i64::from(i)), to)?,
        TensorData::U8(v) => from_ints(v.iter().map(|&i| i64::from(i)), to)?,
        TensorData::I32(v) => from_ints(v.iter().map(|&i| i64::from(i)), to)?,
        TensorData::I64(v) => from_ints(v.iter().copied(), to)?,
    };
    Ok(Tensor::new(x.shape().to_vec(), data)?)
}

fn from_f32(v: &[f32], to: DType) -> Result<TensorData, OpError> {
    Ok(match to {
        DType::F32 => TensorData::F32(v.iter().map(|&x| canonical(x)).collect()),
        DType::F16 => TensorData::F16(v.iter().map(|&x| f16::from_f32(x)).collect()),
        DType::Bool => TensorData::Bool(v.iter().map(|&x| x != 0.0).collect()),
        _ => {
            let ints = v.iter().map(|&x| truncate(x)).collect::<Result<Vec<i64>, _>>()?;
            from_ints(ints.into_iter(), to)?
        }
    })
}

/// Truncates toward zero; errors when the value has no i64 equivalent.
fn truncate(x: f32) -> Result<i64, OpError> {
    // 2^63 as f32 is exact; every finite f32 below it in magnitude truncates into i64.
    const LIMIT: f32 = 9_223_372_036_854_775_808.0;
    if !(x.is_finite() && x.abs() < LIMIT) {
        return Err(OpError::new(format!("cannot convert float to integer: {x}")));
    }
    // Checked finite and in range just above, so the conversion is exact.
    Ok(x.trunc() as i64)
}

fn from_ints(v: impl Iterator<Item = i64>, to: DType) -> Result<TensorData, OpError> {
    Ok(match to {
        DType::F32 => TensorData::F32(v.map(exact_f32).collect::<Result<_, _>>()?),
        DType::F16 => TensorData::F16(v.map(|i| exact_f32(i).map(f16::from_f32)).collect::<Result<_, _>>()?),
        DType::Bool => TensorData::Bool(v.map(|i| i != 0).collect()),
        DType::I8 => TensorData::I8(v.map(|i| i as i8).collect()),
        DType::U8 => TensorData::U8(v.map(|i| i as u8).collect()),
        DType::I32 => TensorData::I32(v.map(|i| i as i32).collect()),
        DType::I64 => TensorData::I64(v.collect()),
    })
}

fn exact_f32(i: i64) -> Result<f32, OpError> {
    if i.unsigned_abs() >= EXACT_F32_LIMIT.unsigned_abs() {
        return Err(OpError::new(format!("integer is too large to convert to f32 exactly: {i}")));
    }
    // |i| < 2^24, so the conversion is exact.
    Ok(i as f32)
}
