//! Importer tests: models are built in-test from the prost structs and encoded.

mod model;
mod ops;
mod tensor;

use prost::Message;

use super::proto::{
    AttributeProto, DimValue, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeDimension,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attr_type, data_type,
};
use crate::cpu::CpuExecutor;
use crate::ir::Graph;
use crate::tensor::Tensor;

fn node(op_type: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: outputs.iter().map(|s| (*s).to_owned()).collect(),
        name: outputs.first().map(|o| format!("{op_type}:{o}")).unwrap_or_default(),
        op_type: op_type.to_owned(),
        attribute,
        ..Default::default()
    }
}

fn attr(name: &str, r#type: i32) -> AttributeProto {
    AttributeProto { name: name.to_owned(), r#type, ..Default::default() }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { i, ..attr(name, attr_type::INT) }
}

fn ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto { ints: ints.to_vec(), ..attr(name, attr_type::INTS) }
}

fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto { f, ..attr(name, attr_type::FLOAT) }
}

fn string(name: &str, s: &str) -> AttributeProto {
    AttributeProto { s: s.as_bytes().to_vec(), ..attr(name, attr_type::STRING) }
}

fn tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto { t: Some(t), ..attr(name, attr_type::TENSOR) }
}

/// An f32 tensor stored as raw little-endian bytes.
fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An i64 tensor stored in `int64_data`.
fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: data_type::INT64,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// A tensor value: each dim is a number (fixed), a name (symbolic) or `""` (unknown).
fn info(name: &str, elem_type: i32, dims: &[&str]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| TensorShapeDimension {
            value: match d.parse::<i64>() {
                Ok(n) => Some(DimValue::DimValue(n)),
                Err(_) if d.is_empty() => None,
                Err(_) => Some(DimValue::DimParam((*d).to_owned())),
            },
        })
        .collect();
    let tensor_type = TypeProtoTensor { elem_type, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto { name: name.to_owned(), r#type: Some(TypeProto { tensor_type: Some(tensor_type) }) }
}

/// An f32 graph input or output.
fn f32_info(name: &str, dims: &[&str]) -> ValueInfoProto {
    info(name, data_type::FLOAT, dims)
}

fn graph(
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    input: Vec<ValueInfoProto>,
    outputs: &[&str],
) -> GraphProto {
    GraphProto {
        node: nodes,
        name: "test".to_owned(),
        initializer,
        input,
        output: outputs.iter().map(|o| f32_info(o, &[])).collect(),
    }
}

fn encode(opset: i64, graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(graph),
        metadata_props: Vec::new(),
    }
    .encode_to_vec()
}

fn load_graph(opset: i64, graph: GraphProto) -> Graph {
    super::load(&encode(opset, graph)).unwrap()
}

fn load_err(opset: i64, graph: GraphProto) -> super::OnnxError {
    super::load(&encode(opset, graph)).unwrap_err()
}

/// Runs a graph with one input and returns its first output.
fn run(graph: &Graph, inputs: &[(&str, Tensor)]) -> Tensor {
    let inputs = inputs.iter().map(|(n, t)| ((*n).to_owned(), t.clone())).collect();
    CpuExecutor.run(graph, inputs).unwrap().remove(0).1
}

fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), values.to_vec()).unwrap()
}

/// The ops of the graph's nodes, in execution order.
fn ops(graph: &Graph) -> Vec<crate::ir::Op> {
    graph.nodes().iter().map(|n| n.op.clone()).collect()
}
