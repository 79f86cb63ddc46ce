//! Traced steps on the GPU ([`GpuSession::forward_traced`]): the same leaves as the CPU
//! reference's traced step, bit for bit.
//!
//! A session's launches are built once as [`Launches`]: the kernels of the embedding, of
//! each block and of the output head, each traced op marked with the buffer its output
//! sits in right after its launch (`docs/TRACES.md`, the op slots of
//! [`crate::llm::trace`]). The quantization of activations and the KV append are not ops;
//! the rotated keys are the k cache's rows at the chunk's positions (the kernel writes
//! them there). A traced step records the same launches as a plain one, but ends the
//! compute pass after each traced op and copies its output rows into a staging buffer,
//! which is read back after each submission; a step of several chunks gives each op's
//! output chunk by chunk, its rows concatenated in order. Once the step has run, the tap
//! sees every op's whole `[rows, width]` output in step order. The plain step records
//! no copy and keeps one pass per submission.

use super::dispatch::{self, Op, Readback};
use super::{GpuSession, LAYERS_PER_SUBMIT};
use crate::gpu::{GpuContext, GpuError};
use crate::llm::trace::{show_input, slot_index, slot_shape, step_slots};
use crate::llm::{Llama, LlmError, TracedSession};
use crate::trace::{LeafTensor, LlmSlot, Tap, TapPoint};

/// Where the rows of a traced output start in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// At row 0: an activation buffer holding the chunk's rows.
    Chunk,
    /// At the row of the chunk's first position: the k cache, which the rotary
    /// embedding of the keys writes.
    Position,
}

/// Where a traced op's output sits right after its launch.
#[derive(Debug)]
struct TracePoint {
    /// Launches of its list up to its own, included.
    after: usize,
    /// The op.
    slot: LlmSlot,
    /// The buffer holding its output.
    buffer: wgpu::Buffer,
    /// Where in `buffer` the output's rows start.
    origin: Origin,
}

/// A list of launches (the embedding's, one block's, the head's) and where each traced op
/// among them leaves its output.
#[derive(Debug, Default)]
pub(super) struct Launches {
    ops: Vec<Op>,
    points: Vec<TracePoint>,
}

impl Launches {
    /// Appends a launch that is not an op of the trace.
    pub(super) fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Appends the launch of `slot`'s op, whose output rows are at the start of `output`.
    pub(super) fn traced(&mut self, op: Op, slot: LlmSlot, output: &wgpu::Buffer) {
        self.mark(op, slot, output, Origin::Chunk);
    }

    /// Appends the launch of `slot`'s op, whose output rows are those of the chunk's
    /// positions in `output` (a KV cache).
    pub(super) fn traced_at_position(&mut self, op: Op, slot: LlmSlot, output: &wgpu::Buffer) {
        self.mark(op, slot, output, Origin::Position);
    }

    fn mark(&mut self, op: Op, slot: LlmSlot, output: &wgpu::Buffer, origin: Origin) {
        self.ops.push(op);
        self.points.push(TracePoint { after: self.ops.len(), slot, buffer: output.clone(), origin });
    }

    /// Bytes of the traced outputs of a chunk of `rows` tokens.
    fn traced_bytes(&self, model: &Llama, rows: usize) -> u64 {
        let words: usize = self.points.iter().map(|p| slot_shape(model, p.slot, rows).iter().product::<usize>()).sum();
        (words as u64).saturating_mul(4)
    }
}

/// Launches waiting for one submission and, in a traced step, the trace points among
/// them (each with the number of launches up to its op).
pub(super) struct Batch<'a> {
    /// The launches, in order.
    pub(super) ops: Vec<&'a Op>,
    /// The trace points (only when tracing).
    points: Vec<(usize, &'a TracePoint)>,
    traced: bool,
}

