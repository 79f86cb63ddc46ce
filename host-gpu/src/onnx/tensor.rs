//! `TensorProto` → [`Tensor`], for initializers and `Constant` values.
//!
//! Steps: reject external data and unsupported element types, compute the element count
//! from the dims with checked arithmetic (negative dims rejected), compare it with the
//! bytes or elements actually present, and only then build the typed vector. `raw_data`
//! is consumed: u8 data is moved as is, other types are decoded from it in one pass.

use half::f16;

use super::OnnxError;
use super::proto::{DATA_LOCATION_EXTERNAL, TensorProto, data_type};
use crate::tensor::{DType, Tensor, TensorData, checked_numel};

/// The IR element type of an ONNX `TensorProto.DataType`, if supported.
pub(super) fn dtype_from_onnx(code: i32) -> Option<DType> {
    Some(match code {
        data_type::FLOAT => DType::F32,
        data_type::FLOAT16 => DType::F16,
        data_type::INT8 => DType::I8,
        data_type::UINT8 => DType::U8,
        data_type::INT32 => DType::I32,
        data_type::INT64 => DType::I64,
        data_type::BOOL => DType::Bool,
        _ => return None,
    })
}

/// The ONNX name of a `TensorProto.DataType`, for messages about unsupported types.
pub(super) fn type_name(code: i32) -> String {
    let name = match code {
        0 => "undefined",
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        _ => "type",
    };
    format!("{name} (onnx data type {code})")
}

/// Converts a tensor proto, naming it in errors.
///
/// # Errors
/// [`OnnxError::Tensor`] for external data, unsupported types, bad dims, or a payload
/// whose size disagrees with the dims.
pub(super) fn to_tensor(mut proto: TensorProto) -> Result<Tensor, OnnxError> {
    let name = std::mem::take(&mut proto.name);
    convert(proto).map_err(|message| OnnxError::Tensor { name, message })
}

fn convert(proto: TensorProto) -> Result<Tensor, String> {
    if proto.data_location == DATA_LOCATION_EXTERNAL {
        return Err("external data is not supported, save the model with its weights inside: data_location = external"
            .to_owned());
    }
    let dtype = dtype_from_onnx(proto.data_type)
        .ok_or_else(|| format!("unsupported element type: {}", type_name(proto.data_type)))?;
    let shape = proto
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("negative dimension: {:?}", proto.dims))?;
    let count = checked_numel(&shape).ok_or_else(|| format!("element count overflows: {:?}", proto.dims))?;
    let data = if !proto.raw_data.is_empty() || count == 0 {
        from_raw(dtype, count, proto.raw_data)?
    } else {
        from_typed(dtype, count, proto)?
    };
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

/// Decodes little-endian `raw_data` after checking its length against the dims.
fn from_raw(dtype: DType, count: usize, raw: Vec<u8>) -> Result<TensorData, String> {
    let expected = count.checked_mul(dtype.size_of());
    if expected != Some(raw.len()) {
        return Err(format!("raw data holds {} bytes, the dims need {count} {dtype} elements", raw.len()));
    }
    Ok(match dtype {
        DType::F32 => TensorData::F32(le_values(&raw, f32::from_le_bytes)),
        DType::F16 => TensorData::F16(le_values(&raw, f16::from_le_bytes)),
        DType::I8 => TensorData::I8(raw.into_iter().map(|b| i8::from_le_bytes([b])).collect()),
        DType::U8 => TensorData::U8(raw),
        DType::I32 => TensorData::I32(le_values(&raw, i32::from_le_bytes)),
        DType::I64 => TensorData::I64(le_values(&raw, i64::from_le_bytes)),
        DType::Bool => TensorData::Bool(raw.into_iter().map(|b| b != 0).collect()),
    })
}

fn le_values<T, const N: usize>(bytes: &[u8], decode: fn([u8; N]) -> T) -> Vec<T> {
    let (chunks, _) = bytes.as_chunks::<N>();
    chunks.iter().map(|&chunk| decode(chunk)).collect()
}

/// Takes the typed repeated field that holds `dtype` after checking its length.
fn from_typed(dtype: DType, count: usize, proto: TensorProto) -> Result<TensorData, String> {
    Ok(match dtype {
        DType::F32 => TensorData::F32(exact(proto.float_data, count, "float_data")?),
        DType::I64 => TensorData::I64(exact(proto.int64_data, count, "int64_data")?),
        DType::I32 => TensorData::I32(exact(proto.int32_data, count, "int32_data")?),
        DType::I8 => TensorData::I8(narrow(proto.int32_data, count, dtype, |v| i8::try_from(v).ok())?),
        DType::U8 => TensorData::U8(narrow(proto.int32_data, count, dtype, |v| u8::try_from(v).ok())?),
        DType::Bool => TensorData::Bool(narrow(proto.int32_data, count, dtype, |v| Some(v != 0))?),
        DType::F16 => {
            TensorData::F16(narrow(proto.int32_data, count, dtype, |v| u16::try_from(v).ok().map(f16::from_bits))?)
        }
    })
}

fn exact<T>(values: Vec<T>, count: usize, field: &str) -> Result<Vec<T>, String> {
    if values.len() != count {
        return Err(format!("{field} holds {} elements, the dims need {count}", values.len()));
    }
    Ok(values)
}

/// Converts `int32_data` to a narrower type, rejecting values out of its range.
fn narrow<T>(values: Vec<i32>, count: usize, dtype: DType, convert: fn(i32) -> Option<T>) -> Result<Vec<T>, String> {
    exact(values, count, "int32_data")?
        .into_iter()
        .map(|v| convert(v).ok_or_else(|| format!("int32_data value out of range for {dtype}: {v}")))
        .collect()
}
