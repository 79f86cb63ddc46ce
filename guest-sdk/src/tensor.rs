//! Tensors: typed constructors from slices, typed readers for outputs.
//!
//! A [`Tensor`] is a host resource: making one copies its bytes to the host (where they
//! count against the call's tensor byte budget), and reading one copies them back. The
//! dimensions and element type are kept on the guest side too, so reading them is free.

use std::fmt;

use crate::bindings::wasi::nn::tensor as nn;
use crate::{Error, ErrorCode};

/// Element types of a tensor: the wasi-nn `tensor-type` enum.
///
/// wasmnn computes with FP32, FP16, U8, I32 and I64; the host refuses FP64 and BF16 with
/// `invalid-argument`, but they can still be named (and sent) for completeness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// IEEE 754 half precision, stored as its 16 bits.
    Fp16,
    /// IEEE 754 single precision.
    Fp32,
    /// IEEE 754 double precision (refused by wasmnn hosts).
    Fp64,
    /// bfloat16, stored as its 16 bits (refused by wasmnn hosts).
    Bf16,
    /// Unsigned 8-bit integers.
    U8,
    /// Signed 32-bit integers.
    I32,
    /// Signed 64-bit integers.
    I64,
}

impl TensorType {
    /// The size of one element in bytes.
    pub const fn element_size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::Fp16 | Self::Bf16 => 2,
            Self::Fp32 | Self::I32 => 4,
            Self::Fp64 | Self::I64 => 8,
        }
    }

    /// The type's wasi-nn name, as spelled in the WIT (`FP32`, `I64`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fp16 => "FP16",
            Self::Fp32 => "FP32",
            Self::Fp64 => "FP64",
            Self::Bf16 => "BF16",
            Self::U8 => "U8",
            Self::I32 => "I32",
            Self::I64 => "I64",
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<nn::TensorType> for TensorType {
    fn from(ty: nn::TensorType) -> Self {
        match ty {
            nn::TensorType::Fp16 => Self::Fp16,
            nn::TensorType::Fp32 => Self::Fp32,
            nn::TensorType::Fp64 => Self::Fp64,
            nn::TensorType::Bf16 => Self::Bf16,
            nn::TensorType::U8 => Self::U8,
            nn::TensorType::I32 => Self::I32,
            nn::TensorType::I64 => Self::I64,
        }
    }
}

impl From<TensorType> for nn::TensorType {
    fn from(ty: TensorType) -> Self {
        match ty {
            TensorType::Fp16 => Self::Fp16,
            TensorType::Fp32 => Self::Fp32,
            TensorType::Fp64 => Self::Fp64,
            TensorType::Bf16 => Self::Bf16,
            TensorType::U8 => Self::U8,
            TensorType::I32 => Self::I32,
            TensorType::I64 => Self::I64,
        }
    }
}

/// A tensor held by the host: dimensions, element type and little-endian element bytes.
///
/// Build inputs with the typed constructors ([`Tensor::from_f32`], [`Tensor::from_i64`],
/// …), which check that the number of values matches the dimensions; read outputs with
/// the typed readers ([`Tensor::to_f32`], [`Tensor::to_i64`], …), which check the element
/// type. Dimensions are outermost first (row-major).
pub struct Tensor {
    inner: nn::Tensor,
    dims: Vec<u32>,
    ty: TensorType,
}

impl Tensor {
    /// Makes a tensor from an element type, dimensions and little-endian element bytes.
    ///
    /// # Errors
    /// `invalid-argument` if `data` is not exactly the product of `dims` times the
    /// element size long.
    pub fn new(ty: TensorType, dims: &[u32], data: &[u8]) -> Result<Self, Error> {
        let expected = byte_len(ty, dims)?;
        if data.len() != expected {
            return Err(Error::invalid(format!(
                "tensor of dimensions {dims:?} and type {ty} needs {expected} bytes, got {}",
                data.len()
            )));
        }
        Ok(Self { inner: nn::Tensor::new(dims, ty.into(), data), dims: dims.to_vec(), ty })
    }

