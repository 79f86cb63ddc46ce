//! Dense, row-major (C order) tensors of the element types the executors support.
//!
//! A [`Tensor`] owns its elements in a [`TensorData`] vector of the matching Rust type and
//! a shape of `usize` dimensions. Scalars have an empty shape and one element. Every
//! constructor checks that the element count matches the shape, so code that holds a
//! `Tensor` may index it without re-checking.

use std::fmt;

use half::f16;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// IEEE 754 binary32: the type all float arithmetic is done in.
    F32,
    /// IEEE 754 binary16: storage only; converted to f32 exactly before arithmetic.
    F16,
    /// Signed 8-bit integer (quantized weights).
    I8,
    /// Unsigned 8-bit integer (images, quantized weights).
    U8,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer (ONNX indices and shapes).
    I64,
    /// Boolean (masks, comparison results).
    Bool,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size_of(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I64 => 8,
        }
    }

    /// Short lowercase name (`f32`, `i64`, …), as used in error messages and `model inspect`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }

    /// Whether this is an integer type (bool excluded).
    pub fn is_integer(self) -> bool {
        matches!(self, DType::I8 | DType::U8 | DType::I32 | DType::I64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The elements of a tensor, one variant per [`DType`].
#[derive(Clone, PartialEq)]
#[expect(missing_docs, reason = "one variant per DType, named alike")]
pub enum TensorData {
    F32(Vec<f32>),
    F16(Vec<f16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl TensorData {
    /// The element type of these elements.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F16(_) => DType::F16,
            TensorData::I8(_) => DType::I8,
            TensorData::U8(_) => DType::U8,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F16(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Errors building a tensor from parts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TensorError {
    /// The element count does not match the product of the shape.
    #[error("tensor of shape {shape:?} needs {expected} elements, got {actual}")]
    LengthMismatch {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Product of `shape`.
        expected: usize,
        /// Elements supplied.
        actual: usize,
    },
    /// The product of the shape overflows `usize`.
    #[error("tensor shape is too large: {0:?}")]
    ShapeOverflow(Vec<usize>),
    /// A tensor of one type was used where another was needed.
    #[error("expected a {expected} tensor, got {actual}")]
    WrongDType {
        /// The type needed.
        expected: DType,
        /// The type found.
        actual: DType,
    },
}

/// Number of elements of a shape, or `None` if the product overflows `usize`.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// A dense row-major tensor.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that `data` has exactly as many elements as `shape` needs.
    ///
    /// # Errors
    /// [`TensorError::LengthMismatch`] or [`TensorError::ShapeOverflow`].
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Self, TensorError> {
        let expected = checked_numel(&shape).ok_or_else(|| TensorError::ShapeOverflow(shape.clone()))?;
        if expected != data.len() {
            return Err(TensorError::LengthMismatch { shape, expected, actual: data.len() });
        }
        Ok(Tensor { shape, data })
    }

    /// An f32 tensor.
    ///
    /// # Errors
    /// As [`Tensor::new`].
    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, TensorError> {
        Tensor::new(shape, TensorData::F32(data))
    }

    /// An i64 tensor.
    ///
    /// # Errors
    /// As [`Tensor::new`].
    pub fn from_i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Self, TensorError> {
        Tensor::new(shape, TensorData::I64(data))
    }

    /// A scalar (rank-0) f32 tensor.
    pub fn scalar_f32(value: f32) -> Self {
        Tensor { shape: Vec::new(), data: TensorData::F32(vec![value]) }
    }

    /// A tensor of `dtype` and `shape` filled with zeros (false for bool).
    ///
    /// # Errors
    /// [`TensorError::ShapeOverflow`].
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Self, TensorError> {
        let n = checked_numel(&shape).ok_or_else(|| TensorError::ShapeOverflow(shape.clone()))?;
        let data = match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::F16 => TensorData::F16(vec![f16::ZERO; n]),
            DType::I8 => TensorData::I8(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
        };
        Ok(Tensor { shape, data })
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The rank (number of dimensions).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The elements.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Splits into shape and elements.
    pub fn into_parts(self) -> (Vec<usize>, TensorData) {
        (self.shape, self.data)
    }

    /// Same elements under a new shape with the same element count.
    ///
    /// # Errors
    /// [`TensorError::LengthMismatch`] when the counts differ.
    pub fn reshaped(self, shape: Vec<usize>) -> Result<Self, TensorError> {
        Tensor::new(shape, self.data)
    }

    /// The f32 elements.
    ///
    /// # Errors
    /// [`TensorError::WrongDType`] if this is not an f32 tensor.
    pub fn as_f32(&self) -> Result<&[f32], TensorError> {
        match &self.data {
            TensorData::F32(v) => Ok(v),
            other => Err(TensorError::WrongDType { expected: DType::F32, actual: other.dtype() }),
        }
    }

    /// The f32 elements, mutably, when this is an f32 tensor (the length stays fixed).
    pub fn f32_mut(&mut self) -> Option<&mut [f32]> {
        match &mut self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The i64 elements.
    ///
    /// # Errors
    /// [`TensorError::WrongDType`] if this is not an i64 tensor.
    pub fn as_i64(&self) -> Result<&[i64], TensorError> {
        match &self.data {
            TensorData::I64(v) => Ok(v),
            other => Err(TensorError::WrongDType { expected: DType::I64, actual: other.dtype() }),
        }
    }

    /// The bool elements.
    ///
    /// # Errors
    /// [`TensorError::WrongDType`] if this is not a bool tensor.
    pub fn as_bool(&self) -> Result<&[bool], TensorError> {
        match &self.data {
            TensorData::Bool(v) => Ok(v),
            other => Err(TensorError::WrongDType { expected: DType::Bool, actual: other.dtype() }),
        }
    }

    /// Integer elements widened to i64 (for shape, index and axis inputs).
    ///
    /// # Errors
    /// [`TensorError::WrongDType`] for float or bool tensors.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, TensorError> {
        Ok(match &self.data {
            TensorData::I64(v) => v.clone(),
            TensorData::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            TensorData::I8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            TensorData::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            other => {
                return Err(TensorError::WrongDType { expected: DType::I64, actual: other.dtype() });
            }
        })
    }

    /// Bitwise equality: same shape, dtype and element bits (so NaN == NaN with the same
    /// payload, and +0 != -0). This is how executors are compared.
    pub fn bits_eq(&self, other: &Tensor) -> bool {
        if self.shape != other.shape {
            return false;
        }
        match (&self.data, &other.data) {
            (TensorData::F32(a), TensorData::F32(b)) => a.iter().map(|x| x.to_bits()).eq(b.iter().map(|x| x.to_bits())),
            (TensorData::F16(a), TensorData::F16(b)) => a.iter().map(|x| x.to_bits()).eq(b.iter().map(|x| x.to_bits())),
            (a, b) => a == b,
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?}", self.dtype(), self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_length_mismatch() {
        let err = Tensor::from_f32(vec![2, 3], vec![0.0; 5]).unwrap_err();
        assert_eq!(err, TensorError::LengthMismatch { shape: vec![2, 3], expected: 6, actual: 5 });
    }

    #[test]
    fn rejects_overflowing_shape() {
        let err = Tensor::zeros(DType::F32, vec![usize::MAX, 2]).unwrap_err();
        assert!(matches!(err, TensorError::ShapeOverflow(_)));
    }

    #[test]
    fn bits_eq_distinguishes_signed_zero() {
        let a = Tensor::from_f32(vec![1], vec![0.0]).unwrap();
        let b = Tensor::from_f32(vec![1], vec![-0.0]).unwrap();
        assert!(!a.bits_eq(&b));
        assert!(a.bits_eq(&a.clone()));
    }
}
