//! GPU lowering of the shape family (kernels in `copy.wgsl`, `gather.wgsl`, `fill.wgsl`
//! and `range.wgsl`).
//!
//! Every GPU tensor is 32-bit words, and these ops only move words, so each kernel serves
//! every dtype and copies bits exactly:
//! - Reshape, Squeeze, Unsqueeze and Flatten alias their input (no copy);
//! - Transpose, Slice, Expand and Concat are strided walks ([`Walk`]) run by `copy`, one
//!   dispatch per Concat input writing its slab; a walk that copies a whole input
//!   unchanged aliases it instead;
//! - Gather and GatherND read their indices on the device (negative ones wrap as on the
//!   CPU). An index out of range makes the CPU fail; constant indices are checked here
//!   with the same error, run-time ones write the word 0 for the elements they address;
//! - Shape writes dims known at lowering from the params, Range computes
//!   `start + i * delta` in wrapping i32 (exact: every element lies between start and
//!   limit).
//!
//! After specialization every Shape node and every Range node with constant bounds is
//! folded into a constant; their kernels run only where that does not happen.

use super::copy::{View, signed_strides};
use super::expand::broadcast_view;
use super::slice::slice_view;
use super::transpose::transpose_view;
use super::{check_index_dtype, index_values, product, shape_of};
use crate::gpu::kernel::{Dispatch, GpuInput, Kernel, Lowered, count};
use crate::ir::Op;
use crate::ops::broadcast::broadcast_shapes;
use crate::ops::{OpError, expect_inputs, normalize_axis};
use crate::tensor::{DType, Tensor};

/// The strided word copy of a [`Walk`].
static COPY: Kernel = Kernel { name: "shape/copy", wgsl: include_str!("copy.wgsl"), entry: "copy" };
/// Gather, one invocation per output word.
static GATHER: Kernel = Kernel { name: "shape/gather", wgsl: include_str!("gather.wgsl"), entry: "gather" };
/// GatherND, one invocation per output word.
static GATHER_ND: Kernel = Kernel { name: "shape/gather_nd", wgsl: include_str!("gather.wgsl"), entry: "gather_nd" };
/// Words from the params (Shape).
static FILL: Kernel = Kernel { name: "shape/fill", wgsl: include_str!("fill.wgsl"), entry: "fill" };
/// `start + i * delta` (Range).
static RANGE: Kernel = Kernel { name: "shape/range", wgsl: include_str!("range.wgsl"), entry: "range" };

/// How a node of this family runs on the GPU.
pub(crate) fn lower(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    match op {
        Op::Reshape { .. } => {
            expect_inputs(inputs, 2, 2)?;
            Ok(Lowered::Alias(0))
        }
        Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Flatten { .. } => {
            expect_inputs(inputs, 1, 1)?;
            Ok(Lowered::Alias(0))
        }
        Op::Shape { start, end } => lower_shape(*start, *end, inputs, output),
        Op::Transpose { perm } => lower_transpose(perm, inputs, output),
        Op::Slice => lower_slice(inputs, output),
        Op::Expand => lower_expand(inputs, output),
        Op::Concat { axis } => lower_concat(*axis, inputs, output),
        Op::Gather { axis } => lower_gather(*axis, inputs, output),
        Op::GatherNd { batch_dims } => lower_gather_nd(*batch_dims, inputs, output),
        Op::Range => lower_range(inputs, output),
        _ => Err(OpError::new(format!("{} is not a shape op", op.kind_name()))),
    }
}

/// A strided copy: for every multi-index `i` over the sizes of `dims`, the word at
/// `src + Σ i[k] · dims[k].1` of the input goes to `dst + Σ i[k] · dims[k].2` of the
/// output. Axes are outermost first; source strides may be 0 (broadcast) or negative.
#[derive(Debug, Clone, PartialEq)]
struct Walk {
    /// Source position of the first element.
    src: usize,
    /// Destination position of the first element.
    dst: usize,
    /// Size, source stride and destination stride of each axis.
    dims: Vec<(usize, isize, isize)>,
}

