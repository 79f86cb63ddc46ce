//! conv family (stub, being written).
#![allow(unused_variables, unused_imports)]
use super::{InferInput, OpError};
use crate::ir::*;
use crate::tensor::*;

pub(crate) fn infer(attrs: &ConvAttrs, inputs: &[InferInput<'_>]) -> Result<Fact, OpError> {
    Err(OpError::new("not implemented yet"))
}

pub(crate) fn eval(attrs: &ConvAttrs, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
    Err(OpError::new("not implemented yet"))
}
