//! The executor's fusion and in-place paths give the bits of running every node alone,
//! and a traced run shows every input and node output, in order, before anything reads it.

use proptest::prelude::*;

use super::CpuExecutor;
use crate::conformance::Case;
use crate::ir::{ConvAttrs, Fact, Graph, GraphBuilder, Op, UnaryOp};
use crate::ops;
use crate::tensor::{DType, Tensor};
use crate::testutil::{SPECIALS, assert_bits, f32_vec, f32s, with_threads};
use crate::trace::{LeafTensor, Tap, TapPoint};

const CHANNELS: usize = 6;
const SIDE: usize = 9;

/// `x → Conv → BatchNorm → HardSwish → Relu`, with the conv's own attributes; when
/// `expose` is set the BatchNorm output is also a graph output (which stops the fusion
/// there).
fn conv_chain(attrs: ConvAttrs, params: &[Vec<f32>; 6], expose: bool) -> Graph {
    let cg = CHANNELS / attrs.group;
    let [kh, kw] = attrs.kernel;
    let mut b = GraphBuilder::new();
    b.input("x", Fact::fixed(DType::F32, &[1, CHANNELS, SIDE, SIDE])).expect("input");
    let w = Tensor::from_f32(vec![CHANNELS, cg, kh, kw], params[0][..CHANNELS * cg * kh * kw].to_vec());
    b.constant("w", w.expect("w")).expect("constant");
    let vector = |i: usize| Tensor::from_f32(vec![CHANNELS], params[i][..CHANNELS].to_vec()).expect("vector");
    b.constant("bias", vector(1)).expect("constant");
    for (i, name) in ["scale", "shift", "mean"].into_iter().enumerate() {
        b.constant(name, vector(2 + i)).expect("constant");
    }
    let var: Vec<f32> = params[5][..CHANNELS].iter().map(|v| v.abs()).collect();
    b.constant("var", Tensor::from_f32(vec![CHANNELS], var).expect("var")).expect("constant");
    b.node("conv", Op::Conv(attrs), vec!["x".into(), "w".into(), "bias".into()], "c");
    let bn_inputs = ["c", "scale", "shift", "mean", "var"].map(String::from).to_vec();
    b.node("bn", Op::BatchNorm { epsilon: 1e-5 }, bn_inputs, "n");
    b.node("hswish", Op::Unary(UnaryOp::HardSwish), vec!["n".into()], "h");
    b.node("relu", Op::Unary(UnaryOp::Relu), vec!["h".into()], "y");
    if expose {
        b.output("n");
    }
    b.output("y");
    b.build().expect("graph")
}

/// Every node alone through [`ops::eval`], in order: the unfused reference.
fn node_by_node(graph: &Graph, x: &Tensor) -> Vec<Tensor> {
    let mut values: Vec<Option<Tensor>> = vec![None; graph.values().len()];
    values[graph.inputs()[0].index()] = Some(super::canonical_input(x.clone()));
    for node in graph.nodes() {
        let args: Vec<&Tensor> = node
            .inputs
            .iter()
            .map(|&id| values[id.index()].as_ref().or_else(|| graph.constant(id).map(AsRef::as_ref)).expect("value"))
            .collect();
        values[node.output.index()] = Some(ops::eval(&node.op, &args).expect("node runs"));
    }
    graph.outputs().iter().map(|&id| values[id.index()].clone().expect("output")).collect()
}

fn attrs(kernel: usize, stride: usize, pad: usize, group: usize) -> ConvAttrs {
    ConvAttrs { kernel: [kernel; 2], strides: [stride; 2], pads: [pad; 4], dilations: [1, 1], group }
}

/// The conv variants with distinct CPU kernels: pointwise (MatMul in place), 3×3
/// padded stride 2 (tap matrix and border), depthwise.
fn variants() -> [ConvAttrs; 3] {
    [attrs(1, 1, 0, 1), attrs(3, 2, 1, 2), attrs(3, 1, 1, CHANNELS)]
}

