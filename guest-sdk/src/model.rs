//! Models: load by name, run, or keep an execution context across computes.
//!
//! The steps of one run, all through wasi-nn: `load-by-name` once per [`Model`], then
//! `init-execution-context` (a fresh one per [`Model::run`], or one kept in a
//! [`Session`]), then `compute` with named input tensors, whose named outputs come back
//! as [`Outputs`].

use std::fmt;

use crate::bindings::wasi::nn::{graph, inference};
use crate::{Error, ErrorCode, Tensor};

/// A model the function declares in its `wasmnn.toml`, loaded by that name.
///
/// Loading is cheap for the guest: the host has already loaded and compiled the graph, and
/// the model's bytes never enter the sandbox.
pub struct Model {
    graph: graph::Graph,
    name: String,
}

impl Model {
    /// Loads the model the manifest declares as `name` (wasi-nn `load-by-name`).
    ///
    /// # Errors
    /// The host's error, typically `not-found` when the manifest declares no such model.
    pub fn load(name: &str) -> Result<Self, Error> {
        let graph = graph::load_by_name(name)?;
        Ok(Self { graph, name: name.to_string() })
    }

    /// The name the model was loaded by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the model once on the named `inputs`, in a fresh execution context.
    ///
    /// `inputs` is anything that iterates over `(name, tensor)` pairs, for example
    /// `[("x", tensor)]`; the tensors are handed to the host.
    ///
    /// # Errors
    /// The host's error: `invalid-argument` for a missing, unknown or badly shaped input,
    /// `too-large` past the call's tensor budget, `runtime-error` if the model fails.
    pub fn run<N: Into<String>>(&self, inputs: impl IntoIterator<Item = (N, Tensor)>) -> Result<Outputs, Error> {
        self.session()?.compute(inputs)
    }

    /// Starts an execution context that lives until the [`Session`] is dropped, for models
    /// that keep state between computes (an LLM's KV cache).
    ///
    /// # Errors
    /// The host's error if it cannot start a context.
    pub fn session(&self) -> Result<Session, Error> {
        Ok(Session { context: self.graph.init_execution_context()? })
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model").field("name", &self.name).finish_non_exhaustive()
    }
}

/// One execution context of a [`Model`]: state the host keeps between computes.
///
/// For a stateless model use [`Model::run`]; a session is for models whose context
/// carries state from one compute to the next, as an LLM's KV cache does (each compute
/// takes the new token ids and returns logits).
pub struct Session {
    context: inference::GraphExecutionContext,
}

impl Session {
    /// Runs one compute step on the named `inputs` (see [`Model::run`]).
    ///
    /// # Errors
    /// The host's error, as for [`Model::run`].
    pub fn compute<N: Into<String>>(
        &mut self,
        inputs: impl IntoIterator<Item = (N, Tensor)>,
    ) -> Result<Outputs, Error> {
        let inputs = inputs.into_iter().map(|(name, tensor)| (name.into(), tensor.into_host())).collect();
        let outputs = self.context.compute(inputs)?;
        Ok(Outputs { tensors: outputs.into_iter().map(|(name, tensor)| (name, Tensor::from_host(tensor))).collect() })
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// The named output tensors of one compute, in the order the host returned them (the
/// graph's output order).
#[derive(Debug)]
pub struct Outputs {
    tensors: Vec<(String, Tensor)>,
}

impl Outputs {
    /// The output called `name`.
    ///
    /// # Errors
    /// `not-found` if there is no such output; the message lists the outputs there are.
    pub fn get(&self, name: &str) -> Result<&Tensor, Error> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, tensor)| tensor).ok_or_else(|| {
            let names: Vec<&str> = self.tensors.iter().map(|(n, _)| n.as_str()).collect();
            Error::new(ErrorCode::NotFound, format!("no output named {name:?} (the outputs are {names:?})"))
        })
    }

    /// The outputs with their names, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { inner: self.tensors.iter() }
    }

    /// The number of outputs.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no outputs.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
}

impl IntoIterator for Outputs {
    type Item = (String, Tensor);
    type IntoIter = std::vec::IntoIter<(String, Tensor)>;

    /// Takes the outputs with their names, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.tensors.into_iter()
    }
}

impl<'a> IntoIterator for &'a Outputs {
    type Item = (&'a str, &'a Tensor);
    type IntoIter = Iter<'a>;

    /// Iterates over the outputs with their names, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An iterator over [`Outputs`] by reference: `(name, tensor)` pairs in order.
#[derive(Debug)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, (String, Tensor)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a Tensor);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(name, tensor)| (name.as_str(), tensor))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_output_names_the_outputs_there_are() {
        let outputs = Outputs { tensors: Vec::new() };
        let error = outputs.get("y").expect_err("no outputs");
        assert_eq!(error.to_string(), r#"not-found: no output named "y" (the outputs are [])"#);
        assert!(outputs.is_empty());
        assert_eq!(outputs.iter().len(), 0);
    }
}
