//! The llama engine on wgpu, bit for bit the CPU session ([`super::CpuSession`]).
//!
//! A step runs the same sequence of kernels as the CPU's, each a WGSL twin of its CPU
//! function (`*.wgsl` next to this module; `dispatch.rs` lists them):
//!
//! | kernel | CPU twin | one invocation per |
//! |---|---|---|
//! | `embed` | [`QMatrix::dequantize_row`] | element of the step's rows |
//! | `rms_norm` | [`kernels::rms_norm`](super::kernels::rms_norm) | row |
//! | `quantize` | [`QActs::quantize`](super::quant::QActs::quantize) | block of 32 |
//! | `qmatmul_q4_1`, `qmatmul_q8_0` | [`qmatmul`](super::quant::qmatmul) | (token, 4 output rows) |
//! | `rope` | [`kernels::rope`](super::kernels::rope) | pair |
//! | `kv_append` | appending the values to the cache | word |
//! | `attention_weights`, `attention_mix` | [`kernels::attention`](super::kernels::attention) | (token, head); output element |
//! | `swiglu` | [`kernels::swiglu`](super::kernels::swiglu) | element |
//! | `residual` | [`kernels::add_residual`](super::kernels::add_residual) | element |
//!
//! [`GpuLlama`] uploads the weights once (quantized matrices as their scales, minimums
//! and packed integers; norms; rotary tables) and compiles the kernels. A [`GpuSession`]
//! holds a KV cache and its activation buffers, with every launch prepared once (pipeline
//! and bind group; the per-step counters — token count and start position — live in one
//! small buffer written before each submission). A step uploads the token ids, runs
//! every block on the device in a few submissions (the stop check is asked before each
//! block is recorded, and between submissions the device is waited for, so a deadline
//! is noticed within a few blocks), and reads back only the logits. A prompt longer than
//! the session's chunk runs as several chunks: every op works on one token or on earlier
//! positions only, so this gives the same bits. A traced step
//! ([`GpuSession::forward_traced`], `traced.rs`) records the same launches, and copies
//! every op's output out right after its launch: the CPU session's trace leaves, bit for
//! bit.

mod dispatch;
mod traced;

#[doc(hidden)]
pub mod conformance;

use std::sync::Arc;

pub use dispatch::shader_variants;
use dispatch::{
    ATTENTION_MIX, ATTENTION_WEIGHTS, Bindings, EMBED, KV_APPEND, LlmKernel, Op, QMATMUL_Q4_1, QMATMUL_Q8_0, QUANTIZE,
    RESIDUAL, RMS_NORM, ROPE, Readback, Rows, SLOT_LAST, SLOT_START, SLOT_ZERO, STEP_WORDS, SWIGLU,
};
use traced::{Batch, Launches, StepTrace};

use super::quant::{BLOCK, QKind, QMatrix, ROW_GROUP};
use super::{Llama, LlmError, Session, check_step};
use crate::gpu::{GpuContext, GpuError};
use crate::numerics::{reciprocal, rsqrt};
use crate::trace::{LayerOp, LlmSlot};

/// Most tokens one submission of a step processes; a longer prompt runs in chunks.
pub const CHUNK: usize = 32;

/// Transformer blocks recorded into one submission.
const LAYERS_PER_SUBMIT: usize = 8;

/// A quantized matrix on the device.
#[derive(Debug)]
struct GpuMatrix {
    kind: QKind,
    rows: usize,
    k: usize,
    /// `d` of every block, as f32 bits.
    scales: wgpu::Buffer,
    /// `m` of every block (Q4_1).
    mins: Option<wgpu::Buffer>,
    /// The integers, bytes packed little-endian into words.
    quants: wgpu::Buffer,
}

