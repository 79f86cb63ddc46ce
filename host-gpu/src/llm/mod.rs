//! The llama engine: decoder-only transformers read from GGUF (SmolLM2 and its kin), run
//! one step at a time with a KV cache, bit for bit the same on the CPU and on wgpu.
//!
//! An LLM does not go through the stateless graph IR: its execution context keeps the
//! KV cache across `compute` calls, and every step is the same fixed sequence of ops:
//! embedding lookup, then per block RMSNorm, the Q/K/V products, rotary
//! embedding, grouped-query attention over the cache, the output product and residual,
//! RMSNorm, SwiGLU feed-forward and residual; then the final RMSNorm and the output head
//! on the last position. Each op is defined once by its CPU kernel ([`kernels`],
//! [`quant`]); the wgpu executor ([`gpu`]) runs the same algorithms in WGSL and is tested
//! against them op by op (`docs/NUMERICS.md`, "Quantized LLM ops").
//!
//! - [`LlamaConfig`]: the hyperparameters, from the GGUF metadata, checked.
//! - [`Llama`]: the checked weights (quantized matrices kept quantized, [`QMatrix`]) and
//!   the rotary tables, shared by every session.
//! - [`CpuSession`] / [`gpu::GpuSession`]: one conversation's KV cache and position;
//!   [`Session::forward`] appends tokens and returns the logits of the last one, and
//!   [`TracedSession::forward_traced`] does the same showing a [`Tap`] every op's output
//!   ([`trace`]): the same leaves, bit for bit, on both executors.

mod config;
pub mod cpu;
pub mod gpu;
pub mod kernels;
pub mod quant;
pub mod trace;
mod weights;

#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod tests;

pub use config::LlamaConfig;
pub use cpu::CpuSession;
pub use quant::{QKind, QMatrix};
pub use weights::{Layer, Llama};

use crate::trace::Tap;

/// Why a model cannot be loaded or a step cannot run.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The GGUF file could not be read.
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    /// The file is a valid GGUF but not a model this engine runs (architecture, a missing
    /// or misshapen tensor, an unsupported tensor type, hyperparameters out of range).
    #[error("unsupported model: {0}")]
    Model(String),
    /// A step was given no tokens.
    #[error("no tokens given: a step needs at least one token id")]
    NoTokens,
    /// A token id is outside the vocabulary.
    #[error("token id {token} at index {index} is outside the vocabulary of {vocab} tokens")]
    BadToken {
        /// The offending id.
        token: i64,
        /// Its index in the step's input.
        index: usize,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The step would run past the context limit.
    #[error(
        "context length exceeded: {position} tokens are in the context and {requested} more were given, \
         but the limit is {limit}"
    )]
    ContextFull {
        /// Tokens already in the KV cache.
        position: usize,
        /// Tokens given to this step.
        requested: usize,
        /// The session's context limit.
        limit: usize,
    },
    /// The stop check fired between ops.
    #[error("cancelled")]
    Cancelled,
    /// The GPU failed.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
}

/// One conversation on an executor: a KV cache and a position.
pub trait Session: Send {
    /// Appends `tokens` to the context (a prompt in one step, or one generated token) and
    /// returns the logits of the last one (`vocab` values). `stop` is asked between ops;
    /// when it fires the step is abandoned and the session is left where it was.
    ///
    /// # Errors
    /// [`LlmError::NoTokens`], [`LlmError::BadToken`], [`LlmError::ContextFull`] for bad
    /// input (nothing changes), [`LlmError::Cancelled`], or an executor failure.
    fn forward(&mut self, tokens: &[i64], stop: &dyn Fn() -> bool) -> Result<Vec<f32>, LlmError>;

    /// Tokens in the context so far.
    fn position(&self) -> usize;

    /// The most tokens the context holds.
    fn context_limit(&self) -> usize;
}

/// A [`Session`] that can trace a step (`docs/TRACES.md`).
pub trait TracedSession: Session {
    /// [`Session::forward`], showing `tap` the step's token ids (I64 `[n]`) and then every
    /// op's output as `[rows, width]` f32, in the order of [`trace::step_slots`] with the
    /// shapes of [`trace::slot_shape`]. Every executor shows the same tensors, bit for
    /// bit; the step reads the ids the tap leaves. Whether a change the tap makes to an
    /// op's output reaches the rest of the step depends on the executor (it does on the
    /// CPU reference, [`CpuSession::forward_traced`]; the GPU shows copies,
    /// [`gpu::GpuSession::forward_traced`]).
    ///
    /// # Errors
    /// As [`Session::forward`]; a tap that makes the ids unusable gives the error
    /// [`Session::forward`] gives such ids.
    fn forward_traced(
        &mut self,
        tokens: &[i64],
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<Vec<f32>, LlmError>;
}

/// Greedy choice: the index of the largest logit, the lowest on ties; a NaN is never
/// chosen over a number.
pub fn argmax(logits: &[f32]) -> i64 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] || (logits[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best as i64
}

/// Checks a step's tokens against the vocabulary and the context limit, returning them as
/// vocabulary indices.
///
/// # Errors
/// As [`Session::forward`] for bad input.
pub fn check_step(tokens: &[i64], vocab: usize, position: usize, limit: usize) -> Result<Vec<u32>, LlmError> {
    if tokens.is_empty() {
        return Err(LlmError::NoTokens);
    }
    if position.saturating_add(tokens.len()) > limit {
        return Err(LlmError::ContextFull { position, requested: tokens.len(), limit });
    }
    checked_ids(tokens, vocab)
}

/// The ids as vocabulary indices.
///
/// # Errors
/// [`LlmError::BadToken`] for the first id outside the vocabulary.
pub(crate) fn checked_ids(tokens: &[i64], vocab: usize) -> Result<Vec<u32>, LlmError> {
    tokens
        .iter()
        .enumerate()
        .map(|(index, &token)| match u32::try_from(token) {
            Ok(id) if (id as usize) < vocab => Ok(id),
            _ => Err(LlmError::BadToken { token, index, vocab }),
        })
        .collect()
}
