//! The weights of a llama model, read from GGUF and checked, and its rotary tables.

use super::quant::{QMatrix, find};
use super::{LlamaConfig, LlmError};
use crate::gguf::{GgmlType, Gguf};
use crate::numerics::canonical;

/// The most positions a session may hold whatever the file and the caller say: the
/// rotary tables take 4·head_dim bytes per position, so this bounds them (64 MiB at a
/// head width of 256).
pub const MAX_CONTEXT: usize = 1 << 16;

/// The tensors of one transformer block.
#[derive(Debug, Clone)]
pub struct Layer {
    /// RMSNorm weight before attention (`attn_norm`).
    pub attn_norm: Vec<f32>,
    /// Query projection, `dim → dim`.
    pub q: QMatrix,
    /// Key projection, `dim → kv_dim`.
    pub k: QMatrix,
    /// Value projection, `dim → kv_dim`.
    pub v: QMatrix,
    /// Attention output projection, `dim → dim`.
    pub o: QMatrix,
    /// RMSNorm weight before the feed-forward (`ffn_norm`).
    pub ffn_norm: Vec<f32>,
    /// Gate projection, `dim → ffn`.
    pub gate: QMatrix,
    /// Up projection, `dim → ffn`.
    pub up: QMatrix,
    /// Down projection, `ffn → dim`.
    pub down: QMatrix,
}

/// A loaded llama model: hyperparameters, weights and rotary tables, shared (read-only)
/// by every session on every executor.
///
/// Every float in it is canonical ([`Llama::from_gguf`] makes it so): the kernels take
/// weights as they are, so a `Llama` assembled by hand must hold canonical values too, or
/// the executors may disagree on subnormal weights.
#[derive(Debug, Clone)]
pub struct Llama {
    /// Hyperparameters.
    pub config: LlamaConfig,
    /// Token embedding, `vocab` rows of `dim`.
    pub embedding: QMatrix,
    /// Output head, when the file has one (`output.weight`); else the embedding is tied.
    pub output: Option<QMatrix>,
    /// Final RMSNorm weight.
    pub output_norm: Vec<f32>,
    /// Transformer blocks.
    pub layers: Vec<Layer>,
    /// Positions the rotary tables cover: the most tokens a session may hold.
    pub max_context: usize,
    /// `cos(p · θ_i)` for positions `p < max_context` and `i < head_dim/2`, row-major.
    pub rope_cos: Vec<f32>,
    /// `sin(p · θ_i)`, same layout.
    pub rope_sin: Vec<f32>,
}

impl Llama {
    /// Reads a GGUF file's bytes; sessions may hold up to `max_context` tokens (at most the
    /// model's trained context).
    ///
    /// # Errors
    /// [`LlmError::Gguf`] for a malformed file, [`LlmError::Model`] for a model this
    /// engine does not run.
    pub fn from_gguf_bytes(bytes: Vec<u8>, max_context: usize) -> Result<Llama, LlmError> {
        Llama::from_gguf(&Gguf::parse(bytes)?, max_context)
    }

