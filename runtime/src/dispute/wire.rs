//! The bodies of the trace routes (docs/HTTP.md "Traces and disputes"), shared by the
//! node ([`crate::node`]) and the challenger's client ([`super::remote`]).
//!
//! Hashes travel as lowercase hex, bytes (inputs, tensor data) as standard base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use half::f16;
use serde::{Deserialize, Serialize};
use wasmnn_host_gpu::trace::Hash;
use wasmnn_host_gpu::{DType, Tensor, TensorData};

use super::bisect::{LeafOpening, hex_hash};
use crate::receipt::SignedReceipt;
use crate::trace::commit::SignedCommitment;

/// The most leaves one `POST /v1/traces/{trace}/tensors` may ask for.
pub const MAX_LEAVES_PER_REQUEST: usize = 4096;

/// `POST /v1/traces`: commit to the trace of the call a receipt states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The signed receipt, as its JSON (`{"receipt": {…}, "signature": "…"}`).
    pub receipt: serde_json::Value,
    /// The call's input, base64; optional for a call the node itself ran and retains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

impl CommitRequest {
    /// The request for `receipt`, with `input` when given.
    pub fn new(receipt: &SignedReceipt, input: Option<&[u8]>) -> Result<CommitRequest, String> {
        let receipt = serde_json::from_slice(&receipt.to_json()).map_err(|e| format!("the receipt's JSON: {e}"))?;
        Ok(CommitRequest { receipt, input: input.map(|bytes| BASE64.encode(bytes)) })
    }

    /// The receipt, its signature verified.
    ///
    /// # Errors
    /// Not a signed receipt, or its signature does not verify.
    pub fn signed_receipt(&self) -> Result<SignedReceipt, String> {
        let json = serde_json::to_vec(&self.receipt).map_err(|e| e.to_string())?;
        SignedReceipt::from_json(&json).map_err(|e| e.to_string())
    }

    /// The input bytes, when given.
    ///
    /// # Errors
    /// The input is not base64.
    pub fn input_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        self.input
            .as_deref()
            .map(|text| BASE64.decode(text).map_err(|e| format!("the input is not base64: {e}")))
            .transpose()
    }
}

/// The answer to `POST /v1/traces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitResponse {
    /// The trace id, `sha256:<commitment id hex>`: the `{trace}` of the other routes.
    pub trace: String,
    /// The node's signed commitment.
    pub commitment: SignedCommitment,
}

/// The answer to `GET /v1/traces/{trace}/nodes/{depth}/{index}`: the node's two children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildrenResponse {
    /// The left child, `(depth + 1, 2 index)`.
    #[serde(with = "hex_hash")]
    pub left: Hash,
    /// The right child, `(depth + 1, 2 index + 1)`.
    #[serde(with = "hex_hash")]
    pub right: Hash,
}

/// The answer to `GET /v1/traces/{trace}/leaves/{i}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafResponse {
    /// The leaf index.
    pub index: u64,
    /// The leaf's descriptor and tensor digest.
    pub opening: LeafOpening,
    /// Its inclusion proof (siblings bottom-up).
    #[serde(with = "hex_hash::list")]
    pub proof: Vec<Hash>,
}

/// `POST /v1/traces/{trace}/tensors`: the tensors of some leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorsRequest {
    /// The leaf indices (at most [`MAX_LEAVES_PER_REQUEST`]).
    pub leaves: Vec<u64>,
}

/// The answer to `POST /v1/traces/{trace}/tensors`: one tensor per leaf asked for, in the
/// order asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorsResponse {
    /// The tensors.
    pub tensors: Vec<WireTensor>,
}

/// One leaf's tensor with the evidence that it is the committed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireTensor {
    /// The leaf index.
    pub leaf: u64,
    /// The leaf's opening (its tensor digest must be the digest of the tensor below).
    pub opening: LeafOpening,
    /// The leaf's inclusion proof (siblings bottom-up).
    #[serde(with = "hex_hash::list")]
    pub proof: Vec<Hash>,
    /// The element type, [`DType::name`].
    pub dtype: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// Base64 of the elements, row-major, each little-endian (bool one byte 0/1).
    pub data: String,
}

