//! Operator families: for each, the inference rule (facts in → fact out) and the CPU
//! reference kernel (tensors in → tensor out), side by side.
//!
//! [`infer`] and [`eval`] are the only places that dispatch on every [`Op`]: one
//! exhaustive `match` each, one line per family, so a new variant does not compile until
//! its family handles it. [`eval_owned`] picks out the ops that can write their output
//! over their first input and sends the rest to [`eval`].

pub(crate) mod broadcast;
pub(crate) mod conv;
pub(crate) mod elementwise;
pub mod epilogue;
pub(crate) mod matmul;
pub(crate) mod norm;
pub(crate) mod pool;
pub(crate) mod reduce;
pub(crate) mod shape;
pub(crate) mod softmax;

use crate::ir::{Dim, Fact, Op};
use crate::tensor::{Tensor, TensorError};

/// What inference knows about one input: its fact, and its value when it is a constant.
#[derive(Debug, Clone, Copy)]
pub struct InferInput<'a> {
    /// Inferred dtype and shape.
    pub fact: &'a Fact,
    /// The value, when the input is a constant.
    pub value: Option<&'a Tensor>,
}

/// Why an op rejected its inputs (the caller adds the node name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

impl OpError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        OpError(message.into())
    }
}

impl From<TensorError> for OpError {
    fn from(e: TensorError) -> Self {
        OpError(e.to_string())
    }
}

/// Checks the input count of an op.
pub(crate) fn expect_inputs<T>(inputs: &[T], min: usize, max: usize) -> Result<(), OpError> {
    if inputs.len() < min || inputs.len() > max {
        let wanted = if min == max { min.to_string() } else { format!("{min} to {max}") };
        return Err(OpError::new(format!("expected {wanted} inputs, got {}", inputs.len())));
    }
    Ok(())
}

/// A concrete shape as inferred dims, so `eval` can reuse an op's inference rule.
pub(crate) fn fixed_dims(shape: &[usize]) -> Vec<Dim> {
    shape.iter().map(|&d| Dim::Fixed(d)).collect()
}

/// Inferred dims that must all be fixed (they came from concrete shapes).
pub(crate) fn concrete(dims: &[Dim]) -> Result<Vec<usize>, OpError> {
    dims.iter().map(|d| d.fixed().ok_or_else(|| OpError::new(format!("output dimension is not fixed: {d}")))).collect()
}

/// Resolves a possibly negative axis against a rank.
pub(crate) fn normalize_axis(axis: i64, rank: usize) -> Result<usize, OpError> {
    let r = i64::try_from(rank).map_err(|_| OpError::new("rank too large"))?;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(OpError::new(format!("axis {axis} is out of range for rank {rank}")));
    }
    usize::try_from(a).map_err(|_| OpError::new(format!("axis {axis} is out of range for rank {rank}")))
}

/// Output fact of `op` given what is known of its inputs.
///
/// # Errors
/// When the inputs cannot be valid for the op (wrong count, dtype, rank or sizes).
pub fn infer(op: &Op, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    match op {
        Op::Unary(u) => elementwise::infer_unary(*u, inputs),
        Op::Binary(b) => elementwise::infer_binary(*b, inputs),
        Op::Where => elementwise::infer_where(inputs),
        Op::Cast { to } => elementwise::infer_cast(*to, inputs),
        Op::MatMul => matmul::infer(inputs),
        Op::Conv(attrs) => conv::infer(attrs, inputs),
        Op::BatchNorm { .. } => norm::infer_batch_norm(inputs),
        Op::Pool(attrs) => pool::infer(attrs, inputs),
        Op::Softmax { axis } => softmax::infer(*axis, inputs),
        Op::LayerNorm { axis, .. } => norm::infer_layer_norm(*axis, inputs),
        Op::Reduce { kind, axes, keepdims } => reduce::infer(*kind, axes, *keepdims, inputs),
        Op::Shape { start, end } => shape::infer_shape(*start, *end, inputs),
        Op::Reshape { allowzero } => shape::infer_reshape(*allowzero, inputs),
        Op::Transpose { perm } => shape::infer_transpose(perm, inputs),
        Op::Squeeze { axes } => shape::infer_squeeze(axes, inputs),
        Op::Unsqueeze { axes } => shape::infer_unsqueeze(axes, inputs),
        Op::Concat { axis } => shape::infer_concat(*axis, inputs),
        Op::Slice => shape::infer_slice(inputs),
        Op::Gather { axis } => shape::infer_gather(*axis, inputs),
        Op::GatherNd { batch_dims } => shape::infer_gather_nd(*batch_dims, inputs),
        Op::Range => shape::infer_range(inputs),
        Op::Expand => shape::infer_expand(inputs),
        Op::Flatten { axis } => shape::infer_flatten(*axis, inputs),
    }
}