impl GpuMatrix {
    /// Uploads `m`, which must be `rows × k` with consistent arrays.
    fn upload(ctx: &GpuContext, name: &str, m: &QMatrix, rows: usize, k: usize) -> Result<GpuMatrix, LlmError> {
        let blocks = rows.div_ceil(ROW_GROUP) * ROW_GROUP * (k / BLOCK);
        let mins = if m.kind == QKind::Q4_1 { blocks } else { 0 };
        if m.rows != rows
            || m.k != k
            || !k.is_multiple_of(BLOCK)
            || m.scales.len() != blocks
            || m.mins.len() != mins
            || m.quants.len() != blocks * m.kind.quant_bytes()
        {
            return Err(LlmError::Model(format!(
                "matrix {name} is {}×{} with {} scales, {} minimums and {} bytes; expected {rows}×{k}",
                m.rows,
                m.k,
                m.scales.len(),
                m.mins.len(),
                m.quants.len()
            )));
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        // Words, padded to whole vec4s (qmatmul.wgsl reads 16 bytes at a time).
        let mut words: Vec<u32> = m
            .quants
            .chunks(4)
            .map(|b| {
                u32::from_le_bytes([b[0], *b.get(1).unwrap_or(&0), *b.get(2).unwrap_or(&0), *b.get(3).unwrap_or(&0)])
            })
            .collect();
        words.resize(words.len().next_multiple_of(4).max(4), 0);
        Ok(GpuMatrix {
            kind: m.kind,
            rows,
            k,
            scales: dispatch::upload(ctx, &format!("{name} scales"), &bits(&m.scales))?,
            mins: match m.kind {
                QKind::Q4_1 => Some(dispatch::upload(ctx, &format!("{name} minimums"), &bits(&m.mins))?),
                QKind::Q8_0 => None,
            },
            quants: dispatch::upload(ctx, &format!("{name} quants"), &words)?,
        })
    }

    /// The buffer bound as the minimums (the scales again for Q8_0, never read).
    fn mins_binding(&self) -> &wgpu::Buffer {
        self.mins.as_ref().unwrap_or(&self.scales)
    }
}

/// An f32 vector of `len` values on the device.
fn upload_vector(ctx: &GpuContext, name: &str, v: &[f32], len: usize) -> Result<wgpu::Buffer, LlmError> {
    if v.len() != len {
        return Err(LlmError::Model(format!("{name} has {} values, expected {len}", v.len())));
    }
    let words: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
    Ok(dispatch::upload(ctx, name, &words)?)
}

/// The weights of one transformer block on the device.
#[derive(Debug)]
struct GpuLayer {
    attn_norm: wgpu::Buffer,
    q: GpuMatrix,
    k: GpuMatrix,
    v: GpuMatrix,
    o: GpuMatrix,
    ffn_norm: wgpu::Buffer,
    gate: GpuMatrix,
    up: GpuMatrix,
    down: GpuMatrix,
}

/// A llama model on a device: every weight uploaded once and every kernel compiled,
/// shared (read-only) by any number of [`GpuSession`]s.
#[derive(Debug)]
pub struct GpuLlama {
    ctx: Arc<GpuContext>,
    model: Arc<Llama>,
    embedding: GpuMatrix,
    /// `output.weight`, or `None` when the head is the tied embedding.
    output: Option<GpuMatrix>,
    output_norm: wgpu::Buffer,
    layers: Vec<GpuLayer>,
    rope_cos: wgpu::Buffer,
    rope_sin: wgpu::Buffer,
}

impl GpuLlama {
    /// Uploads `model`'s weights to `ctx`'s device and compiles the kernels.
    ///
    /// # Errors
    /// [`LlmError::Gpu`] with [`GpuError::TooLarge`] when a weight exceeds the device's
    /// buffer limit, or when a kernel does not compile; [`LlmError::Model`] when the
    /// model's arrays do not match its configuration.
    pub fn new(ctx: Arc<GpuContext>, model: Arc<Llama>) -> Result<GpuLlama, LlmError> {
        let c = &model.config;
        let (dim, kv, ffn) = (c.dim, c.kv_dim(), c.ffn);
        for kernel in dispatch::ALL {
            ctx.pipeline(&kernel.kernel, kernel.inputs, &[])?;
        }
        let layers = model
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let name = |t: &str| format!("blk.{i}.{t}");
                Ok(GpuLayer {
                    attn_norm: upload_vector(&ctx, &name("attn_norm"), &l.attn_norm, dim)?,
                    q: GpuMatrix::upload(&ctx, &name("attn_q"), &l.q, dim, dim)?,
                    k: GpuMatrix::upload(&ctx, &name("attn_k"), &l.k, kv, dim)?,
                    v: GpuMatrix::upload(&ctx, &name("attn_v"), &l.v, kv, dim)?,
                    o: GpuMatrix::upload(&ctx, &name("attn_output"), &l.o, dim, dim)?,
                    ffn_norm: upload_vector(&ctx, &name("ffn_norm"), &l.ffn_norm, dim)?,
                    gate: GpuMatrix::upload(&ctx, &name("ffn_gate"), &l.gate, ffn, dim)?,
                    up: GpuMatrix::upload(&ctx, &name("ffn_up"), &l.up, ffn, dim)?,
                    down: GpuMatrix::upload(&ctx, &name("ffn_down"), &l.down, dim, ffn)?,
                })
            })
            .collect::<Result<Vec<_>, LlmError>>()?;
        let table = model.max_context * (c.head_dim / 2);
        Ok(GpuLlama {
            embedding: GpuMatrix::upload(&ctx, "token_embd", &model.embedding, c.vocab, dim)?,
            output: match &model.output {
                Some(m) => Some(GpuMatrix::upload(&ctx, "output", m, c.vocab, dim)?),
                None => None,
            },
            output_norm: upload_vector(&ctx, "output_norm", &model.output_norm, dim)?,
            rope_cos: upload_vector(&ctx, "rope cos", &model.rope_cos, table)?,
            rope_sin: upload_vector(&ctx, "rope sin", &model.rope_sin, table)?,
            layers,
            ctx,
            model,
        })
    }

    /// The device.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// The model (configuration and CPU weights).
    pub fn model(&self) -> &Arc<Llama> {
        &self.model
    }

    /// The output head: `output.weight`, or the tied embedding.
    fn head(&self) -> &GpuMatrix {
        self.output.as_ref().unwrap_or(&self.embedding)
    }
}

