//! Lowerings: the IR nodes each ONNX op becomes, checked by structure, by inferred facts
//! and, where the kernels exist, by running the graph against a naive reference.

use super::{
    f32_info, f32_tensor, f32s, float, graph, i64_tensor, int, ints, load_err, load_graph, node, ops, run, string,
    tensor_attr,
};
use crate::ir::{BinaryOp, ConvAttrs, Fact, Op, PoolAttrs, PoolKind, ReduceKind, UnaryOp};
use crate::onnx::OnnxError;
use crate::onnx::proto::{TensorProto, data_type};
use crate::tensor::{DType, Tensor};

/// The message of an [`OnnxError::Invalid`], checking the node name.
fn invalid(err: OnnxError, expected_node: &str) -> String {
    match err {
        OnnxError::Invalid { node, message } if node == expected_node => message,
        other => panic!("expected an invalid-node error for {expected_node}, got {other:?}"),
    }
}

fn output_fact(g: &crate::ir::Graph) -> &Fact {
    &g.value(g.outputs()[0]).fact
}

#[test]
fn gemm_becomes_matmul_scale_and_add() {
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [1.0, 0.0, 2.0, -1.0, 1.0, 0.5, 0.0, 3.0, -2.0, 1.0, 1.0, 1.0];
    let c = [1.0, 2.0, 3.0, 4.0];
    let nodes =
        vec![node("Gemm", &["a", "b", "c"], &["y"], vec![float("alpha", 2.0), float("beta", 0.5), int("transB", 1)])];
    let inits = vec![f32_tensor("b", &[4, 3], &b), f32_tensor("c", &[4], &c)];
    let g = load_graph(13, graph(nodes, inits, vec![f32_info("a", &["2", "3"])], &["y"]));
    // B' and beta * C are folded at load.
    assert_eq!(ops(&g), [Op::MatMul, Op::Binary(BinaryOp::Mul), Op::Binary(BinaryOp::Add)]);
    let y = run(&g, &[("a", f32s(&[2, 3], &a))]);
    let mut expected = Vec::new();
    for i in 0..2 {
        for j in 0..4 {
            let dot: f32 = (0..3).map(|k| a[i * 3 + k] * b[j * 3 + k]).sum();
            expected.push(2.0 * dot + 0.5 * c[j]);
        }
    }
    assert!(y.bits_eq(&f32s(&[2, 4], &expected)), "{:?}", y.as_f32());
}

#[test]
fn plain_gemm_is_one_matmul() {
    let nodes = vec![node("Gemm", &["a", "b"], &["y"], vec![int("transA", 1)])];
    let inputs = vec![f32_info("a", &["3", "2"]), f32_info("b", &["3", "4"])];
    let g = load_graph(13, graph(nodes, vec![], inputs, &["y"]));
    assert_eq!(ops(&g), [Op::Transpose { perm: vec![1, 0] }, Op::MatMul]);
    assert_eq!(g.nodes()[0].name, "Gemm:y/a_transposed");
    assert_eq!(output_fact(&g), &Fact::fixed(DType::F32, &[2, 4]));
}

#[test]
fn int8_weights_are_dequantized_at_load() {
    let q = TensorProto {
        name: "w_q".into(),
        dims: vec![2, 2],
        data_type: data_type::INT8,
        raw_data: vec![1, 0xfe, 3, 4],
        ..Default::default()
    };
    let nodes = vec![
        node("Cast", &["w_q"], &["w_f"], vec![int("to", i64::from(data_type::FLOAT))]),
        node("Mul", &["w_f", "scale"], &["w"], vec![]),
        node("MatMul", &["x", "w"], &["y"], vec![]),
    ];
    let inits = vec![q, f32_tensor("scale", &[1, 2], &[0.5, 0.25])];
    let g = load_graph(17, graph(nodes, inits, vec![f32_info("x", &["1", "2"])], &["y"]));
    assert_eq!(ops(&g), [Op::MatMul]);
    let w = g.constant(g.nodes()[0].inputs[1]).unwrap();
    assert!(w.bits_eq(&f32s(&[2, 2], &[0.5, -0.5, 1.5, 1.0])));
    assert_eq!(g.constant_stats(), (1, 16));
}

