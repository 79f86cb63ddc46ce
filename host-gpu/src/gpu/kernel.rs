//! Kernels and dispatches: what an op family hands the executor.
//!
//! Every kernel is one static WGSL file next to its family's CPU code, compiled together
//! with the shared numerics prelude (`shaders/prelude.wgsl`) and [`COMMON`]. Its
//! bindings are fixed by convention:
//!
//! - group 0, binding 0: the numerics uniform (the rounding barrier's run-time zero);
//! - group 1, binding 0: `params: array<u32>`, where `params[0]` is the number of
//!   invocations the dispatch needs (the executor writes it) and the family's own
//!   parameters follow from `params[1]`;
//! - group 1, bindings `1..=n`: the `n` inputs, then binding `n + 1`: the output, all
//!   `array<u32>` (f32 as bits through `nn_load`/`nn_store`, i32 as `bitcast<i32>`,
//!   bool as 0/1).
//!
//! Entry points use `@workgroup_size(64)` and get their invocation index with
//! `nn_index(wid, nwg, lid)`, returning when it is `>= params[0]`: the executor spreads
//! the workgroups over two dimensions when there are more than a dimension allows.

use crate::tensor::{DType, Tensor};

/// The numerics prelude shared by every kernel.
const PRELUDE: &str = include_str!("shaders/prelude.wgsl");

/// Helpers every kernel may use: the invocation index over a 2-D grid of workgroups.
pub(crate) const COMMON: &str = "
// Invocations per workgroup of every 1-D kernel (the executor sizes dispatches by it).
const NN_WORKGROUP: u32 = 64u;

// The linear invocation index on a grid of workgroups that may be spread over x and y.
fn nn_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * NN_WORKGROUP + lid;
}
";

/// Invocations per workgroup (`NN_WORKGROUP` in [`COMMON`]).
pub(crate) const WORKGROUP: u32 = 64;

/// One WGSL entry point.
#[derive(Debug)]
pub(crate) struct Kernel {
    /// A name for labels and errors: `family/entry`.
    pub name: &'static str,
    /// The family's WGSL source (without the prelude).
    pub wgsl: &'static str,
    /// The entry point.
    pub entry: &'static str,
}

impl Kernel {
    /// The complete shader: prelude, common helpers, family source.
    pub(crate) fn source(&self) -> String {
        [PRELUDE, COMMON, self.wgsl].concat()
    }
}

/// What identifies a compiled pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PipelineKey {
    name: &'static str,
    inputs: usize,
    /// Override constants, by name and bits.
    constants: Vec<(&'static str, u64)>,
}

impl PipelineKey {
    pub(crate) fn new(kernel: &'static Kernel, inputs: usize, constants: &[(&'static str, f64)]) -> Self {
        PipelineKey { name: kernel.name, inputs, constants: constants.iter().map(|&(n, v)| (n, v.to_bits())).collect() }
    }
}

/// One kernel launch of a node.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch {
    /// The kernel.
    pub kernel: &'static Kernel,
    /// WGSL `override` constants (a variant of the kernel, compiled once).
    pub constants: Vec<(&'static str, f64)>,
    /// The family's parameters, from `params[1]` on.
    pub params: Vec<u32>,
    /// Which of the node's inputs to bind, in binding order.
    pub inputs: Vec<usize>,
    /// Invocations needed (`params[0]`).
    pub invocations: u32,
}

/// How a node runs on the GPU.
#[derive(Debug, Clone)]
pub(crate) enum Lowered {
    /// The output is input `i`'s buffer, bytes unchanged (reshapes).
    Alias(usize),
    /// These dispatches, in order, write the output.
    Dispatches(Vec<Dispatch>),
}

/// What an op family sees of one input when it lowers a node: concrete dtype and shape,
/// and the value when the input is a constant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GpuInput<'a> {
    /// Element type (i64 runs as i32 on the GPU).
    pub dtype: DType,
    /// Concrete shape.
    pub shape: &'a [usize],
    /// The value of a constant input.
    pub value: Option<&'a Tensor>,
}

/// A count as the u32 the kernels index with.
///
/// # Errors
/// When it does not fit.
pub(crate) fn count(n: usize) -> Result<u32, crate::ops::OpError> {
    u32::try_from(n).map_err(|_| crate::ops::OpError::new(format!("{n} elements are too many for one GPU kernel")))
}
