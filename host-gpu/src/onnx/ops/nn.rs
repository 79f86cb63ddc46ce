//! Lowerings of the neural-network ops: products, convolution, normalization, pooling,
//! softmax.

use crate::ir::{BinaryOp, ConvAttrs, Fact, Op, PoolAttrs, PoolKind};
use crate::onnx::OnnxError;
use crate::onnx::lowering::Lowering;
use crate::onnx::node::NodeCtx;
use crate::tensor::Tensor;

/// `MatMul(a, b)`.
pub(super) fn matmul(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 2)?;
    l.emit(n, Op::MatMul, &[n.required(0)?, n.required(1)?]);
    Ok(())
}

/// `Gemm`: `alpha * A' * B' + beta * C` as Transpose, MatMul, Mul and Add nodes, each
/// only when needed (a zero `beta` drops `C`).
pub(super) fn gemm(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 3)?;
    let (alpha, beta) = (n.float_or("alpha", 1.0)?, n.float_or("beta", 1.0)?);
    let mut a = n.required(0)?.to_owned();
    let mut b = n.required(1)?.to_owned();
    if n.bool_or("transA", false)? {
        a = l.emit_step(n, "a_transposed", Op::Transpose { perm: vec![1, 0] }, &[&a]);
    }
    if n.bool_or("transB", false)? {
        b = l.emit_step(n, "b_transposed", Op::Transpose { perm: vec![1, 0] }, &[&b]);
    }
    let c = n.input(2).filter(|_| beta != 0.0);
    let scaled = alpha != 1.0;
    let mut y = l.emit_last_or_step(n, !scaled && c.is_none(), "matmul", Op::MatMul, &[&a, &b]);
    if scaled {
        let alpha = l.step_constant(n, "alpha", Tensor::scalar_f32(alpha))?;
        y = l.emit_last_or_step(n, c.is_none(), "alpha_mul", Op::Binary(BinaryOp::Mul), &[&y, &alpha]);
    }
    if let Some(c) = c {
        let c = if beta == 1.0 {
            c.to_owned()
        } else {
            let beta = l.step_constant(n, "beta", Tensor::scalar_f32(beta))?;
            l.emit_step(n, "beta_mul", Op::Binary(BinaryOp::Mul), &[c, &beta])
        };
        l.emit(n, Op::Binary(BinaryOp::Add), &[&y, &c]);
    }
    Ok(())
}

/// `Conv` (2-D); `kernel_shape` defaults to the weight's spatial dims.
pub(super) fn conv(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 3)?;
    let (x, w) = (n.required(0)?, n.required(1)?);
    let kernel = match n.usizes("kernel_shape")? {
        Some(kernel) => kernel,
        None => l
            .fact(w)
            .and_then(Fact::concrete_shape)
            .and_then(|shape| shape.get(2..).map(<[usize]>::to_vec))
            .ok_or_else(|| n.invalid("kernel_shape is missing and the weight shape is unknown"))?,
    };
    let window = Window::parse(n, l, x, kernel)?;
    let group = n.usize_or("group", 1)?;
    if group == 0 {
        return Err(n.invalid("group must be positive: 0"));
    }
    let attrs = ConvAttrs {
        kernel: window.kernel,
        strides: window.strides,
        pads: window.pads,
        dilations: window.dilations,
        group,
    };
    let mut inputs = vec![x, w];
    inputs.extend(n.input(2));
    l.emit(n, Op::Conv(attrs), &inputs);
    Ok(())
}

/// `BatchNormalization` in inference mode (only its first output).
pub(super) fn batch_norm(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(5, 5)?;
    if n.opset < 9 && n.int_or("spatial", 1)? != 1 {
        return Err(n.invalid("batch normalization with spatial = 0 is not supported"));
    }
    if n.int_or("training_mode", 0)? != 0 {
        return Err(n.invalid("batch normalization in training mode is not supported"));
    }
    let inputs = (0..5).map(|i| n.required(i)).collect::<Result<Vec<_>, _>>()?;
    l.emit(n, Op::BatchNorm { epsilon: n.float_or("epsilon", 1e-5)? }, &inputs);
    Ok(())
}

/// `GlobalAveragePool` (the window fields of [`PoolAttrs`] are unused).
pub(super) fn global_average_pool(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    let attrs =
        PoolAttrs { kind: PoolKind::GlobalAverage, kernel: [1, 1], strides: [1, 1], pads: [0; 4], ceil_mode: false };
    l.emit(n, Op::Pool(attrs), &[n.required(0)?]);
    Ok(())
}

/// `MaxPool` (only its first output; `storage_order` affects only the second).
pub(super) fn max_pool(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    pool(n, l, PoolKind::Max)
}

/// `AveragePool`; `count_include_pad` defaults to 0.
pub(super) fn average_pool(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    pool(n, l, PoolKind::Average { count_include_pad: n.bool_or("count_include_pad", false)? })
}

fn pool(n: &NodeCtx<'_>, l: &mut Lowering, kind: PoolKind) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    let x = n.required(0)?;
    let kernel = n.usizes("kernel_shape")?.ok_or_else(|| n.invalid("missing attribute: kernel_shape"))?;
    let window = Window::parse(n, l, x, kernel)?;
    if window.dilations != [1, 1] {
        return Err(n.invalid(format!("pooling with dilations is not supported: {:?}", window.dilations)));
    }
    let attrs = PoolAttrs {
        kind,
        kernel: window.kernel,
        strides: window.strides,
        pads: window.pads,
        ceil_mode: n.bool_or("ceil_mode", false)?,
    };
    l.emit(n, Op::Pool(attrs), &[x]);
    Ok(())
}

