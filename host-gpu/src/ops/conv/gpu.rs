//! GPU lowering of the conv family (kernel body in `conv.wgsl`, preceded by the bindings
//! of the variant without or with bias).

use super::cpu::Geometry;
use super::{check_f32, geometry};
use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::Op;
use crate::ops::{OpError, expect_inputs};

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
        check_f32(input.dtype)?;
    }
    let (geo, out_shape) = geometry(attrs, inputs[0].shape, inputs[1].shape, inputs.get(2).map(|b| b.shape))?;
    if out_shape != output.shape {
        return Err(OpError::new(format!("conv output {out_shape:?} differs from the inferred {:?}", output.shape)));
    }
    let params = params(&geo)?;
    let (kernel, bound) = if inputs.len() == 3 { (&CONV_BIAS, vec![0, 1, 2]) } else { (&CONV, vec![0, 1]) };
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel,
        constants: Vec::new(),
        params,
        inputs: bound,
        invocations: count(output.shape.iter().product())?,
    }]))
}

/// The kernel's parameters (see `conv.wgsl`), after checking that every index the kernel
/// forms fits its u32 arithmetic.
fn params(geo: &Geometry) -> Result<Vec<u32>, OpError> {
    let [kh, kw] = geo.kernel;
    // Padded extents bound every (wrapped) input coordinate the kernel computes.
    let span_h = geo.height + geo.pads[0] + geo.pads[2] + geo.strides[0] * geo.out_height + geo.dilations[0] * kh;
    let span_w = geo.width + geo.pads[1] + geo.pads[3] + geo.strides[1] * geo.out_width + geo.dilations[1] * kw;
    let x = geo.batch * geo.channels * geo.plane();
    let w = geo.out_channels * geo.taps();
    let out = geo.batch * geo.out_channels * geo.out_plane();
    for elements in [x, w, out, 2 * span_h, 2 * span_w] {
        count(elements)?;
    }
    [
        geo.channels,
        geo.height,
        geo.width,
        geo.out_channels,
        geo.group_channels(),
        geo.group_outputs(),
        kh,
        kw,
        geo.strides[0],
        geo.strides[1],
        geo.pads[0],
        geo.pads[1],
        geo.dilations[0],
        geo.dilations[1],
        geo.out_height,
        geo.out_width,
    ]
    .into_iter()
    .map(count)
    .collect()
}
