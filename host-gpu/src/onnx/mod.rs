//! ONNX import: decodes a model file and lowers it to the typed IR ([`Graph`]).
//!
//! Steps ([`load`]):
//! 1. decode the `ModelProto` with prost (`proto` declares the fields read);
//! 2. read the opset of each domain; the default domain's opset selects op semantics;
//! 3. look up every node in the op table (`ops`), collecting *every* unsupported
//!    `(op_type, domain, opset, node)` into one error before converting anything;
//! 4. convert the initializers to constants (`tensor`) and copy the metadata;
//! 5. declare the graph inputs that are not initializers, with dtype and symbolic shape;
//! 6. lower each node to IR nodes (the only place ONNX op names and attributes are read);
//! 7. mark the outputs and build the graph (inference and constant folding).

mod lowering;
mod node;
mod ops;
mod proto;
mod tensor;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use prost::Message;

use self::lowering::Lowering;
use self::node::NodeCtx;
use self::proto::{DimValue, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::ir::{Dim, Fact, Graph, GraphError};

/// Errors importing an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The model file could not be read.
    #[error("cannot read onnx model: {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf (e.g. truncated).
    #[error("not a valid onnx model (protobuf decoding failed)")]
    Decode(#[from] prost::DecodeError),
    /// The model as a whole is unusable (no graph, no default-domain opset).
    #[error("invalid onnx model: {0}")]
    Model(String),
    /// Operators the importer does not support, every one of them.
    #[error("{}", UnsupportedList(.0))]
    Unsupported(Vec<UnsupportedOp>),
    /// A graph input has an unsupported type.
    #[error("graph input {name:?}: {message}")]
    Input {
        /// Input name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A supported operator with bad or unsupported attributes or inputs.
    #[error("node {node:?}: {message}")]
    Invalid {
        /// Node name.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// An initializer or constant tensor that cannot be read.
    #[error("tensor {name:?}: {message}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The lowered graph failed validation, inference or constant folding.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// One node whose operator the importer does not support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// ONNX operator name.
    pub op_type: String,
    /// Operator domain (`""` is the default ONNX domain).
    pub domain: String,
    /// The model's opset version for that domain (0 when the domain is not imported).
    pub opset: i64,
    /// Node name (synthesized as `<op_type>_<index>` when the model has none).
    pub node: String,
}

/// Lists unsupported ops grouped by `(domain, op_type, opset)`, naming every node.
struct UnsupportedList<'a>(&'a [UnsupportedOp]);

impl fmt::Display for UnsupportedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<(&UnsupportedOp, Vec<&str>)> = Vec::new();
        for op in self.0 {
            let key = |g: &&UnsupportedOp| (&g.domain, &g.op_type, g.opset) == (&op.domain, &op.op_type, op.opset);
            match groups.iter_mut().find(|(g, _)| key(g)) {
                Some((_, nodes)) => nodes.push(&op.node),
                None => groups.push((op, vec![&op.node])),
            }
        }
        write!(f, "unsupported onnx operators (supported: default domain, opsets {MIN_OPSET}-{MAX_OPSET}; ")?;
        write!(f, "re-export with opset 13-17 using standard operators, or open an issue naming them): ")?;
        for (i, (op, nodes)) in groups.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            let domain = if op.domain.is_empty() { String::new() } else { format!("{}.", op.domain) };
            write!(f, "{sep}{domain}{} (opset {}) in {:?}", op.op_type, op.opset, nodes)?;
        }
        Ok(())
    }
}

/// Oldest default-domain opset the importer reads (older ones carry legacy broadcast and
/// `is_test`/`spatial` attributes).
const MIN_OPSET: i64 = 7;
/// Newest default-domain opset the importer reads; the supported ops changed only their
/// type lists up to here.
const MAX_OPSET: i64 = 25;

/// Imports an ONNX model from its bytes.
///
/// # Errors
/// [`OnnxError::Decode`] for malformed bytes, [`OnnxError::Unsupported`] listing every
/// unsupported operator, and the other variants for bad tensors, attributes or graphs.
pub fn load(bytes: &[u8]) -> Result<Graph, OnnxError> {
    let model = ModelProto::decode(bytes)?;
    import(model)
}

/// Reads and imports an ONNX model file.
///
/// # Errors
/// [`OnnxError::Io`] (with the path) when the file cannot be read, else as [`load`].
pub fn load_file(path: &Path) -> Result<Graph, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.to_owned(), source })?;
    load(&bytes)
}

