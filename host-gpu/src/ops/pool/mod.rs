//! Pool: 2-D max, average and global average pooling, NCHW, f32 (ONNX MaxPool,
//! AveragePool, GlobalAveragePool).
//!
//! Shapes: `x` is `[N, C, H, W]`; the output is `[N, C, OH, OW]` with
//! `OH = (H + pad_top + pad_bottom - kH) / sH + 1`, rounded up instead of down with
//! `ceil_mode`, in which case a last window that would start in the bottom padding is
//! dropped (as ONNX Runtime and PyTorch do); likewise `OW`. Global average pooling gives
//! `[N, C, 1, 1]`. Pads must be smaller than the kernel, so every window holds at least
//! one input value.
//!
//! # Numerics
//!
//! For output `(n, c, oy, ox)`, the window rows are `oy·sH - pad_top ..` (kH of them) and
//! columns `ox·sW - pad_left ..` (kW); only the positions inside the input are read,
//! in row-major order:
//!
//! ```text
//! max:     acc = -inf;  for each x:  acc = max(acc, x)          // numerics::max: NaN wins
//! average: acc = +0.0;  for each x:  acc = add(acc, x)
//!          out = mul(acc, reciprocal(count as f32))
//! ```
//!
//! `count` is the number of positions read, or with `count_include_pad` the number of
//! window positions inside the padded input (`H + pad_top + pad_bottom` rows; ceil-mode
//! overhang beyond that never counts). Global average pooling is the average over the
//! whole plane (`count = H·W`). Every count is below 2^24, so it converts to f32 exactly.
//! Outputs are canonical.

pub(crate) mod cases;
mod cpu;
pub(crate) mod gpu;
#[cfg(test)]
mod tests;

use super::{InferInput, OpError, concrete, expect_inputs, fixed_dims};
use crate::ir::{Dim, Fact, PoolAttrs, PoolKind};
use crate::tensor::{DType, Tensor};

/// Output fact of a pool: `[N, C, OH, OW]`, sizes known where the input fixes them.
pub(crate) fn infer(attrs: &PoolAttrs, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let fact = inputs[0].fact;
    check_f32(fact.dtype)?;
    let shape = fact.shape.as_deref().map(|x| output_dims(attrs, x)).transpose()?;
    Ok(Fact { dtype: DType::F32, shape })
}

/// Runs the pool (the numerics are in the module documentation).
pub(crate) fn eval(attrs: &PoolAttrs, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let x = inputs[0];
    check_f32(x.dtype())?;
    let shape = concrete(&output_dims(attrs, &fixed_dims(x.shape()))?)?;
    let window = cpu::Window::new(attrs, x.shape(), &shape);
    Ok(Tensor::from_f32(shape, cpu::pool(attrs.kind, &window, x.as_f32()?))?)
}

fn check_f32(dtype: DType) -> Result<(), OpError> {
    if dtype != DType::F32 {
        return Err(OpError::new(format!("pooling supports f32 only, got {dtype}")));
    }
    Ok(())
}

/// Largest window or plane whose count converts to f32 exactly.
const MAX_COUNT: usize = 1 << 24;

/// Checks the attributes and the input dims, and returns the output dims.
fn output_dims(attrs: &PoolAttrs, x: &[Dim]) -> Result<Vec<Dim>, OpError> {
    if x.len() != 4 {
        return Err(OpError::new(format!("pooling needs a rank-4 input, got rank {}", x.len())));
    }
    if attrs.kind == PoolKind::GlobalAverage {
        if let (Some(h), Some(w)) = (x[2].fixed(), x[3].fixed())
            && (h * w == 0 || h * w >= MAX_COUNT)
        {
            return Err(OpError::new(format!(
                "global average pooling needs 1 to 2^24 - 1 values per plane, got {h}x{w}"
            )));
        }
        return Ok(vec![x[0].clone(), x[1].clone(), Dim::Fixed(1), Dim::Fixed(1)]);
    }
    check_window(attrs)?;
    let oh = x[2].fixed().map(|h| spatial(h, attrs, 0)).transpose()?.map_or(Dim::Unknown, Dim::Fixed);
    let ow = x[3].fixed().map(|w| spatial(w, attrs, 1)).transpose()?.map_or(Dim::Unknown, Dim::Fixed);
    Ok(vec![x[0].clone(), x[1].clone(), oh, ow])
}

fn check_window(attrs: &PoolAttrs) -> Result<(), OpError> {
    let [kh, kw] = attrs.kernel;
    if kh == 0 || kw == 0 || attrs.strides.contains(&0) || kh * kw >= MAX_COUNT {
        return Err(OpError::new(format!("pool kernel and strides must be positive, kernel below 2^24: {attrs:?}")));
    }
    for (i, &pad) in attrs.pads.iter().enumerate() {
        if pad >= attrs.kernel[i % 2] {
            return Err(OpError::new(format!(
                "pool pads must be smaller than the kernel: pads {:?}, kernel {:?}",
                attrs.pads, attrs.kernel
            )));
        }
    }
    Ok(())
}

/// Output size along spatial axis `axis` (0: height, 1: width) for an input of `size`.
fn spatial(size: usize, attrs: &PoolAttrs, axis: usize) -> Result<usize, OpError> {
    let (kernel, stride, pad_begin) = (attrs.kernel[axis], attrs.strides[axis], attrs.pads[axis]);
    let padded = size + pad_begin + attrs.pads[axis + 2];
    if padded < kernel {
        return Err(OpError::new(format!("padded input size {padded} is smaller than the pool kernel {kernel}")));
    }
    let span = padded - kernel;
    let mut out = if attrs.ceil_mode { span.div_ceil(stride) + 1 } else { span / stride + 1 };
    if attrs.ceil_mode && (out - 1) * stride >= size + pad_begin {
        out -= 1;
    }
    Ok(out)
}
