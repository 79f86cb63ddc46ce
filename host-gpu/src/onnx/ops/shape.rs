//! Lowerings of reductions and shape ops. ONNX moved several attributes to inputs over
//! the opsets (axes, Slice bounds); both forms are read here, and inputs that the IR
//! takes as attributes must be constants.

use super::constant_ints;
use crate::ir::{Fact, Op, ReduceKind, UnaryOp};
use crate::onnx::OnnxError;
use crate::onnx::lowering::Lowering;
use crate::onnx::node::NodeCtx;
use crate::tensor::Tensor;

/// `Reduce*`: axes from the attribute (older opsets) or a constant input (ReduceSum from
/// 13, the others from 18); no axes means all, or the identity with
/// `noop_with_empty_axes`.
pub(super) fn reduce(n: &NodeCtx<'_>, l: &mut Lowering, kind: ReduceKind) -> Result<(), OnnxError> {
    n.expect_inputs(1, 2)?;
    let x = n.required(0)?;
    let axes = match n.ints("axes")? {
        Some(axes) => axes.to_vec(),
        None => constant_ints(n, l, 1)?.unwrap_or_default(),
    };
    if axes.is_empty() && n.bool_or("noop_with_empty_axes", false)? {
        l.emit(n, Op::Unary(UnaryOp::Identity), &[x]);
        return Ok(());
    }
    l.emit(n, Op::Reduce { kind, axes, keepdims: n.bool_or("keepdims", true)? }, &[x]);
    Ok(())
}

/// `Shape` with optional `start`/`end` (opset 15).
pub(super) fn shape(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    l.emit(n, Op::Shape { start: n.int_or("start", 0)?, end: n.int("end")? }, &[n.required(0)?]);
    Ok(())
}

/// `Reshape(data, shape)`; `allowzero` defaults to 0.
pub(super) fn reshape(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 2)?;
    l.emit(n, Op::Reshape { allowzero: n.bool_or("allowzero", false)? }, &[n.required(0)?, n.required(1)?]);
    Ok(())
}

/// `Transpose`; without `perm` the dims are reversed, which needs the input's rank.
pub(super) fn transpose(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    let x = n.required(0)?;
    let perm = match n.usizes("perm")? {
        Some(perm) => perm,
        None => {
            let rank = l.fact(x).and_then(Fact::rank);
            (0..rank.ok_or_else(|| n.invalid("transpose without perm needs an input of known rank"))?).rev().collect()
        }
    };
    l.emit(n, Op::Transpose { perm }, &[x]);
    Ok(())
}

/// `Squeeze`: optional axes, an attribute before opset 13 and a constant input after.
pub(super) fn squeeze(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    let axes = axes_attr_or_input(n, l)?.unwrap_or_default();
    l.emit(n, Op::Squeeze { axes }, &[n.required(0)?]);
    Ok(())
}

/// `Unsqueeze`: required axes, an attribute before opset 13 and a constant input after.
pub(super) fn unsqueeze(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    let axes = axes_attr_or_input(n, l)?.ok_or_else(|| n.invalid("unsqueeze needs axes"))?;
    l.emit(n, Op::Unsqueeze { axes }, &[n.required(0)?]);
    Ok(())
}

fn axes_attr_or_input(n: &NodeCtx<'_>, l: &Lowering) -> Result<Option<Vec<i64>>, OnnxError> {
    if n.opset < 13 {
        n.expect_inputs(1, 1)?;
        Ok(n.ints("axes")?.map(<[i64]>::to_vec))
    } else {
        n.expect_inputs(1, 2)?;
        constant_ints(n, l, 1)
    }
}

/// `Concat` along the required `axis`.
pub(super) fn concat(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, usize::MAX)?;
    let inputs = (0..n.inputs().len()).map(|i| n.required(i)).collect::<Result<Vec<_>, _>>()?;
    l.emit(n, Op::Concat { axis: n.required_int("axis")? }, &inputs);
    Ok(())
}

