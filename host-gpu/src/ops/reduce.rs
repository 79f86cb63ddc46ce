//! reduce family (stub, being written).
#![allow(unused_variables, unused_imports)]
use super::{InferInput, OpError};
use crate::ir::*;
use crate::tensor::*;

pub(crate) fn infer(
    kind: ReduceKind,
    axes: &[i64],
    keepdims: bool,
    inputs: &[InferInput<'_>],
) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval(kind: ReduceKind, axes: &[i64], keepdims: bool, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}
