//! The hyperparameters of a llama model, from its GGUF metadata.

use super::LlmError;
use crate::gguf::{Gguf, MetaValue};

/// Largest model width accepted (bounds what a hostile file can make us allocate per token).
const MAX_DIM: usize = 16384;
/// Most transformer blocks accepted.
const MAX_LAYERS: usize = 512;
/// Largest head width accepted.
const MAX_HEAD_DIM: usize = 256;

/// What the engine needs to know of a llama model.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// Transformer blocks (`llama.block_count`).
    pub layers: usize,
    /// Model width (`llama.embedding_length`).
    pub dim: usize,
    /// Feed-forward width (`llama.feed_forward_length`).
    pub ffn: usize,
    /// Query heads (`llama.attention.head_count`).
    pub heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`; grouped-query attention).
    pub kv_heads: usize,
    /// Width of one head (`dim / heads`).
    pub head_dim: usize,
    /// Rotary base (`llama.rope.freq_base`).
    pub rope_base: f32,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_epsilon: f32,
    /// Context the model was trained for (`llama.context_length`).
    pub context_length: usize,
    /// Vocabulary size (rows of `token_embd.weight`).
    pub vocab: usize,
}

impl LlamaConfig {
    /// Reads and checks the hyperparameters; `vocab` comes from the embedding's shape.
    ///
    /// # Errors
    /// [`LlmError::Model`] naming the key that is missing, mistyped or out of range.
    pub fn from_gguf(gguf: &Gguf, vocab: usize) -> Result<LlamaConfig, LlmError> {
        let arch = gguf
            .get("general.architecture")
            .and_then(MetaValue::as_str)
            .ok_or_else(|| LlmError::Model("general.architecture is missing".into()))?;
        if arch != "llama" {
            return Err(LlmError::Model(format!("architecture {arch:?} is not supported (only \"llama\")")));
        }
        let count = |key: &str, max: usize| -> Result<usize, LlmError> {
            let value = gguf
                .get(key)
                .and_then(MetaValue::as_u64)
                .ok_or_else(|| LlmError::Model(format!("{key} is missing or not an unsigned integer")))?;
            match usize::try_from(value) {
                Ok(v) if (1..=max).contains(&v) => Ok(v),
                _ => Err(LlmError::Model(format!("{key} = {value} is outside 1..={max}"))),
            }
        };
        let float = |key: &str| -> Result<f32, LlmError> {
            match gguf.get(key).and_then(MetaValue::as_f32) {
                Some(v) if v.is_finite() && v > 0.0 => Ok(v),
                Some(v) => Err(LlmError::Model(format!("{key} = {v} must be a positive number"))),
                None => Err(LlmError::Model(format!("{key} is missing or not a float"))),
            }
        };
        let dim = count("llama.embedding_length", MAX_DIM)?;
        let heads = count("llama.attention.head_count", MAX_DIM)?;
        let kv_heads = count("llama.attention.head_count_kv", heads)?;
        let config = LlamaConfig {
            layers: count("llama.block_count", MAX_LAYERS)?,
            dim,
            ffn: count("llama.feed_forward_length", 8 * MAX_DIM)?,
            heads,
            kv_heads,
            head_dim: dim / heads,
            rope_base: float("llama.rope.freq_base")?,
            rms_epsilon: float("llama.attention.layer_norm_rms_epsilon")?,
            context_length: count("llama.context_length", 1 << 24)?,
            vocab,
        };
        config.check(gguf)?;
        Ok(config)
    }

    /// The shape rules the kernels rely on.
    fn check(&self, gguf: &Gguf) -> Result<(), LlmError> {
        let fail = |message: String| Err(LlmError::Model(message));
        if !self.dim.is_multiple_of(self.heads) {
            return fail(format!("embedding length {} is not a multiple of the {} heads", self.dim, self.heads));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return fail(format!("{} heads cannot be grouped over {} KV heads", self.heads, self.kv_heads));
        }
        if !self.head_dim.is_multiple_of(2) || self.head_dim > MAX_HEAD_DIM {
            return fail(format!("head width {} must be even and at most {MAX_HEAD_DIM}", self.head_dim));
        }
        if !self.dim.is_multiple_of(32) || !self.ffn.is_multiple_of(32) {
            return fail(format!("widths {} and {} must be multiples of 32 (quantization blocks)", self.dim, self.ffn));
        }
        if let Some(rot) = gguf.get("llama.rope.dimension_count").and_then(MetaValue::as_u64)
            && rot != self.head_dim as u64
        {
            return fail(format!("rotary embedding over {rot} of {} head dims is not supported", self.head_dim));
        }
        Ok(())
    }

    /// Width of the keys and values of one position (`kv_heads · head_dim`).
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}
