//! The closed, typed operator set that importers lower to.
//!
//! Nothing after import looks at an operator *name*: ONNX (and later GGUF) names are mapped
//! to these variants in the importers, with their attributes parsed and checked there.
//! Inputs are positional; each variant documents its inputs. Shape-like inputs (a Reshape
//! target, Slice bounds, Range bounds, an Expand shape) stay tensor inputs so that shape
//! subgraphs keep working on dynamic shapes; after specialization they are constants.

use crate::tensor::DType;

/// One operator with its attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// One input, one output of the same shape, applied elementwise.
    Unary(UnaryOp),
    /// Two inputs broadcast together (numpy rules), applied elementwise.
    Binary(BinaryOp),
    /// `where(cond, x, y)`: bool condition, x and y of one type, all broadcast together.
    Where,
    /// Converts the element type; float→int truncates toward zero (ONNX semantics),
    /// out-of-range and NaN values are an error.
    Cast {
        /// Target element type.
        to: DType,
    },
    /// Matrix product with numpy broadcasting over leading dimensions (ONNX MatMul);
    /// rank-1 operands are promoted as numpy does. Inputs: `a`, `b`.
    MatMul,
    /// 2-D convolution, NCHW. Inputs: `x`, `w` (M × C/group × kH × kW), optional `bias` (M).
    Conv(ConvAttrs),
    /// Inference-mode batch normalization over axis 1. Inputs: `x`, `scale`, `bias`,
    /// `mean`, `var`.
    BatchNorm {
        /// Added to the variance before the reciprocal square root.
        epsilon: f32,
    },
    /// 2-D max or average pooling, NCHW (also global average pooling).
    Pool(PoolAttrs),
    /// Softmax along one axis.
    Softmax {
        /// Axis (negative counts from the end).
        axis: i64,
    },
    /// Layer normalization over the trailing axes from `axis`. Inputs: `x`, `scale`,
    /// optional `bias`.
    LayerNorm {
        /// First normalized axis (negative counts from the end).
        axis: i64,
        /// Added to the variance before the reciprocal square root.
        epsilon: f32,
    },
    /// Reduction over some axes.
    Reduce {
        /// Which reduction.
        kind: ReduceKind,
        /// Axes to reduce (negative counts from the end); empty means all.
        axes: Vec<i64>,
        /// Keep reduced axes as size 1.
        keepdims: bool,
    },
    /// The shape of the input as an i64 vector, sliced to `start..end`.
    Shape {
        /// First dimension (negative counts from the end).
        start: i64,
        /// One past the last dimension; `None` means the rank.
        end: Option<i64>,
    },
    /// Inputs: `data`, `shape` (i64; 0 copies the input dim unless `allowzero`, -1 infers).
    Reshape {
        /// A 0 in `shape` means a zero-sized dimension rather than "copy".
        allowzero: bool,
    },
    /// Permutes dimensions.
    Transpose {
        /// Output dimension `i` is input dimension `perm[i]`.
        perm: Vec<usize>,
    },
    /// Removes size-1 dimensions.
    Squeeze {
        /// Axes to remove; empty removes every size-1 dimension.
        axes: Vec<i64>,
    },
    /// Inserts size-1 dimensions.
    Unsqueeze {
        /// Positions of the new dimensions in the output.
        axes: Vec<i64>,
    },
    /// Joins inputs along one axis.
    Concat {
        /// The axis (negative counts from the end).
        axis: i64,
    },
    /// Inputs: `data`, `starts`, `ends`, `axes`, `steps` (all i64, ONNX clamping rules).
    Slice,
    /// Picks slices along `axis` by index. Inputs: `data`, `indices` (negative wrap).
    Gather {
        /// The indexed axis.
        axis: i64,
    },
    /// Gathers slices by multi-dimensional index tuples. Inputs: `data`, `indices`.
    GatherNd {
        /// Number of leading batch dimensions shared by data and indices.
        batch_dims: usize,
    },
    /// `start, start+delta, …` up to `limit` (exclusive). Inputs: three scalars.
    Range,
    /// Broadcasts the input to a shape. Inputs: `data`, `shape` (i64).
    Expand,
    /// Flattens to 2-D: dimensions before `axis` and from `axis` on.
    Flatten {
        /// The split point (negative counts from the end).
        axis: i64,
    },
}

/// Elementwise functions of one argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    /// Copies the input.
    Identity,
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x * clamp(x / 6 + 1/2, 0, 1)`.
    HardSwish,
    /// Hyperbolic tangent.
    Tanh,
    /// Error function.
    Erf,
    /// Natural exponential.
    Exp,
    /// Natural logarithm.
    Log,
    /// Square root.
    Sqrt,
    /// `1 / x`.
    Reciprocal,
    /// Clamps to `[min, max]`.
    Clip {
        /// Lower bound (`-inf` for none).
        min: f32,
        /// Upper bound (`inf` for none).
        max: f32,
    },
    /// Round down to an integer.
    Floor,
    /// Round up to an integer.
    Ceil,
    /// Logical not (bool).
    Not,
    /// Whether the value is NaN (float → bool).
    IsNaN,
}

/// Elementwise functions of two broadcast arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`: `a * reciprocal(b)` for floats, truncating for integers.
    Div,
    /// `a ^ b`.
    Pow,
    /// Larger of the two (NaN propagates).
    Max,
    /// Smaller of the two (NaN propagates).
    Min,
    /// Logical and (bool).
    And,
    /// Logical or (bool).
    Or,
    /// Logical xor (bool).
    Xor,
    /// `a == b` (→ bool).
    Equal,
    /// `a < b` (→ bool).
    Less,
    /// `a <= b` (→ bool).
    LessOrEqual,
    /// `a > b` (→ bool).
    Greater,
    /// `a >= b` (→ bool).
    GreaterOrEqual,
}

