//! A llama session on the CPU executor: the KV cache in memory and the step as the
//! sequence of kernels of [`super::kernels`] and [`super::quant`].
//!
//! The ops of a step are the small functions below (`embed`, `products`, `rotate`,
//! `final_norm`, and the kernels [`rms_norm`], [`attention`], [`add_residual`],
//! [`swiglu`]), which the referee's re-execution of one op ([`super::trace::eval_slot`])
//! calls too. A traced step ([`CpuSession::forward_traced`]) shows every op's output to a
//! [`Tap`] before anything reads it.

use std::sync::Arc;

use super::kernels::{AttentionShape, add_residual, attention, rms_norm, rope, swiglu};
use super::quant::{QActs, QMatrix, qmatmul_many};
use super::trace::show_input;
use super::{Llama, LlmError, Session, TracedSession, check_step};
use crate::numerics::rsqrt;
use crate::trace::{LayerOp, LeafTensor, LlmSlot, Tap, TapPoint};

/// Keys and values of every position so far, per block.
#[derive(Debug, Clone, Default)]
struct LayerCache {
    k: Vec<f32>,
    v: Vec<f32>,
}

/// One conversation on the CPU.
#[derive(Debug)]
pub struct CpuSession {
    model: Arc<Llama>,
    cache: Vec<LayerCache>,
    position: usize,
    limit: usize,
}

impl CpuSession {
    /// A fresh session holding at most `limit` tokens (capped by the model's tables).
    pub fn new(model: Arc<Llama>, limit: usize) -> CpuSession {
        let limit = limit.min(model.max_context);
        CpuSession { cache: vec![LayerCache::default(); model.layers.len()], model, position: 0, limit }
    }

    /// [`Session::forward`], showing `tap` every traced tensor of the step in order
    /// ([`super::trace::step_slots`]): the token ids (I64 `[n]`), then every op's output
    /// as `[rows, width]` f32 ([`super::trace::slot_shape`]), each before anything reads
    /// it, so that a tap that changes a tensor changes what follows (the KV cache
    /// included). The logits are those of [`Session::forward`].
    ///
    /// # Errors
    /// As [`Session::forward`] (the session is left where it was); a tap that makes the
    /// ids unusable gives the error [`Session::forward`] gives such ids.
    pub fn forward_traced(
        &mut self,
        tokens: &[i64],
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<Vec<f32>, LlmError> {
        let ids = show_input(tokens, self.model.config.vocab, self.position, self.limit, tap)?;
        self.advance(&ids, stop, Some(tap))
    }

    /// Runs a step and moves the position on, or rolls the caches back on error.
    fn advance(
        &mut self,
        ids: &[u32],
        stop: &dyn Fn() -> bool,
        tap: Option<&mut dyn Tap>,
    ) -> Result<Vec<f32>, LlmError> {
        match self.step(ids, stop, tap) {
            Ok(logits) => {
                self.position += ids.len();
                Ok(logits)
            }
            Err(e) => {
                let keep = self.position * self.model.config.kv_dim();
                for cache in &mut self.cache {
                    cache.k.truncate(keep);
                    cache.v.truncate(keep);
                }
                Err(e)
            }
        }
    }

    /// The step proper; on error the caller rolls the caches back.
    fn step(&mut self, ids: &[u32], stop: &dyn Fn() -> bool, tap: Option<&mut dyn Tap>) -> Result<Vec<f32>, LlmError> {
        let model = Arc::clone(&self.model);
        let c = &model.config;
        let (dim, kv_dim, ffn, start) = (c.dim, c.kv_dim(), c.ffn, self.position);
        let eps = c.rms_epsilon;
        let mut leaves = Leaves { tap, start, n: ids.len() };
        let mut x = embed(&model, ids);
        leaves.show(LlmSlot::Embed, dim, &mut x);
        let shape = attention_shape(&model, start);
        for (l, (layer, cache)) in model.layers.iter().zip(&mut self.cache).enumerate() {
            if stop() {
                return Err(LlmError::Cancelled);
            }
            let at = |op| LlmSlot::Layer { layer: l, op };
            let mut xn = rms_norm(&x, &layer.attn_norm, eps);
            leaves.show(at(LayerOp::AttnNorm), dim, &mut xn);
            let [mut q, mut k, mut v] = products(&xn, dim, [&layer.q, &layer.k, &layer.v]);
            leaves.show(at(LayerOp::Q), dim, &mut q);
            leaves.show(at(LayerOp::K), kv_dim, &mut k);
            leaves.show(at(LayerOp::V), kv_dim, &mut v);
            rotate(&model, &mut q, dim, start);
            leaves.show(at(LayerOp::RopeQ), dim, &mut q);
            rotate(&model, &mut k, kv_dim, start);
            leaves.show(at(LayerOp::RopeK), kv_dim, &mut k);
            cache.k.extend_from_slice(&k);
            cache.v.extend_from_slice(&v);
            let mut mixed = attention(&q, &cache.k, &cache.v, shape);
            leaves.show(at(LayerOp::Attention), dim, &mut mixed);
            let [mut o] = products(&mixed, dim, [&layer.o]);
            leaves.show(at(LayerOp::O), dim, &mut o);
            add_residual(&mut x, &o);
            leaves.show(at(LayerOp::AttnResidual), dim, &mut x);
            let mut xn = rms_norm(&x, &layer.ffn_norm, eps);
            leaves.show(at(LayerOp::FfnNorm), dim, &mut xn);
            let [mut gate, mut up] = products(&xn, dim, [&layer.gate, &layer.up]);
            leaves.show(at(LayerOp::Gate), ffn, &mut gate);
            leaves.show(at(LayerOp::Up), ffn, &mut up);
            let mut hidden = swiglu(&gate, &up);
            leaves.show(at(LayerOp::Swiglu), ffn, &mut hidden);
            let [mut down] = products(&hidden, ffn, [&layer.down]);
            leaves.show(at(LayerOp::Down), dim, &mut down);
            add_residual(&mut x, &down);
            leaves.show(at(LayerOp::FfnResidual), dim, &mut x);
        }
        let mut xn = final_norm(&model, &x);
        leaves.show(LlmSlot::FinalNorm, dim, &mut xn);
        let [mut logits] = products(&xn, dim, [model.head()]);
        leaves.show(LlmSlot::Head, c.vocab, &mut logits);
        Ok(logits)
    }
}

impl TracedSession for CpuSession {
    fn forward_traced(
        &mut self,
        tokens: &[i64],
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<Vec<f32>, LlmError> {
        CpuSession::forward_traced(self, tokens, stop, tap)
    }
}

impl Session for CpuSession {
    fn forward(&mut self, tokens: &[i64], stop: &dyn Fn() -> bool) -> Result<Vec<f32>, LlmError> {
        let ids = check_step(tokens, self.model.config.vocab, self.position, self.limit)?;
        self.advance(&ids, stop, None)
    }

