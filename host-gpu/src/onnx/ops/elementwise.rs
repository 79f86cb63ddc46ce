//! Lowerings of elementwise ops, `Cast` and `Constant`.

use super::constant_input;
use crate::ir::{BinaryOp, Op, UnaryOp};
use crate::onnx::OnnxError;
use crate::onnx::lowering::Lowering;
use crate::onnx::node::NodeCtx;
use crate::onnx::tensor;
use crate::tensor::{Tensor, TensorData, TensorError};

/// One input, one elementwise function.
pub(super) fn unary(n: &NodeCtx<'_>, l: &mut Lowering, op: UnaryOp) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    l.emit(n, Op::Unary(op), &[n.required(0)?]);
    Ok(())
}

/// `HardSigmoid`: `alpha` defaults to 0.2, `beta` to 0.5.
pub(super) fn hard_sigmoid(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    let op = UnaryOp::HardSigmoid { alpha: n.float_or("alpha", 0.2)?, beta: n.float_or("beta", 0.5)? };
    unary(n, l, op)
}

/// `Dropout` in inference mode is the identity of its first output; from opset 12 a
/// `training_mode` input, if given, must be a constant false.
pub(super) fn dropout(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, 3)?;
    if let Some(mode) = constant_input(n, l, 2)?
        && mode.as_bool().is_ok_and(|m| m.iter().any(|&b| b))
    {
        return Err(n.invalid("dropout in training mode is not supported"));
    }
    l.emit(n, Op::Unary(UnaryOp::Identity), &[n.required(0)?]);
    Ok(())
}

/// `Clip`: bounds are attributes before opset 11, optional constant scalar inputs after.
pub(super) fn clip(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    let (min, max) = if n.opset >= 11 {
        n.expect_inputs(1, 3)?;
        (clip_bound(n, l, 1, f32::NEG_INFINITY)?, clip_bound(n, l, 2, f32::INFINITY)?)
    } else {
        n.expect_inputs(1, 1)?;
        (n.float_or("min", f32::NEG_INFINITY)?, n.float_or("max", f32::INFINITY)?)
    };
    l.emit(n, Op::Unary(UnaryOp::Clip { min, max }), &[n.required(0)?]);
    Ok(())
}

fn clip_bound(n: &NodeCtx<'_>, l: &Lowering, i: usize, default: f32) -> Result<f32, OnnxError> {
    let Some(bound) = constant_input(n, l, i)? else {
        return Ok(default);
    };
    match bound.as_f32() {
        Ok(&[value]) => Ok(value),
        _ => Err(n.invalid(format!("clip bound must be an f32 scalar: {bound:?}"))),
    }
}

/// Two inputs broadcast together.
pub(super) fn binary(n: &NodeCtx<'_>, l: &mut Lowering, op: BinaryOp) -> Result<(), OnnxError> {
    n.expect_inputs(2, 2)?;
    l.emit(n, Op::Binary(op), &[n.required(0)?, n.required(1)?]);
    Ok(())
}

/// `Max`/`Min`/`Sum` of any number of inputs: a left-to-right chain of binary nodes.
pub(super) fn variadic(n: &NodeCtx<'_>, l: &mut Lowering, op: BinaryOp) -> Result<(), OnnxError> {
    n.expect_inputs(1, usize::MAX)?;
    let inputs = (0..n.inputs().len()).map(|i| n.required(i)).collect::<Result<Vec<_>, _>>()?;
    let Some((&last, rest)) = inputs.split_last() else {
        return Err(n.invalid("no inputs"));
    };
    let Some((&first, middle)) = rest.split_first() else {
        l.emit(n, Op::Unary(UnaryOp::Identity), &[last]);
        return Ok(());
    };
    let mut acc = first.to_owned();
    for &input in middle {
        acc = l.emit_step(n, "partial", Op::Binary(op), &[&acc, input]);
    }
    l.emit(n, Op::Binary(op), &[&acc, last]);
    Ok(())
}

/// `Where(cond, x, y)`.
pub(super) fn where_(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(3, 3)?;
    l.emit(n, Op::Where, &[n.required(0)?, n.required(1)?, n.required(2)?]);
    Ok(())
}

/// `Cast` to a supported element type.
pub(super) fn cast(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    let code = i32::try_from(n.required_int("to")?).unwrap_or(i32::MAX);
    let to = tensor::dtype_from_onnx(code)
        .ok_or_else(|| n.invalid(format!("cast to an unsupported type: {}", tensor::type_name(code))))?;
    l.emit(n, Op::Cast { to }, &[n.required(0)?]);
    Ok(())
}

/// `Constant`: its one value attribute becomes a constant named by the output.
pub(super) fn constant(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(0, 0)?;
    let names: Vec<&str> = n.attr_names().collect();
    let [name] = names.as_slice() else {
        return Err(n.invalid(format!("constant needs exactly one value attribute, got {names:?}")));
    };
    let invalid = |e: TensorError| n.invalid(e.to_string());
    let value = match *name {
        "value" => {
            let mut proto = n.tensor(name)?.ok_or_else(|| n.invalid("constant value tensor is missing"))?.clone();
            if proto.name.is_empty() {
                n.output().clone_into(&mut proto.name);
            }
            tensor::to_tensor(proto)?
        }
        "value_float" => Tensor::scalar_f32(n.float_or(name, 0.0)?),
        "value_int" => Tensor::new(Vec::new(), TensorData::I64(vec![n.int_or(name, 0)?])).map_err(invalid)?,
        "value_floats" => {
            let values = n.floats(name)?.unwrap_or_default().to_vec();
            Tensor::from_f32(vec![values.len()], values).map_err(invalid)?
        }
        "value_ints" => {
            let values = n.ints(name)?.unwrap_or_default().to_vec();
            Tensor::from_i64(vec![values.len()], values).map_err(invalid)?
        }
        other => return Err(n.invalid(format!("unsupported constant attribute: {other}"))),
    };
    l.constant(n.output(), value)
}
