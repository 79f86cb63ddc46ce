//! A llama session on the CPU executor: the KV cache in memory and the step as the
//! sequence of kernels of [`super::kernels`] and [`super::quant`].

use std::sync::Arc;

use super::kernels::{AttentionShape, add_residual, attention, rms_norm, rope, swiglu};
use super::quant::{QActs, qmatmul, qmatmul_many};
use super::{Llama, LlmError, Session, check_step};
use crate::numerics::rsqrt;

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

    /// The step proper; on error the caller rolls the caches back.
    fn step(&mut self, ids: &[u32], stop: &dyn Fn() -> bool) -> Result<Vec<f32>, LlmError> {
        let model = Arc::clone(&self.model);
        let c = &model.config;
        let (dim, kv_dim, start) = (c.dim, c.kv_dim(), self.position);
        let eps = c.rms_epsilon;
        let mut x = Vec::with_capacity(ids.len() * dim);
        for &id in ids {
            x.extend(model.embedding.dequantize_row(id as usize));
        }
        let shape = AttentionShape {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim,
            start,
            scale: rsqrt(c.head_dim as f32),
        };
        for (layer, cache) in model.layers.iter().zip(&mut self.cache) {
            if stop() {
                return Err(LlmError::Cancelled);
            }
            let acts = QActs::quantize(&rms_norm(&x, &layer.attn_norm, eps), dim);
            let [mut q, mut k, v] = qmatmul_many(&acts, [&layer.q, &layer.k, &layer.v]);
            rope(&mut q, dim, c.head_dim, start, &model.rope_cos, &model.rope_sin);
            rope(&mut k, kv_dim, c.head_dim, start, &model.rope_cos, &model.rope_sin);
            cache.k.extend_from_slice(&k);
            cache.v.extend_from_slice(&v);
            let mixed = attention(&q, &cache.k, &cache.v, shape);
            add_residual(&mut x, &qmatmul(&QActs::quantize(&mixed, dim), &layer.o));
            let acts = QActs::quantize(&rms_norm(&x, &layer.ffn_norm, eps), dim);
            let [gate, up] = qmatmul_many(&acts, [&layer.gate, &layer.up]);
            let hidden = swiglu(&gate, &up);
            add_residual(&mut x, &qmatmul(&QActs::quantize(&hidden, c.ffn), &layer.down));
        }
        let last = &x[(ids.len() - 1) * dim..];
        let acts = QActs::quantize(&rms_norm(last, &model.output_norm, eps), dim);
        Ok(qmatmul(&acts, model.head()))
    }
}

impl Session for CpuSession {
    fn forward(&mut self, tokens: &[i64], stop: &dyn Fn() -> bool) -> Result<Vec<f32>, LlmError> {
        let ids = check_step(tokens, self.model.config.vocab, self.position, self.limit)?;
        match self.step(&ids, stop) {
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

    fn position(&self) -> usize {
        self.position
    }

    fn context_limit(&self) -> usize {
        self.limit
    }
}
