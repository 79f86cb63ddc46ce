//! GPU lowering of the matmul family (kernels in `matmul.wgsl`).

use super::{promote_a, promote_b};
use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, WORKGROUP, count};
use crate::ir::Op;
use crate::ops::broadcast::{broadcast_shapes, broadcast_strides};
use crate::ops::{OpError, expect_inputs};
use crate::tensor::DType;

/// One invocation per output element.
static MATMUL: Kernel = Kernel { name: "matmul/matmul", wgsl: include_str!("matmul.wgsl"), entry: "matmul" };

/// One workgroup per [`TILE`] × [`TILE`] block of outputs, operands staged in workgroup
/// memory.
static MATMUL_TILED: Kernel =
    Kernel { name: "matmul/matmul_tiled", wgsl: include_str!("matmul.wgsl"), entry: "matmul_tiled" };

/// Side of the output block of [`MATMUL_TILED`] (`TILE` in `matmul.wgsl`).
const TILE: usize = 32;

/// How a matmul node runs on the GPU: tiled when each matrix of the output fills at least
/// one block, else one invocation per output element. Both give the same bits.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    if *op != Op::MatMul {
        return Err(OpError::new(format!("{} is not a matmul op", op.kind_name())));
    }
    expect_inputs(inputs, 2, 2)?;
    for input in inputs {
        if input.dtype != DType::F32 {
            return Err(OpError::new(format!("matmul supports f32 only, got {}", input.dtype)));
        }
    }
    let (a, b) = (inputs[0].shape, inputs[1].shape);
    if a.is_empty() || b.is_empty() {
        return Err(OpError::new("matmul operands need rank 1 or more"));
    }
    let (pa, pb) = (promote_a(a, 1), promote_b(b, 1));
    let (ra, rb) = (pa.len(), pb.len());
    let (m, k, n) = (pa[ra - 2], pa[ra - 1], pb[rb - 1]);
    if pb[rb - 2] != k {
        return Err(OpError::new(format!("inner dimensions differ: a is {a:?}, b is {b:?}")));
    }
    let (a_batch, b_batch) = (&pa[..ra - 2], &pb[..rb - 2]);
    let out_batch = broadcast_shapes(a_batch, b_batch)?;
    // Every index the kernel forms must fit its u32 arithmetic.
    for elements in [a.iter().product::<usize>(), b.iter().product(), output.shape.iter().product()] {
        count(elements)?;
    }
    let mut params = vec![count(m)?, count(n)?, count(k)?, count(out_batch.len())?];
    let sa = broadcast_strides(a_batch, &out_batch);
    let sb = broadcast_strides(b_batch, &out_batch);
    for ((&size, &stride_a), &stride_b) in out_batch.iter().zip(&sa).zip(&sb) {
        params.extend([count(size)?, count(stride_a * m * k)?, count(stride_b * k * n)?]);
    }
    let (kernel, invocations) = if m >= TILE && n >= TILE {
        let blocks = out_batch.iter().product::<usize>() * m.div_ceil(TILE) * n.div_ceil(TILE);
        (&MATMUL_TILED, count(blocks * WORKGROUP as usize)?)
    } else {
        (&MATMUL, count(output.shape.iter().product())?)
    };
    Ok(Lowered::Dispatches(vec![Dispatch { kernel, constants: Vec::new(), params, inputs: vec![0, 1], invocations }]))
}