fn check_fused_equals_unfused(params: &[Vec<f32>; 6], x: Vec<f32>) {
    let x = Tensor::from_f32(vec![1, CHANNELS, SIDE, SIDE], x).expect("x");
    for attrs in variants() {
        for expose in [false, true] {
            let graph = conv_chain(attrs.clone(), params, expose);
            let expected = node_by_node(&graph, &x);
            for threads in [1, 2, 7] {
                let got = with_threads(threads, || CpuExecutor.run(&graph, vec![("x".into(), x.clone())]));
                let got = got.expect("graph runs");
                assert_eq!(got.len(), expected.len());
                for ((_, g), e) in got.iter().zip(&expected) {
                    assert_bits(&f32s(g), &f32s(e));
                }
            }
        }
    }
}

#[test]
fn fusion_applies_to_conv_chains_only_where_nothing_else_reads() {
    let params: [Vec<f32>; 6] = std::array::from_fn(|_| vec![0.5; CHANNELS * CHANNELS * 9]);
    let plain = conv_chain(attrs(1, 1, 0, 1), &params, false);
    let plan = super::fusion::FusionPlan::new(&plain);
    assert_eq!(plan.followers(0), &[1, 2, 3]);
    assert!((1..4).all(|i| plan.is_absorbed(i)));
    let exposed = conv_chain(attrs(1, 1, 0, 1), &params, true);
    let plan = super::fusion::FusionPlan::new(&exposed);
    assert_eq!(plan.followers(0), &[1], "the exposed BatchNorm output ends the chain after it");
    assert!(!plan.is_absorbed(2));
}

#[test]
fn fused_chain_on_special_values_matches_node_by_node() {
    let cycle =
        |offset: usize, n: usize| -> Vec<f32> { (0..n).map(|i| SPECIALS[(i + offset) % SPECIALS.len()]).collect() };
    let params: [Vec<f32>; 6] = std::array::from_fn(|i| {
        let mut v = cycle(i, CHANNELS * CHANNELS * 9);
        v.iter_mut().skip(1).step_by(2).for_each(|x| *x = 0.25 * (i as f32 + 1.0));
        v
    });
    check_fused_equals_unfused(&params, cycle(3, CHANNELS * SIDE * SIDE));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn fused_chain_matches_node_by_node(
        w in f32_vec(CHANNELS * CHANNELS * 9),
        vectors in proptest::collection::vec(f32_vec(CHANNELS), 5),
        x in f32_vec(CHANNELS * SIDE * SIDE),
    ) {
        let mut params: [Vec<f32>; 6] = Default::default();
        params[0] = w;
        for (slot, v) in params[1..].iter_mut().zip(vectors) {
            *slot = v;
        }
        check_fused_equals_unfused(&params, x);
    }
}

#[test]
fn run_until_stops_between_nodes_when_asked() {
    let values =
        |n: usize, seed: f32| (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02 + seed).collect::<Vec<f32>>();
    let params: [Vec<f32>; 6] = std::array::from_fn(|i| values(64, i as f32));
    let graph = conv_chain(attrs(1, 1, 0, 1), &params, true);
    let x = Tensor::from_f32(vec![1, CHANNELS, SIDE, SIDE], values(CHANNELS * SIDE * SIDE, 9.0)).expect("x");
    let asked = std::cell::Cell::new(0);
    let stop_at_second = || {
        asked.set(asked.get() + 1);
        asked.get() >= 2
    };
    let result = CpuExecutor.run_until(&graph, vec![("x".into(), x.clone())], &stop_at_second);
    assert!(matches!(result, Err(super::ExecError::Cancelled { .. })), "{result:?}");
    assert_eq!(asked.get(), 2, "asked once per node until told to stop");
    assert!(CpuExecutor.run_until(&graph, vec![("x".into(), x)], &|| false).is_ok());
}

/// Flips the lowest mantissa bit of the first element of an f32 tensor; whether it did.
fn flip_first(tensor: &mut Tensor) -> bool {
    match tensor.f32_mut().and_then(|data| data.first_mut()) {
        Some(first) => {
            *first = f32::from_bits(first.to_bits() ^ 1);
            true
        }
        None => false,
    }
}

/// Records every leaf of a traced run as the tap leaves it, flipping leaf `flip` first.
#[derive(Default)]
struct Recorder {
    labels: Vec<String>,
    leaves: Vec<Tensor>,
    flip: Option<usize>,
}

