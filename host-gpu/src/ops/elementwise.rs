//! elementwise family (stub, being written).
#![allow(unused_variables, unused_imports)]
use super::{InferInput, OpError};
use crate::ir::*;
use crate::tensor::*;

pub(crate) fn infer_unary(op: UnaryOp, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_unary(op: UnaryOp, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_binary(op: BinaryOp, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_binary(op: BinaryOp, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_where(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_where(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_cast(to: DType, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_cast(to: DType, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}
