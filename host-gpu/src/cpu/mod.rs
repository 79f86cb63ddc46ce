//! The CPU reference executor: runs a [`Graph`] node by node with the reference kernels.
//!
//! Steps of a run:
//! 1. match the supplied tensors to the graph inputs by name, checking dtype and shape
//!    against the inferred facts, and canonicalize f32 inputs (flush subnormals, one NaN);
//! 2. evaluate the nodes in order, dropping each intermediate after its last use (an
//!    elementwise op at its input's last use writes over that input instead, and a
//!    convolution runs its [`fusion`] chain of per-channel followers as an epilogue);
//! 3. return the graph outputs in declaration order.
//!
//! A traced run ([`CpuExecutor::run_traced`]) is the same loop without fusion, showing a
//! [`Tap`] every input and every node's output as it is made.
//!
//! Kernels parallelize across output elements with rayon; the caller picks the thread
//! count by running inside a `rayon::ThreadPool::install`. Results do not depend on it.

mod fusion;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use fusion::FusionPlan;

use crate::ir::{Graph, Node, Op, ValueId};
use crate::numerics;
use crate::ops::{self, OpError};
use crate::tensor::Tensor;
use crate::trace::{LeafTensor, Tap, TapPoint};

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
    /// The caller's stop check said to stop (a deadline or a cancelled call).
    #[error("stopped before node {node:?}: the run was cancelled")]
    Cancelled {
        /// The node that was about to run.
        node: String,
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
        self.run_until(graph, inputs, &|| false)
    }

    /// [`CpuExecutor::run`], asking `stop` before each node and giving up with
    /// [`ExecError::Cancelled`] when it says so: how a deadline or a cancelled call ends a
    /// long run between ops (a single op always finishes).
    ///
    /// # Errors
    /// As [`CpuExecutor::run`], plus [`ExecError::Cancelled`].
    pub fn run_until(
        &self,
        graph: &Graph,
        inputs: Vec<(String, Tensor)>,
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<(String, Tensor)>, ExecError> {
        run_inner(graph, inputs, stop, None)
    }

    /// [`CpuExecutor::run_until`], showing `tap` every traced tensor in execution order:
    /// each graph input after canonicalization, in [`Graph::inputs`] order
    /// ([`TapPoint::Input`]), then each node's output in node order ([`TapPoint::Node`])
    /// before anything reads it, so that a tap that changes a tensor changes what later
    /// nodes see. Convolution fusion is off (every node's output exists; the bits are those
    /// of the fused run), so the outputs are those of [`CpuExecutor::run_until`].
    ///
    /// Traces are defined over the graph specialized to the input shapes
    /// ([`Graph::specialize_for`]), which is the caller's to pass; any graph runs.
    ///
    /// # Errors
    /// As [`CpuExecutor::run_until`]; the tap has seen the tensors before the failure.
    pub fn run_traced(
        &self,
        graph: &Graph,
        inputs: Vec<(String, Tensor)>,
        stop: &dyn Fn() -> bool,
        tap: &mut dyn Tap,
    ) -> Result<Vec<(String, Tensor)>, ExecError> {
        run_inner(graph, inputs, stop, Some(tap))
    }
}