    /// Makes an FP32 tensor from `values` (row-major).
    ///
    /// # Errors
    /// `invalid-argument` if `values.len()` is not the product of `dims`.
    pub fn from_f32(dims: &[u32], values: &[f32]) -> Result<Self, Error> {
        Self::from_values(TensorType::Fp32, dims, values, |v| v.to_le_bytes())
    }

    /// Makes an FP16 tensor from the IEEE 754 bit patterns of `values` (row-major), as
    /// given by `half::f16::to_bits`, for example.
    ///
    /// # Errors
    /// `invalid-argument` if `values.len()` is not the product of `dims`.
    pub fn from_f16_bits(dims: &[u32], values: &[u16]) -> Result<Self, Error> {
        Self::from_values(TensorType::Fp16, dims, values, |v| v.to_le_bytes())
    }

    /// Makes a U8 tensor from `values` (row-major).
    ///
    /// # Errors
    /// `invalid-argument` if `values.len()` is not the product of `dims`.
    pub fn from_u8(dims: &[u32], values: &[u8]) -> Result<Self, Error> {
        Self::from_values(TensorType::U8, dims, values, |v| [*v])
    }

    /// Makes an I32 tensor from `values` (row-major).
    ///
    /// # Errors
    /// `invalid-argument` if `values.len()` is not the product of `dims`.
    pub fn from_i32(dims: &[u32], values: &[i32]) -> Result<Self, Error> {
        Self::from_values(TensorType::I32, dims, values, |v| v.to_le_bytes())
    }

    /// Makes an I64 tensor from `values` (row-major), the type of token ids.
    ///
    /// # Errors
    /// `invalid-argument` if `values.len()` is not the product of `dims`.
    pub fn from_i64(dims: &[u32], values: &[i64]) -> Result<Self, Error> {
        Self::from_values(TensorType::I64, dims, values, |v| v.to_le_bytes())
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[u32] {
        &self.dims
    }

    /// The element type.
    pub fn ty(&self) -> TensorType {
        self.ty
    }

    /// The number of elements: the product of the dimensions.
    pub fn len(&self) -> usize {
        self.dims.iter().map(|&d| d as usize).product()
    }

    /// Whether the tensor has no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the tensor's little-endian element bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.inner.data()
    }

    /// The elements of an FP32 tensor.
    ///
    /// # Errors
    /// `invalid-argument` if the tensor is not FP32.
    pub fn to_f32(&self) -> Result<Vec<f32>, Error> {
        self.to_values(TensorType::Fp32, f32::from_le_bytes)
    }

    /// The IEEE 754 bit patterns of an FP16 tensor's elements.
    ///
    /// # Errors
    /// `invalid-argument` if the tensor is not FP16.
    pub fn to_f16_bits(&self) -> Result<Vec<u16>, Error> {
        self.to_values(TensorType::Fp16, u16::from_le_bytes)
    }

    /// The elements of a U8 tensor.
    ///
    /// # Errors
    /// `invalid-argument` if the tensor is not U8.
    pub fn to_u8(&self) -> Result<Vec<u8>, Error> {
        self.to_values(TensorType::U8, |[b]: [u8; 1]| b)
    }

    /// The elements of an I32 tensor.
    ///
    /// # Errors
    /// `invalid-argument` if the tensor is not I32.
    pub fn to_i32(&self) -> Result<Vec<i32>, Error> {
        self.to_values(TensorType::I32, i32::from_le_bytes)
    }

    /// The elements of an I64 tensor.
    ///
    /// # Errors
    /// `invalid-argument` if the tensor is not I64.
    pub fn to_i64(&self) -> Result<Vec<i64>, Error> {
        self.to_values(TensorType::I64, i64::from_le_bytes)
    }

    /// Wraps a tensor the host returned, reading its dimensions and type once.
    pub(crate) fn from_host(inner: nn::Tensor) -> Self {
        let dims = inner.dimensions();
        let ty = inner.ty().into();
        Self { inner, dims, ty }
    }

    /// Hands the host resource over (to `compute`, which takes ownership).
    pub(crate) fn into_host(self) -> nn::Tensor {
        self.inner
    }

