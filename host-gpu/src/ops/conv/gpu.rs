//! GPU lowering of the conv family (kernel body in `conv.wgsl`, preceded by the bindings
//! of the variant without or with bias).

use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::{ConvAttrs, Op};
use crate::ops::{OpError, expect_inputs};
use crate::tensor::DType;

/// Conv of `x` by `w`.
static CONV: Kernel = Kernel {
    name: "conv/conv",
    wgsl: concat!(include_str!("bindings.wgsl"), include_str!("conv.wgsl")),
    entry: "conv",
};

/// Conv of `x` by `w`, plus `bias`.
static CONV_BIAS: Kernel = Kernel {
    name: "conv/conv_bias",
    wgsl: concat!(include_str!("bindings_bias.wgsl"), include_str!("conv.wgsl")),
    entry: "conv",
};

/// How a conv node runs on the GPU: one invocation per output element.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    let Op::Conv(attrs) = op else {
        return Err(OpError::new(format!("{} is not a conv op", op.kind_name())));
    };
    expect_inputs(inputs, 2, 3)?;
    for input in inputs {
        if input.dtype != DType::F32 {
            return Err(OpError::new(format!("conv supports f32 only, got {}", input.dtype)));
        }
    }
    let params = params(attrs, inputs[0].shape, inputs[1].shape, output.shape)?;
    let (kernel, bound) = if inputs.len() == 3 { (&CONV_BIAS, vec![0, 1, 2]) } else { (&CONV, vec![0, 1]) };
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel,
        constants: Vec::new(),
        params,
        inputs: bound,
        invocations: count(output.shape.iter().product())?,
    }]))
}

/// The kernel's parameters (see `conv.wgsl`), after checking that the shapes are those
/// `conv::infer` accepts and that every index the kernel forms fits its u32 arithmetic.
fn params(attrs: &ConvAttrs, x: &[usize], w: &[usize], out: &[usize]) -> Result<Vec<u32>, OpError> {
    let ([_, c, h, wd], [m, cg, kh, kw], [_, om, oh, ow]) = (dims4(x)?, dims4(w)?, dims4(out)?);
    let group = attrs.group;
    if group == 0 || cg * group != c || m % group != 0 || om != m || [kh, kw] != attrs.kernel {
        return Err(OpError::new(format!("conv shapes do not match: x {x:?}, w {w:?}, {attrs:?}")));
    }
    // Padded extents bound every (wrapped) input coordinate the kernel computes.
    let span_h = h + attrs.pads[0] + attrs.pads[2] + attrs.strides[0] * oh + attrs.dilations[0] * kh;
    let span_w = wd + attrs.pads[1] + attrs.pads[3] + attrs.strides[1] * ow + attrs.dilations[1] * kw;
    for elements in [x.iter().product::<usize>(), w.iter().product(), out.iter().product(), 2 * span_h, 2 * span_w] {
        count(elements)?;
    }
    [
        c,
        h,
        wd,
        m,
        cg,
        m / group,
        kh,
        kw,
        attrs.strides[0],
        attrs.strides[1],
        attrs.pads[0],
        attrs.pads[1],
        attrs.dilations[0],
        attrs.dilations[1],
        oh,
        ow,
    ]
    .into_iter()
    .map(count)
    .collect()
}

/// A rank-4 shape as an array.
fn dims4(shape: &[usize]) -> Result<[usize; 4], OpError> {
    shape.try_into().map_err(|_| OpError::new(format!("conv needs rank-4 shapes, got {shape:?}")))
}