/// The body of a run: fused when there is no tap, every node alone and shown to the tap
/// otherwise.
fn run_inner(
    graph: &Graph,
    inputs: Vec<(String, Tensor)>,
    stop: &dyn Fn() -> bool,
    mut tap: Option<&mut dyn Tap>,
) -> Result<Vec<(String, Tensor)>, ExecError> {
    let mut slots: Vec<Option<Arc<Tensor>>> = vec![None; graph.values().len()];
    bind_inputs(graph, inputs, &mut slots, tap.as_deref_mut())?;
    let last_use = last_uses(graph);
    let plan = tap.is_none().then(|| FusionPlan::new(graph));
    for (index, node) in graph.nodes().iter().enumerate() {
        if plan.as_ref().is_some_and(|plan| plan.is_absorbed(index)) {
            continue;
        }
        if stop() {
            return Err(ExecError::Cancelled { node: node.name.clone() });
        }
        let followers: Vec<&Node> = match &plan {
            Some(plan) => plan.followers(index).iter().map(|&j| &graph.nodes()[j]).collect(),
            None => Vec::new(),
        };
        let fail = |source| ExecError::Node { node: node.name.clone(), op: node.op.kind_name(), source };
        let owned_first =
            if followers.is_empty() { take_reusable_first(node, index, &last_use, &mut slots) } else { None };
        let rest = if owned_first.is_some() { &node.inputs[1..] } else { &node.inputs[..] };
        let args: Vec<&Tensor> = rest
            .iter()
            .map(|&id| lookup(graph, &slots, id))
            .collect::<Option<_>>()
            .ok_or_else(|| fail(OpError::new("an input was freed before its last use")))?;
        let mut out = match owned_first {
            Some(first) => ops::eval_owned(&node.op, first, &args),
            None if followers.is_empty() => ops::eval(&node.op, &args),
            None => eval_fused(graph, node, &followers, &args),
        }
        .map_err(fail)?;
        let output = followers.last().map_or(node.output, |last| last.output);
        tracing::trace!(
            node = %node.name,
            op = node.op.kind_name(),
            fused = followers.len(),
            shape = ?out.shape(),
            "evaluated"
        );
        if let Some(tap) = tap.as_deref_mut() {
            let at = TapPoint::Node { node: index, name: &node.name, op: node.op.kind_name() };
            tap.leaf(at, LeafTensor::Tensor(&mut out));
        }
        slots[output.index()] = Some(Arc::new(out));
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

/// Runs a convolution with its fused followers as the epilogue.
fn eval_fused(graph: &Graph, node: &Node, followers: &[&Node], args: &[&Tensor]) -> Result<Tensor, OpError> {
    let (Op::Conv(attrs), Some(weights)) = (&node.op, args.get(1)) else {
        return Err(OpError::new("only a convolution with weights takes fused followers"));
    };
    let channels = weights.shape().first().copied().unwrap_or(0);
    let epilogue = fusion::epilogue(graph, followers, channels)?;
    ops::conv::eval_fused(attrs, args, &epilogue)
}

/// Takes the first input of `node` out of its slot when the op can overwrite it
/// ([`ops::reuses_first_input`]) and nothing else will read it: this is its last use, the
/// node reads it only once, and no other reference to the tensor is alive.
fn take_reusable_first(
    node: &Node,
    index: usize,
    last_use: &[Option<usize>],
    slots: &mut [Option<Arc<Tensor>>],
) -> Option<Tensor> {
    let (&first, rest) = node.inputs.split_first()?;
    if !ops::reuses_first_input(&node.op) || last_use[first.index()] != Some(index) || rest.contains(&first) {
        return None;
    }
    match Arc::try_unwrap(slots[first.index()].take()?) {
        Ok(tensor) => Some(tensor),
        Err(shared) => {
            slots[first.index()] = Some(shared);
            None
        }
    }
}

fn lookup<'a>(graph: &'a Graph, slots: &'a [Option<Arc<Tensor>>], id: ValueId) -> Option<&'a Tensor> {
    slots[id.index()].as_deref().or_else(|| graph.constant(id).map(Arc::as_ref))
}

/// Matches the supplied tensors to the graph inputs, checks and canonicalizes them, shows
/// them to `tap` in [`Graph::inputs`] order and puts them in their slots.
fn bind_inputs(
    graph: &Graph,
    inputs: Vec<(String, Tensor)>,
    slots: &mut [Option<Arc<Tensor>>],
    mut tap: Option<&mut (dyn Tap + '_)>,
) -> Result<(), ExecError> {
    let mut bound: Vec<Option<Tensor>> = vec![None; graph.inputs().len()];
    for (name, tensor) in inputs {
        let index = graph
            .inputs()
            .iter()
            .position(|&id| graph.value(id).name == name)
            .ok_or_else(|| ExecError::UnknownInput(name.clone()))?;
        let fact = &graph.value(graph.inputs()[index]).fact;
        if tensor.dtype() != fact.dtype {
            let message = format!("expected dtype {}, got {}", fact.dtype, tensor.dtype());
            return Err(ExecError::BadInput { name, message });
        }
        fact.check_shape(tensor.shape()).map_err(|message| ExecError::BadInput { name: name.clone(), message })?;
        bound[index] = Some(canonical_input(tensor));
    }
    for (index, (&id, tensor)) in graph.inputs().iter().zip(bound).enumerate() {
        let name = &graph.value(id).name;
        let mut tensor = tensor.ok_or_else(|| ExecError::MissingInput(name.clone()))?;
        if let Some(tap) = tap.as_deref_mut() {
            tap.leaf(TapPoint::Input { index, name }, LeafTensor::Tensor(&mut tensor));
        }
        slots[id.index()] = Some(Arc::new(tensor));
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
