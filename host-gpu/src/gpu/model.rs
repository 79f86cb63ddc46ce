//! [`GpuModel`]: a graph prepared for one device, run with the same results as the CPU
//! reference executor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::context::GpuContext;
use super::plan::{ConstantBuffers, Plan};
use super::{GpuError, transfer};
use crate::cpu::canonical_input;
use crate::ir::Graph;
use crate::tensor::Tensor;
use crate::trace::{LeafTensor, Tap, TapPoint};

/// Default staging bytes per submission of a traced run ([`GpuModel::run_traced`]).
const TRACE_BATCH_BYTES: u64 = 64 << 20;

/// Where the time of one run went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunStats {
    /// Writing the inputs to the device (and waiting for it).
    pub upload: Duration,
    /// Every kernel, submitted together.
    pub compute: Duration,
    /// Copying the outputs back and mapping them.
    pub readback: Duration,
    /// Kernel launches.
    pub dispatches: usize,
}

/// Plans by the input shapes they were built for.
type PlansByShapes = HashMap<Vec<Vec<usize>>, Arc<Mutex<Plan>>>;

/// A graph on a device. Plans (lowered dispatches, pipelines, bind groups, buffers) are
/// built once per input-shape signature and reused; constants are uploaded once.
pub struct GpuModel {
    ctx: Arc<GpuContext>,
    graph: Graph,
    constants: Mutex<ConstantBuffers>,
    plans: Mutex<PlansByShapes>,
    trace_batch_bytes: u64,
}

impl std::fmt::Debug for GpuModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuModel").field("ctx", &self.ctx).finish_non_exhaustive()
    }
}

impl GpuModel {
    /// Prepares `graph` on `ctx`. When every input shape is known, the plan (and so every
    /// pipeline and constant upload) is built now; otherwise on the first run of each
    /// input-shape signature.
    ///
    /// # Errors
    /// When a node cannot run on the GPU, or a buffer would exceed the device limits.
    pub fn new(ctx: Arc<GpuContext>, graph: Graph) -> Result<Self, GpuError> {
        let model = GpuModel {
            ctx,
            graph,
            constants: Mutex::new(HashMap::new()),
            plans: Mutex::new(HashMap::new()),
            trace_batch_bytes: TRACE_BATCH_BYTES,
        };
        let shapes: Option<Vec<Vec<usize>>> =
            model.graph.inputs().iter().map(|&id| model.graph.value(id).fact.concrete_shape()).collect();
        if let Some(shapes) = shapes {
            model.plan(&shapes)?;
        }
        Ok(model)
    }

    /// The device.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// Sets how many staging bytes a traced run fills before it submits, maps and taps
    /// (64 MiB by default; at least one node per submission, however large
    /// its output). Smaller batches mean more submissions and more frequent `stop` checks;
    /// the leaves do not depend on it.
    #[must_use]
    pub fn with_trace_batch_bytes(mut self, bytes: u64) -> Self {
        self.trace_batch_bytes = bytes;
        self
    }

