//! GPU lowering of the reduce family (kernel in `reduce.wgsl`).

use super::reduced_axes;
use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::{Op, ReduceKind};
use crate::numerics::reciprocal;
use crate::ops::broadcast::strides;
use crate::ops::norm::exact_count;
use crate::ops::{OpError, expect_inputs};
use crate::tensor::DType;

/// Reductions, one invocation per output element.
static REDUCE: Kernel = Kernel { name: "reduce/reduce", wgsl: include_str!("reduce.wgsl"), entry: "reduce" };

/// Runs per set (kept, reduced) the kernel can take (`MAX_RUNS` in `reduce.wgsl`).
const MAX_RUNS: usize = 8;

/// Adjacent axes of one set merged into a run: its size and the stride of its last axis.
#[derive(Default)]
struct Runs {
    /// Elements along each run.
    sizes: Vec<usize>,
    /// The step in memory along each run (the stride of its last axis).
    strides: Vec<usize>,
}

impl Runs {
    /// The run's words, padded to `MAX_RUNS` sizes then `MAX_RUNS` strides.
    fn words(&self) -> Result<Vec<u32>, OpError> {
        let pad = |v: &[usize]| -> Result<Vec<u32>, OpError> {
            let mut words = v.iter().map(|&n| count(n)).collect::<Result<Vec<_>, _>>()?;
            words.resize(MAX_RUNS, 0);
            Ok(words)
        };
        Ok([pad(&self.sizes)?, pad(&self.strides)?].concat())
    }
}

/// How a reduction runs on the GPU.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    let Op::Reduce { kind, axes, .. } = op else {
        return Err(OpError::new(format!("{} is not a reduction", op.kind_name())));
    };
    expect_inputs(inputs, 1, 1)?;
    let shape = inputs[0].shape;
    let reduced = reduced_axes(axes, shape.len())?;
    let integer = match inputs[0].dtype {
        DType::F32 => false,
        DType::I32 | DType::I64 if *kind != ReduceKind::Mean => true,
        d => return Err(OpError::new(format!("input dtype is not supported: {d}"))),
    };
    let elements: usize = shape.iter().zip(&reduced).filter(|(_, r)| **r).map(|(d, _)| d).product();
    if elements == 0 && inputs[0].dtype == DType::I64 && matches!(kind, ReduceKind::Max | ReduceKind::Min) {
        // The empty result is i64::MIN or i64::MAX, which the GPU's i32 words cannot hold.
        return Err(OpError::new("an empty i64 max/min reduction has no GPU kernel"));
    }
    let (mut kept, mut red) = (Runs::default(), Runs::default());
    let mut last = None;
    for ((&size, &stride), &r) in shape.iter().zip(&strides(shape)).zip(&reduced) {
        if size == 1 {
            continue;
        }
        let runs = if r { &mut red } else { &mut kept };
        if last == Some(r) {
            // Merge with the previous axis: the two step through memory as one.
            if let (Some(s), Some(st)) = (runs.sizes.last_mut(), runs.strides.last_mut()) {
                *s *= size;
                *st = stride;
            }
        } else {
            runs.sizes.push(size);
            runs.strides.push(stride);
        }
        last = Some(r);
    }
    if kept.sizes.len() > MAX_RUNS || red.sizes.len() > MAX_RUNS {
        return Err(OpError::new(format!(
            "reductions over more than {MAX_RUNS} separate axis runs have no GPU kernel"
        )));
    }
    let inv = if *kind == ReduceKind::Mean { reciprocal(exact_count(elements)?) } else { 0.0 };
    let code = match kind {
        ReduceKind::Sum => 0,
        ReduceKind::Mean => 1,
        ReduceKind::Max => 2,
        ReduceKind::Min => 3,
    };
    let mut params = vec![count(elements)?, inv.to_bits(), count(kept.sizes.len())?, count(red.sizes.len())?];
    params.extend(kept.words()?);
    params.extend(red.words()?);
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &REDUCE,
        constants: vec![("KIND", f64::from(code)), ("INTEGER", f64::from(u8::from(integer)))],
        params,
        inputs: vec![0],
        invocations: count(output.shape.iter().product())?,
    }]))
}