impl Walk {
    /// A walk filling a whole output in row-major order: `dims` gives each output axis's
    /// size and source stride.
    fn filling(src: usize, dims: impl IntoIterator<Item = (usize, isize)>) -> Walk {
        let dims: Vec<(usize, isize)> = dims.into_iter().collect();
        let sizes: Vec<usize> = dims.iter().map(|&(n, _)| n).collect();
        let out_strides = signed_strides(&sizes);
        Walk { src, dst: 0, dims: dims.iter().zip(out_strides).map(|(&(n, s), d)| (n, s, d)).collect() }
    }

    /// Number of words copied.
    fn len(&self) -> usize {
        product(&self.dims.iter().map(|&(n, _, _)| n).collect::<Vec<_>>())
    }

    /// The same walk with size-1 axes dropped and neighbours merged wherever the outer
    /// axis steps exactly over the inner one on both sides.
    fn merged(&self) -> Walk {
        let mut dims: Vec<(usize, isize, isize)> = Vec::with_capacity(self.dims.len());
        for &(size, src, dst) in self.dims.iter().filter(|&&(size, _, _)| size != 1) {
            let steps_over = |outer: isize, inner: isize| {
                isize::try_from(size).ok().and_then(|n| inner.checked_mul(n)).is_some_and(|span| span == outer)
            };
            match dims.last_mut() {
                Some(last) if steps_over(last.1, src) && steps_over(last.2, dst) => {
                    *last = (last.0.saturating_mul(size), src, dst);
                }
                _ => dims.push((size, src, dst)),
            }
        }
        Walk { src: self.src, dst: self.dst, dims }
    }

    /// Whether the walk copies all `input_len` words of the input, in order, to an output
    /// of as many words: the output is the input's buffer.
    fn is_identity(&self, input_len: usize, output_len: usize) -> bool {
        let walk = self.merged();
        let contiguous = matches!(walk.dims.as_slice(), [] | [(_, 1, 1)]);
        contiguous && walk.src == 0 && walk.dst == 0 && walk.len() == input_len && input_len == output_len
    }

    /// The `copy` dispatch reading node input `input`.
    fn dispatch(&self, input: usize) -> Result<Dispatch, OpError> {
        let walk = self.merged();
        let word =
            |v: usize| u32::try_from(v).map_err(|_| OpError::new(format!("position {v} is too large for the GPU")));
        let stride = |v: isize| {
            i32::try_from(v).map(|s| s as u32).map_err(|_| OpError::new(format!("stride {v} is too large for the GPU")))
        };
        let mut params = vec![word(walk.dims.len())?, word(walk.src)?, word(walk.dst)?];
        for &(size, src, dst) in &walk.dims {
            params.extend([word(size)?, stride(src)?, stride(dst)?]);
        }
        Ok(Dispatch {
            kernel: &COPY,
            constants: Vec::new(),
            params,
            inputs: vec![input],
            invocations: count(walk.len())?,
        })
    }
}

/// One `copy` of input 0 into the whole output, or an alias when it changes nothing.
fn single_walk(walk: &Walk, input: &GpuInput<'_>, output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    if walk.is_identity(product(input.shape), product(output.shape)) {
        return Ok(Lowered::Alias(0));
    }
    Ok(Lowered::Dispatches(vec![walk.dispatch(0)?]))
}

/// Checks that a computed output shape is the one inference gave the node.
fn check_shape(computed: &[usize], output: &GpuInput<'_>) -> Result<(), OpError> {
    if computed != output.shape {
        return Err(OpError::new(format!("output shape {computed:?} differs from the inferred {:?}", output.shape)));
    }
    Ok(())
}

/// The value of a constant input (shapes, bounds), which the lowering needs.
fn constant<'a>(input: &GpuInput<'a>, what: &str) -> Result<&'a Tensor, OpError> {
    input.value.ok_or_else(|| OpError::new(format!("{what} must be a constant to run on the GPU")))
}

