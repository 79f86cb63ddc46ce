//! A bounds-checked little-endian cursor over a GGUF file's bytes.

use super::types::GgmlType;
use super::{GgufError, MAX_ARRAY_DEPTH, MAX_ARRAY_ELEMENTS, MAX_DIMS, MetaValue, TensorInfo};

/// Metadata value type ids (the GGUF specification's `gguf_metadata_value_type`).
mod value_type {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// Reads forward through `bytes`, refusing to run past the end.
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, offset: 0 }
    }

    /// How far it has read.
    pub(super) fn offset(&self) -> usize {
        self.offset
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    fn truncated(&self, what: &str, needed: u64) -> GgufError {
        GgufError::Truncated { what: what.to_owned(), offset: self.offset, needed, available: self.remaining() }
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        match usize::try_from(n) {
            Ok(len) if len <= self.remaining() => {
                let taken = &self.bytes[self.offset..self.offset + len];
                self.offset += len;
                Ok(taken)
            }
            _ => Err(self.truncated(what, n)),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    pub(super) fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Refuses a count of items above `limit`, or of items that each take at least
    /// `min_size` bytes when the rest of the file could not hold that many.
    pub(super) fn check_count(&self, count: u64, min_size: u64, limit: u64, what: &str) -> Result<(), GgufError> {
        if count > limit {
            return Err(GgufError::TooMany { what: what.to_owned(), count, limit });
        }
        match count.checked_mul(min_size) {
            Some(needed) if needed <= self.remaining() as u64 => Ok(()),
            _ => Err(self.truncated(&format!("{what} ({count} of them)"), count.saturating_mul(min_size))),
        }
    }

    /// A string: u64 length, then that many UTF-8 bytes.
    pub(super) fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let start = self.offset;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::InvalidUtf8 { what: what.to_owned(), offset: start })
    }

    /// A metadata value: its type id, then the value.
    pub(super) fn meta_value(&mut self, key: &str) -> Result<MetaValue, GgufError> {
        let type_id = self.u32(&format!("the value type of {key:?}"))?;
        self.value_of_type(type_id, key, 0)
    }

    fn value_of_type(&mut self, type_id: u32, key: &str, depth: usize) -> Result<MetaValue, GgufError> {
        let what = || format!("the value of {key:?}");
        Ok(match type_id {
            value_type::U8 => MetaValue::U8(u8::from_le_bytes(self.array(&what())?)),
            value_type::I8 => MetaValue::I8(i8::from_le_bytes(self.array(&what())?)),
            value_type::U16 => MetaValue::U16(u16::from_le_bytes(self.array(&what())?)),
            value_type::I16 => MetaValue::I16(i16::from_le_bytes(self.array(&what())?)),
            value_type::U32 => MetaValue::U32(self.u32(&what())?),
            value_type::I32 => MetaValue::I32(i32::from_le_bytes(self.array(&what())?)),
            value_type::F32 => MetaValue::F32(f32::from_le_bytes(self.array(&what())?)),
            value_type::U64 => MetaValue::U64(self.u64(&what())?),
            value_type::I64 => MetaValue::I64(i64::from_le_bytes(self.array(&what())?)),
            value_type::F64 => MetaValue::F64(f64::from_le_bytes(self.array(&what())?)),
            value_type::BOOL => {
                let offset = self.offset;
                match self.array::<1>(&what())? {
                    [0] => MetaValue::Bool(false),
                    [1] => MetaValue::Bool(true),
                    [b] => {
                        return Err(GgufError::BadMetadata {
                            key: key.to_owned(),
                            reason: format!("bool byte {b} at byte {offset} is neither 0 nor 1"),
                        });
                    }
                }
            }
            value_type::STRING => MetaValue::String(self.string(&what())?),
            value_type::ARRAY => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::NestingTooDeep { key: key.to_owned() });
                }
                let element_type = self.u32(&format!("the element type of {key:?}"))?;
                let count = self.u64(&format!("the length of {key:?}"))?;
                let what = format!("the elements of {key:?}");
                self.check_count(count, min_value_size(element_type), MAX_ARRAY_ELEMENTS, &what)?;
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value_of_type(element_type, key, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            other => return Err(GgufError::UnknownValueType { key: key.to_owned(), type_id: other }),
        })
    }

    /// A tensor table entry: name, dimension count, dimensions, type, offset.
    pub(super) fn tensor_info(&mut self) -> Result<TensorInfo, GgufError> {
        let name = self.string("a tensor name")?;
        let n_dims = self.u32(&format!("the dimension count of {name:?}"))?;
        let bad_shape = |dims: Vec<u64>, reason: String| GgufError::BadShape { tensor: name.clone(), dims, reason };
        if n_dims == 0 || n_dims as usize > MAX_DIMS {
            return Err(bad_shape(Vec::new(), format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64(&format!("a dimension of {name:?}"))?);
        }
        let type_id = self.u32(&format!("the type of {name:?}"))?;
        let offset = self.u64(&format!("the offset of {name:?}"))?;
        let ggml_type =
            GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnsupportedType { tensor: name.clone(), type_id })?;
        if dims.contains(&0) {
            return Err(bad_shape(dims, "a dimension is 0".to_owned()));
        }
        let Some(elements) = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d)) else {
            return Err(bad_shape(dims, "the element count overflows".to_owned()));
        };
        let block = ggml_type.block_elements();
        if dims[0] % block != 0 {
            return Err(bad_shape(dims, format!("rows of {ggml_type:?} must be whole blocks of {block} elements")));
        }
        let Some(size) = (elements / block).checked_mul(ggml_type.block_bytes()) else {
            return Err(bad_shape(dims, "the byte size overflows".to_owned()));
        };
        Ok(TensorInfo { name, dims, ggml_type, offset, size })
    }
}

/// The fewest bytes a value of `type_id` takes (for refusing impossible array lengths);
/// unknown types count 1, and fail when the first element is read.
fn min_value_size(type_id: u32) -> u64 {
    match type_id {
        value_type::U16 | value_type::I16 => 2,
        value_type::U32 | value_type::I32 | value_type::F32 => 4,
        value_type::U64 | value_type::I64 | value_type::F64 | value_type::STRING => 8,
        value_type::ARRAY => 12,
        _ => 1,
    }
}
