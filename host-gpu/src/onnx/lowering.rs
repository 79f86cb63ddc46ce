//! The state lowerings write into: the IR [`GraphBuilder`], plus what the importer must
//! know while lowering (facts of inputs and constants, values of small constants, the
//! names in use).
//!
//! Constant *values* are needed where ONNX passes attributes as inputs (Clip bounds,
//! Squeeze/Unsqueeze/Reduce axes, Slice lengths); they are small, so only constants of up
//! to [`KEEP_VALUE_MAX`] elements are kept here. Facts serve defaults that depend on a
//! shape (Conv kernel from the weight, Transpose's reversed perm).

use std::collections::{HashMap, HashSet};

use super::OnnxError;
use super::node::NodeCtx;
use crate::ir::{Fact, Graph, GraphBuilder, Op};
use crate::tensor::Tensor;

/// Largest constant (in elements) whose value lowerings can read.
const KEEP_VALUE_MAX: usize = 4096;

/// What is known about an input or constant while lowering.
struct Known {
    fact: Fact,
    /// Whether it is a constant (rather than a graph input).
    constant: bool,
    /// The value of a constant of at most [`KEEP_VALUE_MAX`] elements.
    value: Option<Tensor>,
}

/// The graph under construction and the importer's knowledge about it.
pub(super) struct Lowering {
    builder: GraphBuilder,
    known: HashMap<String, Known>,
    taken: HashSet<String>,
}

impl Lowering {
    /// A lowering whose fresh names avoid every name in `names` (the model's values).
    pub(super) fn new<'a>(names: impl Iterator<Item = &'a String>) -> Self {
        Lowering { builder: GraphBuilder::new(), known: HashMap::new(), taken: names.cloned().collect() }
    }

    /// Declares a graph input.
    pub(super) fn input(&mut self, name: &str, fact: Fact) -> Result<(), OnnxError> {
        self.builder.input(name, fact.clone())?;
        self.known.insert(name.to_owned(), Known { fact, constant: false, value: None });
        Ok(())
    }

    /// Declares a constant (canonicalized by the builder; the kept copy matches it).
    pub(super) fn constant(&mut self, name: &str, tensor: Tensor) -> Result<(), OnnxError> {
        let value = (tensor.len() <= KEEP_VALUE_MAX).then(|| crate::cpu::canonical_input(tensor.clone()));
        let fact = Fact::of_tensor(&tensor);
        self.builder.constant(name, tensor)?;
        self.known.insert(name.to_owned(), Known { fact, constant: true, value });
        self.taken.insert(name.to_owned());
        Ok(())
    }

    /// Whether `name` is a constant.
    pub(super) fn is_constant(&self, name: &str) -> bool {
        self.known.get(name).is_some_and(|k| k.constant)
    }

    /// The value of a small constant.
    pub(super) fn value(&self, name: &str) -> Option<&Tensor> {
        self.known.get(name)?.value.as_ref()
    }

    /// The fact of a graph input or constant.
    pub(super) fn fact(&self, name: &str) -> Option<&Fact> {
        Some(&self.known.get(name)?.fact)
    }

    /// A value name derived from the node's, unused so far: `<node>/<suffix>`.
    pub(super) fn fresh(&mut self, node: &NodeCtx<'_>, suffix: &str) -> String {
        let base = format!("{}/{suffix}", node.name());
        let mut name = base.clone();
        let mut n = 1;
        while self.taken.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.taken.insert(name.clone());
        name
    }

    /// Emits the node's final IR node, defining its ONNX output.
    pub(super) fn emit(&mut self, node: &NodeCtx<'_>, op: Op, inputs: &[&str]) {
        self.builder.node(node.name(), op, inputs.iter().map(|&s| s.to_owned()).collect(), node.output());
    }

    /// Emits an intermediate IR node named after `node` and returns its output name.
    pub(super) fn emit_step(&mut self, node: &NodeCtx<'_>, suffix: &str, op: Op, inputs: &[&str]) -> String {
        let output = self.fresh(node, suffix);
        self.builder.node(&output, op, inputs.iter().map(|&s| s.to_owned()).collect(), &output);
        output
    }

    /// Emits the node's final IR node when `last`, else an intermediate one; returns the
    /// output name either way.
    pub(super) fn emit_last_or_step(
        &mut self,
        node: &NodeCtx<'_>,
        last: bool,
        suffix: &str,
        op: Op,
        inputs: &[&str],
    ) -> String {
        if last {
            self.emit(node, op, inputs);
            node.output().to_owned()
        } else {
            self.emit_step(node, suffix, op, inputs)
        }
    }

    /// Declares a constant named after `node` and returns its name.
    pub(super) fn step_constant(
        &mut self,
        node: &NodeCtx<'_>,
        suffix: &str,
        tensor: Tensor,
    ) -> Result<String, OnnxError> {
        let name = self.fresh(node, suffix);
        self.constant(&name, tensor)?;
        Ok(name)
    }

    /// Marks a graph output.
    pub(super) fn output(&mut self, name: &str) {
        self.builder.output(name);
    }

    /// Attaches a metadata entry.
    pub(super) fn metadata(&mut self, key: &str, value: &str) {
        self.builder.metadata(key, value);
    }

    /// Validates, infers and folds the graph.
    pub(super) fn build(self) -> Result<Graph, OnnxError> {
        Ok(self.builder.build()?)
    }
}
