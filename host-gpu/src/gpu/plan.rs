//! A model lowered for one set of input shapes: every node's dispatches with their
//! pipelines and bind groups, and the buffers they use, built once and replayed by each
//! run.
//!
//! Buffers: graph inputs get their own; constants are shared by all plans of a model
//! (uploaded once); reshapes alias their input's buffer; every other value gets a buffer
//! from a pool, reused once the last reader of its previous value has run.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::context::GpuContext;
use super::kernel::{Dispatch, GpuInput, Lowered, WORKGROUP};
use super::{GpuError, lower, transfer};
use crate::ir::{Graph, ValueId};
use crate::tensor::Tensor;

/// Uploaded constants, keyed by the address of their tensor (shared across plans, which
/// clone the graph's `Arc`s).
pub(super) type ConstantBuffers = HashMap<usize, (Arc<Tensor>, Arc<wgpu::Buffer>)>;

/// One recorded kernel launch.
struct Step {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 2],
}

/// The lowered graph for one input-shape signature.
pub(super) struct Plan {
    /// The specialized graph (every fact concrete).
    pub(super) graph: Graph,
    storage_of: Vec<Option<Arc<wgpu::Buffer>>>,
    steps: Vec<Step>,
    /// Per node (in graph order): its steps in `steps` (empty for an alias or a node with
    /// no work), so that a traced run can read each node's output right after it.
    node_steps: Vec<Range<usize>>,
    /// Per graph output: a mappable buffer its bytes are copied into.
    staging: Vec<wgpu::Buffer>,
}