    fn position(&self) -> usize {
        self.position
    }

    fn context_limit(&self) -> usize {
        self.limit
    }
}

/// The tap of a step, if any, and where the step is.
struct Leaves<'t> {
    tap: Option<&'t mut dyn Tap>,
    start: usize,
    n: usize,
}

impl Leaves<'_> {
    /// Shows `data`, rows of `width`, as `slot`'s output.
    fn show(&mut self, slot: LlmSlot, width: usize, data: &mut [f32]) {
        if let Some(tap) = self.tap.as_deref_mut() {
            let shape = [data.len() / width.max(1), width];
            tap.leaf(TapPoint::Llm { slot, start: self.start, n: self.n }, LeafTensor::F32 { shape, data });
        }
    }
}

/// The embedding lookup: the dequantized rows of `ids` (each below the vocabulary size),
/// `[n, dim]`.
pub(super) fn embed(model: &Llama, ids: &[u32]) -> Vec<f32> {
    let mut x = Vec::with_capacity(ids.len() * model.config.dim);
    for &id in ids {
        x.extend(model.embedding.dequantize_row(id as usize));
    }
    x
}

/// The products of rows of `k` activations by each of `ws` (each `k` wide): the
/// activations quantized per block ([`QActs::quantize`], part of every product, not an op
/// of its own), then [`qmatmul_many`]. One matrix or several give the same bits per
/// matrix.
pub(super) fn products<const N: usize>(x: &[f32], k: usize, ws: [&QMatrix; N]) -> [Vec<f32>; N] {
    qmatmul_many(&QActs::quantize(x, k), ws)
}

/// Rotary embedding in place of rows of `width` (whole heads) at positions `start..`
/// (within the model's tables).
pub(super) fn rotate(model: &Llama, x: &mut [f32], width: usize, start: usize) {
    rope(x, width, model.config.head_dim, start, &model.rope_cos, &model.rope_sin);
}

/// The attention shape of a step whose first position is `start`.
pub(super) fn attention_shape(model: &Llama, start: usize) -> AttentionShape {
    let c = &model.config;
    AttentionShape {
        heads: c.heads,
        kv_heads: c.kv_heads,
        head_dim: c.head_dim,
        start,
        scale: rsqrt(c.head_dim as f32),
    }
}

/// The final RMSNorm of the last row of `x` (rows of `dim`), `[1, dim]`.
pub(super) fn final_norm(model: &Llama, x: &[f32]) -> Vec<f32> {
    let dim = model.config.dim;
    let last = &x[x.len().saturating_sub(dim)..];
    rms_norm(last, &model.output_norm, model.config.rms_epsilon)
}
