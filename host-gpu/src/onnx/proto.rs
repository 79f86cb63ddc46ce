//! The subset of `onnx.proto` the importer reads, declared for prost.
//!
//! Field numbers and wire types mirror the official `onnx/onnx.proto` (IR version 10, a
//! proto2 file: `dims`, `floats` and `ints` are unpacked, the typed tensor payloads are
//! packed). Fields not declared here (doc strings, training info, functions, sparse
//! initializers, …) are skipped by prost while decoding.

/// `ModelProto`: the top-level message of an `.onnx` file.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ModelProto {
    /// Version of the IR the file was written against.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Operator sets (domain, version) the graph's nodes refer to.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// The computation.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Free-form key/value pairs (e.g. class labels).
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// `OperatorSetIdProto`: one imported operator set.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OperatorSetIdProto {
    /// Domain (`""` and `"ai.onnx"` are the default domain).
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Operator set version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `StringStringEntryProto`: one metadata entry.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StringStringEntryProto {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `GraphProto`: nodes, initializers, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GraphProto {
    /// Nodes (the file's order; the IR builder sorts them).
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors (weights).
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Inputs (older files also list the initializers here).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NodeProto {
    /// Input value names (`""` marks an omitted optional input).
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names (`""` marks an omitted optional output).
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name (may be empty).
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator name within its domain.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Operator domain (`""` is the default ONNX domain).
    #[prost(string, tag = "7")]
    pub domain: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// `AttributeProto`: one named attribute; `type` says which field holds the value.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `AttributeProto.AttributeType` (see the constants in [`attr_type`]).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
    /// FLOAT value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// INT value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// STRING value (bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// TENSOR value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// FLOATS value.
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    /// INTS value.
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    /// STRINGS value.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
}

/// Values of `AttributeProto.AttributeType` the importer reads.
pub(crate) mod attr_type {
    /// Not set (files written before the field existed).
    pub(crate) const UNDEFINED: i32 = 0;
    /// `f`.
    pub(crate) const FLOAT: i32 = 1;
    /// `i`.
    pub(crate) const INT: i32 = 2;
    /// `s`.
    pub(crate) const STRING: i32 = 3;
    /// `t`.
    pub(crate) const TENSOR: i32 = 4;
    /// `floats`.
    pub(crate) const FLOATS: i32 = 6;
    /// `ints`.
    pub(crate) const INTS: i32 = 7;
}

/// `TensorProto`: a constant tensor, stored in `raw_data` (little-endian) or in one of the
/// typed repeated fields.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorProto {
    /// Dimensions (negative values are invalid).
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `TensorProto.DataType` (see [`data_type`]).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// FLOAT elements.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// INT32, INT16, INT8, UINT16, UINT8, BOOL and FLOAT16 (as bits) elements.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// INT64 elements.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// Tensor name (initializers are referenced by it).
    #[prost(string, tag = "8")]
    pub name: String,
    /// Elements as little-endian bytes.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// `TensorProto.DataLocation`: 0 = in this message, 1 = in an external file.
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// Values of `TensorProto.DataType`.
pub(crate) mod data_type {
    /// f32.
    pub(crate) const FLOAT: i32 = 1;
    /// u8.
    pub(crate) const UINT8: i32 = 2;
    /// i8.
    pub(crate) const INT8: i32 = 3;
    /// i32.
    pub(crate) const INT32: i32 = 6;
    /// i64.
    pub(crate) const INT64: i32 = 7;
    /// bool.
    pub(crate) const BOOL: i32 = 9;
    /// f16.
    pub(crate) const FLOAT16: i32 = 10;
}

/// `TensorProto.DataLocation.EXTERNAL`: the elements live in another file.
pub(crate) const DATA_LOCATION_EXTERNAL: i32 = 1;

/// `ValueInfoProto`: a graph input or output with its type.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ValueInfoProto {
    /// Value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type (tensors only are supported).
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `TypeProto`, reduced to its `tensor_type` alternative (field 1 of the `value` oneof;
/// the other alternatives are skipped and leave `tensor_type` empty).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TypeProto {
    /// The tensor type, when the value is a tensor.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
}

/// `TypeProto.Tensor`: element type and (possibly symbolic) shape.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TypeProtoTensor {
    /// `TensorProto.DataType` of the elements.
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// Shape; absent means even the rank is unknown.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorShapeProto {
    /// One entry per dimension.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<TensorShapeDimension>,
}

/// `TensorShapeProto.Dimension`: a size, a symbolic name, or neither (unknown).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorShapeDimension {
    /// The `value` oneof.
    #[prost(oneof = "DimValue", tags = "1, 2")]
    pub value: Option<DimValue>,
}

/// The `value` oneof of `TensorShapeProto.Dimension`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum DimValue {
    /// A fixed size.
    #[prost(int64, tag = "1")]
    DimValue(i64),
    /// A symbolic size (`batch`, `sequence`).
    #[prost(string, tag = "2")]
    DimParam(String),
}