impl Plan {
    /// Lowers `graph` (specialized: concrete facts) on `ctx`.
    pub(super) fn new(ctx: &GpuContext, graph: Graph, constants: &mut ConstantBuffers) -> Result<Self, GpuError> {
        let lowered = lower_nodes(&graph)?;
        let mut plan = Plan {
            storage_of: vec![None; graph.values().len()],
            steps: Vec::new(),
            node_steps: Vec::with_capacity(lowered.len()),
            staging: Vec::new(),
            graph,
        };
        let roots = alias_roots(&plan.graph, &lowered);
        let last_read = last_reads(&plan.graph, &roots);
        for &id in plan.graph.inputs() {
            plan.storage_of[id.index()] = Some(Arc::new(tensor_buffer(ctx, &plan.graph, id)?));
        }
        let mut pool: HashMap<u64, Vec<Arc<wgpu::Buffer>>> = HashMap::new();
        for (index, lowered) in lowered.iter().enumerate() {
            let node = &plan.graph.nodes()[index];
            // Constants get a buffer only where a kernel reads them (or an alias passes
            // them on): shape-like inputs such as Slice bounds (often i64::MAX) never go up.
            let read: Vec<usize> = match lowered {
                Lowered::Alias(i) => vec![*i],
                Lowered::Dispatches(dispatches) => dispatches.iter().flat_map(|d| d.inputs.iter().copied()).collect(),
            };
            for i in read {
                let id =
                    *node.inputs.get(i).ok_or_else(|| GpuError::Internal(format!("{}: no input {i}", node.name)))?;
                if plan.storage_of[id.index()].is_none() {
                    let constant = plan
                        .graph
                        .constant(id)
                        .ok_or_else(|| GpuError::Internal(format!("{} has no buffer", node.name)))?;
                    plan.storage_of[id.index()] =
                        Some(constant_buffer(ctx, constants, &plan.graph.value(id).name, constant)?);
                }
            }
            let first_step = plan.steps.len();
            let output = match lowered {
                Lowered::Alias(i) => plan.buffer(node.inputs[*i])?,
                Lowered::Dispatches(dispatches) => {
                    let size = byte_size(ctx, &plan.graph, node.output)?;
                    let buffer = match pool.get_mut(&size).and_then(Vec::pop) {
                        Some(buffer) => buffer,
                        None => Arc::new(tensor_buffer(ctx, &plan.graph, node.output)?),
                    };
                    for dispatch in dispatches {
                        let step = plan.step(ctx, index, dispatch, &buffer)?;
                        plan.steps.extend(step);
                    }
                    buffer
                }
            };
            plan.node_steps.push(first_step..plan.steps.len());
            plan.storage_of[node.output.index()] = Some(output);
            let mut finished: Vec<ValueId> = node.inputs.iter().map(|id| roots[id.index()]).collect();
            finished.sort_unstable();
            finished.dedup();
            for root in finished {
                if last_read[root.index()] == Some(index)
                    && plan.graph.constant(root).is_none()
                    && let Some(buffer) = plan.storage_of[root.index()].clone()
                {
                    pool.entry(buffer.size()).or_default().push(buffer);
                }
            }
        }
        for &id in plan.graph.outputs() {
            if plan.storage_of[id.index()].is_none() {
                let constant =
                    plan.graph.constant(id).ok_or_else(|| GpuError::Internal("output without a buffer".into()))?;
                plan.storage_of[id.index()] =
                    Some(constant_buffer(ctx, constants, &plan.graph.value(id).name, constant)?);
            }
            let size = plan.buffer(id)?.size();
            plan.staging.push(ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("wasmnn readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        Ok(plan)
    }

    /// The buffer of a value that has one.
    pub(super) fn buffer(&self, id: ValueId) -> Result<Arc<wgpu::Buffer>, GpuError> {
        self.storage_of[id.index()]
            .clone()
            .ok_or_else(|| GpuError::Internal(format!("value {} has no buffer", id.index())))
    }

    /// Number of kernel launches per run.
    pub(super) fn dispatch_count(&self) -> usize {
        self.steps.len()
    }

    /// Records every kernel launch into one compute pass.
    pub(super) fn record(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("wasmnn run"), timestamp_writes: None });
        pass.set_bind_group(0, &ctx.numerics, &[]);
        launch(&mut pass, &self.steps);
    }

    /// Records the kernel launches of node `index` (graph order) into a compute pass of
    /// their own: a traced run follows each with a copy of the node's output. Nothing for
    /// an alias or a node with no work.
    pub(super) fn record_node(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, index: usize) {
        let Some(steps) = self.node_steps.get(index).and_then(|range| self.steps.get(range.clone())) else {
            return;
        };
        if steps.is_empty() {
            return;
        }
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("wasmnn node"), timestamp_writes: None });
        pass.set_bind_group(0, &ctx.numerics, &[]);
        launch(&mut pass, steps);
    }

    /// The staging buffer of each graph output, in order.
    pub(super) fn staging(&self) -> &[wgpu::Buffer] {
        &self.staging
    }

    /// One dispatch of node `index` writing `output`; `None` when it has no work.
    fn step(
        &self,
        ctx: &GpuContext,
        index: usize,
        dispatch: &Dispatch,
        output: &wgpu::Buffer,
    ) -> Result<Option<Step>, GpuError> {
        if dispatch.invocations == 0 {
            return Ok(None);
        }
        let node = &self.graph.nodes()[index];
        let pipeline = ctx.pipeline(dispatch.kernel, dispatch.inputs.len(), &dispatch.constants)?;
        let params: Vec<u32> = std::iter::once(dispatch.invocations).chain(dispatch.params.iter().copied()).collect();
        let params_buffer = words_buffer(ctx, "wasmnn params", &params);
        let inputs = dispatch
            .inputs
            .iter()
            .map(|&i| node.inputs.get(i).ok_or_else(|| GpuError::Internal(format!("{}: no input {i}", node.name))))
            .map(|id| id.and_then(|&id| self.buffer(id)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: params_buffer.as_entire_binding() }];
        for (b, buffer) in (1..).zip(&inputs) {
            entries.push(wgpu::BindGroupEntry { binding: b, resource: buffer.as_entire_binding() });
        }
        entries.push(wgpu::BindGroupEntry { binding: inputs.len() as u32 + 1, resource: output.as_entire_binding() });
        let layouts = ctx.layouts(inputs.len());
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(dispatch.kernel.name),
            layout: &layouts.0,
            entries: &entries,
        });
        let groups = dispatch.invocations.div_ceil(WORKGROUP);
        let max = ctx.max_workgroups_per_dimension();
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        if y > max {
            return Err(GpuError::Unsupported {
                node: node.name.clone(),
                message: "too many invocations for one dispatch".into(),
            });
        }
        Ok(Some(Step { pipeline, bind_group, workgroups: [x, y] }))
    }
}

/// Records `steps` into `pass` (whose group 0 is bound).
fn launch(pass: &mut wgpu::ComputePass<'_>, steps: &[Step]) {
    for step in steps {
        pass.set_pipeline(&step.pipeline);
        pass.set_bind_group(1, &step.bind_group, &[]);
        pass.dispatch_workgroups(step.workgroups[0], step.workgroups[1], 1);
    }
}

