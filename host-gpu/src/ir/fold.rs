//! Fact inference and constant folding, run when a graph is built or specialized.
//!
//! Steps:
//! 1. walk the nodes in execution order;
//! 2. a node whose inputs are all constants is evaluated once by the CPU reference and its
//!    output becomes a constant (same kernels, so the same bits as evaluating it per run);
//!    a `Shape` node whose input shape is fully known becomes a constant too;
//! 3. any other node gets its output fact from the op's inference rule;
//! 4. nodes and constants that no graph output depends on are dropped.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Fact, Graph, GraphError, Node, Op};
use crate::ops::{self, InferInput};
use crate::tensor::Tensor;

pub(super) fn infer_and_fold(graph: &mut Graph) -> Result<(), GraphError> {
    let nodes = std::mem::take(&mut graph.nodes);
    let mut kept = Vec::with_capacity(nodes.len());
    for node in nodes {
        let node_error =
            |message: String| GraphError::Node { node: node.name.clone(), op: node.op.kind_name(), message };
        if let Some(value) = fold_node(graph, &node).map_err(node_error)? {
            graph.values[node.output.index()].fact = Fact::of_tensor(&value);
            graph.constants.insert(node.output, Arc::new(value));
            continue;
        }
        let inputs: Vec<InferInput<'_>> = node
            .inputs
            .iter()
            .map(|id| InferInput {
                fact: &graph.values[id.index()].fact,
                value: graph.constants.get(id).map(|t| t.as_ref()),
            })
            .collect();
        let fact = ops::infer(&node.op, &inputs).map_err(|e| node_error(e.to_string()))?;
        graph.values[node.output.index()].fact = fact;
        kept.push(node);
    }
    graph.nodes = kept;
    prune(graph);
    Ok(())
}

/// Evaluates the node now if everything it needs is known.
fn fold_node(graph: &Graph, node: &Node) -> Result<Option<Tensor>, String> {
    if let Op::Shape { start, end } = node.op
        && let Some(dims) = graph.values[node.inputs[0].index()].fact.concrete_shape()
    {
        return ops::shape::shape_of(start, end, &dims).map(Some).map_err(|e| e.to_string());
    }
    let Some(inputs) =
        node.inputs.iter().map(|id| graph.constants.get(id).map(Arc::as_ref)).collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    ops::eval(&node.op, &inputs).map(Some).map_err(|e| e.to_string())
}

/// Drops nodes and constants that no graph output depends on.
fn prune(graph: &mut Graph) {
    let mut live: HashSet<_> = graph.outputs.iter().copied().collect();
    let mut kept: Vec<Node> = Vec::with_capacity(graph.nodes.len());
    for node in std::mem::take(&mut graph.nodes).into_iter().rev() {
        if live.contains(&node.output) {
            live.extend(node.inputs.iter().copied());
            kept.push(node);
        }
    }
    kept.reverse();
    graph.nodes = kept;
    graph.constants.retain(|id, _| live.contains(id));
}
