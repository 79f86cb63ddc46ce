//! Tensors to and from the 32-bit words every GPU buffer holds: f32 as bits, i32 as is,
//! i64 narrowed to i32 (checked), bool as 0/1.

use super::GpuError;
use crate::tensor::{DType, Tensor, TensorData};

/// Whether tensors of `dtype` can live on the GPU.
pub(crate) fn supported(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::I32 | DType::I64 | DType::Bool)
}

/// The words of `tensor`; `name` is for errors.
///
/// # Errors
/// [`GpuError::Input`] for a dtype the GPU does not hold or an i64 outside the i32 range.
pub(crate) fn to_words(name: &str, tensor: &Tensor) -> Result<Vec<u32>, GpuError> {
    let error = |message: String| GpuError::Input { name: name.to_owned(), message };
    Ok(match tensor.data() {
        TensorData::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
        TensorData::I32(v) => v.iter().map(|&x| x as u32).collect(),
        TensorData::I64(v) => v
            .iter()
            .map(|&x| i32::try_from(x).map(|x| x as u32))
            .collect::<Result<_, _>>()
            .map_err(|_| error("an i64 value is outside the i32 range the GPU computes in".into()))?,
        TensorData::Bool(v) => v.iter().map(|&b| u32::from(b)).collect(),
        other => return Err(error(format!("{} tensors are not supported on the GPU", other.dtype()))),
    })
}

/// A tensor of `dtype` and `shape` from its words (i64 sign-extended from i32).
///
/// # Errors
/// When `words` does not match the shape, or the dtype is not held on the GPU.
pub(crate) fn from_words(dtype: DType, shape: Vec<usize>, words: &[u32]) -> Result<Tensor, GpuError> {
    let data = match dtype {
        DType::F32 => TensorData::F32(words.iter().map(|&w| f32::from_bits(w)).collect()),
        DType::I32 => TensorData::I32(words.iter().map(|&w| w as i32).collect()),
        DType::I64 => TensorData::I64(words.iter().map(|&w| i64::from(w as i32)).collect()),
        DType::Bool => TensorData::Bool(words.iter().map(|&w| w != 0).collect()),
        other => return Err(GpuError::Readback(format!("{other} outputs are not supported on the GPU"))),
    };
    Tensor::new(shape, data).map_err(|e| GpuError::Readback(e.to_string()))
}