/// Shape: the dims `start..end` of the input, written from the params.
fn lower_shape(
    start: i64,
    end: Option<i64>,
    inputs: &[GpuInput<'_>],
    output: &GpuInput<'_>,
) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 1, 1)?;
    let dims = shape_of(start, end, inputs[0].shape)?;
    check_shape(dims.shape(), output)?;
    let params = dims
        .to_i64_vec()?
        .into_iter()
        .map(|d| i32::try_from(d).map(|d| d as u32).map_err(|_| OpError::new(format!("dimension {d} exceeds i32"))))
        .collect::<Result<Vec<_>, _>>()?;
    let invocations = count(params.len())?;
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &FILL,
        constants: Vec::new(),
        params,
        inputs: Vec::new(),
        invocations,
    }]))
}

/// Transpose: output axis `i` walks input axis `perm[i]` (reversed axes for an empty perm).
fn lower_transpose(perm: &[usize], inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 1, 1)?;
    single_view(&transpose_view(perm, inputs[0].shape)?, &inputs[0], output)
}

/// Slice: a strided window of the input, from constant starts, ends, axes and steps.
fn lower_slice(inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 3, 5)?;
    let names = ["slice starts", "slice ends", "slice axes", "slice steps"];
    let bounds =
        inputs[1..].iter().zip(names).map(|(input, what)| constant(input, what)).collect::<Result<Vec<_>, _>>()?;
    single_view(&slice_view(inputs[0].shape, &bounds)?, &inputs[0], output)
}

/// Expand: the input read with stride 0 along its broadcast axes.
fn lower_expand(inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (shape, out) = (inputs[0].shape, output.shape);
    check_shape(&broadcast_shapes(shape, out)?, output)?;
    if product(out) == 0 {
        return Ok(Lowered::Dispatches(Vec::new()));
    }
    single_view(&broadcast_view(shape, out), &inputs[0], output)
}

/// One `copy` of input 0 through the CPU kernel's view into the whole output (checked to
/// have the inferred shape), or an alias when it changes nothing.
fn single_view(view: &View, input: &GpuInput<'_>, output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    check_shape(&view.dims.iter().map(|&(n, _)| n).collect::<Vec<_>>(), output)?;
    single_walk(&Walk::filling(view.offset, view.dims.iter().copied()), input, output)
}

/// Concat: per input, one dispatch copying its block of each outer position into its
/// slab of the output; an alias when one input holds every output element.
fn lower_concat(axis: i64, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 1, usize::MAX)?;
    let out = output.shape;
    let axis = normalize_axis(axis, out.len())?;
    let total = product(out);
    if let Some(i) = inputs.iter().position(|input| product(input.shape) == total && total > 0) {
        return Ok(Lowered::Alias(i));
    }
    let outer = product(&out[..axis]);
    let row = product(&out[axis..]);
    let row_stride = isize::try_from(row).map_err(|_| OpError::new("concat is too large"))?;
    let mut before = 0usize;
    let mut dispatches = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if input.shape.len() != out.len() {
            return Err(OpError::new(format!("concat input {i} has rank {}, not {}", input.shape.len(), out.len())));
        }
        let block = product(&input.shape[axis..]);
        if block > 0 && outer > 0 {
            let block_stride = isize::try_from(block).map_err(|_| OpError::new("concat is too large"))?;
            let walk = Walk { src: 0, dst: before, dims: vec![(outer, block_stride, row_stride), (block, 1, 1)] };
            dispatches.push(walk.dispatch(i)?);
        }
        before = before.saturating_add(block);
    }
    if before != row {
        return Err(OpError::new(format!("concat blocks of {before} elements do not fill rows of {row}")));
    }
    Ok(Lowered::Dispatches(dispatches))
}

