//! The executor's fusion and in-place paths give the bits of running every node alone.

use proptest::prelude::*;

use super::CpuExecutor;
use crate::ir::{ConvAttrs, Fact, Graph, GraphBuilder, Op, UnaryOp};
use crate::ops;
use crate::tensor::{DType, Tensor};
use crate::testutil::{SPECIALS, assert_bits, f32_vec, f32s, with_threads};

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
