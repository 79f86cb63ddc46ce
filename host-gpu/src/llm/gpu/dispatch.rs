//! The llama kernels (one WGSL file each, next to this module, all sharing
//! `common.wgsl`) and [`Op`], one prepared launch of one of them: pipeline, bind group
//! and size, built once per session and recorded into every step.
//!
//! Binding convention (the executor's, `crate::gpu::kernel`, with the step counters as
//! the first input): binding 0 the params, binding 1 the `step` buffer (`[T, start, 1,
//! T − 1, 0]`), then the kernel's inputs and its output. `params[0]` is the number of
//! invocations per row and `params[1]` the index in `step` of the number of rows, so one
//! bind group serves every step; the kernel's own parameters follow from `params[2]`.

use std::sync::Arc;

use crate::gpu::kernel::{Kernel, WORKGROUP};
use crate::gpu::{GpuContext, GpuError, ShaderVariant};

/// A llama kernel: its WGSL entry point and how many storage buffers it reads (the step
/// counters included), which fixes its bind group layout.
#[derive(Debug)]
pub(crate) struct LlmKernel {
    /// The entry point (source: prelude + common helpers + `common.wgsl` + the kernel).
    pub(crate) kernel: Kernel,
    /// Read-only bindings after the params: the step counters and the inputs.
    pub(crate) inputs: usize,
}

/// A [`LlmKernel`] from its WGSL file.
macro_rules! llm_kernel {
    ($name:literal, $file:literal, $entry:literal, $inputs:literal) => {
        LlmKernel {
            kernel: Kernel {
                name: $name,
                wgsl: concat!(include_str!("common.wgsl"), include_str!($file)),
                entry: $entry,
            },
            inputs: $inputs,
        }
    };
}

/// Embedding rows by token id (`embed.wgsl`).
pub(crate) static EMBED: LlmKernel = llm_kernel!("llm/embed", "embed.wgsl", "embed", 5);
/// RMSNorm per row (`rms_norm.wgsl`).
pub(crate) static RMS_NORM: LlmKernel = llm_kernel!("llm/rms_norm", "rms_norm.wgsl", "rms_norm", 3);
/// Per-block int8 activation quantization (`quantize.wgsl`).
pub(crate) static QUANTIZE: LlmKernel = llm_kernel!("llm/quantize", "quantize.wgsl", "quantize", 2);
/// Quantized product with Q4_1 weights (`qmatmul.wgsl`).
pub(crate) static QMATMUL_Q4_1: LlmKernel = llm_kernel!("llm/qmatmul_q4_1", "qmatmul.wgsl", "qmatmul_q4_1", 5);
/// Quantized product with Q8_0 weights (`qmatmul.wgsl`).
pub(crate) static QMATMUL_Q8_0: LlmKernel = llm_kernel!("llm/qmatmul_q8_0", "qmatmul.wgsl", "qmatmul_q8_0", 5);
/// Rotary embedding (`rope.wgsl`).
pub(crate) static ROPE: LlmKernel = llm_kernel!("llm/rope", "rope.wgsl", "rope", 4);
/// Copy of new rows into a KV cache (`kv_append.wgsl`).
pub(crate) static KV_APPEND: LlmKernel = llm_kernel!("llm/kv_append", "kv_append.wgsl", "kv_append", 2);
/// Attention weights per (token, head) (`attention_weights.wgsl`).
pub(crate) static ATTENTION_WEIGHTS: LlmKernel =
    llm_kernel!("llm/attention_weights", "attention_weights.wgsl", "attention_weights", 3);
/// Attention output per element (`attention_mix.wgsl`).
pub(crate) static ATTENTION_MIX: LlmKernel = llm_kernel!("llm/attention_mix", "attention_mix.wgsl", "attention_mix", 3);
/// SwiGLU (`swiglu.wgsl`).
pub(crate) static SWIGLU: LlmKernel = llm_kernel!("llm/swiglu", "swiglu.wgsl", "swiglu", 3);
/// Residual add in place (`residual.wgsl`).
pub(crate) static RESIDUAL: LlmKernel = llm_kernel!("llm/residual", "residual.wgsl", "residual", 2);

/// Every llama kernel.
pub(crate) static ALL: [&LlmKernel; 11] = [
    &EMBED,
    &RMS_NORM,
    &QUANTIZE,
    &QMATMUL_Q4_1,
    &QMATMUL_Q8_0,
    &ROPE,
    &KV_APPEND,
    &ATTENTION_WEIGHTS,
    &ATTENTION_MIX,
    &SWIGLU,
    &RESIDUAL,
];

/// The complete WGSL of every llama kernel (what a device-free validation checks).
pub fn shader_variants() -> Vec<ShaderVariant> {
    ALL.iter()
        .map(|k| ShaderVariant {
            kernel: k.kernel.name,
            entry: k.kernel.entry,
            source: k.kernel.source(),
            constants: Vec::new(),
        })
        .collect()
}

/// Words of the `step` buffer.
pub(crate) const STEP_WORDS: usize = 8;