fn import(model: ModelProto) -> Result<Graph, OnnxError> {
    let opsets: HashMap<&str, i64> =
        model.opset_import.iter().map(|o| (canonical_domain(&o.domain), o.version)).collect();
    let opset = *opsets.get("").ok_or_else(|| {
        OnnxError::Model(format!("no opset imported for the default domain (ir version {})", model.ir_version))
    })?;
    let graph = model.graph.ok_or_else(|| OnnxError::Model("the model has no graph".to_owned()))?;
    let GraphProto { node: nodes, initializer, input, output, .. } = graph;
    check_supported(&nodes, &opsets)?;
    let mut lowering = Lowering::new(
        nodes.iter().flat_map(|n| n.input.iter().chain(&n.output)).chain(input.iter().chain(&output).map(|v| &v.name)),
    );
    for entry in &model.metadata_props {
        lowering.metadata(&entry.key, &entry.value);
    }
    for proto in initializer {
        let name = proto.name.clone();
        lowering.constant(&name, tensor::to_tensor(proto)?)?;
    }
    for info in &input {
        if !lowering.is_constant(&info.name) {
            lowering.input(&info.name, input_fact(info)?)?;
        }
    }
    lower_nodes(&nodes, opset, &output, &mut lowering)?;
    for info in &output {
        lowering.output(&info.name);
    }
    let graph = lowering.build()?;
    tracing::debug!(opset, nodes = graph.nodes().len(), "onnx model imported");
    Ok(graph)
}

/// The fact of a graph input from its declared tensor type.
fn input_fact(info: &ValueInfoProto) -> Result<Fact, OnnxError> {
    let error = |message: String| OnnxError::Input { name: info.name.clone(), message };
    let tensor_type = info
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| error("only tensor inputs are supported".to_owned()))?;
    let dtype = tensor::dtype_from_onnx(tensor_type.elem_type)
        .ok_or_else(|| error(format!("unsupported element type: {}", tensor::type_name(tensor_type.elem_type))))?;
    let Some(shape) = &tensor_type.shape else {
        return Ok(Fact::unknown(dtype));
    };
    let dims = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(DimValue::DimValue(n)) => {
                usize::try_from(*n).map(Dim::Fixed).map_err(|_| error(format!("negative dimension: {n}")))
            }
            Some(DimValue::DimParam(name)) if !name.is_empty() => Ok(Dim::Symbol(name.clone())),
            _ => Ok(Dim::Unknown),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Fact { dtype, shape: Some(dims) })
}

/// `""` for the default domain, which may also be spelled `"ai.onnx"`.
fn canonical_domain(domain: &str) -> &str {
    if domain == "ai.onnx" { "" } else { domain }
}

/// The name used for a node in messages: its own, or `<op_type>_<index>`.
fn node_name(node: &NodeProto, index: usize) -> String {
    if node.name.is_empty() { format!("{}_{index}", node.op_type) } else { node.name.clone() }
}

/// Fails with every node whose operator has no lowering at the model's opsets.
fn check_supported(nodes: &[NodeProto], opsets: &HashMap<&str, i64>) -> Result<(), OnnxError> {
    let unsupported: Vec<UnsupportedOp> = nodes
        .iter()
        .enumerate()
        .filter_map(|(index, node)| {
            let domain = canonical_domain(&node.domain);
            let opset = opsets.get(domain).copied().unwrap_or(0);
            ops::find(domain, &node.op_type, opset).is_none().then(|| UnsupportedOp {
                op_type: node.op_type.clone(),
                domain: node.domain.clone(),
                opset,
                node: node_name(node, index),
            })
        })
        .collect();
    if unsupported.is_empty() { Ok(()) } else { Err(OnnxError::Unsupported(unsupported)) }
}

/// Lowers every node; each must produce at most one output that anything reads.
fn lower_nodes(
    nodes: &[NodeProto],
    opset: i64,
    outputs: &[ValueInfoProto],
    lowering: &mut Lowering,
) -> Result<(), OnnxError> {
    let read: HashSet<&str> =
        nodes.iter().flat_map(|n| n.input.iter()).chain(outputs.iter().map(|o| &o.name)).map(String::as_str).collect();
    for (index, node) in nodes.iter().enumerate() {
        let name = node_name(node, index);
        if let Some((i, extra)) =
            node.output.iter().enumerate().skip(1).find(|(_, o)| !o.is_empty() && read.contains(o.as_str()))
        {
            let message =
                format!("only the first output of {} is supported, but output {i} is used: {extra:?}", node.op_type);
            return Err(OnnxError::Invalid { node: name, message });
        }
        let Some(output) = node.output.first().filter(|o| !o.is_empty()) else {
            continue;
        };
        let Some(lower) = ops::find("", &node.op_type, opset) else {
            continue;
        };
        lower(&NodeCtx::new(node, &name, output, opset), lowering)?;
    }
    Ok(())
}