impl Tap for Recorder {
    fn leaf(&mut self, at: TapPoint<'_>, tensor: LeafTensor<'_>) {
        let LeafTensor::Tensor(tensor) = tensor else { panic!("a graph run shows whole tensors") };
        if self.flip == Some(self.leaves.len()) {
            flip_first(tensor);
        }
        self.labels.push(match at {
            TapPoint::Input { index, name } => format!("input {index} {name}"),
            TapPoint::Node { node, name, op } => format!("node {node} {name} {op}"),
            TapPoint::Llm { .. } => panic!("an LLM tap point in a graph run"),
        });
        self.leaves.push(tensor.clone());
    }
}

/// The labels a traced run of `graph` must show, in order.
fn expected_labels(graph: &Graph) -> Vec<String> {
    let inputs = graph.inputs().iter().enumerate().map(|(i, &id)| format!("input {i} {}", graph.value(id).name));
    let nodes =
        graph.nodes().iter().enumerate().map(|(i, node)| format!("node {i} {} {}", node.name, node.op.kind_name()));
    inputs.chain(nodes).collect()
}

/// Every leaf of `graph` computed node by node with [`ops::eval`] (no fusion, no reuse),
/// leaf `flip` flipped (by [`flip_first`]) before anything reads it.
fn leaves_node_by_node(graph: &Graph, inputs: &[(String, Tensor)], flip: Option<usize>) -> Vec<Tensor> {
    let mut values: Vec<Option<Tensor>> = vec![None; graph.values().len()];
    let mut leaves: Vec<Tensor> = Vec::new();
    let record = |mut tensor: Tensor, leaves: &mut Vec<Tensor>| {
        if flip == Some(leaves.len()) {
            flip_first(&mut tensor);
        }
        leaves.push(tensor.clone());
        tensor
    };
    for &id in graph.inputs() {
        let (_, tensor) = inputs.iter().find(|(name, _)| *name == graph.value(id).name).expect("input supplied");
        values[id.index()] = Some(record(super::canonical_input(tensor.clone()), &mut leaves));
    }
    for node in graph.nodes() {
        let args: Vec<&Tensor> = node
            .inputs
            .iter()
            .map(|&id| values[id.index()].as_ref().or_else(|| graph.constant(id).map(AsRef::as_ref)).expect("value"))
            .collect();
        let out = ops::eval(&node.op, &args).expect("node runs");
        values[node.output.index()] = Some(record(out, &mut leaves));
    }
    leaves
}

/// The conformance cases and conv chains (fused on the plain path), with their inputs.
fn traced_cases() -> Vec<Case> {
    let mut cases = crate::conformance::all().expect("conformance cases build");
    let values = |n: usize, seed: f32| (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02 + seed).collect();
    let params: [Vec<f32>; 6] = std::array::from_fn(|i| values(CHANNELS * CHANNELS * 9, i as f32));
    let x = Tensor::from_f32(vec![1, CHANNELS, SIDE, SIDE], values(CHANNELS * SIDE * SIDE, 0.3)).expect("x");
    for (i, attrs) in variants().into_iter().enumerate() {
        for expose in [false, true] {
            let graph = conv_chain(attrs.clone(), &params, expose);
            assert!(!super::fusion::FusionPlan::new(&graph).followers(0).is_empty(), "the plain run fuses");
            cases.push(Case::graph("fusion", format!("chain {i} {expose}"), graph, vec![("x".into(), x.clone())]));
        }
    }
    cases
}

fn traced(graph: &Graph, inputs: Vec<(String, Tensor)>, flip: Option<usize>) -> (Vec<(String, Tensor)>, Recorder) {
    let mut recorder = Recorder { flip, ..Recorder::default() };
    let outputs = CpuExecutor.run_traced(graph, inputs, &|| false, &mut recorder).expect("traced run");
    (outputs, recorder)
}

/// Each graph output is the last leaf holding its value (an input or a node output).
fn assert_outputs_are_leaves(id: &str, graph: &Graph, outputs: &[(String, Tensor)], leaves: &[Tensor]) {
    for (&value, (_, output)) in graph.outputs().iter().zip(outputs) {
        let leaf = match graph.inputs().iter().position(|&i| i == value) {
            Some(i) => Some(i),
            None => graph.nodes().iter().position(|node| node.output == value).map(|j| graph.inputs().len() + j),
        };
        match leaf {
            Some(leaf) => assert!(output.bits_eq(&leaves[leaf]), "{id}: output is not leaf {leaf}"),
            None => assert!(graph.constant(value).is_some(), "{id}: an output that is neither leaf nor constant"),
        }
    }
}