/// Index in `step` of the step's token count.
const SLOT_TOKENS: u32 = 0;
/// Index in `step` of the position of the step's first token.
pub(crate) const SLOT_START: u32 = 1;
/// Index in `step` of the constant 1.
const SLOT_ONE: u32 = 2;
/// Index in `step` of the last row (`T − 1`).
pub(crate) const SLOT_LAST: u32 = 3;
/// Index in `step` of the constant 0.
pub(crate) const SLOT_ZERO: u32 = 4;

/// The `step` buffer's contents for `tokens` tokens from position `start`.
pub(crate) fn step_words(tokens: u32, start: u32) -> [u32; STEP_WORDS] {
    [tokens, start, 1, tokens.saturating_sub(1), 0, 0, 0, 0]
}

/// How many rows a launch covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// One per token of the step.
    Tokens,
    /// Just one (the output head, on the last token).
    One,
}

impl Rows {
    /// The index in `step` of the row count.
    fn slot(self) -> u32 {
        match self {
            Rows::Tokens => SLOT_TOKENS,
            Rows::One => SLOT_ONE,
        }
    }

    /// The row count of a step of `tokens` tokens.
    fn count(self, tokens: u32) -> u32 {
        match self {
            Rows::Tokens => tokens,
            Rows::One => 1,
        }
    }
}

/// One prepared kernel launch.
pub(crate) struct Op {
    kernel: &'static str,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    per_row: u32,
    rows: Rows,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op").field("kernel", &self.kernel).field("per_row", &self.per_row).finish_non_exhaustive()
    }
}

/// What an [`Op`] binds.
pub(crate) struct Bindings<'a> {
    /// The step counters.
    pub(crate) step: &'a wgpu::Buffer,
    /// The inputs, in binding order.
    pub(crate) inputs: &'a [&'a wgpu::Buffer],
    /// The output.
    pub(crate) output: &'a wgpu::Buffer,
}

impl Op {
    /// `kernel` launched with `per_row` invocations per row, over `rows`, with its own
    /// `params` (from `params[2]`); `capacity` is the most tokens a step may have (the
    /// launch's size is checked against the device for it now).
    ///
    /// # Errors
    /// [`GpuError::Shader`] when the kernel does not compile; [`GpuError::Internal`] for
    /// a wrong number of inputs; [`GpuError::TooLarge`] when the launch exceeds the
    /// device's grid.
    pub(crate) fn new(
        ctx: &GpuContext,
        kernel: &'static LlmKernel,
        (per_row, rows): (u32, Rows),
        params: &[u32],
        bindings: Bindings<'_>,
        capacity: u32,
    ) -> Result<Op, GpuError> {
        let name = kernel.kernel.name;
        if bindings.inputs.len() + 1 != kernel.inputs {
            return Err(GpuError::Internal(format!("{name}: {} inputs bound", bindings.inputs.len())));
        }
        let most = u64::from(per_row) * u64::from(rows.count(capacity));
        if workgroups(ctx, most).is_none() {
            return Err(GpuError::TooLarge { name: name.to_owned(), bytes: most * 4, limit: grid_limit(ctx) * 4 });
        }
        let pipeline = ctx.pipeline(&kernel.kernel, kernel.inputs, &[])?;
        let words: Vec<u32> = [per_row, rows.slot()].into_iter().chain(params.iter().copied()).collect();
        let params = upload(ctx, name, &words)?;
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: bindings.step.as_entire_binding() },
        ];
        for (binding, buffer) in (2..).zip(bindings.inputs) {
            entries.push(wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() });
        }
        let output = kernel.inputs as u32 + 1;
        entries.push(wgpu::BindGroupEntry { binding: output, resource: bindings.output.as_entire_binding() });
        let layouts = ctx.layouts(kernel.inputs);
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(name),
            layout: &layouts.0,
            entries: &entries,
        });
        Ok(Op { kernel: name, pipeline, bind_group, per_row, rows })
    }

    /// Records the launch for a step of `tokens` tokens (at most the capacity it was
    /// built for) into `pass`, whose group 0 is already bound.
    pub(crate) fn record(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>, tokens: u32) {
        let invocations = u64::from(self.per_row) * u64::from(self.rows.count(tokens));
        if let Some([x, y]) = workgroups(ctx, invocations).filter(|&[x, _]| x > 0) {
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(1, &self.bind_group, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
    }
}

/// The most invocations one launch may have.
fn grid_limit(ctx: &GpuContext) -> u64 {
    let max = u64::from(ctx.max_workgroups_per_dimension());
    max * max * u64::from(WORKGROUP)
}

/// The `[x, y]` workgroups of a launch of `invocations` (spread over y when x is full),
/// `None` when the device's grid is too small.
fn workgroups(ctx: &GpuContext, invocations: u64) -> Option<[u32; 2]> {
    let groups = invocations.div_ceil(u64::from(WORKGROUP));
    let max = u64::from(ctx.max_workgroups_per_dimension()).max(1);
    let x = groups.min(max);
    let y = if x == 0 { 0 } else { groups.div_ceil(x) };
    if y > max {
        return None;
    }
    Some([u32::try_from(x).ok()?, u32::try_from(y).ok()?])
}

/// Checks that a buffer of `words` 32-bit words fits the device.
fn check_size(ctx: &GpuContext, label: &str, words: usize) -> Result<u64, GpuError> {
    let bytes = (words.max(1) as u64).saturating_mul(4);
    if bytes > ctx.max_buffer_size() {
        return Err(GpuError::TooLarge { name: label.to_owned(), bytes, limit: ctx.max_buffer_size() });
    }
    Ok(bytes)
}

/// A storage buffer holding `words` (at least one word).
///
/// # Errors
/// [`GpuError::TooLarge`] when it exceeds the device's buffer limits.
pub(crate) fn upload(ctx: &GpuContext, label: &str, words: &[u32]) -> Result<wgpu::Buffer, GpuError> {
    use wgpu::util::DeviceExt;
    check_size(ctx, label, words.len())?;
    let contents: &[u32] = if words.is_empty() { &[0] } else { words };
    Ok(ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(contents),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
    }))
}

