//! Conformance cases of the elementwise family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, values};
use crate::ir::{GraphError, Op, UnaryOp};
use crate::tensor::Tensor;

const FAMILY: &str = "elementwise";

/// Every unary float op on values with specials, at a size that is not a multiple of
/// the workgroup; integer and bool unary ops.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    let floats = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::Sigmoid,
        UnaryOp::HardSigmoid { alpha: 0.2, beta: 0.5 },
        UnaryOp::HardSwish,
        UnaryOp::Tanh,
        UnaryOp::Erf,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Reciprocal,
        UnaryOp::Clip { min: -0.5, max: 6.0 },
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Identity,
        UnaryOp::IsNaN,
    ];
    let mut cases = Vec::new();
    for (seed, op) in (1..).zip(floats) {
        let name = Op::Unary(op).kind_name().to_lowercase();
        for (scale, suffix) in [(4.0, "small"), (100.0, "wide")] {
            let x = values(&[3, 331], seed, Values::WithSpecials(scale));
            let case = Case::single(FAMILY, format!("{name}_{suffix}"), Op::Unary(op), vec![Arg::Input(x)])?;
            cases.push(if suffix == "small" { case.canary() } else { case });
        }
    }
    let ints = Tensor::from_i64(vec![5], vec![0, -3, 7, i64::from(i32::MAX), i64::from(i32::MIN) + 1]);
    let ints = ints.map_err(|e| GraphError::Input { name: "ints".into(), message: e.to_string() })?;
    for op in [UnaryOp::Neg, UnaryOp::Abs] {
        let name = format!("{}_i64", Op::Unary(op).kind_name().to_lowercase());
        cases.push(Case::single(FAMILY, name, Op::Unary(op), vec![Arg::Input(ints.clone())])?);
    }
    let bools = Tensor::new(vec![4], crate::tensor::TensorData::Bool(vec![true, false, false, true]));
    let bools = bools.map_err(|e| GraphError::Input { name: "bools".into(), message: e.to_string() })?;
    cases.push(Case::single(FAMILY, "not", Op::Unary(UnaryOp::Not), vec![Arg::Input(bools)])?);
    Ok(cases)
}
