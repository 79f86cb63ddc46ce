//! Conformance cases: small graphs with inputs, defined once per op family (in
//! `ops/<family>/cases.rs`) and run on both executors, whose outputs must agree bit for
//! bit. The GPU test suite runs all of them; `wasmnn selftest` runs the canaries on the
//! adapter in use.

mod data;

pub(crate) use data::Stream;

use std::sync::Arc;

pub use data::{SPECIALS, Values, ints, values};

use crate::cpu::CpuExecutor;
use crate::gpu::{GpuContext, GpuModel};
use crate::ir::{Fact, Graph, GraphBuilder, GraphError, Op};
use crate::tensor::{Tensor, TensorData};

/// One conformance case: a graph and its inputs.
#[derive(Debug, Clone)]
pub struct Case {
    /// The op family (`elementwise`, `matmul`, …).
    pub family: &'static str,
    /// Unique name within the family.
    pub name: String,
    /// The graph (usually one node).
    pub graph: Graph,
    /// Named inputs.
    pub inputs: Vec<(String, Tensor)>,
    /// Whether the adapter self-test runs it.
    pub canary: bool,
    /// The op kinds the case was built from (recorded before constant folding, which
    /// turns shape computations such as `Shape` of a known shape into constants).
    kinds: Vec<&'static str>,
}

/// An argument of a one-node case.
#[derive(Debug, Clone)]
pub enum Arg {
    /// A graph input (uploaded per run).
    Input(Tensor),
    /// A constant of the graph (needed where an op reads a value at load: shapes, axes).
    Constant(Tensor),
}

impl Case {
    /// `op` applied to `args` (inputs named `x0, x1, …`, constants `c0, c1, …`), output `y`.
    ///
    /// # Errors
    /// When the op rejects the arguments.
    pub fn single(family: &'static str, name: impl Into<String>, op: Op, args: Vec<Arg>) -> Result<Case, GraphError> {
        let mut builder = GraphBuilder::new();
        let mut names = Vec::new();
        let mut inputs = Vec::new();
        for (i, arg) in args.into_iter().enumerate() {
            match arg {
                Arg::Input(tensor) => {
                    let name = format!("x{i}");
                    builder.input(&name, Fact::fixed(tensor.dtype(), tensor.shape()))?;
                    inputs.push((name.clone(), tensor));
                    names.push(name);
                }
                Arg::Constant(tensor) => {
                    let name = format!("c{i}");
                    builder.constant(&name, tensor)?;
                    names.push(name);
                }
            }
        }
        let kinds = vec![op.kind_name()];
        builder.node("node", op, names, "y");
        builder.output("y");
        Ok(Case { family, name: name.into(), graph: builder.build()?, inputs, canary: false, kinds })
    }

    /// A case over a whole graph (several nodes).
    pub fn graph(family: &'static str, name: impl Into<String>, graph: Graph, inputs: Vec<(String, Tensor)>) -> Case {
        Case { family, name: name.into(), graph, inputs, canary: false, kinds: Vec::new() }
    }

    /// Marks the case as a self-test canary.
    #[must_use]
    pub fn canary(mut self) -> Self {
        self.canary = true;
        self
    }

    /// `family/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.family, self.name)
    }

    /// The op kinds the case exercises: those it was built from and those left in its
    /// graph.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds = self.kinds.clone();
        kinds.extend(self.graph.nodes().iter().map(|n| n.op.kind_name()));
        kinds
    }

    /// Runs the case on the CPU reference and on `gpu` and compares every output bit for
    /// bit.
    ///
    /// # Errors
    /// A message naming the first difference, or the failure of either executor.
    pub fn check(&self, gpu: &Arc<GpuContext>) -> Result<(), String> {
        let expected = CpuExecutor.run(&self.graph, self.inputs.clone()).map_err(|e| format!("CPU reference: {e}"))?;
        let model = GpuModel::new(Arc::clone(gpu), self.graph.clone()).map_err(|e| format!("GPU load: {e}"))?;
        let got = model.run(self.inputs.clone()).map_err(|e| format!("GPU run: {e}"))?;
        for ((name, e), (_, g)) in expected.iter().zip(&got) {
            first_difference(e, g).map_or(Ok(()), |d| Err(format!("output {name:?}: {d}")))?;
        }
        Ok(())
    }
}

/// Where two tensors first differ, if they do.
pub fn first_difference(expected: &Tensor, got: &Tensor) -> Option<String> {
    if expected.shape() != got.shape() || expected.dtype() != got.dtype() {
        return Some(format!(
            "expected {} {:?}, got {} {:?}",
            expected.dtype(),
            expected.shape(),
            got.dtype(),
            got.shape()
        ));
    }
    if expected.bits_eq(got) {
        return None;
    }
    let words = |t: &Tensor| -> Vec<u64> {
        match t.data() {
            TensorData::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as u64).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as u64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| u64::from(x)).collect(),
            TensorData::F16(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as u64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| u64::from(x)).collect(),
        }
    };
    let (e, g) = (words(expected), words(got));
    let differing = e.iter().zip(&g).filter(|(a, b)| a != b).count();
    let i = e.iter().zip(&g).position(|(a, b)| a != b)?;
    let show = |w: u64| match expected.data() {
        TensorData::F32(_) => format!("{:e} ({w:#010x})", f32::from_bits(w as u32)),
        _ => format!("{}", w as i64),
    };
    Some(format!("{differing} element(s) differ; first at {i}: expected {}, got {}", show(e[i]), show(g[i])))
}

/// Every family's cases.
///
/// # Errors
/// When a case cannot be built (a bug in its family's `cases.rs`).
pub fn all() -> Result<Vec<Case>, GraphError> {
    let mut cases = Vec::new();
    use crate::ops::{conv, elementwise, matmul, norm, pool, reduce, shape, softmax};
    let families = [
        elementwise::cases::cases,
        matmul::cases::cases,
        conv::cases::cases,
        norm::cases::cases,
        pool::cases::cases,
        softmax::cases::cases,
        reduce::cases::cases,
        shape::cases::cases,
    ];
    for family in families {
        cases.extend(family()?);
    }
    Ok(cases)
}