    fn from_values<T, const N: usize>(
        ty: TensorType,
        dims: &[u32],
        values: &[T],
        to_bytes: impl Fn(&T) -> [u8; N],
    ) -> Result<Self, Error> {
        let count = element_count(dims)?;
        if values.len() != count {
            return Err(Error::invalid(format!(
                "tensor of dimensions {dims:?} needs {count} {ty} values, got {}",
                values.len()
            )));
        }
        Self::new(ty, dims, &encode(values, to_bytes))
    }

    fn to_values<T, const N: usize>(&self, ty: TensorType, from_bytes: fn([u8; N]) -> T) -> Result<Vec<T>, Error> {
        if self.ty != ty {
            return Err(Error::invalid(format!("tensor is {}, not {ty}", self.ty)));
        }
        let bytes = self.bytes();
        let expected = self.len() * ty.element_size();
        if bytes.len() != expected {
            return Err(Error::new(
                ErrorCode::RuntimeError,
                format!(
                    "host returned {} bytes for a tensor of dimensions {:?} and type {ty}, expected {expected}",
                    bytes.len(),
                    self.dims
                ),
            ));
        }
        Ok(decode(&bytes, from_bytes))
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor").field("ty", &self.ty).field("dims", &self.dims).finish_non_exhaustive()
    }
}

/// The number of elements of a tensor with dimensions `dims`.
fn element_count(dims: &[u32]) -> Result<usize, Error> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| Error::invalid(format!("tensor dimensions overflow the address space: {dims:?}")))
}

/// The number of bytes of a `ty` tensor with dimensions `dims`.
fn byte_len(ty: TensorType, dims: &[u32]) -> Result<usize, Error> {
    element_count(dims)?
        .checked_mul(ty.element_size())
        .ok_or_else(|| Error::invalid(format!("tensor dimensions overflow the address space: {dims:?}")))
}

/// Concatenates the little-endian bytes of `values`.
fn encode<T, const N: usize>(values: &[T], to_bytes: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * N);
    for value in values {
        bytes.extend_from_slice(&to_bytes(value));
    }
    bytes
}

/// Splits `bytes` (a multiple of `N` long) into elements.
fn decode<T, const N: usize>(bytes: &[u8], from_bytes: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut array = [0u8; N];
            array.copy_from_slice(chunk);
            from_bytes(array)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_sizes_and_names() {
        let all = [
            (TensorType::Fp16, 2, "FP16"),
            (TensorType::Fp32, 4, "FP32"),
            (TensorType::Fp64, 8, "FP64"),
            (TensorType::Bf16, 2, "BF16"),
            (TensorType::U8, 1, "U8"),
            (TensorType::I32, 4, "I32"),
            (TensorType::I64, 8, "I64"),
        ];
        for (ty, size, name) in all {
            assert_eq!(ty.element_size(), size);
            assert_eq!(ty.to_string(), name);
            assert_eq!(TensorType::from(nn::TensorType::from(ty)), ty);
        }
    }

    #[test]
    fn values_round_trip_through_le_bytes() {
        let values = [1.0f32, -2.5, f32::MIN_POSITIVE, f32::INFINITY];
        let bytes = encode(&values, |v| v.to_le_bytes());
        assert_eq!(&bytes[..4], &[0, 0, 0x80, 0x3f]);
        assert_eq!(decode(&bytes, f32::from_le_bytes), values);
        let ids = [101i64, -1, i64::MAX];
        assert_eq!(decode(&encode(&ids, |v| v.to_le_bytes()), i64::from_le_bytes), ids);
    }

    #[test]
    fn sizes_are_checked_before_the_host_is_called() {
        let error = Tensor::from_f32(&[1, 4], &[1.0, 2.0, 3.0]).expect_err("3 values for 4 elements");
        assert_eq!(error.code(), ErrorCode::InvalidArgument);
        assert_eq!(error.message(), "tensor of dimensions [1, 4] needs 4 FP32 values, got 3");
        let error = Tensor::new(TensorType::I64, &[2], &[0; 15]).expect_err("15 bytes for 16");
        assert_eq!(error.message(), "tensor of dimensions [2] and type I64 needs 16 bytes, got 15");
        assert_eq!(element_count(&[]).expect("a scalar"), 1);
        assert!(byte_len(TensorType::I64, &[u32::MAX, u32::MAX, u32::MAX]).is_err());
    }
}