/// A zero-filled storage buffer of `words` words (at least one).
///
/// # Errors
/// [`GpuError::TooLarge`] when it exceeds the device's buffer limits.
pub(crate) fn zeroed(ctx: &GpuContext, label: &str, words: usize) -> Result<wgpu::Buffer, GpuError> {
    let size = check_size(ctx, label, words)?;
    Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    }))
}

/// A mappable buffer that `size` bytes are copied into for reading back.
pub(crate) fn staging(ctx: &GpuContext, label: &str, size: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A copy of `bytes` bytes from `source` (from byte `source_offset`) into `staging` (from
/// byte `staging_offset`), made once the first `after` launches of a submission have run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readback<'a> {
    /// Launches recorded before it.
    pub(crate) after: usize,
    /// What is copied.
    pub(crate) source: &'a wgpu::Buffer,
    /// Where in `source` the bytes start.
    pub(crate) source_offset: u64,
    /// Where they go.
    pub(crate) staging: &'a wgpu::Buffer,
    /// Where in `staging` they go.
    pub(crate) staging_offset: u64,
    /// How many (a multiple of 4).
    pub(crate) bytes: u64,
}

impl<'a> Readback<'a> {
    /// All of `staging` filled from the start of `source` after `after` launches.
    pub(crate) fn whole(after: usize, source: &'a wgpu::Buffer, staging: &'a wgpu::Buffer) -> Readback<'a> {
        Readback { after, source, source_offset: 0, staging, staging_offset: 0, bytes: staging.size() }
    }
}

/// Records `ops` for a step of `tokens` tokens and `copies` (in order of `after`), and
/// submits it all: the launches between two copies share one compute pass, so without
/// copies, or with copies only after the last launch, it is one pass.
pub(crate) fn submit(ctx: &GpuContext, ops: &[&Op], tokens: u32, copies: &[Readback<'_>]) {
    let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wasmnn llm") });
    let pass = |encoder: &mut wgpu::CommandEncoder, ops: &[&Op]| {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("wasmnn llm step"),
            timestamp_writes: None,
        });
        pass.set_bind_group(0, &ctx.numerics, &[]);
        for op in ops {
            op.record(ctx, &mut pass, tokens);
        }
    };
    let mut recorded = 0;
    for copy in copies {
        let end = copy.after.clamp(recorded, ops.len());
        if end > recorded {
            pass(&mut encoder, &ops[recorded..end]);
            recorded = end;
        }
        encoder.copy_buffer_to_buffer(copy.source, copy.source_offset, copy.staging, copy.staging_offset, copy.bytes);
    }
    if recorded < ops.len() {
        pass(&mut encoder, &ops[recorded..]);
    }
    ctx.queue.submit([encoder.finish()]);
}

/// Blocks until the device has finished all submitted work.
///
/// # Errors
/// [`GpuError::Device`] when the device is lost.
pub(crate) fn wait(ctx: &GpuContext) -> Result<(), GpuError> {
    ctx.device
        .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
        .map(|_| ())
        .map_err(|e| GpuError::Device(e.to_string()))
}

/// Maps `staging` (after [`wait`]) and returns its first `words` words.
///
/// # Errors
/// [`GpuError::Readback`] when mapping fails.
pub(crate) fn read(ctx: &GpuContext, staging: &wgpu::Buffer, words: usize) -> Result<Vec<u32>, GpuError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |result| {
        let _ = sender.send(result);
    });
    wait(ctx)?;
    receiver.recv().map_err(|e| GpuError::Readback(e.to_string()))?.map_err(|e| GpuError::Readback(e.to_string()))?;
    let out = {
        let bytes = staging.slice(..).get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?;
        let end = words.saturating_mul(4).min(bytes.len());
        bytes[..end].chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    staging.unmap();
    Ok(out)
}