impl BinaryOp {
    /// Whether the result is bool whatever the input type.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Equal | BinaryOp::Less | BinaryOp::LessOrEqual | BinaryOp::Greater | BinaryOp::GreaterOrEqual
        )
    }

    /// Whether the inputs must be bool.
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor)
    }
}

/// Attributes of [`Op::Conv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvAttrs {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub strides: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Dilation along height and width.
    pub dilations: [usize; 2],
    /// Number of groups (channels / group per group; depthwise when it equals channels).
    pub group: usize,
}

/// Which pooling [`Op::Pool`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window (padding never wins).
    Max,
    /// Mean over the window.
    Average {
        /// Whether padded positions count in the divisor.
        count_include_pad: bool,
    },
    /// Mean over the whole spatial extent (the window fields are ignored).
    GlobalAverage,
}

/// Attributes of [`Op::Pool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolAttrs {
    /// Which pooling.
    pub kind: PoolKind,
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub strides: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Output size rounds up instead of down.
    pub ceil_mode: bool,
}

/// Which reduction [`Op::Reduce`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceKind {
    /// Sum in index order.
    Sum,
    /// Sum in index order times the reciprocal of the count.
    Mean,
    /// Maximum (NaN propagates).
    Max,
    /// Minimum (NaN propagates).
    Min,
}

impl Op {
    /// Every name [`Op::kind_name`] can return: the op kinds the conformance suite must
    /// cover. Keep in step with `kind_name`.
    pub const KIND_NAMES: &'static [&'static str] = &[
        "Identity",
        "Neg",
        "Abs",
        "Relu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Tanh",
        "Erf",
        "Exp",
        "Log",
        "Sqrt",
        "Reciprocal",
        "Clip",
        "Floor",
        "Ceil",
        "Not",
        "IsNaN",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Max",
        "Min",
        "And",
        "Or",
        "Xor",
        "Equal",
        "Less",
        "LessOrEqual",
        "Greater",
        "GreaterOrEqual",
        "Where",
        "Cast",
        "MatMul",
        "Conv",
        "BatchNorm",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Softmax",
        "LayerNorm",
        "ReduceSum",
        "ReduceMean",
        "ReduceMax",
        "ReduceMin",
        "Shape",
        "Reshape",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "Slice",
        "Gather",
        "GatherND",
        "Range",
        "Expand",
        "Flatten",
    ];

    /// A short human-readable name for messages and `model inspect` (never used to dispatch).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Unary(u) => match u {
                UnaryOp::Identity => "Identity",
                UnaryOp::Neg => "Neg",
                UnaryOp::Abs => "Abs",
                UnaryOp::Relu => "Relu",
                UnaryOp::Sigmoid => "Sigmoid",
                UnaryOp::HardSigmoid { .. } => "HardSigmoid",
                UnaryOp::HardSwish => "HardSwish",
                UnaryOp::Tanh => "Tanh",
                UnaryOp::Erf => "Erf",
                UnaryOp::Exp => "Exp",
                UnaryOp::Log => "Log",
                UnaryOp::Sqrt => "Sqrt",
                UnaryOp::Reciprocal => "Reciprocal",
                UnaryOp::Clip { .. } => "Clip",
                UnaryOp::Floor => "Floor",
                UnaryOp::Ceil => "Ceil",
                UnaryOp::Not => "Not",
                UnaryOp::IsNaN => "IsNaN",
            },
            Op::Binary(b) => match b {
                BinaryOp::Add => "Add",
                BinaryOp::Sub => "Sub",
                BinaryOp::Mul => "Mul",
                BinaryOp::Div => "Div",
                BinaryOp::Pow => "Pow",
                BinaryOp::Max => "Max",
                BinaryOp::Min => "Min",
                BinaryOp::And => "And",
                BinaryOp::Or => "Or",
                BinaryOp::Xor => "Xor",
                BinaryOp::Equal => "Equal",
                BinaryOp::Less => "Less",
                BinaryOp::LessOrEqual => "LessOrEqual",
                BinaryOp::Greater => "Greater",
                BinaryOp::GreaterOrEqual => "GreaterOrEqual",
            },
            Op::Where => "Where",
            Op::Cast { .. } => "Cast",
            Op::MatMul => "MatMul",
            Op::Conv(_) => "Conv",
            Op::BatchNorm { .. } => "BatchNorm",
            Op::Pool(p) => match p.kind {
                PoolKind::Max => "MaxPool",
                PoolKind::Average { .. } => "AveragePool",
                PoolKind::GlobalAverage => "GlobalAveragePool",
            },
            Op::Softmax { .. } => "Softmax",
            Op::LayerNorm { .. } => "LayerNorm",
            Op::Reduce { kind, .. } => match kind {
                ReduceKind::Sum => "ReduceSum",
                ReduceKind::Mean => "ReduceMean",
                ReduceKind::Max => "ReduceMax",
                ReduceKind::Min => "ReduceMin",
            },
            Op::Shape { .. } => "Shape",
            Op::Reshape { .. } => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Squeeze { .. } => "Squeeze",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Concat { .. } => "Concat",
            Op::Slice => "Slice",
            Op::Gather { .. } => "Gather",
            Op::GatherNd { .. } => "GatherND",
            Op::Range => "Range",
            Op::Expand => "Expand",
            Op::Flatten { .. } => "Flatten",
        }
    }
}