    /// Reads a parsed GGUF file (see [`Llama::from_gguf_bytes`]).
    ///
    /// # Errors
    /// As [`Llama::from_gguf_bytes`].
    pub fn from_gguf(gguf: &Gguf, max_context: usize) -> Result<Llama, LlmError> {
        let embd = gguf
            .tensor("token_embd.weight")
            .ok_or_else(|| LlmError::Model("tensor token_embd.weight is missing".into()))?;
        let vocab = match embd.dims.as_slice() {
            [_, rows] => usize::try_from(*rows).map_err(|_| LlmError::Model("vocabulary too large".into()))?,
            dims => return Err(LlmError::Model(format!("tensor token_embd.weight has dims {dims:?}, expected 2"))),
        };
        let config = LlamaConfig::from_gguf(gguf, vocab)?;
        let (dim, kv, ffn) = (config.dim, config.kv_dim(), config.ffn);
        let norm = |name: &str| read_norm(gguf, name, dim);
        let matrix = |name: &str, k: usize, rows: usize| QMatrix::from_gguf(gguf, name, k, rows);
        let layers = (0..config.layers)
            .map(|i| {
                let name = |t: &str| format!("blk.{i}.{t}.weight");
                Ok(Layer {
                    attn_norm: norm(&name("attn_norm"))?,
                    q: matrix(&name("attn_q"), dim, dim)?,
                    k: matrix(&name("attn_k"), dim, kv)?,
                    v: matrix(&name("attn_v"), dim, kv)?,
                    o: matrix(&name("attn_output"), dim, dim)?,
                    ffn_norm: norm(&name("ffn_norm"))?,
                    gate: matrix(&name("ffn_gate"), dim, ffn)?,
                    up: matrix(&name("ffn_up"), dim, ffn)?,
                    down: matrix(&name("ffn_down"), ffn, dim)?,
                })
            })
            .collect::<Result<Vec<_>, LlmError>>()?;
        let output = match gguf.tensor("output.weight") {
            Some(_) => Some(matrix("output.weight", dim, vocab)?),
            None => None,
        };
        let max_context = max_context.min(config.context_length).min(MAX_CONTEXT);
        if max_context == 0 {
            return Err(LlmError::Model("the context limit must be at least 1 token".into()));
        }
        let (rope_cos, rope_sin) = rope_tables(config.rope_base, config.head_dim, max_context);
        Ok(Llama {
            embedding: matrix("token_embd.weight", dim, vocab)?,
            output_norm: norm("output_norm.weight")?,
            output,
            layers,
            max_context,
            rope_cos,
            rope_sin,
            config,
        })
    }

    /// Ops one step runs, whatever its token count: the embedding lookup; per block the
    /// attention norm, the q, k and v products, rotary embedding of q and of k, attention,
    /// the output product, a residual, the feed-forward norm, the gate and up products,
    /// SwiGLU, the down product and a residual (15); the final norm and the head. Receipts
    /// count these.
    pub fn ops_per_step(&self) -> u64 {
        3 + 15 * self.layers.len() as u64
    }

    /// Bytes of KV cache one token takes (keys and values of every block, f32).
    pub fn kv_bytes_per_token(&self) -> usize {
        self.layers.len() * 2 * self.config.kv_dim() * 4
    }

    /// The output head: `output.weight`, or the tied embedding.
    pub fn head(&self) -> &QMatrix {
        self.output.as_ref().unwrap_or(&self.embedding)
    }
}

/// Reads an f32 norm weight of `dim` values (canonicalized: kernel inputs are flushed).
fn read_norm(gguf: &Gguf, name: &str, dim: usize) -> Result<Vec<f32>, LlmError> {
    let info = find(gguf, name, &[dim])?;
    if info.ggml_type != GgmlType::F32 {
        return Err(LlmError::Model(format!("tensor {name} has type {:?}, expected F32", info.ggml_type)));
    }
    Ok(gguf
        .tensor_bytes(info)
        .chunks_exact(4)
        .map(|b| canonical(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect())
}

/// Rotary tables (DESIGN rule 9: computed once, in f64 with `libm`, which gives the same
/// bits on every platform, then rounded to f32): `θ_i = base^(−2i/head_dim)`,
/// angle `p · θ_i`.
fn rope_tables(base: f32, head_dim: usize, positions: usize) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let thetas: Vec<f64> = (0..half).map(|i| libm::pow(f64::from(base), -2.0 * i as f64 / head_dim as f64)).collect();
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for p in 0..positions {
        for &theta in &thetas {
            let angle = p as f64 * theta;
            cos.push(canonical(libm::cos(angle) as f32));
            sin.push(canonical(libm::sin(angle) as f32));
        }
    }
    (cos, sin)
}
