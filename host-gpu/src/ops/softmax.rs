//! softmax family (stub, being written).
#![allow(unused_variables, unused_imports)]
use super::{InferInput, OpError};
use crate::ir::*;
use crate::tensor::*;

pub(crate) fn infer(axis: i64, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval(axis: i64, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}