/// Every node's lowering, or the unsupported ones all together.
pub(super) fn lower_nodes(graph: &Graph) -> Result<Vec<Lowered>, GpuError> {
    let mut lowered = Vec::new();
    let mut failures = Vec::new();
    for node in graph.nodes() {
        let spec = |id: ValueId| -> Result<(crate::tensor::DType, Vec<usize>), String> {
            let fact = &graph.value(id).fact;
            if !transfer::supported(fact.dtype) {
                return Err(format!("{} tensors are not supported on the GPU", fact.dtype));
            }
            fact.concrete_shape()
                .map(|s| (fact.dtype, s))
                .ok_or_else(|| format!("shape of {} is not concrete", graph.value(id).name))
        };
        let specs: Result<Vec<_>, String> = node.inputs.iter().chain([&node.output]).map(|&id| spec(id)).collect();
        let result = specs.and_then(|specs| {
            let inputs: Vec<GpuInput<'_>> = node
                .inputs
                .iter()
                .zip(&specs)
                .map(|(&id, (dtype, shape))| GpuInput {
                    dtype: *dtype,
                    shape,
                    value: graph.constant(id).map(AsRef::as_ref),
                })
                .collect();
            let (dtype, shape) = &specs[specs.len() - 1];
            let output = GpuInput { dtype: *dtype, shape, value: None };
            lower::lower(&node.op, &inputs, &output).map_err(|e| e.to_string())
        });
        match result {
            Ok(l) => lowered.push(l),
            Err(message) => failures.push((node.op.kind_name(), node.name.as_str(), message)),
        }
    }
    if !failures.is_empty() {
        return Err(unsupported(&failures));
    }
    Ok(lowered)
}

/// One error for every node that cannot run: grouped by op kind and reason, with a count
/// and the first node of each group.
fn unsupported(failures: &[(&'static str, &str, String)]) -> GpuError {
    let mut groups: Vec<(&str, &str, &str, usize)> = Vec::new();
    for (kind, node, message) in failures {
        match groups.iter_mut().find(|g| g.0 == *kind && g.2 == message) {
            Some(group) => group.3 += 1,
            None => groups.push((kind, node, message, 1)),
        }
    }
    let listed: Vec<String> =
        groups.iter().map(|(kind, node, message, n)| format!("{kind} ×{n} (first {node:?}): {message}")).collect();
    GpuError::Unsupported {
        node: listed.join("; "),
        message: format!("{} node(s) cannot run on the GPU", failures.len()),
    }
}

/// For every value, the value whose buffer holds its bytes (itself unless aliased).
fn alias_roots(graph: &Graph, lowered: &[Lowered]) -> Vec<ValueId> {
    let mut roots: Vec<ValueId> = (0..graph.values().len()).map(ValueId::from_index).collect();
    for (node, lowered) in graph.nodes().iter().zip(lowered) {
        if let Lowered::Alias(i) = lowered {
            roots[node.output.index()] = roots[node.inputs[*i].index()];
        }
    }
    roots
}

/// For every root value, the last node reading it or an alias of it; `None` for graph
/// inputs and outputs (their buffers are never reused).
fn last_reads(graph: &Graph, roots: &[ValueId]) -> Vec<Option<usize>> {
    let mut last = vec![None; graph.values().len()];
    for (index, node) in graph.nodes().iter().enumerate() {
        for &id in &node.inputs {
            last[roots[id.index()].index()] = Some(index);
        }
    }
    for &id in graph.inputs().iter().chain(graph.outputs()) {
        last[roots[id.index()].index()] = None;
    }
    last
}

/// Bytes of a value's buffer: 4 per element, at least 4.
fn byte_size(ctx: &GpuContext, graph: &Graph, id: ValueId) -> Result<u64, GpuError> {
    let value = graph.value(id);
    let elements = value.fact.concrete_shape().map(|s| s.iter().product::<usize>()).unwrap_or(0);
    let bytes = (elements.max(1) as u64).saturating_mul(4);
    if bytes > ctx.max_buffer_size() {
        return Err(GpuError::TooLarge { name: value.name.clone(), bytes, limit: ctx.max_buffer_size() });
    }
    Ok(bytes)
}

/// A storage buffer for a value.
fn tensor_buffer(ctx: &GpuContext, graph: &Graph, id: ValueId) -> Result<wgpu::Buffer, GpuError> {
    Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&graph.value(id).name),
        size: byte_size(ctx, graph, id)?,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    }))
}

/// The shared buffer of a constant, uploaded on first use.
fn constant_buffer(
    ctx: &GpuContext,
    constants: &mut ConstantBuffers,
    name: &str,
    tensor: &Arc<Tensor>,
) -> Result<Arc<wgpu::Buffer>, GpuError> {
    let key = Arc::as_ptr(tensor) as usize;
    if let Some((_, buffer)) = constants.get(&key) {
        return Ok(Arc::clone(buffer));
    }
    let words = transfer::to_words(name, tensor)?;
    let bytes = (words.len().max(1) as u64) * 4;
    if bytes > ctx.max_buffer_size() {
        return Err(GpuError::TooLarge { name: name.to_owned(), bytes, limit: ctx.max_buffer_size() });
    }
    let buffer = Arc::new(words_buffer(ctx, name, &words));
    constants.insert(key, (Arc::clone(tensor), Arc::clone(&buffer)));
    Ok(buffer)
}

/// A storage buffer holding `words` (at least one word).
fn words_buffer(ctx: &GpuContext, label: &str, words: &[u32]) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    let contents: &[u32] = if words.is_empty() { &[0] } else { words };
    ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(contents),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    })
}