/// One conversation on the GPU: the KV cache and the activation buffers on the device,
/// every kernel launch of a step prepared.
pub struct GpuSession {
    model: Arc<GpuLlama>,
    limit: usize,
    position: usize,
    /// Most tokens per submission.
    chunk: usize,
    /// The step counters (`dispatch::step_words`).
    step: wgpu::Buffer,
    /// The token ids of the chunk.
    ids: wgpu::Buffer,
    /// The logits of the last token.
    logits: wgpu::Buffer,
    /// Where the logits are read back from.
    staging: wgpu::Buffer,
    /// The launches of a step: the embedding, each block's, the output head's (with
    /// where each traced op leaves its output).
    embed: Launches,
    layers: Vec<Launches>,
    head: Launches,
    /// Activations and caches (the bind groups refer to them).
    _buffers: Vec<wgpu::Buffer>,
}

impl std::fmt::Debug for GpuSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSession")
            .field("position", &self.position)
            .field("limit", &self.limit)
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

/// A size as the u32 the kernels index with.
fn word(n: usize, what: &str) -> Result<u32, LlmError> {
    u32::try_from(n).map_err(|_| LlmError::Model(format!("{what} = {n} exceeds the GPU kernels' 32-bit indices")))
}

/// The activation quantization buffer of `rows` rows of `k` values
/// (`quantize.wgsl`'s layout): its size in words and the word where the blocks' (dx, sx,
/// flag, 0) start (after the packed integers, 8 words a block).
fn acts_layout(rows: usize, k: usize) -> (usize, usize) {
    let blocks = rows * k / BLOCK;
    (12 * blocks, 8 * blocks)
}

