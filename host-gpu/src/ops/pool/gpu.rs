//! GPU lowering of the pool family (kernel in `pool.wgsl`).

use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::{Op, PoolKind};
use crate::ops::{OpError, expect_inputs};

/// Max, average and global average pooling, one invocation per output element.
static POOL: Kernel = Kernel { name: "pool/pool", wgsl: include_str!("pool.wgsl"), entry: "pool" };

/// How a pool node runs on the GPU. Global average pooling is an average with one window
/// of the whole plane: the same values in the same (row-major) order as the CPU's plane sum.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    let Op::Pool(attrs) = op else {
        return Err(OpError::new(format!("{} is not a pool op", op.kind_name())));
    };
    expect_inputs(inputs, 1, 1)?;
    let (x, y) = (inputs[0].shape, output.shape);
    let ([_, _, h, w], [_, _, oh, ow]) = (x, y) else {
        return Err(OpError::new(format!("pooling needs rank-4 input and output, got {x:?} and {y:?}")));
    };
    let (code, kernel, strides, pads) = match attrs.kind {
        PoolKind::Max => (0, attrs.kernel, attrs.strides, attrs.pads),
        PoolKind::Average { count_include_pad } => {
            (1 + u8::from(count_include_pad), attrs.kernel, attrs.strides, attrs.pads)
        }
        PoolKind::GlobalAverage => (1, [*h, *w], [1, 1], [0; 4]),
    };
    let words = [*h, *w, *oh, *ow, kernel[0], kernel[1], strides[0], strides[1], pads[0], pads[1], pads[2], pads[3]];
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &POOL,
        constants: vec![("KIND", f64::from(code))],
        params: words.iter().map(|&n| count(n)).collect::<Result<_, _>>()?,
        inputs: vec![0],
        invocations: count(y.iter().product())?,
    }]))
}
