//! Which nodes the CPU executor runs fused: a `Conv` followed by a chain of
//! `BatchNorm` (with constant parameters) and unary float maps, each link the only
//! reader of the value before it, runs as one convolution with a
//! [`ChannelEpilogue`]. The chain's intermediate values are never materialized; the
//! bits are those of running the nodes one by one (see [`crate::ops::epilogue`]).

use crate::ir::{Graph, Node, Op};
use crate::ops::OpError;
use crate::ops::epilogue::ChannelEpilogue;
use crate::tensor::Tensor;

/// For every node, the later nodes fused onto it, and whether it is itself fused into
/// an earlier node (and so skipped).
#[derive(Debug, Clone)]
pub(super) struct FusionPlan {
    followers: Vec<Vec<usize>>,
    absorbed: Vec<bool>,
}

impl FusionPlan {
    /// Finds the fusable chains of `graph`.
    pub(super) fn new(graph: &Graph) -> Self {
        let nodes = graph.nodes();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); graph.values().len()];
        for (index, node) in nodes.iter().enumerate() {
            for &id in &node.inputs {
                readers[id.index()].push(index);
            }
        }
        let mut is_output = vec![false; graph.values().len()];
        for &id in graph.outputs() {
            is_output[id.index()] = true;
        }
        let mut plan = FusionPlan { followers: vec![Vec::new(); nodes.len()], absorbed: vec![false; nodes.len()] };
        for (index, node) in nodes.iter().enumerate() {
            if !matches!(node.op, Op::Conv(_)) {
                continue;
            }
            let mut value = node.output;
            while let [next] = readers[value.index()][..] {
                let follower = &nodes[next];
                if is_output[value.index()] || follower.inputs.first() != Some(&value) || !fusable(graph, follower) {
                    break;
                }
                plan.followers[index].push(next);
                plan.absorbed[next] = true;
                value = follower.output;
            }
        }
        plan
    }

    /// The nodes fused onto node `index`, in order (empty when none).
    pub(super) fn followers(&self, index: usize) -> &[usize] {
        &self.followers[index]
    }

    /// Whether node `index` runs as part of an earlier node.
    pub(super) fn is_absorbed(&self, index: usize) -> bool {
        self.absorbed[index]
    }
}

/// Whether `node` can join a convolution's epilogue: a unary float map, or a batch
/// normalization whose parameters are constants.
fn fusable(graph: &Graph, node: &Node) -> bool {
    match node.op {
        Op::Unary(op) => crate::ops::elementwise::maps_f32(op),
        Op::BatchNorm { .. } => node.inputs[1..].iter().all(|&id| graph.constant(id).is_some()),
        _ => false,
    }
}

/// The epilogue of the fused `followers` of a convolution whose output has `channels`
/// channels.
pub(super) fn epilogue(graph: &Graph, followers: &[&Node], channels: usize) -> Result<ChannelEpilogue, OpError> {
    let mut epilogue = ChannelEpilogue::default();
    for node in followers {
        match node.op {
            Op::Unary(op) => epilogue.push_unary(op)?,
            Op::BatchNorm { epsilon } => {
                let params: Vec<&Tensor> = node.inputs[1..]
                    .iter()
                    .map(|&id| graph.constant(id).map(AsRef::as_ref))
                    .collect::<Option<_>>()
                    .ok_or_else(|| OpError::new("batch norm parameters are not constants"))?;
                epilogue.push_batch_norm(epsilon, &params, channels)?;
            }
            _ => return Err(OpError::new(format!("{} cannot be fused", node.op.kind_name()))),
        }
    }
    Ok(epilogue)
}
