//! shape family (stub, being written).
#![allow(unused_variables, unused_imports)]
use super::{InferInput, OpError};
use crate::ir::*;
use crate::tensor::*;

pub(crate) fn infer_shape(start: i64, end: Option<i64>, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_shape(start: i64, end: Option<i64>, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_reshape(allowzero: bool, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_reshape(allowzero: bool, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_transpose(perm: &[usize], inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_transpose(perm: &[usize], inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_squeeze(axes: &[i64], inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_squeeze(axes: &[i64], inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_unsqueeze(axes: &[i64], inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_unsqueeze(axes: &[i64], inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_concat(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_concat(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_slice(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_slice(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_gather(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_gather(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_gather_nd(batch_dims: usize, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_gather_nd(batch_dims: usize, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_range(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_range(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_expand(inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_expand(inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn infer_flatten(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval_flatten(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn shape_of(start: i64, end: Option<i64>, dims: &[usize]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}
