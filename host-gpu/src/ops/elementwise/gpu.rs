//! GPU lowering of the elementwise family (kernels in `unary.wgsl`, `binary.wgsl`,
//! `where.wgsl` and `cast.wgsl`; the broadcast ones share `broadcast.wgsl`).

use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::{BinaryOp, Op, UnaryOp};
use crate::ops::broadcast::broadcast_strides;
use crate::ops::{OpError, expect_inputs};
use crate::tensor::DType;

/// Unary ops (`unary.wgsl`).
static UNARY: Kernel = Kernel { name: "elementwise/unary", wgsl: include_str!("unary.wgsl"), entry: "unary" };

/// Broadcast binary ops (`binary.wgsl`).
static BINARY: Kernel = Kernel {
    name: "elementwise/binary",
    wgsl: concat!(include_str!("broadcast.wgsl"), include_str!("binary.wgsl")),
    entry: "binary",
};

/// `Where` (`where.wgsl`).
static WHERE: Kernel = Kernel {
    name: "elementwise/where",
    wgsl: concat!(include_str!("broadcast.wgsl"), include_str!("where.wgsl")),
    entry: "pick",
};

/// `Cast` (`cast.wgsl`).
static CAST: Kernel = Kernel { name: "elementwise/cast", wgsl: include_str!("cast.wgsl"), entry: "convert" };

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
        Op::Binary(b) => lower_binary(*b, inputs, output),
        Op::Where => lower_where(inputs, output),
        Op::Cast { to } => lower_cast(*to, inputs, output),
        _ => Err(OpError::new(format!("{} is not an elementwise op", op.kind_name()))),
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

/// The `OP` code of `binary.wgsl` for `op` on inputs of `dtype`.
fn binary_code(op: BinaryOp, dtype: DType) -> Result<u32, OpError> {
    let code = match dtype {
        DType::F32 => match op {
            BinaryOp::Add => Some(1),
            BinaryOp::Sub => Some(2),
            BinaryOp::Mul => Some(3),
            BinaryOp::Div => Some(4),
            BinaryOp::Pow => Some(5),
            BinaryOp::Max => Some(6),
            BinaryOp::Min => Some(7),
            BinaryOp::Equal => Some(8),
            BinaryOp::Less => Some(9),
            BinaryOp::LessOrEqual => Some(10),
            BinaryOp::Greater => Some(11),
            BinaryOp::GreaterOrEqual => Some(12),
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => None,
        },
        DType::I32 | DType::I64 => match op {
            BinaryOp::Add => Some(21),
            BinaryOp::Sub => Some(22),
            BinaryOp::Mul => Some(23),
            BinaryOp::Div => Some(24),
            BinaryOp::Pow => Some(25),
            BinaryOp::Max => Some(26),
            BinaryOp::Min => Some(27),
            BinaryOp::Equal => Some(28),
            BinaryOp::Less => Some(29),
            BinaryOp::LessOrEqual => Some(30),
            BinaryOp::Greater => Some(31),
            BinaryOp::GreaterOrEqual => Some(32),
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => None,
        },
        DType::Bool => match op {
            BinaryOp::And => Some(41),
            BinaryOp::Or => Some(42),
            BinaryOp::Xor => Some(43),
            // Bool words are 0 or 1: word equality.
            BinaryOp::Equal => Some(28),
            _ => None,
        },
        _ => None,
    };
    code.ok_or_else(|| OpError::new(format!("{op:?} on {dtype} has no GPU kernel")))
}

/// The broadcast parameters of `broadcast.wgsl` for inputs of `shapes` read at the
/// `output` shape: `[rank, dims…, strides of input 0…, strides of input 1…, …]`. Size-1
/// output dims are dropped and neighbouring dims that every input walks contiguously (or
/// not at all) are merged, so equal shapes become rank 1; the rank is at least 1.
fn broadcast_params(shapes: &[&[usize]], output: &[usize]) -> Result<Vec<u32>, OpError> {
    for shape in shapes {
        let offset = output.len().checked_sub(shape.len());
        let fits = offset.is_some_and(|o| shape.iter().zip(&output[o..]).all(|(&d, &n)| d == n || d == 1));
        if !fits {
            return Err(OpError::new(format!("shape {shape:?} does not broadcast to {output:?}")));
        }
    }
    let strides: Vec<Vec<usize>> = shapes.iter().map(|shape| broadcast_strides(shape, output)).collect();
    // (dim, the inputs' strides along it), outermost first.
    let mut dims: Vec<(usize, Vec<usize>)> = Vec::new();
    for (d, &n) in output.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let inner: Vec<usize> = strides.iter().map(|s| s[d]).collect();
        match dims.last_mut() {
            Some((outer_n, outer)) if outer.iter().zip(&inner).all(|(&o, &i)| o == i * n) => {
                *outer_n *= n;
                *outer = inner;
            }
            _ => dims.push((n, inner)),
        }
    }
    if dims.is_empty() {
        dims.push((1, vec![0; shapes.len()]));
    }
    let mut params = vec![count(dims.len())?];
    for (n, _) in &dims {
        params.push(count(*n)?);
    }
    for k in 0..shapes.len() {
        for (_, s) in &dims {
            params.push(count(s[k])?);
        }
    }
    Ok(params)
}

/// A broadcast binary op: one invocation per output element.
fn lower_binary(op: BinaryOp, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (a, b) = (inputs[0], inputs[1]);
    if a.dtype != b.dtype {
        return Err(OpError::new(format!("input dtypes differ: {} and {}", a.dtype, b.dtype)));
    }
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &BINARY,
        constants: vec![("OP", f64::from(binary_code(op, a.dtype)?))],
        params: broadcast_params(&[a.shape, b.shape], output.shape)?,
        inputs: vec![0, 1],
        invocations: count(output.shape.iter().product())?,
    }]))
}

/// `Where(cond, x, y)`: one invocation per output element, copying words.
fn lower_where(inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 3, 3)?;
    if inputs[0].dtype != DType::Bool || inputs[1].dtype != inputs[2].dtype {
        return Err(OpError::new("Where needs a bool condition and branches of one dtype"));
    }
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &WHERE,
        constants: Vec::new(),
        params: broadcast_params(&[inputs[0].shape, inputs[1].shape, inputs[2].shape], output.shape)?,
        inputs: vec![0, 1, 2],
        invocations: count(output.shape.iter().product())?,
    }]))
}

/// `Cast`: an alias where the word stays the same (int ↔ int, i64 being held as i32;
/// bool → int; bool → bool), else one invocation per element of `cast.wgsl`.
fn lower_cast(to: DType, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let from = inputs[0].dtype;
    let int = |d: DType| matches!(d, DType::I32 | DType::I64);
    let code = match (from, to) {
        (DType::F32, DType::F32) => 1,
        (DType::F32, DType::Bool) => 2,
        (DType::F32, t) if int(t) => 3,
        (f, DType::F32) if int(f) => 4,
        (f, DType::Bool) if int(f) => 5,
        (DType::Bool, DType::F32) => 6,
        (f, t) if (int(f) || f == DType::Bool) && (int(t) || t == DType::Bool) => return Ok(Lowered::Alias(0)),
        _ => return Err(OpError::new(format!("Cast from {from} to {to} has no GPU kernel"))),
    };
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &CAST,
        constants: vec![("OP", f64::from(code))],
        params: Vec::new(),
        inputs: vec![0],
        invocations: count(output.shape.iter().product())?,
    }]))
}
