//! GPU lowering of the elementwise family (kernels in `unary.wgsl`).

use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::{Op, UnaryOp};
use crate::ops::{OpError, expect_inputs};
use crate::tensor::DType;

static UNARY: Kernel = Kernel { name: "elementwise/unary", wgsl: include_str!("unary.wgsl"), entry: "unary" };

/// The `OP` code of `unary.wgsl` for `op` on `dtype`, and its two float parameters.
fn unary_code(op: UnaryOp, dtype: DType) -> Result<(u32, [f32; 2]), OpError> {
    let float = dtype == DType::F32;
    Ok(match op {
        UnaryOp::Neg if float => (1, [0.0; 2]),
        UnaryOp::Abs if float => (2, [0.0; 2]),
        UnaryOp::Relu => (3, [0.0; 2]),
        UnaryOp::Sigmoid => (4, [0.0; 2]),
        UnaryOp::HardSigmoid { alpha, beta } => (5, [alpha, beta]),
        UnaryOp::HardSwish => (6, [0.0; 2]),
        UnaryOp::Tanh => (7, [0.0; 2]),
        UnaryOp::Erf => (8, [0.0; 2]),
        UnaryOp::Exp => (9, [0.0; 2]),
        UnaryOp::Log => (10, [0.0; 2]),
        UnaryOp::Sqrt => (11, [0.0; 2]),
        UnaryOp::Reciprocal => (12, [0.0; 2]),
        UnaryOp::Clip { min, max } => (13, [min, max]),
        UnaryOp::Floor => (14, [0.0; 2]),
        UnaryOp::Ceil => (15, [0.0; 2]),
        UnaryOp::Neg => (16, [0.0; 2]),
        UnaryOp::Abs => (17, [0.0; 2]),
        UnaryOp::IsNaN if float => (18, [0.0; 2]),
        UnaryOp::Not => (19, [0.0; 2]),
        UnaryOp::Identity | UnaryOp::IsNaN => return Err(OpError::new(format!("{op:?} on {dtype} has no GPU kernel"))),
    })
}

/// How an elementwise node runs on the GPU.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    match op {
        Op::Unary(u) => lower_unary(*u, inputs, output),
        _ => Err(OpError::new(format!("{} has no GPU kernel yet", op.kind_name()))),
    }
}

/// A unary op: one invocation per element (`Identity` aliases its input).
fn lower_unary(op: UnaryOp, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 1, 1)?;
    if op == UnaryOp::Identity {
        return Ok(Lowered::Alias(0));
    }
    let (code, [p1, p2]) = unary_code(op, inputs[0].dtype)?;
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &UNARY,
        constants: vec![("OP", f64::from(code))],
        params: vec![p1.to_bits(), p2.to_bits()],
        inputs: vec![0],
        invocations: count(output.shape.iter().product())?,
    }]))
}