    /// Runs the graph on named inputs; outputs (name, tensor) in graph order.
    ///
    /// # Errors
    /// [`GpuError`] naming the input or node at fault, or the device failure.
    pub fn run(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>, GpuError> {
        self.run_until(inputs, &|| false).map(|(outputs, _)| outputs)
    }

    /// [`GpuModel::run_with_stats`], asking `stop` before the upload, before the compute
    /// submission and before the readback, and giving up with [`GpuError::Cancelled`] when
    /// it says so. The compute is one submission, so a deadline inside it is noticed once
    /// the device finishes.
    ///
    /// # Errors
    /// As [`GpuModel::run`], plus [`GpuError::Cancelled`].
    pub fn run_until(
        &self,
        inputs: Vec<(String, Tensor)>,
        stop: &dyn Fn() -> bool,
    ) -> Result<(Vec<(String, Tensor)>, RunStats), GpuError> {
        let check = |stage| if stop() { Err(GpuError::Cancelled(stage)) } else { Ok(()) };
        let ordered = self.order_inputs(inputs)?;
        let shapes: Vec<Vec<usize>> = ordered.iter().map(|t| t.shape().to_vec()).collect();
        let plan = self.plan(&shapes)?;
        let plan = plan.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stats = RunStats { dispatches: plan.dispatch_count(), ..RunStats::default() };

        check("before the upload")?;
        stats.upload = self.upload(&plan, ordered, None)?;

        check("before the compute")?;
        let started = Instant::now();
        let mut encoder =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wasmnn") });
        plan.record(&self.ctx, &mut encoder);
        self.ctx.queue.submit([encoder.finish()]);
        self.wait()?;
        stats.compute = started.elapsed();

        check("before the readback")?;
        let started = Instant::now();
        let outputs = self.read_outputs(&plan)?;
        stats.readback = started.elapsed();
        Ok((outputs, stats))
    }

    /// Uploads `ordered` (the graph inputs in [`Graph::inputs`] order, canonicalized first)
    /// into `plan`'s input buffers and waits for the device; with `received`, also pushes
    /// each input as the device holds it (converted to words and back). Returns how long
    /// the upload took.
    fn upload(
        &self,
        plan: &Plan,
        ordered: Vec<Tensor>,
        mut received: Option<&mut Vec<Tensor>>,
    ) -> Result<Duration, GpuError> {
        let started = Instant::now();
        for (&id, tensor) in plan.graph.inputs().iter().zip(ordered) {
            let name = &plan.graph.value(id).name;
            let (dtype, shape) = (tensor.dtype(), tensor.shape().to_vec());
            let words = transfer::to_words(name, &canonical_input(tensor))?;
            self.ctx.queue.write_buffer(plan.buffer(id)?.as_ref(), 0, bytemuck::cast_slice(&words));
            if let Some(received) = received.as_deref_mut() {
                received.push(transfer::from_words(dtype, shape, &words)?);
            }
        }
        self.ctx.queue.submit([]);
        self.wait()?;
        Ok(started.elapsed())
    }

    /// [`GpuModel::run_until`], showing `tap` every traced tensor, the same leaves with the
    /// same bits as [`crate::cpu::CpuExecutor::run_traced`] on the graph specialized to the
    /// input shapes ([`Graph::specialize_for`], the graph the GPU runs): each graph input as
    /// the GPU received it (canonicalized, then converted to words and back) in
    /// [`Graph::inputs`] order ([`TapPoint::Input`]), then each node's output in node order
    /// ([`TapPoint::Node`]), read back from the device right after the node's kernels (an
    /// alias such as a reshape reads the buffer it shares).
    ///
    /// Nodes run in batches: each node gets a compute pass of its own followed by a copy of
    /// its output into a staging buffer (before buffer pooling can reuse it), until the
    /// batch fills [`GpuModel::with_trace_batch_bytes`]; then the batch is submitted,
    /// mapped, converted and tapped in order. `stop` is asked before the upload, before
    /// every batch and before the readback. The tap sees copies: changing a tensor does not
    /// change what later nodes read on the device.
    ///
    /// The outputs are those of [`GpuModel::run_until`]. In the stats, `compute` covers the
    /// batches: kernels, trace copies, mapping, conversion and the tap.
    ///
    /// # Errors
    /// As [`GpuModel::run_until`]; the tap has seen the leaves of the batches before the
    /// failure.
    pub fn run_traced(
        &self,
        inputs: Vec<(String, Tensor)>,
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<(Vec<(String, Tensor)>, RunStats), GpuError> {
        let check = |stage| if stop() { Err(GpuError::Cancelled(stage)) } else { Ok(()) };
        let ordered = self.order_inputs(inputs)?;
        let shapes: Vec<Vec<usize>> = ordered.iter().map(|t| t.shape().to_vec()).collect();
        let plan = self.plan(&shapes)?;
        let plan = plan.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stats = RunStats { dispatches: plan.dispatch_count(), ..RunStats::default() };

        check("before the upload")?;
        let mut received = Vec::with_capacity(ordered.len());
        stats.upload = self.upload(&plan, ordered, Some(&mut received))?;
        for (index, (&id, mut tensor)) in plan.graph.inputs().iter().zip(received).enumerate() {
            let name = &plan.graph.value(id).name;
            tap.leaf(TapPoint::Input { index, name }, LeafTensor::Tensor(&mut tensor));
        }

        let started = Instant::now();
        self.trace_nodes(&plan, &check, tap)?;
        stats.compute = started.elapsed();

        check("before the readback")?;
        let started = Instant::now();
        let outputs = self.read_outputs(&plan)?;
        stats.readback = started.elapsed();
        Ok((outputs, stats))
    }

    /// Runs every node of `plan` in batches, reading each node's output back and showing
    /// it to `tap` (see [`GpuModel::run_traced`]).
    fn trace_nodes(
        &self,
        plan: &Plan,
        check: &dyn Fn(&'static str) -> Result<(), GpuError>,
        tap: &mut dyn Tap,
    ) -> Result<(), GpuError> {
        let nodes = plan.graph.nodes();
        let mut sizes = Vec::with_capacity(nodes.len());
        for node in nodes {
            let value = plan.graph.value(node.output);
            let shape = value
                .fact
                .concrete_shape()
                .ok_or_else(|| GpuError::Internal(format!("shape of {} is not concrete", value.name)))?;
            let bytes = (shape.iter().product::<usize>() as u64).saturating_mul(4);
            sizes.push((shape, bytes));
        }
        let largest = sizes.iter().map(|(_, bytes)| *bytes).max().unwrap_or(0);
        let total = sizes.iter().fold(0u64, |sum, (_, bytes)| sum.saturating_add(*bytes));
        let limit = self.trace_batch_bytes.min(self.ctx.max_buffer_size());
        let capacity = largest.max(total.min(limit)).max(4);
        let staging = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wasmnn trace"),
            size: capacity,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut next = 0;
        while next < nodes.len() {
            check("between traced batches")?;
            let mut encoder =
                self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wasmnn trace") });
            // (node index, byte offset in staging, bytes)
            let mut batch: Vec<(usize, u64, u64)> = Vec::new();
            let mut used = 0u64;
            while let Some((_, bytes)) = sizes.get(next) {
                if !batch.is_empty() && used.saturating_add(*bytes) > capacity {
                    break;
                }
                plan.record_node(&self.ctx, &mut encoder, next);
                if *bytes > 0 {
                    let source = plan.buffer(nodes[next].output)?;
                    encoder.copy_buffer_to_buffer(source.as_ref(), 0, &staging, used, *bytes);
                }
                batch.push((next, used, *bytes));
                used += bytes;
                next += 1;
            }
            self.ctx.queue.submit([encoder.finish()]);
            let tensors = self.read_staging(&staging, used, &batch, |index, words| {
                let value = plan.graph.value(nodes[index].output);
                transfer::from_words(value.fact.dtype, sizes[index].0.clone(), words)
            })?;
            for ((index, _, _), mut tensor) in batch.into_iter().zip(tensors) {
                let node = &nodes[index];
                let at = TapPoint::Node { node: index, name: &node.name, op: node.op.kind_name() };
                tap.leaf(at, LeafTensor::Tensor(&mut tensor));
            }
        }
        Ok(())
    }

    /// Waits for the submitted work, maps the first `used` bytes of `staging` and converts
    /// the words of each `(node, offset, bytes)` of `batch` with `convert`; unmaps again.
    fn read_staging(
        &self,
        staging: &wgpu::Buffer,
        used: u64,
        batch: &[(usize, u64, u64)],
        convert: impl Fn(usize, &[u32]) -> Result<Tensor, GpuError>,
    ) -> Result<Vec<Tensor>, GpuError> {
        if used == 0 {
            self.wait()?;
            return batch.iter().map(|&(index, _, _)| convert(index, &[])).collect();
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, ..used, move |result| {
            let _ = sender.send(result);
        });
        self.wait()?;
        receiver
            .recv()
            .map_err(|_| GpuError::Readback("the trace staging buffer was never mapped".into()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let tensors = {
            let bytes = staging.slice(..used).get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?;
            let words: &[u32] = bytemuck::cast_slice(&bytes);
            batch
                .iter()
                .map(|&(index, offset, len)| {
                    let (start, end) = ((offset / 4) as usize, ((offset + len) / 4) as usize);
                    let words = words
                        .get(start..end)
                        .ok_or_else(|| GpuError::Internal("trace batch outside its staging".into()))?;
                    convert(index, words)
                })
                .collect()
        };
        staging.unmap();
        tensors
    }

    /// [`GpuModel::run`], with where the time went.
    ///
    /// # Errors
    /// As [`GpuModel::run`].
    pub fn run_with_stats(&self, inputs: Vec<(String, Tensor)>) -> Result<(Vec<(String, Tensor)>, RunStats), GpuError> {
        self.run_until(inputs, &|| false)
    }

    /// The inputs in graph order, checked against the declared dtypes.
    fn order_inputs(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>, GpuError> {
        let mut by_name: HashMap<String, Tensor> = HashMap::new();
        for (name, tensor) in inputs {
            if !self.graph.inputs().iter().any(|&id| self.graph.value(id).name == name) {
                return Err(GpuError::UnknownInput(name));
            }
            by_name.insert(name, tensor);
        }
        self.graph
            .inputs()
            .iter()
            .map(|&id| {
                let value = self.graph.value(id);
                let tensor = by_name.remove(&value.name).ok_or_else(|| GpuError::MissingInput(value.name.clone()))?;
                if tensor.dtype() != value.fact.dtype {
                    let message = format!("expected dtype {}, got {}", value.fact.dtype, tensor.dtype());
                    return Err(GpuError::Input { name: value.name.clone(), message });
                }
                value
                    .fact
                    .check_shape(tensor.shape())
                    .map_err(|message| GpuError::Input { name: value.name.clone(), message })?;
                Ok(tensor)
            })
            .collect()
    }

    /// The plan for these input shapes, built on first use.
    fn plan(&self, shapes: &[Vec<usize>]) -> Result<Arc<Mutex<Plan>>, GpuError> {
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(plan) = plans.get(shapes) {
            return Ok(Arc::clone(plan));
        }
        let graph = self.graph.specialize_for(shapes)?;
        let mut constants = self.constants.lock().unwrap_or_else(PoisonError::into_inner);
        let plan = Arc::new(Mutex::new(Plan::new(&self.ctx, graph, &mut constants)?));
        plans.insert(shapes.to_vec(), Arc::clone(&plan));
        Ok(plan)
    }

    /// Copies every output to its staging buffer, maps them and converts the words.
    fn read_outputs(&self, plan: &Plan) -> Result<Vec<(String, Tensor)>, GpuError> {
        let mut encoder =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        for (&id, staging) in plan.graph.outputs().iter().zip(plan.staging()) {
            encoder.copy_buffer_to_buffer(plan.buffer(id)?.as_ref(), 0, staging, 0, staging.size());
        }
        self.ctx.queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        for staging in plan.staging() {
            let sender = sender.clone();
            staging.map_async(wgpu::MapMode::Read, .., move |result| {
                let _ = sender.send(result);
            });
        }
        drop(sender);
        self.wait()?;
        for result in receiver {
            result.map_err(|e| GpuError::Readback(e.to_string()))?;
        }
        let mut outputs = Vec::new();
        for (&id, staging) in plan.graph.outputs().iter().zip(plan.staging()) {
            let value = plan.graph.value(id);
            let shape = value.fact.concrete_shape().ok_or_else(|| GpuError::Internal("output shape".into()))?;
            let elements: usize = shape.iter().product();
            let tensor = {
                let bytes = staging.slice(..).get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?;
                let words: &[u32] = bytemuck::cast_slice(&bytes[..elements * 4]);
                transfer::from_words(value.fact.dtype, shape, words)
            };
            staging.unmap();
            outputs.push((value.name.clone(), tensor?));
        }
        Ok(outputs)
    }

    /// Blocks until the device has finished all submitted work.
    fn wait(&self) -> Result<(), GpuError> {
        self.ctx
            .device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
            .map(|_| ())
            .map_err(|e| GpuError::Device(e.to_string()))
    }
}
