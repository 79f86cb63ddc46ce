//! The typed graph IR: values with inferred facts, nodes in execution order, constants.
//!
//! A [`Graph`] is built through a [`GraphBuilder`] (importers use it), which:
//! 1. checks every node input refers to a defined value and every value is defined once;
//! 2. orders the nodes topologically (importers may hand them over in any order; a cycle
//!    is an error);
//! 3. infers every value's [`Fact`] (dtype and shape, with symbolic dims for dynamic
//!    inputs), so a bad model fails at load and the error names the node;
//! 4. folds constants: every node whose inputs are all known is evaluated once by the CPU
//!    reference and becomes a constant (e.g. int8 weights dequantized by `Cast`+`Mul`),
//!    and nodes whose outputs nobody uses are dropped.
//!
//! [`Graph::specialize`] re-runs steps 3–4 with concrete input shapes, which turns shape
//! subgraphs (`Shape`→`Slice`→`Concat`→`Reshape`) into constants.

mod fact;
mod fold;
mod op;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use fact::{Dim, Fact};
pub use op::{BinaryOp, ConvAttrs, Op, PoolAttrs, PoolKind, ReduceKind, UnaryOp};

use crate::tensor::{DType, Tensor};

/// Index of a value in its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of the value at `index` in [`Graph::values`].
    pub fn from_index(index: usize) -> Self {
        ValueId(u32::try_from(index).unwrap_or(u32::MAX))
    }
}

/// A named value: a graph input, a constant or a node output.
#[derive(Debug, Clone)]
pub struct Value {
    /// Name from the model (unique within the graph).
    pub name: String,
    /// What is known about it.
    pub fact: Fact,
}

/// One operator application.
#[derive(Debug, Clone)]
pub struct Node {
    /// Name from the model (for error messages and traces).
    pub name: String,
    /// The operator.
    pub op: Op,
    /// Input values, positional as the op documents.
    pub inputs: Vec<ValueId>,
    /// The output value (every op has exactly one).
    pub output: ValueId,
}

