//! Model-level import: decoding, inputs, metadata, unsupported-op reports, outputs, and
//! robustness against corrupted files.

use proptest::prelude::*;
use prost::Message;

use super::{encode, f32_info, f32_tensor, float, graph, i64_tensor, info, int, load_err, load_graph, node};
use crate::ir::{Dim, Fact};
use crate::onnx::proto::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, data_type};
use crate::onnx::{OnnxError, UnsupportedOp, load, load_file};
use crate::tensor::DType;

fn relu_graph() -> GraphProto {
    graph(vec![node("Relu", &["x"], &["y"], vec![])], vec![], vec![f32_info("x", &["batch", "3"])], &["y"])
}

#[test]
fn declares_inputs_with_fixed_symbolic_and_unknown_dims() {
    let nodes = vec![
        node("Add", &["x", "w"], &["s"], vec![]),
        node("Cast", &["ids"], &["f"], vec![int("to", i64::from(data_type::FLOAT))]),
        node("Mul", &["s", "f"], &["y"], vec![]),
    ];
    let inputs = vec![f32_info("x", &["batch", "", "4"]), info("ids", data_type::INT64, &["4"]), f32_info("w", &["4"])];
    let g = load_graph(17, graph(nodes, vec![f32_tensor("w", &[4], &[1.0; 4])], inputs, &["y"]));
    let names: Vec<&str> = g.inputs().iter().map(|&id| g.value(id).name.as_str()).collect();
    assert_eq!(names, ["x", "ids"], "an input that is also an initializer is a constant");
    let x = &g.value(g.inputs()[0]).fact;
    assert_eq!(
        x,
        &Fact { dtype: DType::F32, shape: Some(vec![Dim::Symbol("batch".into()), Dim::Unknown, Dim::Fixed(4)]) }
    );
    assert_eq!(g.value(g.inputs()[1]).fact, Fact::fixed(DType::I64, &[4]));
}

#[test]
fn carries_metadata() {
    let mut model = ModelProto::decode(encode(15, relu_graph()).as_slice()).unwrap();
    model.metadata_props.push(StringStringEntryProto { key: "character".into(), value: "0\n90".into() });
    let g = load(&model.encode_to_vec()).unwrap();
    assert_eq!(g.metadata(), [("character".to_owned(), "0\n90".to_owned())]);
}