impl WireTensor {
    /// `tensor` as leaf `leaf`, with its opening and proof.
    pub fn from_tensor(leaf: u64, opening: LeafOpening, proof: Vec<Hash>, tensor: &Tensor) -> WireTensor {
        WireTensor {
            leaf,
            opening,
            proof,
            dtype: tensor.dtype().name().to_owned(),
            shape: tensor.shape().to_vec(),
            data: BASE64.encode(tensor_bytes(tensor.data())),
        }
    }

    /// The tensor, bit-exact.
    ///
    /// # Errors
    /// An unknown dtype, data that is not base64 or not as long as the shape needs, or a
    /// bool byte other than 0 and 1.
    pub fn to_tensor(&self) -> Result<Tensor, String> {
        let dtype = dtype_from_name(&self.dtype).ok_or_else(|| format!("unknown dtype {:?}", self.dtype))?;
        let bytes =
            BASE64.decode(&self.data).map_err(|e| format!("leaf {}: the data is not base64: {e}", self.leaf))?;
        let expected = wasmnn_host_gpu::tensor::checked_numel(&self.shape)
            .and_then(|n| n.checked_mul(dtype.size_of()))
            .ok_or_else(|| format!("leaf {}: shape {:?} is too large", self.leaf, self.shape))?;
        if bytes.len() != expected {
            return Err(format!(
                "leaf {}: a {} tensor of shape {:?} has {expected} bytes, got {}",
                self.leaf,
                dtype,
                self.shape,
                bytes.len()
            ));
        }
        let data = match dtype {
            DType::F32 => TensorData::F32(le_chunks(&bytes, |b| f32::from_bits(u32::from_le_bytes(b)))),
            DType::F16 => TensorData::F16(le_chunks(&bytes, |b| f16::from_bits(u16::from_le_bytes(b)))),
            DType::I8 => TensorData::I8(le_chunks(&bytes, i8::from_le_bytes)),
            DType::U8 => TensorData::U8(bytes),
            DType::I32 => TensorData::I32(le_chunks(&bytes, i32::from_le_bytes)),
            DType::I64 => TensorData::I64(le_chunks(&bytes, i64::from_le_bytes)),
            DType::Bool => TensorData::Bool(
                bytes
                    .iter()
                    .map(|&b| match b {
                        0 => Ok(false),
                        1 => Ok(true),
                        other => Err(format!("leaf {}: bool byte {other} is neither 0 nor 1", self.leaf)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Tensor::new(self.shape.clone(), data).map_err(|e| format!("leaf {}: {e}", self.leaf))
    }
}

/// The dtype [`DType::name`] names.
fn dtype_from_name(name: &str) -> Option<DType> {
    [DType::F32, DType::F16, DType::I8, DType::U8, DType::I32, DType::I64, DType::Bool]
        .into_iter()
        .find(|d| d.name() == name)
}

/// The elements, each little-endian (bool one byte 0/1).
fn tensor_bytes(data: &TensorData) -> Vec<u8> {
    match data {
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
        TensorData::F16(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
        TensorData::I8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::U8(v) => v.clone(),
        TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
    }
}

/// `bytes` (a multiple of `N` long) as elements of `N` little-endian bytes each.
fn le_chunks<T, const N: usize>(bytes: &[u8], from: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut array = [0u8; N];
            array.copy_from_slice(chunk);
            from(array)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opening() -> LeafOpening {
        LeafOpening { descriptor: r#"{"k":"op","node":3}"#.into(), tensor: [7; 32] }
    }

    fn round_trip(tensor: &Tensor) {
        let wire = WireTensor::from_tensor(5, opening(), vec![[1; 32], [2; 32]], tensor);
        let json = serde_json::to_string(&wire).unwrap();
        let back: WireTensor = serde_json::from_str(&json).unwrap();
        assert_eq!(back, wire);
        let decoded = back.to_tensor().unwrap();
        assert!(decoded.bits_eq(tensor), "{} round trip", tensor.dtype());
        assert_eq!(decoded.shape(), tensor.shape());
        assert_eq!(wasmnn_host_gpu::trace::tensor_digest(&decoded), wasmnn_host_gpu::trace::tensor_digest(tensor));
    }

    #[test]
    fn every_dtype_round_trips_bit_exactly() {
        let nan = f32::from_bits(0x7fc0_0001);
        let tensors = [
            Tensor::new(vec![2, 3], TensorData::F32(vec![0.0, -0.0, 1.5, f32::INFINITY, nan, f32::MIN_POSITIVE / 2.0]))
                .unwrap(),
            Tensor::new(vec![3], TensorData::F16(vec![f16::from_bits(0x7e01), f16::NEG_ZERO, f16::MAX])).unwrap(),
            Tensor::new(vec![4], TensorData::I8(vec![i8::MIN, -1, 0, i8::MAX])).unwrap(),
            Tensor::new(vec![2, 2], TensorData::U8(vec![0, 1, 254, 255])).unwrap(),
            Tensor::new(vec![3], TensorData::I32(vec![i32::MIN, 7, i32::MAX])).unwrap(),
            Tensor::new(vec![1, 3], TensorData::I64(vec![i64::MIN, -2, i64::MAX])).unwrap(),
            Tensor::new(vec![3], TensorData::Bool(vec![true, false, true])).unwrap(),
            Tensor::scalar_f32(-3.25),
            Tensor::new(vec![0, 4], TensorData::I64(vec![])).unwrap(),
        ];
        for tensor in &tensors {
            round_trip(tensor);
        }
    }

    #[test]
    fn malformed_tensors_are_refused() {
        let tensor = Tensor::new(vec![2], TensorData::Bool(vec![true, false])).unwrap();
        let good = WireTensor::from_tensor(0, opening(), vec![], &tensor);
        let bad_byte = WireTensor { data: BASE64.encode([1u8, 2]), ..good.clone() };
        assert!(bad_byte.to_tensor().unwrap_err().contains("neither 0 nor 1"));
        let short = WireTensor { data: BASE64.encode([1u8]), ..good.clone() };
        assert!(short.to_tensor().is_err());
        let dtype = WireTensor { dtype: "f64".into(), ..good.clone() };
        assert!(dtype.to_tensor().is_err());
        let huge = WireTensor { shape: vec![usize::MAX, 2], ..good.clone() };
        assert!(huge.to_tensor().is_err());
        let not_base64 = WireTensor { data: "@@".into(), ..good };
        assert!(not_base64.to_tensor().is_err());
    }

    #[test]
    fn bodies_have_the_documented_shape() {
        let children = ChildrenResponse { left: [0xab; 32], right: [0; 32] };
        let json = serde_json::to_value(children).unwrap();
        assert_eq!(json["left"], "ab".repeat(32));
        assert_eq!(serde_json::from_value::<ChildrenResponse>(json).unwrap(), children);
        let leaf = LeafResponse { index: 3, opening: opening(), proof: vec![[9; 32]] };
        let json = serde_json::to_value(&leaf).unwrap();
        assert_eq!(json["opening"]["tensor"], "07".repeat(32));
        assert_eq!(json["proof"][0], "09".repeat(32));
        assert_eq!(serde_json::from_value::<LeafResponse>(json).unwrap(), leaf);
        let request: TensorsRequest = serde_json::from_str(r#"{"leaves":[1,2]}"#).unwrap();
        assert_eq!(request.leaves, [1, 2]);
        let commit: CommitRequest = serde_json::from_str(r#"{"receipt":{},"input":"AAE="}"#).unwrap();
        assert_eq!(commit.input_bytes().unwrap(), Some(vec![0, 1]));
        assert!(commit.signed_receipt().is_err());
    }
}
