//! The CPU reference executor: runs a [`Graph`] node by node with the reference kernels.
//!
//! Steps of a run:
//! 1. match the supplied tensors to the graph inputs by name, checking dtype and shape
//!    against the inferred facts, and canonicalize f32 inputs (flush subnormals, one NaN);
//! 2. evaluate the nodes in order, dropping each intermediate after its last use;
//! 3. return the graph outputs in declaration order.
//!
//! Kernels parallelize across output elements with rayon; the caller picks the thread
//! count by running inside a `rayon::ThreadPool::install`. Results do not depend on it.

use std::sync::Arc;

use crate::ir::{Graph, ValueId};
use crate::numerics;
use crate::ops::{self, OpError};
use crate::tensor::Tensor;

/// Errors of a graph run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A required input was not supplied.
    #[error("missing input: {0:?}")]
    MissingInput(String),
    /// A supplied tensor does not name a graph input.
    #[error("unknown input: {0:?}")]
    UnknownInput(String),
    /// A supplied input has the wrong dtype or shape.
    #[error("input {name:?}: {message}")]
    BadInput {
        /// Input name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A node failed on the concrete values.
    #[error("node {node:?} ({op}): {source}")]
    Node {
        /// Node name.
        node: String,
        /// Op kind.
        op: &'static str,
        /// The kernel's complaint.
        source: OpError,
    },
}

/// Runs graphs with the reference kernels.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuExecutor;

impl CpuExecutor {
    /// Runs `graph` on named inputs and returns its outputs (name, tensor) in order.
    ///
    /// # Errors
    /// [`ExecError`] naming the input or node at fault.
    pub fn run(&self, graph: &Graph, inputs: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>, ExecError> {
        let mut slots: Vec<Option<Arc<Tensor>>> = vec![None; graph.values().len()];
        bind_inputs(graph, inputs, &mut slots)?;
        let last_use = last_uses(graph);
        for (index, node) in graph.nodes().iter().enumerate() {
            let args: Vec<&Tensor> =
                node.inputs.iter().map(|&id| lookup(graph, &slots, id)).collect::<Option<_>>().ok_or_else(|| {
                    ExecError::Node {
                        node: node.name.clone(),
                        op: node.op.kind_name(),
                        source: OpError::new("an input was freed before its last use"),
                    }
                })?;
            let out = ops::eval(&node.op, &args).map_err(|source| ExecError::Node {
                node: node.name.clone(),
                op: node.op.kind_name(),
                source,
            })?;
            tracing::trace!(node = %node.name, op = node.op.kind_name(), shape = ?out.shape(), "evaluated");
            slots[node.output.index()] = Some(Arc::new(out));
            for &id in &node.inputs {
                if last_use[id.index()] == Some(index) {
                    slots[id.index()] = None;
                }
            }
        }
        graph
            .outputs()
            .iter()
            .map(|&id| {
                let name = graph.value(id).name.clone();
                let tensor = lookup(graph, &slots, id).cloned().ok_or_else(|| ExecError::Node {
                    node: name.clone(),
                    op: "output",
                    source: OpError::new("graph output was never computed"),
                })?;
                Ok((name, tensor))
            })
            .collect()
    }
}

fn lookup<'a>(graph: &'a Graph, slots: &'a [Option<Arc<Tensor>>], id: ValueId) -> Option<&'a Tensor> {
    slots[id.index()].as_deref().or_else(|| graph.constant(id).map(Arc::as_ref))
}

fn bind_inputs(
    graph: &Graph,
    inputs: Vec<(String, Tensor)>,
    slots: &mut [Option<Arc<Tensor>>],
) -> Result<(), ExecError> {
    for (name, tensor) in inputs {
        let id = graph
            .inputs()
            .iter()
            .copied()
            .find(|&id| graph.value(id).name == name)
            .ok_or_else(|| ExecError::UnknownInput(name.clone()))?;
        let fact = &graph.value(id).fact;
        if tensor.dtype() != fact.dtype {
            let message = format!("expected dtype {}, got {}", fact.dtype, tensor.dtype());
            return Err(ExecError::BadInput { name, message });
        }
        fact.check_shape(tensor.shape()).map_err(|message| ExecError::BadInput { name: name.clone(), message })?;
        slots[id.index()] = Some(Arc::new(canonical_input(tensor)));
    }
    for &id in graph.inputs() {
        if slots[id.index()].is_none() {
            return Err(ExecError::MissingInput(graph.value(id).name.clone()));
        }
    }
    Ok(())
}

/// Rule 4: every kernel input is flushed and NaN-canonical; graph inputs are the only
/// tensors that do not come out of a kernel, so they are canonicalized here.
pub(crate) fn canonical_input(mut tensor: Tensor) -> Tensor {
    if let Some(data) = tensor.f32_mut() {
        numerics::canonicalize(data);
    }
    tensor
}

/// For every value, the index of the last node that reads it (graph outputs: never freed).
fn last_uses(graph: &Graph) -> Vec<Option<usize>> {
    let mut last = vec![None; graph.values().len()];
    for (index, node) in graph.nodes().iter().enumerate() {
        for &id in &node.inputs {
            last[id.index()] = Some(index);
        }
    }
    for &id in graph.outputs() {
        last[id.index()] = None;
    }
    last
}