/// Errors found while building or specializing a graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A node (named) failed shape/type inference or constant evaluation.
    #[error("node {node:?} ({op}): {message}")]
    Node {
        /// Node name.
        node: String,
        /// Op kind name.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A node reads a value nothing defines.
    #[error("node {node:?} reads undefined value: {value:?}")]
    UndefinedValue {
        /// Node name.
        node: String,
        /// Value name.
        value: String,
    },
    /// Two definitions of one value name.
    #[error("value defined twice: {0:?}")]
    DuplicateValue(String),
    /// The nodes form a cycle.
    #[error("graph has a cycle through node: {0:?}")]
    Cycle(String),
    /// A graph output is not defined.
    #[error("graph output is not defined: {0:?}")]
    UndefinedOutput(String),
    /// `specialize` was given a shape that does not fit an input.
    #[error("input {name:?}: {message}")]
    Input {
        /// Input name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// A validated graph whose nodes are in execution order.
#[derive(Debug, Clone)]
pub struct Graph {
    values: Vec<Value>,
    constants: HashMap<ValueId, Arc<Tensor>>,
    nodes: Vec<Node>,
    inputs: Vec<ValueId>,
    outputs: Vec<ValueId>,
    metadata: Vec<(String, String)>,
}

impl Graph {
    /// All values (index with [`ValueId::index`]).
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// One value.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.index()]
    }

    /// The nodes, in execution order (constants already folded away).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The graph inputs the caller supplies.
    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }

    /// The graph outputs.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// The value of a constant, if `id` is one.
    pub fn constant(&self, id: ValueId) -> Option<&Arc<Tensor>> {
        self.constants.get(&id)
    }

    /// Number of constants and the total bytes they hold.
    pub fn constant_stats(&self) -> (usize, usize) {
        let bytes = self.constants.values().map(|t| t.len() * t.dtype().size_of()).sum();
        (self.constants.len(), bytes)
    }

    /// Key/value metadata carried over from the model file (e.g. class labels).
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// Count of nodes per op kind, sorted by name (for `model inspect`).
    pub fn op_counts(&self) -> Vec<(&'static str, usize)> {
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        for node in &self.nodes {
            *counts.entry(node.op.kind_name()).or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort();
        counts
    }

    /// A copy of the graph with concrete shapes for the named inputs, re-inferred and
    /// re-folded: shape subgraphs become constants, and every fact is concrete when all
    /// inputs are.
    ///
    /// # Errors
    /// [`GraphError::Input`] when a shape contradicts an input's declared rank or fixed
    /// dims; [`GraphError::Node`] when a node rejects the concrete shapes.
    pub fn specialize(&self, shapes: &[(&str, Vec<usize>)]) -> Result<Graph, GraphError> {
        let mut graph = self.clone();
        for (name, shape) in shapes {
            let id = graph
                .inputs
                .iter()
                .copied()
                .find(|&id| graph.values[id.index()].name == *name)
                .ok_or_else(|| GraphError::Input { name: (*name).to_owned(), message: "no such input".into() })?;
            let fact = &mut graph.values[id.index()].fact;
            fact.check_shape(shape).map_err(|message| GraphError::Input { name: (*name).to_owned(), message })?;
            fact.shape = Some(shape.iter().map(|&d| Dim::Fixed(d)).collect());
        }
        fold::infer_and_fold(&mut graph)?;
        Ok(graph)
    }

    /// [`Graph::specialize`] with one shape per graph input, in [`Graph::inputs`] order
    /// (how executors key their specializations: by the shapes of the tensors they got).
    ///
    /// # Errors
    /// As [`Graph::specialize`]; [`GraphError::Input`] when the number of shapes is not
    /// the number of inputs.
    pub fn specialize_for(&self, shapes: &[Vec<usize>]) -> Result<Graph, GraphError> {
        if shapes.len() != self.inputs.len() {
            let message = format!("{} input shapes given for {} inputs", shapes.len(), self.inputs.len());
            let name = match self.inputs.get(shapes.len()) {
                Some(&id) => self.values[id.index()].name.clone(),
                None => "(extra)".to_owned(),
            };
            return Err(GraphError::Input { name, message });
        }
        let named: Vec<(&str, Vec<usize>)> = self
            .inputs
            .iter()
            .zip(shapes)
            .map(|(&id, shape)| (self.values[id.index()].name.as_str(), shape.clone()))
            .collect();
        self.specialize(&named)
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &id in &self.inputs {
            writeln!(f, "input  {} {}", self.values[id.index()].name, self.values[id.index()].fact)?;
        }
        for &id in &self.outputs {
            writeln!(f, "output {} {}", self.values[id.index()].name, self.values[id.index()].fact)?;
        }
        Ok(())
    }
}

/// Assembles a [`Graph`] from inputs, constants and nodes given in any order.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    values: Vec<Value>,
    by_name: HashMap<String, ValueId>,
    constants: HashMap<ValueId, Arc<Tensor>>,
    defined: Vec<bool>,
    nodes: Vec<PendingNode>,
    inputs: Vec<ValueId>,
    outputs: Vec<String>,
    metadata: Vec<(String, String)>,
}

