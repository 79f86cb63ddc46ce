//! wasi-nn tensors: the guest-held resource, and its conversion to and from the
//! executors' [`Tensor`].
//!
//! The wasi-nn constructor cannot fail, so a tensor is kept as the guest gave it
//! (dimensions, type, bytes) and checked when `compute` converts it: FP64 and BF16 are
//! refused (the executors compute in f32 and store f16; wasmnn does not round doubles on
//! the guest's behalf), and the byte length must match the dimensions.

use half::f16;
use wasmnn_host_gpu::{Tensor, TensorData};

use super::bindings::wasi::nn::tensor::TensorType;

/// A tensor as the guest created it, or as `compute` returned it.
#[derive(Debug, Clone)]
pub struct GuestTensor {
    /// Dimensions, outermost first.
    pub dims: Vec<u32>,
    /// Element type.
    pub ty: TensorType,
    /// Little-endian element bytes.
    pub data: Vec<u8>,
}

/// Bytes the host charges for holding a tensor besides its data (bookkeeping), so that
/// millions of empty tensors still exhaust the tensor budget.
pub const TENSOR_OVERHEAD: usize = 64;

impl GuestTensor {
    /// What holding this tensor costs against the call's tensor budget.
    pub fn charge(&self) -> usize {
        self.data.len().saturating_add(self.dims.len() * 4).saturating_add(TENSOR_OVERHEAD)
    }

    /// Converts to an executor tensor, checking type and length.
    ///
    /// # Errors
    /// A message for the guest (`invalid-argument`).
    pub fn to_tensor(&self) -> Result<Tensor, String> {
        let shape: Vec<usize> = self.dims.iter().map(|&d| d as usize).collect();
        let elements = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("dimensions {:?} overflow", self.dims))?;
        let size = element_size(self.ty).ok_or_else(|| {
            format!("tensor type {} is not supported (use FP32, FP16, U8, I32 or I64)", type_name(self.ty))
        })?;
        if elements.checked_mul(size) != Some(self.data.len()) {
            return Err(format!(
                "a {} tensor of dimensions {:?} needs {} bytes of data, got {}",
                type_name(self.ty),
                self.dims,
                elements.saturating_mul(size),
                self.data.len()
            ));
        }
        let data = match self.ty {
            TensorType::Fp32 => TensorData::F32(words(&self.data, f32::from_le_bytes)),
            TensorType::Fp16 => TensorData::F16(words(&self.data, |b| f16::from_bits(u16::from_le_bytes(b)))),
            TensorType::U8 => TensorData::U8(self.data.clone()),
            TensorType::I32 => TensorData::I32(words(&self.data, i32::from_le_bytes)),
            TensorType::I64 => TensorData::I64(words(&self.data, i64::from_le_bytes)),
            TensorType::Fp64 | TensorType::Bf16 => unreachable!("element_size refused these"),
        };
        Tensor::new(shape, data).map_err(|e| e.to_string())
    }

    /// Converts an executor output for the guest. Booleans become U8 0/1.
    ///
    /// # Errors
    /// The output's dtype has no wasi-nn type (i8), or a dimension exceeds u32.
    pub fn from_tensor(name: &str, tensor: &Tensor) -> Result<Self, String> {
        let dims = tensor
            .shape()
            .iter()
            .map(|&d| u32::try_from(d))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| format!("output {name:?} has a dimension over 2^32: {:?}", tensor.shape()))?;
        let (ty, data) = match tensor.data() {
            TensorData::F32(v) => (TensorType::Fp32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::F16(v) => (TensorType::Fp16, v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect()),
            TensorData::U8(v) => (TensorType::U8, v.clone()),
            TensorData::I32(v) => (TensorType::I32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::I64(v) => (TensorType::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::Bool(v) => (TensorType::U8, v.iter().map(|&b| u8::from(b)).collect()),
            TensorData::I8(_) => return Err(format!("output {name:?} is i8, which wasi-nn cannot represent")),
        };
        Ok(GuestTensor { dims, ty, data })
    }
}

/// Bytes per element of the types wasmnn accepts.
fn element_size(ty: TensorType) -> Option<usize> {
    match ty {
        TensorType::Fp32 | TensorType::I32 => Some(4),
        TensorType::Fp16 => Some(2),
        TensorType::U8 => Some(1),
        TensorType::I64 => Some(8),
        TensorType::Fp64 | TensorType::Bf16 => None,
    }
}

/// The WIT name of a tensor type.
fn type_name(ty: TensorType) -> &'static str {
    match ty {
        TensorType::Fp16 => "FP16",
        TensorType::Fp32 => "FP32",
        TensorType::Fp64 => "FP64",
        TensorType::Bf16 => "BF16",
        TensorType::U8 => "U8",
        TensorType::I32 => "I32",
        TensorType::I64 => "I64",
    }
}

/// Decodes little-endian words of `N` bytes (the length was checked by the caller).
fn words<const N: usize, T>(bytes: &[u8], decode: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut word = [0u8; N];
            word.copy_from_slice(chunk);
            decode(word)
        })
        .collect()
}