#[test]
fn traced_runs_give_the_plain_outputs_and_show_every_leaf_in_order() {
    for case in traced_cases() {
        let (id, graph, inputs) = (case.id(), case.graph, case.inputs);
        let plain = CpuExecutor.run(&graph, inputs.clone()).expect("plain run");
        let (outputs, recorder) = traced(&graph, inputs.clone(), None);
        assert_eq!(outputs.len(), plain.len(), "{id}");
        for ((name, got), (want_name, want)) in outputs.iter().zip(&plain) {
            assert_eq!(name, want_name, "{id}");
            assert!(got.bits_eq(want), "{id}: output {name:?} differs from the plain run");
        }
        assert_eq!(recorder.leaves.len(), graph.inputs().len() + graph.nodes().len(), "{id}");
        assert_eq!(recorder.labels, expected_labels(&graph), "{id}");
        let reference = leaves_node_by_node(&graph, &inputs, None);
        for (i, (got, want)) in recorder.leaves.iter().zip(&reference).enumerate() {
            assert!(got.bits_eq(want), "{id}: leaf {i} ({}) differs from node-by-node", recorder.labels[i]);
        }
        assert_outputs_are_leaves(&id, &graph, &outputs, &recorder.leaves);
        // Over the graph specialized to the input shapes (what callers trace): the same.
        let shapes: Vec<Vec<usize>> = graph
            .inputs()
            .iter()
            .map(|&i| inputs.iter().find(|(name, _)| *name == graph.value(i).name).expect("input").1.shape().to_vec())
            .collect();
        let specialized = graph.specialize_for(&shapes).expect("specializes");
        let (special_outputs, _) = traced(&specialized, inputs.clone(), None);
        assert!(special_outputs.iter().zip(&plain).all(|((_, a), (_, b))| a.bits_eq(b)), "{id}: specialized");
        if !shapes.is_empty() {
            assert!(graph.specialize_for(&shapes[1..]).is_err(), "{id}: too few shapes");
        }
        assert!(graph.specialize_for(&[shapes.clone(), vec![vec![1]]].concat()).is_err(), "{id}: too many shapes");
        // Inputs in any order: the tap sees them in graph order.
        let reversed: Vec<_> = inputs.iter().rev().cloned().collect();
        let (_, again) = traced(&graph, reversed, None);
        assert_eq!(again.labels, recorder.labels, "{id}");
        assert!(again.leaves.iter().zip(&recorder.leaves).all(|(a, b)| a.bits_eq(b)), "{id}");
    }
}

#[test]
fn a_perturbed_leaf_changes_what_reads_it_and_nothing_before() {
    let mut perturbed_runs = 0;
    for case in traced_cases() {
        let (id, graph, inputs) = (case.id(), case.graph, case.inputs);
        let (_, clean) = traced(&graph, inputs.clone(), None);
        for k in 0..clean.leaves.len() {
            if !flip_first(&mut clean.leaves[k].clone()) {
                continue;
            }
            let (outputs, run) = traced(&graph, inputs.clone(), Some(k));
            let label = &clean.labels[k];
            for i in 0..k {
                assert!(run.leaves[i].bits_eq(&clean.leaves[i]), "{id}: flipping leaf {k} ({label}) changed leaf {i}");
            }
            assert!(!run.leaves[k].bits_eq(&clean.leaves[k]), "{id}: leaf {k} ({label}) was not flipped");
            // Later leaves are exactly what the nodes compute from the flipped value.
            let reference = leaves_node_by_node(&graph, &inputs, Some(k));
            for (i, (got, want)) in run.leaves.iter().zip(&reference).enumerate().skip(k) {
                assert!(got.bits_eq(want), "{id}: flipping leaf {k} ({label}): leaf {i} is not node-by-node's");
            }
            assert_outputs_are_leaves(&id, &graph, &outputs, &run.leaves);
            perturbed_runs += 1;
        }
    }
    assert!(perturbed_runs > 100, "only {perturbed_runs} perturbed runs");
}