#[test]
fn variadic_max_and_sum_chain_binary_nodes() {
    let nodes = vec![node("Max", &["a", "b", "c"], &["m"], vec![]), node("Sum", &["m"], &["y"], vec![])];
    let inputs = ["a", "b", "c"].map(|n| f32_info(n, &["2"])).to_vec();
    let g = load_graph(13, graph(nodes, vec![], inputs, &["y"]));
    assert_eq!(ops(&g), [Op::Binary(BinaryOp::Max), Op::Binary(BinaryOp::Max), Op::Unary(UnaryOp::Identity)]);
    assert_eq!(g.nodes()[0].name, "Max:m/partial");
    let y = run(&g, &[("a", f32s(&[2], &[1.0, 5.0])), ("b", f32s(&[2], &[3.0, 2.0])), ("c", f32s(&[2], &[2.0, 4.0]))]);
    assert!(y.bits_eq(&f32s(&[2], &[3.0, 5.0])));
}

#[test]
fn constant_nodes_become_constants() {
    let value = f32_tensor("", &[2], &[1.0, 2.0]);
    let nodes = vec![
        node("Constant", &[], &["a"], vec![tensor_attr("value", value)]),
        node("Constant", &[], &["b"], vec![float("value_float", 0.5)]),
        node("Add", &["a", "b"], &["y"], vec![]),
    ];
    let g = load_graph(13, graph(nodes, vec![], vec![], &["y"]));
    assert!(g.nodes().is_empty());
    assert!(g.constant(g.outputs()[0]).unwrap().bits_eq(&f32s(&[2], &[1.5, 2.5])));
    let two = vec![node("Constant", &[], &["a"], vec![int("value_int", 1), int("value_float", 1)])];
    let message = invalid(load_err(13, graph(two, vec![], vec![], &["a"])), "Constant:a");
    assert_eq!(message, r#"constant needs exactly one value attribute, got ["value_int", "value_float"]"#);
}

#[test]
fn clip_reads_bounds_from_constants_or_attributes() {
    let clip = |g: crate::ir::Graph| ops(&g).remove(0);
    let nodes = vec![node("Clip", &["x", "lo", ""], &["y"], vec![])];
    let inits = vec![f32_tensor("lo", &[], &[-1.0])];
    let g = load_graph(13, graph(nodes, inits, vec![f32_info("x", &["2"])], &["y"]));
    assert_eq!(clip(g), Op::Unary(UnaryOp::Clip { min: -1.0, max: f32::INFINITY }));
    let nodes = vec![node("Clip", &["x"], &["y"], vec![float("max", 6.0)])];
    let g = load_graph(9, graph(nodes, vec![], vec![f32_info("x", &["2"])], &["y"]));
    assert_eq!(clip(g), Op::Unary(UnaryOp::Clip { min: f32::NEG_INFINITY, max: 6.0 }));
    let nodes = vec![node("Clip", &["x", "x"], &["y"], vec![])];
    let message = invalid(load_err(13, graph(nodes, vec![], vec![f32_info("x", &[])], &["y"])), "Clip:y");
    assert_eq!(message, r#"input 1 must be a small constant: "x""#);
}

#[test]
fn hard_sigmoid_and_dropout_defaults() {
    let nodes = vec![node("HardSigmoid", &["x"], &["h"], vec![]), node("Dropout", &["h", "", ""], &["y"], vec![])];
    let g = load_graph(15, graph(nodes, vec![], vec![f32_info("x", &["2"])], &["y"]));
    assert_eq!(ops(&g), [Op::Unary(UnaryOp::HardSigmoid { alpha: 0.2, beta: 0.5 }), Op::Unary(UnaryOp::Identity)]);
    let training = bool_true();
    let nodes = vec![node("Dropout", &["x", "", "t"], &["y"], vec![])];
    let message = invalid(load_err(15, graph(nodes, vec![training], vec![f32_info("x", &[])], &["y"])), "Dropout:y");
    assert_eq!(message, "dropout in training mode is not supported");
}

fn bool_true() -> TensorProto {
    TensorProto { name: "t".into(), data_type: data_type::BOOL, raw_data: vec![1], ..Default::default() }
}

#[test]
fn slice_fills_omitted_axes_and_steps() {
    let x: Vec<f32> = (0..24u8).map(f32::from).collect();
    let nodes = vec![node("Slice", &["x", "starts", "ends"], &["y"], vec![])];
    let inits = vec![i64_tensor("starts", &[2], &[1, 2]), i64_tensor("ends", &[2], &[3, 100])];
    let g = load_graph(13, graph(nodes, inits, vec![f32_info("x", &["4", "6"])], &["y"]));
    let y = run(&g, &[("x", f32s(&[4, 6], &x))]);
    assert!(y.bits_eq(&f32s(&[2, 4], &[8.0, 9.0, 10.0, 11.0, 14.0, 15.0, 16.0, 17.0])), "{:?}", y.as_f32());
    let attrs = vec![ints("starts", &[1]), ints("ends", &[-1]), ints("axes", &[1])];
    let g = load_graph(
        9,
        graph(vec![node("Slice", &["x"], &["y"], attrs)], vec![], vec![f32_info("x", &["4", "6"])], &["y"]),
    );
    assert_eq!(run(&g, &[("x", f32s(&[4, 6], &x))]).shape(), [4, 4]);
    let nodes = vec![node("Slice", &["x", "x", "x"], &["y"], vec![])];
    let message = invalid(load_err(13, graph(nodes, vec![], vec![f32_info("x", &["1"])], &["y"])), "Slice:y");
    assert_eq!(message, "slice without axes or steps needs constant starts or ends");
}

#[test]
fn axes_move_from_attributes_to_inputs() {
    let x = || vec![f32_info("x", &["2", "1", "3"])];
    let nodes = vec![node("Squeeze", &["x"], &["s"], vec![]), node("Unsqueeze", &["s", "axes"], &["y"], vec![])];
    let g = load_graph(13, graph(nodes, vec![i64_tensor("axes", &[1], &[0])], x(), &["y"]));
    assert_eq!(output_fact(&g), &Fact::fixed(DType::F32, &[1, 2, 3]));
    let nodes = vec![
        node("Squeeze", &["x"], &["s"], vec![ints("axes", &[1])]),
        node("Unsqueeze", &["s"], &["y"], vec![ints("axes", &[-1])]),
    ];
    let g = load_graph(11, graph(nodes, vec![], x(), &["y"]));
    assert_eq!(output_fact(&g), &Fact::fixed(DType::F32, &[2, 3, 1]));
}

#[test]
fn reductions_read_axes_and_keepdims() {
    let x = || vec![f32_info("x", &["2", "3", "4"])];
    let nodes = vec![node("ReduceSum", &["x", "axes"], &["y"], vec![int("keepdims", 0)])];
    let g = load_graph(13, graph(nodes, vec![i64_tensor("axes", &[1], &[1])], x(), &["y"]));
    assert_eq!(ops(&g), [Op::Reduce { kind: ReduceKind::Sum, axes: vec![1], keepdims: false }]);
    assert_eq!(output_fact(&g), &Fact::fixed(DType::F32, &[2, 4]));
    let nodes = vec![node("ReduceMean", &["x"], &["y"], vec![ints("axes", &[-1])])];
    let g = load_graph(17, graph(nodes, vec![], x(), &["y"]));
    assert_eq!(output_fact(&g), &Fact::fixed(DType::F32, &[2, 3, 1]));
    let nodes = vec![node("ReduceMax", &["x"], &["y"], vec![int("noop_with_empty_axes", 1)])];
    let g = load_graph(18, graph(nodes, vec![], x(), &["y"]));
    assert_eq!(ops(&g), [Op::Unary(UnaryOp::Identity)]);
}

#[test]
fn softmax_before_opset_13_flattens_at_the_axis() {
    let x: Vec<f32> = (0..24u8).map(|i| f32::from(i % 7) * 0.25).collect();
    let nodes = vec![node("Softmax", &["x"], &["y"], vec![int("axis", 1)])];
    let g = load_graph(11, graph(nodes, vec![], vec![f32_info("x", &["2", "3", "4"])], &["y"]));
    assert_eq!(ops(&g).len(), 3, "flatten, softmax and reshape (the shape folds)");
    let y = run(&g, &[("x", f32s(&[2, 3, 4], &x))]);
    assert_eq!(y.shape(), [2, 3, 4]);
    for (row, out) in x.chunks(12).zip(y.as_f32().unwrap().chunks(12)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f64> = row.iter().map(|&v| libm_free_exp(f64::from(v - max))).collect();
        let total: f64 = exps.iter().sum();
        for (e, &o) in exps.iter().zip(out) {
            assert!((e / total - f64::from(o)).abs() < 1e-6, "{o} vs {}", e / total);
        }
    }
    let nodes = vec![node("Softmax", &["x"], &["y"], vec![int("axis", 2)])];
    let g = load_graph(11, graph(nodes, vec![], vec![f32_info("x", &["2", "3", "4"])], &["y"]));
    assert_eq!(ops(&g), [Op::Softmax { axis: -1 }]);
}

/// `exp` by its series, so the test needs no banned std transcendental.
fn libm_free_exp(x: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 1..60 {
        term = term * x / f64::from(k);
        sum += term;
    }
    sum
}

#[test]
fn transpose_without_perm_reverses_known_rank() {
    let nodes = vec![node("Transpose", &["x"], &["y"], vec![])];
    let g = load_graph(13, graph(nodes, vec![], vec![f32_info("x", &["2", "3", "4"])], &["y"]));
    assert_eq!(ops(&g), [Op::Transpose { perm: vec![2, 1, 0] }]);
}

#[test]
fn conv_reads_window_attributes() {
    let w = f32_tensor("w", &[4, 1, 3, 3], &[0.0; 36]);
    let attrs = vec![ints("strides", &[2, 1]), ints("pads", &[1, 0, 1, 2]), int("group", 2)];
    let nodes = vec![node("Conv", &["x", "w"], &["y"], attrs)];
    let g = load_graph(15, graph(nodes, vec![w], vec![f32_info("x", &["1", "2", "8", "8"])], &["y"]));
    let expected = ConvAttrs { kernel: [3, 3], strides: [2, 1], pads: [1, 0, 1, 2], dilations: [1, 1], group: 2 };
    assert_eq!(ops(&g), [Op::Conv(expected)]);
}

#[test]
fn conv_same_padding() {
    let w = || f32_tensor("w", &[1, 1, 4, 3], &[0.0; 12]);
    let same = |stride: i64, dims: &[&str]| {
        let attrs = vec![string("auto_pad", "SAME_UPPER"), ints("strides", &[stride, stride])];
        let nodes = vec![node("Conv", &["x", "w"], &["y"], attrs)];
        crate::onnx::load(&super::encode(15, graph(nodes, vec![w()], vec![f32_info("x", dims)], &["y"])))
    };
    let conv = |g: crate::ir::Graph| match ops(&g).remove(0) {
        Op::Conv(attrs) => attrs.pads,
        other => panic!("{other:?}"),
    };
    assert_eq!(conv(same(1, &["1", "1", "h", "w"]).unwrap()), [1, 1, 2, 1]);
    // 7 rows at stride 2: 4 outputs span 3 * 2 + 4 = 10 rows, so 3 are padded.
    assert_eq!(conv(same(2, &["1", "1", "7", "7"]).unwrap()), [1, 1, 2, 1]);
    let message = invalid(same(2, &["1", "1", "h", "w"]).unwrap_err(), "Conv:y");
    assert_eq!(message, "auto_pad SAME with stride > 1 needs a fixed input size: re-export with explicit pads");
}

#[test]
fn conv_and_pool_limits_are_reported() {
    let x = || vec![f32_info("x", &["1", "1", "8"])];
    let nodes = vec![node("Conv", &["x", "w"], &["y"], vec![ints("kernel_shape", &[3])])];
    let message = invalid(load_err(15, graph(nodes, vec![], x(), &["y"])), "Conv:y");
    assert_eq!(message, "only 2-d windows are supported: kernel_shape = [3]");
    let attrs = vec![ints("kernel_shape", &[2, 2]), ints("dilations", &[2, 2])];
    let nodes = vec![node("MaxPool", &["x"], &["y"], attrs)];
    let message = invalid(load_err(15, graph(nodes, vec![], x(), &["y"])), "MaxPool:y");
    assert_eq!(message, "pooling with dilations is not supported: [2, 2]");
    let nodes = vec![node("BatchNormalization", &["x", "s", "b", "m", "v"], &["y"], vec![int("training_mode", 1)])];
    let message = invalid(load_err(15, graph(nodes, vec![], x(), &["y"])), "BatchNormalization:y");
    assert_eq!(message, "batch normalization in training mode is not supported");
}

#[test]
fn pools_read_their_attributes() {
    let x = || vec![f32_info("x", &["1", "2", "8", "8"])];
    let attrs =
        vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2]), int("ceil_mode", 1), int("count_include_pad", 1)];
    let nodes = vec![node("AveragePool", &["x"], &["a"], attrs), node("GlobalAveragePool", &["a"], &["y"], vec![])];
    let g = load_graph(15, graph(nodes, vec![], x(), &["y"]));
    let average = PoolAttrs {
        kind: PoolKind::Average { count_include_pad: true },
        kernel: [3, 3],
        strides: [2, 2],
        pads: [0; 4],
        ceil_mode: true,
    };
    assert_eq!(ops(&g)[0], Op::Pool(average));
    assert_eq!(output_fact(&g), &Fact::fixed(DType::F32, &[1, 2, 1, 1]));
}

#[test]
fn cast_maps_onnx_types() {
    let nodes = vec![node("Cast", &["x"], &["y"], vec![int("to", i64::from(data_type::FLOAT16))])];
    let g = load_graph(13, graph(nodes, vec![], vec![f32_info("x", &["2"])], &["y"]));
    assert_eq!(ops(&g), [Op::Cast { to: DType::F16 }]);
}

#[test]
fn layer_norm_and_gather() {
    let nodes = vec![
        node("Gather", &["table", "ids"], &["e"], vec![]),
        node("LayerNormalization", &["e", "scale"], &["y"], vec![float("epsilon", 1e-12)]),
    ];
    let inits = vec![f32_tensor("table", &[5, 4], &[1.0; 20]), f32_tensor("scale", &[4], &[1.0; 4])];
    let ids = super::info("ids", data_type::INT64, &["batch", "seq"]);
    let g = load_graph(17, graph(nodes, inits, vec![ids], &["y"]));
    assert_eq!(ops(&g)[1], Op::LayerNorm { axis: -1, epsilon: 1e-12 });
    let y = run(&g, &[("ids", Tensor::from_i64(vec![1, 2], vec![0, 4]).unwrap())]);
    assert_eq!(y.shape(), [1, 2, 4]);
}