#[test]
fn rejects_unsupported_input_types() {
    let g = graph(vec![node("Identity", &["x"], &["y"], vec![])], vec![], vec![info("x", 11, &["2"])], &["y"]);
    match load_err(15, g) {
        OnnxError::Input { name, message } => {
            assert_eq!(name, "x");
            assert_eq!(message, "unsupported element type: double (onnx data type 11)");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reports_every_unsupported_op_at_once() {
    let mut fused = node("FusedGemm", &["x"], &["c"], vec![]);
    fused.domain = "com.microsoft".into();
    let mut unnamed = node("Resize", &["x"], &["b"], vec![]);
    unnamed.name.clear();
    let nodes = vec![
        node("Resize", &["x"], &["a"], vec![]),
        unnamed,
        fused,
        node("If", &["x"], &["d"], vec![]),
        // A supported node with a bad attribute is not reported before the unsupported ones.
        node("Concat", &["x"], &["e"], vec![]),
    ];
    let mut model =
        ModelProto::decode(encode(15, graph(nodes, vec![], vec![f32_info("x", &[])], &["e"])).as_slice()).unwrap();
    model.opset_import.push(OperatorSetIdProto { domain: "com.microsoft".into(), version: 1 });
    let Err(OnnxError::Unsupported(ops)) = load(&model.encode_to_vec()) else { panic!("expected unsupported ops") };
    let op = |op_type: &str, domain: &str, opset, node: &str| UnsupportedOp {
        op_type: op_type.into(),
        domain: domain.into(),
        opset,
        node: node.into(),
    };
    assert_eq!(
        ops,
        [
            op("Resize", "", 15, "Resize:a"),
            op("Resize", "", 15, "Resize_1"),
            op("FusedGemm", "com.microsoft", 1, "FusedGemm:c"),
            op("If", "", 15, "If:d"),
        ]
    );
    let message = OnnxError::Unsupported(ops).to_string();
    assert!(message.contains(r#"Resize (opset 15) in ["Resize:a", "Resize_1"]"#), "{message}");
    assert!(message.contains(r#"com.microsoft.FusedGemm (opset 1) in ["FusedGemm:c"]"#), "{message}");
    assert!(message.contains(r#"If (opset 15) in ["If:d"]"#), "{message}");
    assert!(message.contains("re-export with opset 13-17"), "{message}");
}

#[test]
fn rejects_opsets_outside_the_supported_range() {
    for opset in [6, 26] {
        let Err(OnnxError::Unsupported(ops)) = load(&encode(opset, relu_graph())) else { panic!("opset {opset}") };
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].opset, opset);
    }
}

#[test]
fn ops_newer_than_the_model_opset_are_unsupported() {
    let g = graph(vec![node("HardSwish", &["x"], &["y"], vec![])], vec![], vec![f32_info("x", &[])], &["y"]);
    assert!(matches!(load_err(13, g), OnnxError::Unsupported(_)));
}

#[test]
fn synthesizes_names_of_unnamed_nodes() {
    let mut cast = node("Cast", &["x"], &["y"], vec![int("to", 11)]);
    cast.name.clear();
    let nodes = vec![node("Relu", &["x"], &["r"], vec![]), cast];
    match load_err(15, graph(nodes, vec![], vec![f32_info("x", &[])], &["y"])) {
        OnnxError::Invalid { node, message } => {
            assert_eq!(node, "Cast_1");
            assert_eq!(message, "cast to an unsupported type: double (onnx data type 11)");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn extra_outputs_are_fine_unless_read() {
    let dropout = |outputs: &[&str]| node("Dropout", &["x"], outputs, vec![float("ratio", 0.5)]);
    let unused = graph(vec![dropout(&["y", "mask"])], vec![], vec![f32_info("x", &["2"])], &["y"]);
    assert_eq!(load_graph(12, unused).nodes().len(), 1);
    let nodes = vec![dropout(&["y", "mask"]), node("Not", &["mask"], &["z"], vec![])];
    match load_err(12, graph(nodes, vec![], vec![f32_info("x", &["2"])], &["y", "z"])) {
        OnnxError::Invalid { node, message } => {
            assert_eq!(node, "Dropout:y");
            assert_eq!(message, r#"only the first output of Dropout is supported, but output 1 is used: "mask""#);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn model_level_errors() {
    assert!(matches!(load(&[0xff, 0xff, 0xff]), Err(OnnxError::Decode(_))));
    let bytes = encode(15, relu_graph());
    assert!(matches!(load(&bytes[..bytes.len() - 3]), Err(OnnxError::Decode(_))));
    let no_graph = ModelProto { graph: None, ..ModelProto::decode(bytes.as_slice()).unwrap() };
    assert_eq!(load(&no_graph.encode_to_vec()).unwrap_err().to_string(), "invalid onnx model: the model has no graph");
    let no_opset = ModelProto { opset_import: vec![], ..ModelProto::decode(bytes.as_slice()).unwrap() };
    let message = load(&no_opset.encode_to_vec()).unwrap_err().to_string();
    assert_eq!(message, "invalid onnx model: no opset imported for the default domain (ir version 8)");
}

#[test]
fn graph_errors_name_the_node() {
    let nodes = vec![node("Add", &["x", "missing"], &["y"], vec![])];
    let message = load_err(15, graph(nodes, vec![], vec![f32_info("x", &[])], &["y"])).to_string();
    assert_eq!(message, r#"node "Add:y" reads undefined value: "missing""#);
}

#[test]
fn load_file_errors_carry_the_path() {
    let err = load_file(std::path::Path::new("/nonexistent/model.onnx")).unwrap_err();
    assert!(matches!(&err, OnnxError::Io { path, .. } if path.ends_with("model.onnx")));
    assert_eq!(err.to_string(), "cannot read onnx model: /nonexistent/model.onnx");
    let source = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(source.contains("No such file"), "the io error is the source: {source}");
}

/// A small model exercising initializers, attributes, constants and several op kinds.
fn small_model() -> Vec<u8> {
    let nodes: Vec<NodeProto> = vec![
        node("Constant", &[], &["shape"], vec![super::ints("value_ints", &[2, 3])]),
        node("Reshape", &["x", "shape"], &["r"], vec![]),
        node("MatMul", &["r", "w"], &["m"], vec![]),
        node("Add", &["m", "b"], &["a"], vec![]),
        node("Softmax", &["a"], &["s"], vec![int("axis", -1)]),
        node("ReduceSum", &["s", "axes"], &["y"], vec![int("keepdims", 0)]),
    ];
    let inits = vec![
        f32_tensor("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        f32_tensor("b", &[2], &[0.5, -0.5]),
        i64_tensor("axes", &[1], &[1]),
    ];
    encode(17, graph(nodes, inits, vec![f32_info("x", &["6"])], &["y"]))
}

#[test]
fn small_model_loads() {
    let g = load(&small_model()).unwrap();
    assert_eq!(g.nodes().len(), 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn truncated_models_never_panic(cut in 0usize..2000) {
        let bytes = small_model();
        let _ = load(&bytes[..cut.min(bytes.len())]);
    }

    #[test]
    fn mutated_models_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = small_model();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = load(&bytes);
    }
}
