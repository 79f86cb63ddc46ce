//! The tap: how an executor shows each traced tensor to a tracer, in execution order.
//!
//! The tensor is passed mutably so that a test build's fault injection can perturb it
//! *before* the executor goes on using it (the perturbation then propagates like a real
//! fault would). Executors themselves never change what they pass.

use crate::tensor::Tensor;

/// The op of an LLM block, in the order a step runs them (`Llama::ops_per_step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LayerOp {
    /// RMSNorm before attention.
    AttnNorm,
    /// The query product (before rotary embedding).
    Q,
    /// The key product (before rotary embedding).
    K,
    /// The value product.
    V,
    /// Rotary embedding of the queries.
    RopeQ,
    /// Rotary embedding of the keys (what enters the KV cache).
    RopeK,
    /// Grouped-query attention over the cache.
    Attention,
    /// The attention output product.
    O,
    /// `x += o`.
    AttnResidual,
    /// RMSNorm before the feed-forward block.
    FfnNorm,
    /// The gate product.
    Gate,
    /// The up product.
    Up,
    /// `silu(gate) * up`.
    Swiglu,
    /// The down product.
    Down,
    /// `x += down`.
    FfnResidual,
}

impl LayerOp {
    /// Every block op in step order.
    pub const ALL: [LayerOp; 15] = [
        LayerOp::AttnNorm,
        LayerOp::Q,
        LayerOp::K,
        LayerOp::V,
        LayerOp::RopeQ,
        LayerOp::RopeK,
        LayerOp::Attention,
        LayerOp::O,
        LayerOp::AttnResidual,
        LayerOp::FfnNorm,
        LayerOp::Gate,
        LayerOp::Up,
        LayerOp::Swiglu,
        LayerOp::Down,
        LayerOp::FfnResidual,
    ];

    /// The name in trace descriptors (`attn_norm`, `q`, …).
    pub fn name(self) -> &'static str {
        match self {
            LayerOp::AttnNorm => "attn_norm",
            LayerOp::Q => "q",
            LayerOp::K => "k",
            LayerOp::V => "v",
            LayerOp::RopeQ => "rope_q",
            LayerOp::RopeK => "rope_k",
            LayerOp::Attention => "attention",
            LayerOp::O => "o",
            LayerOp::AttnResidual => "attn_residual",
            LayerOp::FfnNorm => "ffn_norm",
            LayerOp::Gate => "gate",
            LayerOp::Up => "up",
            LayerOp::Swiglu => "swiglu",
            LayerOp::Down => "down",
            LayerOp::FfnResidual => "ffn_residual",
        }
    }

    /// The op named `name` in descriptors.
    pub fn from_name(name: &str) -> Option<LayerOp> {
        LayerOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// A traced tensor of an LLM step, in step order: the token ids, the embedding, every
/// block's ops, the final norm and the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LlmSlot {
    /// The step's token ids (I64 `[n]`): an input, not an op.
    Input,
    /// Embedding lookup, `[n, dim]`.
    Embed,
    /// Op `op` of block `layer`.
    Layer {
        /// Block index.
        layer: usize,
        /// Which op of the block.
        op: LayerOp,
    },
    /// RMSNorm of the last position, `[1, dim]`.
    FinalNorm,
    /// The logits of the last position, `[1, vocab]`.
    Head,
}

impl LlmSlot {
    /// The descriptor name of the slot's op (`input`, `embed`, a [`LayerOp::name`],
    /// `final_norm`, `head`).
    pub fn name(self) -> &'static str {
        match self {
            LlmSlot::Input => "input",
            LlmSlot::Embed => "embed",
            LlmSlot::Layer { op, .. } => op.name(),
            LlmSlot::FinalNorm => "final_norm",
            LlmSlot::Head => "head",
        }
    }

    /// The block index, for block ops.
    pub fn layer(self) -> Option<usize> {
        match self {
            LlmSlot::Layer { layer, .. } => Some(layer),
            _ => None,
        }
    }
}

/// Where a traced tensor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapPoint<'a> {
    /// Graph input `index` (in `Graph::inputs` order) after input canonicalization: what
    /// the ops read.
    Input {
        /// Position among the graph's inputs.
        index: usize,
        /// The input's name.
        name: &'a str,
    },
    /// The output of node `node` of the graph being run.
    Node {
        /// The node's index in `Graph::nodes`.
        node: usize,
        /// The node's name.
        name: &'a str,
        /// The op kind (`Op::kind_name`).
        op: &'static str,
    },
    /// A tensor of an LLM step over positions `start..start + n`.
    Llm {
        /// Which op.
        slot: LlmSlot,
        /// The first position of the step.
        start: usize,
        /// Tokens in the step.
        n: usize,
    },
}

/// A traced tensor as the executor holds it.
#[derive(Debug)]
pub enum LeafTensor<'a> {
    /// A graph tensor.
    Tensor(&'a mut Tensor),
    /// Row-major f32 values of `shape` (the LLM executors' activations).
    F32 {
        /// `[rows, width]`.
        shape: [usize; 2],
        /// The values.
        data: &'a mut [f32],
    },
}

/// Receives every traced tensor of a run, in execution order.
pub trait Tap {
    /// Called once per traced tensor, before the executor uses it further.
    fn leaf(&mut self, at: TapPoint<'_>, tensor: LeafTensor<'_>);
}