/// The sliding-window attributes shared by `Conv` and the pools.
struct Window {
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    dilations: [usize; 2],
}

impl Window {
    /// Reads `strides`, `dilations` and `pads`/`auto_pad` (defaults 1, 1 and 0).
    fn parse(n: &NodeCtx<'_>, l: &Lowering, x: &str, kernel: Vec<usize>) -> Result<Window, OnnxError> {
        let kernel = pair(n, "kernel_shape", kernel)?;
        let strides = pair(n, "strides", n.usizes("strides")?.unwrap_or_else(|| vec![1, 1]))?;
        let dilations = pair(n, "dilations", n.usizes("dilations")?.unwrap_or_else(|| vec![1, 1]))?;
        let pads = match n.string("auto_pad")?.unwrap_or("NOTSET") {
            "NOTSET" | "" => {
                let pads = n.usizes("pads")?.unwrap_or_else(|| vec![0; 4]);
                <[usize; 4]>::try_from(pads).map_err(|p| n.invalid(format!("pads must have 4 values: {p:?}")))?
            }
            "VALID" => [0; 4],
            mode @ ("SAME_UPPER" | "SAME_LOWER") => {
                let mut pads = [0; 4];
                for axis in 0..2 {
                    let total = same_padding(n, l, x, axis, kernel[axis], strides[axis], dilations[axis])?;
                    let (half, rest) = (total / 2, total - total / 2);
                    let (begin, end) = if mode == "SAME_UPPER" { (half, rest) } else { (rest, half) };
                    (pads[axis], pads[axis + 2]) = (begin, end);
                }
                pads
            }
            other => return Err(n.invalid(format!("unknown auto_pad: {other}"))),
        };
        Ok(Window { kernel, strides, pads, dilations })
    }
}

/// A 2-D attribute whose values must be positive.
fn pair(n: &NodeCtx<'_>, what: &str, values: Vec<usize>) -> Result<[usize; 2], OnnxError> {
    match <[usize; 2]>::try_from(values) {
        Ok(pair) if pair.iter().all(|&v| v > 0) => Ok(pair),
        Ok(pair) => Err(n.invalid(format!("{what} must be positive: {pair:?}"))),
        Err(v) => Err(n.invalid(format!("only 2-d windows are supported: {what} = {v:?}"))),
    }
}

/// Total `SAME_*` padding along one spatial axis: independent of the input size at
/// stride 1, else computed from the input's fixed size.
fn same_padding(
    n: &NodeCtx<'_>,
    l: &Lowering,
    x: &str,
    axis: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<usize, OnnxError> {
    let span = (kernel - 1)
        .checked_mul(dilation)
        .and_then(|s| s.checked_add(1))
        .ok_or_else(|| n.invalid(format!("window is too large: kernel {kernel}, dilation {dilation}")))?;
    if stride == 1 {
        return Ok(span - 1);
    }
    let size = l.fact(x).and_then(|f| f.shape.as_ref()?.get(2 + axis)?.fixed()).ok_or_else(|| {
        n.invalid("auto_pad SAME with stride > 1 needs a fixed input size: re-export with explicit pads")
    })?;
    let needed = size.div_ceil(stride).saturating_sub(1).checked_mul(stride).and_then(|s| s.checked_add(span));
    needed.map(|needed| needed.saturating_sub(size)).ok_or_else(|| n.invalid("window is too large"))
}

/// `Softmax`. Before opset 13 the input is coerced to 2-D at `axis` (default 1): that is
/// a plain softmax when `axis` is the last axis, else Flatten, Softmax and a Reshape back.
pub(super) fn softmax(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    let x = n.required(0)?;
    if n.opset >= 13 {
        l.emit(n, Op::Softmax { axis: n.int_or("axis", -1)? }, &[x]);
        return Ok(());
    }
    let axis = n.int_or("axis", 1)?;
    let rank = l.fact(x).and_then(Fact::rank).and_then(|r| i64::try_from(r).ok());
    if axis == -1 || rank.is_some_and(|r| axis == r - 1) {
        l.emit(n, Op::Softmax { axis: -1 }, &[x]);
        return Ok(());
    }
    let flat = l.emit_step(n, "flatten", Op::Flatten { axis }, &[x]);
    let soft = l.emit_step(n, "softmax", Op::Softmax { axis: 1 }, &[&flat]);
    let shape = l.emit_step(n, "shape", Op::Shape { start: 0, end: None }, &[x]);
    l.emit(n, Op::Reshape { allowzero: true }, &[&soft, &shape]);
    Ok(())
}

/// `LayerNormalization` (only its first output; statistics are f32 whatever `stash_type`).
pub(super) fn layer_norm(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 3)?;
    let op = Op::LayerNorm { axis: n.int_or("axis", -1)?, epsilon: n.float_or("epsilon", 1e-5)? };
    let mut inputs = vec![n.required(0)?, n.required(1)?];
    inputs.extend(n.input(2));
    l.emit(n, op, &inputs);
    Ok(())
}