/// Checks constant indices against an axis of size `dim` (negative counting from the end),
/// with the CPU's error.
fn check_indices(indices: &GpuInput<'_>, dims: &[usize], what: &str) -> Result<(), OpError> {
    let Some(tensor) = indices.value else {
        return Ok(());
    };
    let values = index_values(tensor, what)?;
    for (k, &index) in values.iter().enumerate() {
        let dim = dims[k % dims.len().max(1)];
        let d = i64::try_from(dim).unwrap_or(i64::MAX);
        let wrapped = if index < 0 { index + d } else { index };
        if !(0..d).contains(&wrapped) {
            return Err(OpError::new(format!("index {index} is out of range for an axis of size {dim}")));
        }
    }
    Ok(())
}

/// A size as the u32 a kernel parameter holds.
fn param(n: usize) -> Result<u32, OpError> {
    u32::try_from(n).map_err(|_| OpError::new(format!("size {n} is too large for the GPU")))
}

/// Gather: for each outer position and index, the block of the data at that index.
fn lower_gather(axis: i64, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (data, indices) = (&inputs[0], &inputs[1]);
    check_index_dtype(indices.dtype, "gather indices")?;
    let axis = normalize_axis(axis, data.shape.len())?;
    let dim = data.shape[axis];
    check_indices(indices, &[dim], "gather indices")?;
    check_shape(&[&data.shape[..axis], indices.shape, &data.shape[axis + 1..]].concat(), output)?;
    let params = vec![param(dim)?, param(product(indices.shape))?, param(product(&data.shape[axis + 1..]))?];
    let invocations = count(product(output.shape))?;
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &GATHER,
        constants: Vec::new(),
        params,
        inputs: vec![0, 1],
        invocations,
    }]))
}

/// GatherND: for each index tuple, the slice of its batch of the data that it names.
fn lower_gather_nd(batch_dims: usize, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 2, 2)?;
    let (data, indices) = (&inputs[0], &inputs[1]);
    check_index_dtype(indices.dtype, "gathernd indices")?;
    let (r, q) = (data.shape.len(), indices.shape.len());
    if batch_dims >= r.min(q) {
        return Err(OpError::new(format!("batch_dims must be below both ranks ({r} and {q}): {batch_dims}")));
    }
    let m = indices.shape[q - 1];
    if m == 0 || m > r - batch_dims {
        return Err(OpError::new(format!("index tuples must have 1 to {} elements: {m}", r - batch_dims)));
    }
    let rest = &data.shape[batch_dims..];
    let (tuple_dims, slice_dims) = rest.split_at(m);
    check_indices(indices, tuple_dims, "gathernd indices")?;
    let per_batch = &indices.shape[batch_dims..q - 1];
    check_shape(&[&data.shape[..batch_dims], per_batch, slice_dims].concat(), output)?;
    let mut params = vec![param(m)?, param(product(slice_dims))?, param(product(per_batch))?, param(product(rest))?];
    for &d in tuple_dims {
        params.push(param(d)?);
    }
    let invocations = count(product(output.shape))?;
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &GATHER_ND,
        constants: Vec::new(),
        params,
        inputs: vec![0, 1],
        invocations,
    }]))
}

/// Range: `start + i * delta` for the inferred number of elements, start and delta read
/// from their inputs on the device.
fn lower_range(inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Result<Lowered, OpError> {
    expect_inputs(inputs, 3, 3)?;
    let dtype = inputs[0].dtype;
    if !matches!(dtype, DType::I32 | DType::I64) || inputs.iter().any(|i| i.dtype != dtype) {
        return Err(OpError::new(format!("range supports i32 and i64 only, got {dtype}")));
    }
    if let Some(input) = inputs.iter().find(|i| product(i.shape) != 1) {
        return Err(OpError::new(format!("range bounds must be scalars, got shape {:?}", input.shape)));
    }
    let [len] = output.shape else {
        return Err(OpError::new(format!("range output must be 1-D, got {:?}", output.shape)));
    };
    let invocations = count(*len)?;
    Ok(Lowered::Dispatches(vec![Dispatch {
        kernel: &RANGE,
        constants: Vec::new(),
        params: Vec::new(),
        inputs: vec![0, 2],
        invocations,
    }]))
}