#[derive(Debug)]
struct PendingNode {
    name: String,
    op: Op,
    inputs: Vec<String>,
    output: String,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, name: &str) -> ValueId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = ValueId(u32::try_from(self.values.len()).unwrap_or(u32::MAX));
        self.values.push(Value { name: name.to_owned(), fact: Fact::unknown(DType::F32) });
        self.defined.push(false);
        self.by_name.insert(name.to_owned(), id);
        id
    }

    fn define(&mut self, name: &str) -> Result<ValueId, GraphError> {
        let id = self.intern(name);
        if std::mem::replace(&mut self.defined[id.index()], true) {
            return Err(GraphError::DuplicateValue(name.to_owned()));
        }
        Ok(id)
    }

    /// Declares a graph input with its dtype and (possibly symbolic) shape.
    ///
    /// # Errors
    /// [`GraphError::DuplicateValue`] if the name is already defined.
    pub fn input(&mut self, name: &str, fact: Fact) -> Result<ValueId, GraphError> {
        let id = self.define(name)?;
        self.values[id.index()].fact = fact;
        self.inputs.push(id);
        Ok(id)
    }

    /// Declares a constant (an initializer or a `Constant` node's value). f32 constants
    /// are canonicalized (subnormals flushed, one NaN) like every kernel input.
    ///
    /// # Errors
    /// [`GraphError::DuplicateValue`] if the name is already defined.
    pub fn constant(&mut self, name: &str, tensor: Tensor) -> Result<ValueId, GraphError> {
        let id = self.define(name)?;
        self.values[id.index()].fact = Fact::of_tensor(&tensor);
        self.constants.insert(id, Arc::new(crate::cpu::canonical_input(tensor)));
        Ok(id)
    }

    /// Whether a value of this name is already defined or referenced.
    pub fn has_value(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Adds a node reading values by name and defining `output`.
    pub fn node(&mut self, name: &str, op: Op, inputs: Vec<String>, output: &str) {
        self.nodes.push(PendingNode { name: name.to_owned(), op, inputs, output: output.to_owned() });
    }

    /// Marks a value as a graph output.
    pub fn output(&mut self, name: &str) {
        self.outputs.push(name.to_owned());
    }

    /// Attaches a metadata entry.
    pub fn metadata(&mut self, key: &str, value: &str) {
        self.metadata.push((key.to_owned(), value.to_owned()));
    }

    /// Validates, orders, infers and folds (see the module docs).
    ///
    /// # Errors
    /// Any [`GraphError`]; node errors name the node.
    pub fn build(mut self) -> Result<Graph, GraphError> {
        let pending = std::mem::take(&mut self.nodes);
        let mut nodes = Vec::with_capacity(pending.len());
        for p in &pending {
            let output = self.define(&p.output)?;
            nodes.push(Node { name: p.name.clone(), op: p.op.clone(), inputs: Vec::new(), output });
        }
        for (node, p) in nodes.iter_mut().zip(&pending) {
            for input in &p.inputs {
                let id = self.by_name.get(input.as_str()).copied().filter(|id| self.defined[id.index()]);
                let id = id.ok_or_else(|| GraphError::UndefinedValue { node: p.name.clone(), value: input.clone() })?;
                node.inputs.push(id);
            }
        }
        let outputs = self
            .outputs
            .iter()
            .map(|name| {
                self.by_name
                    .get(name.as_str())
                    .copied()
                    .filter(|id| self.defined[id.index()])
                    .ok_or_else(|| GraphError::UndefinedOutput(name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nodes = topological_order(nodes, &self.inputs, &self.constants, self.values.len())?;
        let mut graph = Graph {
            values: self.values,
            constants: self.constants,
            nodes,
            inputs: self.inputs,
            outputs,
            metadata: self.metadata,
        };
        fold::infer_and_fold(&mut graph)?;
        Ok(graph)
    }
}

/// Kahn's algorithm, stable with respect to the given order.
fn topological_order(
    nodes: Vec<Node>,
    inputs: &[ValueId],
    constants: &HashMap<ValueId, Arc<Tensor>>,
    value_count: usize,
) -> Result<Vec<Node>, GraphError> {
    let mut ready = vec![false; value_count];
    for id in inputs.iter().chain(constants.keys()) {
        ready[id.index()] = true;
    }
    let mut remaining: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(remaining.len());
    let mut progressed = true;
    while progressed {
        progressed = false;
        for slot in remaining.iter_mut() {
            let Some(node) = slot.as_ref() else { continue };
            if node.inputs.iter().all(|id| ready[id.index()]) {
                ready[node.output.index()] = true;
                ordered.extend(slot.take());
                progressed = true;
            }
        }
    }
    match remaining.into_iter().flatten().next() {
        Some(stuck) => Err(GraphError::Cycle(stuck.name)),
        None => Ok(ordered),
    }
}