/// Runs the CPU reference kernel of `op`: the numerics specification.
///
/// # Errors
/// When the inputs are invalid for the op (the graph was inferred with unknown dims, so
/// the concrete sizes are checked here again).
pub fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    match op {
        Op::Unary(u) => elementwise::eval_unary(*u, inputs),
        Op::Binary(b) => elementwise::eval_binary(*b, inputs),
        Op::Where => elementwise::eval_where(inputs),
        Op::Cast { to } => elementwise::eval_cast(*to, inputs),
        Op::MatMul => matmul::eval(inputs),
        Op::Conv(attrs) => conv::eval(attrs, inputs),
        Op::BatchNorm { epsilon } => norm::eval_batch_norm(*epsilon, inputs),
        Op::Pool(attrs) => pool::eval(attrs, inputs),
        Op::Softmax { axis } => softmax::eval(*axis, inputs),
        Op::LayerNorm { axis, epsilon } => norm::eval_layer_norm(*axis, *epsilon, inputs),
        Op::Reduce { kind, axes, keepdims } => reduce::eval(*kind, axes, *keepdims, inputs),
        Op::Shape { start, end } => shape::eval_shape(*start, *end, inputs),
        Op::Reshape { allowzero } => shape::eval_reshape(*allowzero, inputs),
        Op::Transpose { perm } => shape::eval_transpose(perm, inputs),
        Op::Squeeze { axes } => shape::eval_squeeze(axes, inputs),
        Op::Unsqueeze { axes } => shape::eval_unsqueeze(axes, inputs),
        Op::Concat { axis } => shape::eval_concat(*axis, inputs),
        Op::Slice => shape::eval_slice(inputs),
        Op::Gather { axis } => shape::eval_gather(*axis, inputs),
        Op::GatherNd { batch_dims } => shape::eval_gather_nd(*batch_dims, inputs),
        Op::Range => shape::eval_range(inputs),
        Op::Expand => shape::eval_expand(inputs),
        Op::Flatten { axis } => shape::eval_flatten(*axis, inputs),
    }
}

/// Whether [`eval_owned`] writes `op`'s output over its first input's buffer instead of
/// allocating one: elementwise maps of one tensor and `BatchNorm`.
pub fn reuses_first_input(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::BatchNorm { .. })
}

/// [`eval`] with the first input given up, so the ops of [`reuses_first_input`] can
/// overwrite it: the same results, without a new buffer and a pass over the old one.
///
/// # Errors
/// As [`eval`].
pub fn eval_owned(op: &Op, first: Tensor, rest: &[&Tensor]) -> Result<Tensor, OpError> {
    match op {
        Op::Unary(u) => {
            expect_inputs(rest, 0, 0)?;
            elementwise::apply_unary(*u, first)
        }
        Op::BatchNorm { epsilon } => norm::apply_batch_norm(*epsilon, first, rest),
        _ => {
            let inputs: Vec<&Tensor> = std::iter::once(&first).chain(rest.iter().copied()).collect();
            eval(op, &inputs)
        }
    }
}
