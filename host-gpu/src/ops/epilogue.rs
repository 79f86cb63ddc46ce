//! Per-channel elementwise work fused onto the end of a convolution: batch
//! normalization and unary float maps applied to each output plane right after the
//! convolution has finished it, while the plane is still in cache.
//!
//! Fusion never changes a bit: each step runs the very function its standalone op runs
//! ([`norm::scale_shift`], [`elementwise::unary_f32_chunk`]) on the finished, canonical
//! convolution output, in graph order. It only saves the passes over memory.

use crate::ir::UnaryOp;
use crate::ops::{OpError, elementwise, norm};
use crate::tensor::Tensor;

/// The steps to apply to every output plane, in order; empty for a plain convolution.
#[derive(Debug, Clone, Default)]
pub struct ChannelEpilogue {
    steps: Vec<Step>,
}

#[derive(Debug, Clone)]
enum Step {
    /// Batch normalization: `(s, t)` per channel.
    ScaleShift(Vec<(f32, f32)>),
    /// A unary op that maps f32 to f32.
    Map(UnaryOp),
}

impl ChannelEpilogue {
    /// Appends inference-mode batch normalization with `params` (scale, bias, mean,
    /// variance) over `channels` channels.
    ///
    /// # Errors
    /// When the parameters are not f32 vectors of `channels` elements.
    pub fn push_batch_norm(&mut self, epsilon: f32, params: &[&Tensor], channels: usize) -> Result<(), OpError> {
        self.steps.push(Step::ScaleShift(norm::batch_norm_parameters(epsilon, params, channels)?));
        Ok(())
    }

    /// Appends a unary op.
    ///
    /// # Errors
    /// When `op` does not map f32 to f32 (`Not`, `IsNaN`).
    pub fn push_unary(&mut self, op: UnaryOp) -> Result<(), OpError> {
        if !elementwise::maps_f32(op) {
            return Err(OpError::new(format!("{op:?} does not map f32 to f32")));
        }
        self.steps.push(Step::Map(op));
        Ok(())
    }

    /// Applies every step to the finished output plane of `channel`, in place.
    pub(crate) fn apply(&self, channel: usize, plane: &mut [f32]) {
        for step in &self.steps {
            match step {
                Step::ScaleShift(coefficients) => {
                    let (s, t) = coefficients[channel];
                    norm::scale_shift(plane, s, t);
                }
                Step::Map(op) => elementwise::unary_f32_chunk(*op, plane),
            }
        }
    }
}