impl<'a> Batch<'a> {
    /// An empty batch of a traced step or not.
    pub(super) fn new(traced: bool) -> Batch<'a> {
        Batch { ops: Vec::new(), points: Vec::new(), traced }
    }

    /// Appends `launches`.
    pub(super) fn extend(&mut self, launches: &'a Launches) {
        if self.traced {
            let base = self.ops.len();
            self.points.extend(launches.points.iter().map(|p| (base + p.after, p)));
        }
        self.ops.extend(&launches.ops);
    }

    /// Empties the batch (after its submission).
    pub(super) fn clear(&mut self) {
        self.ops.clear();
        self.points.clear();
    }
}

/// The readback of a traced step: the staging buffer one submission's traced outputs are
/// copied into, where each landed, and every op's output so far (the rows of the chunks
/// done, in order), indexed as [`step_slots`].
pub(super) struct StepTrace {
    staging: wgpu::Buffer,
    /// `(slot, first word, words)` in `staging` of the last submission's outputs.
    landed: Vec<(LlmSlot, usize, usize)>,
    values: Vec<Vec<f32>>,
    layers: usize,
}

/// An op's output as the tap sees it: the op, `[rows, width]`, the values.
type Leaf = (LlmSlot, [usize; 2], Vec<f32>);

impl StepTrace {
    /// The readback of a step of `n` tokens of `session`, its staging buffer sized for the
    /// largest submission.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] when that exceeds the device's buffer limit.
    pub(super) fn new(session: &GpuSession, n: usize) -> Result<StepTrace, LlmError> {
        let (ctx, model) = (session.model.ctx.as_ref(), session.model.model.as_ref());
        let rows = n.min(session.chunk);
        let blocks = session.layers.len().min(LAYERS_PER_SUBMIT) as u64;
        let block = session.layers.iter().map(|l| l.traced_bytes(model, rows)).max().unwrap_or(0);
        let bytes = session
            .embed
            .traced_bytes(model, rows)
            .saturating_add(blocks.saturating_mul(block))
            .saturating_add(session.head.traced_bytes(model, rows));
        if bytes > ctx.max_buffer_size() {
            let name = "llm trace readback".to_owned();
            return Err(GpuError::TooLarge { name, bytes, limit: ctx.max_buffer_size() }.into());
        }
        let layers = model.layers.len();
        let values =
            step_slots(layers).map(|slot| Vec::with_capacity(slot_shape(model, slot, n).iter().product())).collect();
        Ok(StepTrace {
            staging: dispatch::staging(ctx, "llm trace readback", bytes.max(4)),
            landed: Vec::new(),
            values,
            layers,
        })
    }

