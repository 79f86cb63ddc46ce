//! [`NodeCtx`]: one ONNX node as its lowering sees it, with typed attribute getters.
//!
//! Getters check the attribute's declared type (files that predate the `type` field leave
//! it undefined, which is accepted) and return `None` when the attribute is absent, so
//! each lowering states the ONNX default for its opset at the call site.

use super::OnnxError;
use super::proto::{AttributeProto, NodeProto, TensorProto, attr_type};

/// A node being lowered.
pub(super) struct NodeCtx<'a> {
    proto: &'a NodeProto,
    name: &'a str,
    output: &'a str,
    /// The model's default-domain opset.
    pub(super) opset: i64,
}

impl<'a> NodeCtx<'a> {
    /// A view of `proto`, named `name`, whose (first) output is `output`.
    pub(super) fn new(proto: &'a NodeProto, name: &'a str, output: &'a str, opset: i64) -> Self {
        NodeCtx { proto, name, output, opset }
    }

    /// The node's name (synthesized when the model has none).
    pub(super) fn name(&self) -> &str {
        self.name
    }

    /// The ONNX output the lowering defines.
    pub(super) fn output(&self) -> &str {
        self.output
    }

    /// An [`OnnxError::Invalid`] naming this node.
    pub(super) fn invalid(&self, message: impl Into<String>) -> OnnxError {
        OnnxError::Invalid { node: self.name.to_owned(), message: message.into() }
    }

    /// The inputs, without trailing omitted (`""`) ones.
    pub(super) fn inputs(&self) -> &'a [String] {
        let inputs = &self.proto.input;
        let len = inputs.iter().rposition(|i| !i.is_empty()).map_or(0, |i| i + 1);
        &inputs[..len]
    }

    /// Checks the input count (omitted trailing inputs do not count).
    pub(super) fn expect_inputs(&self, min: usize, max: usize) -> Result<(), OnnxError> {
        crate::ops::expect_inputs(self.inputs(), min, max)
            .map_err(|e| self.invalid(format!("{}: {e}", self.proto.op_type)))
    }

    /// Input `i`, or `None` when it is omitted.
    pub(super) fn input(&self, i: usize) -> Option<&'a str> {
        self.proto.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// Input `i`, which must be present.
    pub(super) fn required(&self, i: usize) -> Result<&'a str, OnnxError> {
        self.input(i).ok_or_else(|| self.invalid(format!("{}: input {i} is required", self.proto.op_type)))
    }

    fn attr(&self, name: &str, kind: i32) -> Result<Option<&'a AttributeProto>, OnnxError> {
        let Some(attr) = self.proto.attribute.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        if attr.r#type != kind && attr.r#type != attr_type::UNDEFINED {
            return Err(self.invalid(format!("attribute {name} has the wrong type: {}", attr.r#type)));
        }
        Ok(Some(attr))
    }

    /// An INT attribute.
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, OnnxError> {
        Ok(self.attr(name, attr_type::INT)?.map(|a| a.i))
    }

    /// An INT attribute with its default.
    pub(super) fn int_or(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// An INT attribute that must be present.
    pub(super) fn required_int(&self, name: &str) -> Result<i64, OnnxError> {
        self.int(name)?.ok_or_else(|| self.invalid(format!("missing attribute: {name}")))
    }

    /// A 0/1 INT attribute as a bool, with its default.
    pub(super) fn bool_or(&self, name: &str, default: bool) -> Result<bool, OnnxError> {
        match self.int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.invalid(format!("attribute {name} must be 0 or 1: {v}"))),
        }
    }

    /// A non-negative INT attribute as `usize`, with its default.
    pub(super) fn usize_or(&self, name: &str, default: usize) -> Result<usize, OnnxError> {
        match self.int(name)? {
            None => Ok(default),
            Some(v) => usize::try_from(v).map_err(|_| self.invalid(format!("attribute {name} must be >= 0: {v}"))),
        }
    }

    /// A FLOAT attribute with its default.
    pub(super) fn float_or(&self, name: &str, default: f32) -> Result<f32, OnnxError> {
        Ok(self.attr(name, attr_type::FLOAT)?.map_or(default, |a| a.f))
    }

    /// An INTS attribute.
    pub(super) fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, OnnxError> {
        Ok(self.attr(name, attr_type::INTS)?.map(|a| a.ints.as_slice()))
    }

    /// An INTS attribute of non-negative values as `usize`.
    pub(super) fn usizes(&self, name: &str) -> Result<Option<Vec<usize>>, OnnxError> {
        let Some(values) = self.ints(name)? else {
            return Ok(None);
        };
        let converted = values.iter().map(|&v| usize::try_from(v)).collect::<Result<Vec<_>, _>>();
        converted.map(Some).map_err(|_| self.invalid(format!("attribute {name} must be >= 0: {values:?}")))
    }

    /// A FLOATS attribute.
    pub(super) fn floats(&self, name: &str) -> Result<Option<&'a [f32]>, OnnxError> {
        Ok(self.attr(name, attr_type::FLOATS)?.map(|a| a.floats.as_slice()))
    }

    /// A STRING attribute (UTF-8).
    pub(super) fn string(&self, name: &str) -> Result<Option<&'a str>, OnnxError> {
        let Some(attr) = self.attr(name, attr_type::STRING)? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&attr.s).map_err(|_| self.invalid(format!("attribute {name} is not utf-8")))?;
        Ok(Some(text))
    }

    /// A TENSOR attribute.
    pub(super) fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, OnnxError> {
        Ok(self.attr(name, attr_type::TENSOR)?.and_then(|a| a.t.as_ref()))
    }

    /// Names of the attributes present (for `Constant`, which takes exactly one).
    pub(super) fn attr_names(&self) -> impl Iterator<Item = &'a str> {
        self.proto.attribute.iter().map(|a| a.name.as_str())
    }
}
