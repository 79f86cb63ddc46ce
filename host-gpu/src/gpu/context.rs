//! The GPU device: adapter selection (Vulkan preferred), the limits we raise, the shared
//! numerics uniform and bind group layouts, and the pipeline cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::GpuError;
use super::kernel::{Kernel, PipelineKey};

/// What identifies the adapter a result came from (reported by the self-test and in
/// receipts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Driver name.
    pub driver: String,
    /// Driver version details.
    pub driver_info: String,
    /// Graphics API backend (`vulkan`, …).
    pub backend: String,
    /// Device type (`Cpu` for software rasterizers such as lavapipe).
    pub device_type: String,
    /// Whether the adapter runs shaders on the CPU (lavapipe, SwiftShader, WARP).
    pub software: bool,
}

/// An open device with its queue, the shared layouts and the compiled pipelines.
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    summary: AdapterSummary,
    /// The numerics uniform (`zero == 0`, see `shaders/prelude.wgsl`) bound as group 0.
    pub(crate) numerics: wgpu::BindGroup,
    numerics_layout: wgpu::BindGroupLayout,
    /// Group 1 layouts and pipeline layouts by input count.
    layouts: Mutex<HashMap<usize, Arc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.summary).finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Opens the best adapter (Vulkan first, then any other backend compiled in), with
    /// the adapter's own storage and buffer size limits.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when there is none; [`GpuError::Device`] when it cannot be
    /// opened.
    pub fn new() -> Result<Self, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        let adapter =
            pollster::block_on(instance.request_adapter(&options)).map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let supported = adapter.limits();
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: supported.max_storage_buffer_binding_size,
            max_buffer_size: supported.max_buffer_size,
            max_storage_buffers_per_shader_stage: supported.max_storage_buffers_per_shader_stage.min(16),
            max_compute_workgroups_per_dimension: supported.max_compute_workgroups_per_dimension,
            ..wgpu::Limits::downlevel_defaults()
        };
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("wasmnn"),
            required_features: wgpu::Features::empty(),
            required_limits: limits,
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| GpuError::Device(e.to_string()))?;
        let summary = AdapterSummary {
            name: info.name,
            driver: info.driver,
            driver_info: info.driver_info,
            backend: info.backend.to_string(),
            device_type: format!("{:?}", info.device_type),
            software: info.device_type == wgpu::DeviceType::Cpu,
        };
        let (numerics, numerics_layout) = numerics_bind_group(&device);
        Ok(GpuContext {
            device,
            queue,
            summary,
            numerics,
            numerics_layout,
            layouts: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
        })
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.summary
    }

    /// The largest buffer the device accepts, in bytes.
    pub(crate) fn max_buffer_size(&self) -> u64 {
        self.device.limits().max_buffer_size.min(self.device.limits().max_storage_buffer_binding_size)
    }

    /// The most workgroups one dispatch may have along one dimension.
    pub(crate) fn max_workgroups_per_dimension(&self) -> u32 {
        self.device.limits().max_compute_workgroups_per_dimension
    }

    /// Group 1 layout for kernels with `inputs` tensor inputs: binding 0 the params
    /// (`array<u32>`), bindings 1..=inputs the inputs, the next the output.
    pub(crate) fn layouts(&self, inputs: usize) -> Arc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)> {
        let mut layouts = self.layouts.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = layouts.entry(inputs).or_insert_with(|| {
            let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            };
            let entries: Vec<_> =
                (0..=inputs as u32).map(|b| storage(b, true)).chain([storage(inputs as u32 + 1, false)]).collect();
            let group = self.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("wasmnn tensors"),
                entries: &entries,
            });
            let pipeline = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("wasmnn kernel"),
                bind_group_layouts: &[Some(&self.numerics_layout), Some(&group)],
                immediate_size: 0,
            });
            Arc::new((group, pipeline))
        });
        Arc::clone(entry)
    }

    /// The pipeline of `kernel` with `inputs` tensor inputs and these override
    /// constants, compiled on first use.
    ///
    /// # Errors
    /// [`GpuError::Shader`] when the driver rejects the shader.
    pub(crate) fn pipeline(
        &self,
        kernel: &'static Kernel,
        inputs: usize,
        constants: &[(&'static str, f64)],
    ) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        let key = PipelineKey::new(kernel, inputs, constants);
        if let Some(found) = self.pipelines.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(Arc::clone(found));
        }
        let layouts = self.layouts(inputs);
        let source = kernel.source();
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.name),
            layout: Some(&layouts.1),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants, zero_initialize_workgroup_memory: true },
            cache: None,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader { kernel: kernel.name, message: error.to_string() });
        }
        let pipeline = Arc::new(pipeline);
        self.pipelines.lock().unwrap_or_else(PoisonError::into_inner).insert(key, Arc::clone(&pipeline));
        Ok(pipeline)
    }
}

/// The 16-byte uniform `NnNumerics { zero: 0, … }` and its group 0 bind group.
fn numerics_bind_group(device: &wgpu::Device) -> (wgpu::BindGroup, wgpu::BindGroupLayout) {
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("wasmnn numerics uniform"),
        size: 16,
        usage: wgpu::BufferUsages::UNIFORM,
        // Mapped at creation, which zero-fills it: `zero` is 0 and stays 0.
        mapped_at_creation: true,
    });
    buffer.unmap();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("wasmnn numerics"),
        entries: &[wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }],
    });
    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("wasmnn numerics"),
        layout: &layout,
        entries: &[wgpu::BindGroupEntry { binding: 0, resource: buffer.as_entire_binding() }],
    });
    (group, layout)
}