/// `Slice`: from opset 10 the bounds are inputs and omitted `axes`/`steps` become
/// constants (`0..len` and ones, `len` read from a constant `starts` or `ends`); before,
/// the attributes become constants.
pub(super) fn slice(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    let data = n.required(0)?;
    let [starts, ends, axes, steps] = if n.opset < 10 { slice_attributes(n, l)? } else { slice_inputs(n, l)? };
    l.emit(n, Op::Slice, &[data, &starts, &ends, &axes, &steps]);
    Ok(())
}

fn slice_attributes(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<[String; 4], OnnxError> {
    n.expect_inputs(1, 1)?;
    let starts = n.ints("starts")?.ok_or_else(|| n.invalid("missing attribute: starts"))?;
    let ends = n.ints("ends")?.ok_or_else(|| n.invalid("missing attribute: ends"))?;
    let axes = n.ints("axes")?.map_or_else(|| count_up(starts.len()), <[i64]>::to_vec);
    Ok([
        ints_constant(n, l, "starts", starts.to_vec())?,
        ints_constant(n, l, "ends", ends.to_vec())?,
        ints_constant(n, l, "axes", axes)?,
        ints_constant(n, l, "steps", vec![1; starts.len()])?,
    ])
}

fn slice_inputs(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<[String; 4], OnnxError> {
    n.expect_inputs(3, 5)?;
    let (starts, ends) = (n.required(1)?, n.required(2)?);
    let len = [starts, ends].iter().find_map(|&name| l.value(name).map(Tensor::len));
    let len = || len.ok_or_else(|| n.invalid("slice without axes or steps needs constant starts or ends"));
    let axes = match n.input(3) {
        Some(axes) => axes.to_owned(),
        None => ints_constant(n, l, "axes", count_up(len()?))?,
    };
    let steps = match n.input(4) {
        Some(steps) => steps.to_owned(),
        None => ints_constant(n, l, "steps", vec![1; len()?])?,
    };
    Ok([starts.to_owned(), ends.to_owned(), axes, steps])
}

fn count_up(len: usize) -> Vec<i64> {
    (0..i64::try_from(len).unwrap_or(i64::MAX)).collect()
}

/// Declares a 1-D i64 constant named after the node.
fn ints_constant(n: &NodeCtx<'_>, l: &mut Lowering, suffix: &str, values: Vec<i64>) -> Result<String, OnnxError> {
    let tensor = Tensor::from_i64(vec![values.len()], values).map_err(|e| n.invalid(e.to_string()))?;
    l.step_constant(n, suffix, tensor)
}

/// `Gather(data, indices)` along `axis` (default 0).
pub(super) fn gather(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 2)?;
    l.emit(n, Op::Gather { axis: n.int_or("axis", 0)? }, &[n.required(0)?, n.required(1)?]);
    Ok(())
}

/// `GatherND(data, indices)` with `batch_dims` (default 0).
pub(super) fn gather_nd(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 2)?;
    l.emit(n, Op::GatherNd { batch_dims: n.usize_or("batch_dims", 0)? }, &[n.required(0)?, n.required(1)?]);
    Ok(())
}

/// `Range(start, limit, delta)`.
pub(super) fn range(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(3, 3)?;
    l.emit(n, Op::Range, &[n.required(0)?, n.required(1)?, n.required(2)?]);
    Ok(())
}

/// `Expand(data, shape)`.
pub(super) fn expand(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(2, 2)?;
    l.emit(n, Op::Expand, &[n.required(0)?, n.required(1)?]);
    Ok(())
}

/// `Flatten` at `axis` (default 1).
pub(super) fn flatten(n: &NodeCtx<'_>, l: &mut Lowering) -> Result<(), OnnxError> {
    n.expect_inputs(1, 1)?;
    l.emit(n, Op::Flatten { axis: n.int_or("axis", 1)? }, &[n.required(0)?]);
    Ok(())
}