    /// The copies of the traced outputs of `batch` (for a chunk of `rows` tokens from
    /// position `start`) into the staging buffer, one after the other.
    ///
    /// # Errors
    /// [`GpuError::Internal`] when they do not fit it, or an output's rows are not all in
    /// its buffer.
    pub(super) fn plan<'a>(
        &'a mut self,
        model: &Llama,
        batch: &Batch<'a>,
        rows: usize,
        start: usize,
    ) -> Result<Vec<Readback<'a>>, LlmError> {
        self.landed.clear();
        let mut spans = Vec::with_capacity(batch.points.len());
        let mut end = 0;
        for &(after, point) in &batch.points {
            let [rows, width] = slot_shape(model, point.slot, rows);
            let words = rows * width;
            let from = match point.origin {
                Origin::Chunk => 0,
                Origin::Position => start * width,
            };
            if ((from + words) as u64).saturating_mul(4) > point.buffer.size() {
                let message = format!("rows {start}.. of {:?} are outside its buffer", point.slot);
                return Err(GpuError::Internal(message).into());
            }
            self.landed.push((point.slot, end, words));
            spans.push((after, &point.buffer, from, end, words));
            end += words;
        }
        if (end as u64).saturating_mul(4) > self.staging.size() {
            return Err(GpuError::Internal(format!("{end} traced words exceed the trace staging buffer")).into());
        }
        let staging = &self.staging;
        let bytes = |words: usize| words as u64 * 4;
        Ok(spans
            .into_iter()
            .map(|(after, source, from, at, words)| Readback {
                after,
                source,
                source_offset: bytes(from),
                staging,
                staging_offset: bytes(at),
                bytes: bytes(words),
            })
            .collect())
    }

    /// Waits for the submission the last [`StepTrace::plan`] was recorded into and appends
    /// each output it copied to its op's rows.
    ///
    /// # Errors
    /// [`GpuError::Readback`] when the staging buffer cannot be read.
    pub(super) fn absorb(&mut self, ctx: &GpuContext) -> Result<(), LlmError> {
        let end = self.landed.iter().map(|&(_, at, words)| at + words).max().unwrap_or(0);
        if end == 0 {
            dispatch::wait(ctx)?;
            return Ok(());
        }
        let words = dispatch::read(ctx, &self.staging, end)?;
        for &(slot, at, len) in &self.landed {
            let rows =
                words.get(at..at + len).ok_or_else(|| GpuError::Readback(format!("{} words read", words.len())))?;
            let values = slot_index(slot, self.layers)
                .and_then(|index| self.values.get_mut(index))
                .ok_or_else(|| GpuError::Internal(format!("no slot {slot:?} in a step")))?;
            values.extend(rows.iter().map(|&w| f32::from_bits(w)));
        }
        self.landed.clear();
        Ok(())
    }

    /// Every op's output of the step of `n` tokens, in step order with its shape, the
    /// head's being `logits`.
    ///
    /// # Errors
    /// [`GpuError::Internal`] when an output was not read back whole.
    fn leaves(self, model: &Llama, n: usize, logits: &[f32]) -> Result<Vec<Leaf>, LlmError> {
        step_slots(self.layers)
            .zip(self.values)
            .filter(|&(slot, _)| slot != LlmSlot::Input)
            .map(|(slot, values)| {
                let shape = slot_shape(model, slot, n);
                let values = if slot == LlmSlot::Head { logits.to_vec() } else { values };
                if values.len() == shape[0] * shape[1] {
                    Ok((slot, shape, values))
                } else {
                    let message = format!("{} values of {slot:?} read back, expected {shape:?}", values.len());
                    Err(GpuError::Internal(message).into())
                }
            })
            .collect()
    }
}

impl GpuSession {
    /// [`TracedSession::forward_traced`] on the GPU: the step's ids are shown to `tap` and
    /// the step reads what it leaves, as on the CPU; then the step runs on the device with
    /// every op's output read back as it is made (see the module), and once it has run
    /// `tap` sees each op's whole output in step order, the same leaves as
    /// [`CpuSession::forward_traced`](crate::llm::CpuSession::forward_traced) bit for bit.
    /// The logits are those of [`Session::forward`](crate::llm::Session::forward).
    ///
    /// The tap gets read-only copies: a change it makes to an op's output changes what the
    /// tracer records but not the rest of the step, nor the logits returned (op fault
    /// injection perturbs later ops only on the CPU reference).
    ///
    /// # Errors
    /// As [`Session::forward`](crate::llm::Session::forward) (the session is left where it
    /// was and the tap sees no op output); [`GpuError::TooLarge`] when one submission's
    /// traced outputs exceed the device's buffer limit.
    pub fn forward_traced(
        &mut self,
        tokens: &[i64],
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<Vec<f32>, LlmError> {
        let model = std::sync::Arc::clone(&self.model.model);
        let ids = show_input(tokens, model.config.vocab, self.position, self.limit, tap)?;
        let mut trace = StepTrace::new(self, ids.len())?;
        let logits = self.run_step(&ids, stop, Some(&mut trace))?;
        let leaves = trace.leaves(&model, ids.len(), &logits)?;
        let (start, n) = (self.position, ids.len());
        self.position += n;
        for (slot, shape, mut data) in leaves {
            tap.leaf(TapPoint::Llm { slot, start, n }, LeafTensor::F32 { shape, data: &mut data });
        }
        Ok(logits)
    }
}

impl TracedSession for GpuSession {
    fn forward_traced(
        &mut self,
        tokens: &[i64],
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<Vec<f32>, LlmError> {
        GpuSession::forward_traced(self, tokens, stop, tap)
    }
}
