//! The ONNX operator table: `(op_type, first opset, lowering)` for the default domain.
//!
//! This is the only place ONNX operator names are matched. Each lowering reads its
//! node's attributes (with the defaults of the model's opset) and emits IR nodes;
//! an op is supported from the row's opset (the one that introduced the semantics the
//! lowering implements, at least [`MIN_OPSET`]) up to [`MAX_OPSET`].

mod elementwise;
mod nn;
mod shape;

use super::lowering::Lowering;
use super::node::NodeCtx;
use super::{MAX_OPSET, MIN_OPSET, OnnxError};
use crate::ir::{BinaryOp as B, ReduceKind, UnaryOp as U};
use crate::tensor::Tensor;

/// Lowers one node into the graph under construction.
pub(super) type Lower = fn(&NodeCtx<'_>, &mut Lowering) -> Result<(), OnnxError>;

#[rustfmt::skip]
const OPS: &[(&str, i64, Lower)] = &[
    ("Abs", 6, |n, l| elementwise::unary(n, l, U::Abs)),
    ("Ceil", 6, |n, l| elementwise::unary(n, l, U::Ceil)),
    ("Erf", 9, |n, l| elementwise::unary(n, l, U::Erf)),
    ("Exp", 6, |n, l| elementwise::unary(n, l, U::Exp)),
    ("Floor", 6, |n, l| elementwise::unary(n, l, U::Floor)),
    ("HardSwish", 14, |n, l| elementwise::unary(n, l, U::HardSwish)),
    ("Identity", 1, |n, l| elementwise::unary(n, l, U::Identity)),
    ("IsNaN", 9, |n, l| elementwise::unary(n, l, U::IsNaN)),
    ("Log", 6, |n, l| elementwise::unary(n, l, U::Log)),
    ("Neg", 6, |n, l| elementwise::unary(n, l, U::Neg)),
    ("Not", 1, |n, l| elementwise::unary(n, l, U::Not)),
    ("Reciprocal", 6, |n, l| elementwise::unary(n, l, U::Reciprocal)),
    ("Relu", 6, |n, l| elementwise::unary(n, l, U::Relu)),
    ("Sigmoid", 6, |n, l| elementwise::unary(n, l, U::Sigmoid)),
    ("Sqrt", 6, |n, l| elementwise::unary(n, l, U::Sqrt)),
    ("Tanh", 6, |n, l| elementwise::unary(n, l, U::Tanh)),
    ("HardSigmoid", 6, elementwise::hard_sigmoid),
    ("Dropout", 7, elementwise::dropout),
    ("Clip", 6, elementwise::clip),
    ("Add", 7, |n, l| elementwise::binary(n, l, B::Add)),
    ("Sub", 7, |n, l| elementwise::binary(n, l, B::Sub)),
    ("Mul", 7, |n, l| elementwise::binary(n, l, B::Mul)),
    ("Div", 7, |n, l| elementwise::binary(n, l, B::Div)),
    ("Pow", 7, |n, l| elementwise::binary(n, l, B::Pow)),
    ("And", 7, |n, l| elementwise::binary(n, l, B::And)),
    ("Or", 7, |n, l| elementwise::binary(n, l, B::Or)),
    ("Xor", 7, |n, l| elementwise::binary(n, l, B::Xor)),
    ("Equal", 7, |n, l| elementwise::binary(n, l, B::Equal)),
    ("Less", 7, |n, l| elementwise::binary(n, l, B::Less)),
    ("LessOrEqual", 12, |n, l| elementwise::binary(n, l, B::LessOrEqual)),
    ("Greater", 7, |n, l| elementwise::binary(n, l, B::Greater)),
    ("GreaterOrEqual", 12, |n, l| elementwise::binary(n, l, B::GreaterOrEqual)),
    ("Max", 8, |n, l| elementwise::variadic(n, l, B::Max)),
    ("Min", 8, |n, l| elementwise::variadic(n, l, B::Min)),
    ("Sum", 8, |n, l| elementwise::variadic(n, l, B::Add)),
    ("Where", 9, elementwise::where_),
    ("Cast", 6, elementwise::cast),
    ("Constant", 1, elementwise::constant),
    ("MatMul", 1, nn::matmul),
    ("Gemm", 7, nn::gemm),
    ("Conv", 1, nn::conv),
    ("BatchNormalization", 7, nn::batch_norm),
    ("GlobalAveragePool", 1, nn::global_average_pool),
    ("MaxPool", 8, nn::max_pool),
    ("AveragePool", 7, nn::average_pool),
    ("Softmax", 1, nn::softmax),
    ("LayerNormalization", 17, nn::layer_norm),
    ("ReduceMean", 1, |n, l| shape::reduce(n, l, ReduceKind::Mean)),
    ("ReduceSum", 1, |n, l| shape::reduce(n, l, ReduceKind::Sum)),
    ("ReduceMax", 1, |n, l| shape::reduce(n, l, ReduceKind::Max)),
    ("ReduceMin", 1, |n, l| shape::reduce(n, l, ReduceKind::Min)),
    ("Shape", 1, shape::shape),
    ("Reshape", 5, shape::reshape),
    ("Transpose", 1, shape::transpose),
    ("Squeeze", 1, shape::squeeze),
    ("Unsqueeze", 1, shape::unsqueeze),
    ("Concat", 4, shape::concat),
    ("Slice", 1, shape::slice),
    ("Gather", 1, shape::gather),
    ("GatherND", 11, shape::gather_nd),
    ("Range", 11, shape::range),
    ("Expand", 8, shape::expand),
    ("Flatten", 1, shape::flatten),
];

/// The lowering of `op_type` in `domain` at `opset`, if supported.
pub(super) fn find(domain: &str, op_type: &str, opset: i64) -> Option<Lower> {
    if !domain.is_empty() || !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return None;
    }
    OPS.iter().find(|(name, since, _)| *name == op_type && opset >= *since).map(|&(_, _, lower)| lower)
}

/// Input `i` when it is present; it must then be a constant known while lowering.
fn constant_input<'l>(n: &NodeCtx<'_>, l: &'l Lowering, i: usize) -> Result<Option<&'l Tensor>, OnnxError> {
    let Some(name) = n.input(i) else {
        return Ok(None);
    };
    l.value(name).map(Some).ok_or_else(|| n.invalid(format!("input {i} must be a small constant: {name:?}")))
}

/// Input `i`, if present, as constant integers.
fn constant_ints(n: &NodeCtx<'_>, l: &Lowering, i: usize) -> Result<Option<Vec<i64>>, OnnxError> {
    let Some(tensor) = constant_input(n, l, i)? else {
        return Ok(None);
    };
    tensor.to_i64_vec().map(Some).map_err(|e| n.invalid(format!("input {i} must hold integers: {e}")))
}