/// Outputs one `qmatmul.wgsl` invocation computes (rows of one token).
const ROWS_PER_INVOCATION: usize = 4;

/// The `qmatmul.wgsl` launch for `m` with activations whose (dx, sx, flag) start at word
/// `meta`: the entry point, invocations per token and params.
fn matmul_launch(m: &GpuMatrix, meta: usize) -> Result<(&'static LlmKernel, usize, [u32; 3]), LlmError> {
    let kernel = match m.kind {
        QKind::Q4_1 => &QMATMUL_Q4_1,
        QKind::Q8_0 => &QMATMUL_Q8_0,
    };
    let params = [word(m.k / BLOCK, "blocks")?, word(meta / 4, "activations")?, word(m.rows, "rows")?];
    Ok((kernel, m.rows.div_ceil(ROWS_PER_INVOCATION), params))
}

impl GpuSession {
    /// A fresh session holding at most `limit` tokens (capped by the model's tables), with
    /// its KV cache allocated on the device.
    ///
    /// # Errors
    /// [`LlmError::Gpu`] when a buffer exceeds the device's limits.
    pub fn new(model: Arc<GpuLlama>, limit: usize) -> Result<GpuSession, LlmError> {
        GpuSession::with_chunk(model, limit, CHUNK)
    }

    /// [`GpuSession::new`] processing at most `chunk` tokens per submission (at least 1;
    /// the results do not depend on it).
    ///
    /// # Errors
    /// As [`GpuSession::new`].
    pub fn with_chunk(model: Arc<GpuLlama>, limit: usize, chunk: usize) -> Result<GpuSession, LlmError> {
        let limit = limit.min(model.model.max_context);
        let chunk = chunk.clamp(1, limit.max(1));
        let ctx = Arc::clone(&model.ctx);
        let ctx = ctx.as_ref();
        let c = &model.model.config;
        let (dim, kv, ffn, heads, head_dim) = (c.dim, c.kv_dim(), c.ffn, c.heads, c.head_dim);
        let cap = word(chunk, "chunk")?;
        let context = limit.max(1);

        let buffer = |name: &str, words: usize| dispatch::zeroed(ctx, name, words);
        let step = buffer("llm step", STEP_WORDS)?;
        let ids = buffer("llm ids", chunk)?;
        let x = buffer("llm x", chunk * dim)?;
        let xn = buffer("llm normed", chunk * dim)?;
        let (acts_words, acts_at) = acts_layout(chunk, dim);
        let acts = buffer("llm acts", acts_words)?;
        let (hidden_acts_words, hidden_at) = acts_layout(chunk, ffn);
        let hidden_acts = buffer("llm hidden acts", hidden_acts_words)?;
        let q = buffer("llm q", chunk * dim)?;
        let q_rot = buffer("llm q rotated", chunk * dim)?;
        let k = buffer("llm k", chunk * kv)?;
        let v = buffer("llm v", chunk * kv)?;
        let weights = buffer("llm attention weights", chunk * heads * context)?;
        let mixed = buffer("llm attention", chunk * dim)?;
        let proj = buffer("llm projection", chunk * dim)?;
        let gate = buffer("llm gate", chunk * ffn)?;
        let up = buffer("llm up", chunk * ffn)?;
        let hidden = buffer("llm hidden", chunk * ffn)?;
        let logits = buffer("llm logits", c.vocab)?;
        let staging = dispatch::staging(ctx, "llm logits readback", (c.vocab.max(1) * 4) as u64);

        let b = Builder { ctx, step: &step, cap };
        let op = |kernel, size, params: &[u32], inputs: &[&wgpu::Buffer], output: &wgpu::Buffer| {
            b.op(kernel, size, params, inputs, output)
        };
        let tokens = |n: usize| (n, Rows::Tokens);
        let u = |n: usize| word(n, "size");
        let norm_params = |first: u32| -> Result<[u32; 4], LlmError> {
            Ok([u(dim)?, reciprocal(dim as f32).to_bits(), c.rms_epsilon.to_bits(), first])
        };
        let quantize = |input: &wgpu::Buffer, output: &wgpu::Buffer, width: usize, at: usize, rows: Rows| {
            b.op(&QUANTIZE, (width / BLOCK, rows), &[u(at)?], &[input], output)
        };
        let matmul = |m: &GpuMatrix, input: &wgpu::Buffer, at: usize, output: &wgpu::Buffer, rows: Rows| {
            b.matmul(m, input, at, output, rows)
        };

        let emb = &model.embedding;
        let mut embed = Launches::default();
        embed.traced(
            op(
                &EMBED,
                tokens(dim),
                &[u(dim)?, u32::from(emb.kind == QKind::Q4_1)],
                &[&ids, &emb.scales, emb.mins_binding(), &emb.quants],
                &x,
            )?,
            LlmSlot::Embed,
            &x,
        );
        let caches = (0..model.layers.len())
            .map(|i| {
                Ok([
                    buffer(&format!("llm blk.{i} k cache"), context * kv)?,
                    buffer(&format!("llm blk.{i} v cache"), context * kv)?,
                ])
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        let mut layers = Vec::new();
        for (index, (l, [k_cache, v_cache])) in model.layers.iter().zip(&caches).enumerate() {
            let scale = rsqrt(head_dim as f32).to_bits();
            let group = u(heads / c.kv_heads)?;
            let at = |op| LlmSlot::Layer { layer: index, op };
            let mut ops = Launches::default();
            ops.traced(
                op(&RMS_NORM, tokens(1), &norm_params(SLOT_ZERO)?, &[&x, &l.attn_norm], &xn)?,
                at(LayerOp::AttnNorm),
                &xn,
            );
            ops.push(quantize(&xn, &acts, dim, acts_at, Rows::Tokens)?);
            ops.traced(matmul(&l.q, &acts, acts_at, &q, Rows::Tokens)?, at(LayerOp::Q), &q);
            ops.traced(matmul(&l.k, &acts, acts_at, &k, Rows::Tokens)?, at(LayerOp::K), &k);
            ops.traced(matmul(&l.v, &acts, acts_at, &v, Rows::Tokens)?, at(LayerOp::V), &v);
            ops.traced(
                op(
                    &ROPE,
                    tokens(dim / 2),
                    &[u(dim)?, u(head_dim)?, SLOT_ZERO],
                    &[&q, &model.rope_cos, &model.rope_sin],
                    &q_rot,
                )?,
                at(LayerOp::RopeQ),
                &q_rot,
            );
            // The rotated keys go straight into the cache, at the chunk's positions.
            ops.traced_at_position(
                op(
                    &ROPE,
                    tokens(kv / 2),
                    &[u(kv)?, u(head_dim)?, SLOT_START],
                    &[&k, &model.rope_cos, &model.rope_sin],
                    k_cache,
                )?,
                at(LayerOp::RopeK),
                k_cache,
            );
            ops.push(op(&KV_APPEND, tokens(kv), &[], &[&v], v_cache)?);
            ops.push(op(
                &ATTENTION_WEIGHTS,
                tokens(heads),
                &[u(head_dim)?, group, u(kv)?, u(dim)?, scale, u(context)?],
                &[&q_rot, k_cache],
                &weights,
            )?);
            ops.traced(
                op(
                    &ATTENTION_MIX,
                    tokens(dim),
                    &[u(head_dim)?, group, u(kv)?, u(context)?],
                    &[&weights, v_cache],
                    &mixed,
                )?,
                at(LayerOp::Attention),
                &mixed,
            );
            ops.push(quantize(&mixed, &acts, dim, acts_at, Rows::Tokens)?);
            ops.traced(matmul(&l.o, &acts, acts_at, &proj, Rows::Tokens)?, at(LayerOp::O), &proj);
            ops.traced(op(&RESIDUAL, tokens(dim), &[], &[&proj], &x)?, at(LayerOp::AttnResidual), &x);
            ops.traced(
                op(&RMS_NORM, tokens(1), &norm_params(SLOT_ZERO)?, &[&x, &l.ffn_norm], &xn)?,
                at(LayerOp::FfnNorm),
                &xn,
            );
            ops.push(quantize(&xn, &acts, dim, acts_at, Rows::Tokens)?);
            ops.traced(matmul(&l.gate, &acts, acts_at, &gate, Rows::Tokens)?, at(LayerOp::Gate), &gate);
            ops.traced(matmul(&l.up, &acts, acts_at, &up, Rows::Tokens)?, at(LayerOp::Up), &up);
            ops.traced(op(&SWIGLU, tokens(ffn), &[], &[&gate, &up], &hidden)?, at(LayerOp::Swiglu), &hidden);
            ops.push(quantize(&hidden, &hidden_acts, ffn, hidden_at, Rows::Tokens)?);
            ops.traced(matmul(&l.down, &hidden_acts, hidden_at, &proj, Rows::Tokens)?, at(LayerOp::Down), &proj);
            ops.traced(op(&RESIDUAL, tokens(dim), &[], &[&proj], &x)?, at(LayerOp::FfnResidual), &x);
            layers.push(ops);
        }
        let mut head = Launches::default();
        head.traced(
            op(&RMS_NORM, (1, Rows::One), &norm_params(SLOT_LAST)?, &[&x, &model.output_norm], &xn)?,
            LlmSlot::FinalNorm,
            &xn,
        );
        head.push(quantize(&xn, &acts, dim, acts_at, Rows::One)?);
        head.push(matmul(model.head(), &acts, acts_at, &logits, Rows::One)?);
        let mut buffers = vec![x, xn, acts, hidden_acts, q, q_rot, k, v, weights, mixed, proj, gate, up, hidden];
        buffers.extend(caches.into_iter().flatten());
        Ok(GpuSession {
            model: Arc::clone(&model),
            limit,
            position: 0,
            chunk,
            step,
            ids,
            logits,
            staging,
            embed,
            layers,
            head,
            _buffers: buffers,
        })
    }

    /// The model this session runs.
    pub fn model(&self) -> &Arc<GpuLlama> {
        &self.model
    }

    /// Runs a checked step through every chunk and reads back the logits of its last token;
    /// with `trace`, every traced op's output is read back into it too. The position does
    /// not move.
    fn run_step(
        &self,
        ids: &[u32],
        stop: &dyn Fn() -> bool,
        mut trace: Option<&mut StepTrace>,
    ) -> Result<Vec<f32>, LlmError> {
        let chunks = ids.len().div_ceil(self.chunk);
        let mut start = self.position;
        for (i, chunk) in ids.chunks(self.chunk).enumerate() {
            self.run_chunk(chunk, start, i + 1 == chunks, stop, trace.as_deref_mut())?;
            start += chunk.len();
        }
        let words = dispatch::read(&self.model.ctx, &self.staging, self.model.model.config.vocab)?;
        Ok(words.into_iter().map(f32::from_bits).collect())
    }

    /// Runs `ids` (at most one chunk) from position `start`; the last chunk of a step
    /// also computes the logits and copies them to the staging buffer. With `trace`, the
    /// output rows of every traced op are copied out right after its launch and read back
    /// after each submission.
    fn run_chunk(
        &self,
        ids: &[u32],
        start: usize,
        last: bool,
        stop: &dyn Fn() -> bool,
        mut trace: Option<&mut StepTrace>,
    ) -> Result<(), LlmError> {
        let ctx = self.model.ctx.as_ref();
        let tokens = word(ids.len(), "tokens")?;
        ctx.queue.write_buffer(&self.ids, 0, bytemuck::cast_slice(ids));
        let counters = dispatch::step_words(tokens, word(start, "position")?);
        ctx.queue.write_buffer(&self.step, 0, bytemuck::cast_slice(&counters));
        let mut pending = Batch::new(trace.is_some());
        pending.extend(&self.embed);
        for (index, layer) in self.layers.iter().enumerate() {
            if index > 0 && index % LAYERS_PER_SUBMIT == 0 {
                self.submit(&pending, ids.len(), start, false, trace.as_deref_mut())?;
                pending.clear();
            }
            if stop() {
                return Err(LlmError::Cancelled);
            }
            pending.extend(layer);
        }
        if last {
            pending.extend(&self.head);
        }
        self.submit(&pending, ids.len(), start, last, trace)
    }

    /// Submits `batch` for a chunk of `rows` tokens from position `start`, copying the
    /// logits to the staging buffer after it when `logits`, and waits for the device (with
    /// `trace`, reading the batch's traced outputs into it).
    fn submit(
        &self,
        batch: &Batch<'_>,
        rows: usize,
        start: usize,
        logits: bool,
        trace: Option<&mut StepTrace>,
    ) -> Result<(), LlmError> {
        let ctx = self.model.ctx.as_ref();
        let tokens = word(rows, "tokens")?;
        match trace {
            None => {
                let copies = [Readback::whole(batch.ops.len(), &self.logits, &self.staging)];
                dispatch::submit(ctx, &batch.ops, tokens, if logits { &copies } else { &[] });
                dispatch::wait(ctx)?;
            }
            Some(trace) => {
                let mut copies = trace.plan(&self.model.model, batch, rows, start)?;
                if logits {
                    copies.push(Readback::whole(batch.ops.len(), &self.logits, &self.staging));
                }
                dispatch::submit(ctx, &batch.ops, tokens, &copies);
                trace.absorb(ctx)?;
            }
        }
        Ok(())
    }
}

/// What the launches of a session share: the device, the step counters, the capacity.
struct Builder<'a> {
    ctx: &'a GpuContext,
    step: &'a wgpu::Buffer,
    cap: u32,
}

impl Builder<'_> {
    /// A launch of `kernel` with `size.0` invocations per row over `size.1`.
    fn op(
        &self,
        kernel: &'static LlmKernel,
        size: (usize, Rows),
        params: &[u32],
        inputs: &[&wgpu::Buffer],
        output: &wgpu::Buffer,
    ) -> Result<Op, LlmError> {
        let bindings = Bindings { step: self.step, inputs, output };
        Ok(Op::new(self.ctx, kernel, (word(size.0, kernel.kernel.name)?, size.1), params, bindings, self.cap)?)
    }

    /// The product of the quantized activations in `input` (their (dx, sx, flag) from
    /// word `meta`) with `m`.
    fn matmul(
        &self,
        m: &GpuMatrix,
        input: &wgpu::Buffer,
        meta: usize,
        output: &wgpu::Buffer,
        rows: Rows,
    ) -> Result<Op, LlmError> {
        let (kernel, per_row, params) = matmul_launch(m, meta)?;
        self.op(kernel, (per_row, rows), &params, &[input, &m.scales, m.mins_binding(), &m.quants], output)
    }
}

impl Session for GpuSession {
    fn forward(&mut self, tokens: &[i64], stop: &dyn Fn() -> bool) -> Result<Vec<f32>, LlmError> {
        let ids = check_step(tokens, self.model.model.config.vocab, self.position, self.limit)?;
        let logits = self.run_step(&ids, stop, None)?;
        self.position += ids.len();
        Ok(logits)
    }

    fn position(&self) -> usize {
        self.position
    }

    fn context_limit(&self) -> usize {
        self.limit
    }
}
