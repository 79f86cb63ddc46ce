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
        let model = GpuModel { ctx, graph, constants: Mutex::new(HashMap::new()), plans: Mutex::new(HashMap::new()) };
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
        let started = Instant::now();
        for (&id, tensor) in plan.graph.inputs().iter().zip(ordered) {
            let name = &plan.graph.value(id).name;
            let words = transfer::to_words(name, &canonical_input(tensor))?;
            self.ctx.queue.write_buffer(plan.buffer(id)?.as_ref(), 0, bytemuck::cast_slice(&words));
        }
        self.ctx.queue.submit([]);
        self.wait()?;
        stats.upload = started.elapsed();

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
        let named: Vec<(&str, Vec<usize>)> = self
            .graph
            .inputs()
            .iter()
            .zip(shapes)
            .map(|(&id, s)| (self.graph.value(id).name.as_str(), s.clone()))
            .collect();
        let graph = self.graph.specialize(&named)?;
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
