//! GGUF files (the llama.cpp model format, version 2 and 3): the header, the metadata
//! key/value pairs, the tensor table and the tensor data of the element types wasmnn runs
//! (F32, F16, Q8_0, Q4_1).
//!
//! The reader is small and written for hostile input: every length, count and offset is
//! checked against the bytes actually present before anything is allocated or read (a
//! count of 2^64 strings costs nothing but an error), arrays nest at most
//! [`MAX_ARRAY_DEPTH`] deep, shapes are checked for overflow, and each tensor must lie,
//! aligned, inside the data section without overlapping another. Errors say what was being
//! read and at which byte offset. (Existing Rust GGUF readers either allocate from the
//! length fields they read or come inside a whole inference framework.)

mod reader;
mod types;

#[cfg(test)]
pub(crate) mod test_writer;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use types::{GgmlType, dequantize};

use reader::Cursor;

/// The bytes every GGUF file starts with.
pub const MAGIC: &[u8; 4] = b"GGUF";

/// Alignment of the data section and of each tensor when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The deepest nesting of metadata arrays accepted (GGUF files use 1).
pub const MAX_ARRAY_DEPTH: usize = 4;

/// The most dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// The most elements a metadata array may have (vocabularies and merge lists hold a few
/// hundred thousand): a parsed element takes up to 32 bytes of memory for 1 in the file,
/// so this bounds what a file can make the reader allocate.
pub const MAX_ARRAY_ELEMENTS: u64 = 1 << 22;

/// The most metadata entries, and the most tensors, a file may declare (models have a few
/// thousand tensors at most).
pub const MAX_ENTRIES: u64 = 1 << 16;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// `uint8`.
    U8(u8),
    /// `int8`.
    I8(i8),
    /// `uint16`.
    U16(u16),
    /// `int16`.
    I16(i16),
    /// `uint32`.
    U32(u32),
    /// `int32`.
    I32(i32),
    /// `uint64`.
    U64(u64),
    /// `int64`.
    I64(i64),
    /// `float32`.
    F32(f32),
    /// `float64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// A UTF-8 string.
    String(String),
    /// An array (all elements of one type).
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as an `f32`, if it is a `float32`.
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            MetaValue::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array, if it is one.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// One entry of the tensor table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions in GGUF order: `dims[0]` is the innermost (contiguous) one.
    pub dims: Vec<u64>,
    /// The element type.
    pub ggml_type: GgmlType,
    /// Byte offset of its data from the start of the data section.
    pub offset: u64,
    /// Its data's size in bytes.
    pub size: u64,
}

impl TensorInfo {
    /// How many elements the tensor has.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file: its metadata, its tensor table and its bytes.
#[derive(Debug)]
pub struct Gguf {
    /// The format version (2 or 3).
    pub version: u32,
    metadata: Vec<(String, MetaValue)>,
    keys: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    data_start: usize,
    bytes: Vec<u8>,
}

/// Why a GGUF file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file (it does not start with \"GGUF\")")]
    BadMagic,
    /// A version other than 2 or 3.
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    UnsupportedVersion(u32),
    /// The file ends in the middle of something.
    #[error("the file is truncated: {what} at byte {offset} needs {needed} bytes, {available} remain")]
    Truncated {
        /// What was being read.
        what: String,
        /// Where.
        offset: usize,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the file.
        available: usize,
    },
    /// A string that is not UTF-8.
    #[error("{what} at byte {offset} is not UTF-8")]
    InvalidUtf8 {
        /// What was being read.
        what: String,
        /// Where.
        offset: usize,
    },
    /// An unknown metadata value type.
    #[error("metadata {key:?} has unknown value type {type_id}")]
    UnknownValueType {
        /// The key.
        key: String,
        /// The type id read.
        type_id: u32,
    },
    /// Arrays nested deeper than [`MAX_ARRAY_DEPTH`].
    #[error("metadata {key:?} nests arrays deeper than {MAX_ARRAY_DEPTH}")]
    NestingTooDeep {
        /// The key.
        key: String,
    },
    /// The same metadata key twice.
    #[error("metadata key {0:?} appears twice")]
    DuplicateKey(String),
    /// The same tensor name twice.
    #[error("tensor {0:?} appears twice")]
    DuplicateTensor(String),
    /// A metadata value of the wrong type or range for what it configures.
    #[error("metadata {key:?}: {reason}")]
    BadMetadata {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// More metadata entries, tensors or array elements than the reader accepts.
    #[error("{what}: {count} declared, at most {limit} accepted")]
    TooMany {
        /// What was being counted.
        what: String,
        /// The count read.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// A tensor element type wasmnn does not run.
    #[error("tensor {tensor:?} has ggml type {type_id} ({}), which wasmnn does not support (F32, F16, Q8_0, Q4_1)", types::type_name(*type_id))]
    UnsupportedType {
        /// The tensor.
        tensor: String,
        /// The ggml type id.
        type_id: u32,
    },
    /// A shape with no dimensions, too many, a zero one, an overflowing element count, or
    /// a row that is not whole blocks.
    #[error("tensor {tensor:?} has a bad shape {dims:?}: {reason}")]
    BadShape {
        /// The tensor.
        tensor: String,
        /// Its dimensions as read.
        dims: Vec<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A tensor whose data lies (partly) outside the file, overlaps another, or is not
    /// aligned.
    #[error("tensor {tensor:?}: {reason}")]
    BadPlacement {
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
}

impl Gguf {
    /// Parses and checks a whole GGUF file held in memory.
    ///
    /// # Errors
    /// [`GgufError`] naming what is malformed and where.
    pub fn parse(bytes: Vec<u8>) -> Result<Gguf, GgufError> {
        let mut cursor = Cursor::new(&bytes);
        if cursor.take(4, "the magic").ok() != Some(MAGIC.as_slice()) {
            return Err(GgufError::BadMagic);
        }
        let version = cursor.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let tensor_count = cursor.u64("the tensor count")?;
        let kv_count = cursor.u64("the metadata count")?;
        // Each metadata entry takes at least 12 bytes (key length, value type) and each
        // tensor entry at least 24: counts beyond what the file could hold, or beyond
        // [`MAX_ENTRIES`], are refused before anything is allocated.
        cursor.check_count(kv_count, 12, MAX_ENTRIES, "the metadata entries")?;
        let mut metadata = Vec::new();
        let mut keys = HashMap::new();
        for _ in 0..kv_count {
            let key = cursor.string("a metadata key")?;
            let value = cursor.meta_value(&key)?;
            if keys.insert(key.clone(), metadata.len()).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.push((key, value));
        }
        let alignment = alignment(keys.get(ALIGNMENT_KEY).map(|&i| &metadata[i].1))?;
        cursor.check_count(tensor_count, 24, MAX_ENTRIES, "the tensor table")?;
        let mut tensors = Vec::new();
        let mut by_name = HashMap::new();
        for _ in 0..tensor_count {
            let tensor = cursor.tensor_info()?;
            if by_name.insert(tensor.name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(tensor.name));
            }
            tensors.push(tensor);
        }
        let data_start = align_up(cursor.offset() as u64, alignment).filter(|&start| start <= bytes.len() as u64);
        let data_start = data_start.ok_or_else(|| GgufError::Truncated {
            what: "the padding before the tensor data".to_owned(),
            offset: cursor.offset(),
            needed: alignment,
            available: bytes.len() - cursor.offset(),
        })? as usize;
        check_placement(&tensors, alignment, (bytes.len() - data_start) as u64)?;
        Ok(Gguf { version, metadata, keys, tensors, by_name, data_start, bytes })
    }

    /// The metadata in file order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }

    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.keys.get(key).map(|&i| &self.metadata[i].1)
    }

    /// The tensor table in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The raw bytes of a tensor of this file (as stored: blocks for quantized types).
    pub fn tensor_bytes(&self, tensor: &TensorInfo) -> &[u8] {
        // Placement was checked at parse time, so the range is inside the file.
        let start = self.data_start + tensor.offset as usize;
        &self.bytes[start..start + tensor.size as usize]
    }
}

/// The metadata key that sets the alignment of the data section and of each tensor.
const ALIGNMENT_KEY: &str = "general.alignment";

/// The value of [`ALIGNMENT_KEY`] (a uint32 power of two), or [`DEFAULT_ALIGNMENT`].
fn alignment(value: Option<&MetaValue>) -> Result<u64, GgufError> {
    match value {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(MetaValue::U32(n)) if n.is_power_of_two() => Ok(u64::from(*n)),
        Some(other) => Err(GgufError::BadMetadata {
            key: ALIGNMENT_KEY.to_owned(),
            reason: format!("must be a uint32 power of two, not {other:?}"),
        }),
    }
}

/// `offset` rounded up to a multiple of `alignment` (a power of two), unless it overflows.
fn align_up(offset: u64, alignment: u64) -> Option<u64> {
    offset.checked_add(alignment - 1).map(|o| o & !(alignment - 1))
}

/// Each tensor aligned, inside the `data_len` bytes of the data section, and no two
/// overlapping.
fn check_placement(tensors: &[TensorInfo], alignment: u64, data_len: u64) -> Result<(), GgufError> {
    let bad = |tensor: &TensorInfo, reason: String| GgufError::BadPlacement { tensor: tensor.name.clone(), reason };
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    let mut end_of_previous: Option<(&TensorInfo, u64)> = None;
    for tensor in order {
        if tensor.offset % alignment != 0 {
            return Err(bad(tensor, format!("offset {} is not a multiple of {alignment}", tensor.offset)));
        }
        let end = tensor.offset.checked_add(tensor.size).filter(|&end| end <= data_len).ok_or_else(|| {
            bad(
                tensor,
                format!(
                    "its {} bytes at offset {} run past the data section ({data_len} bytes)",
                    tensor.size, tensor.offset
                ),
            )
        })?;
        if let Some((previous, previous_end)) = end_of_previous
            && tensor.offset < previous_end
        {
            return Err(bad(tensor, format!("it overlaps tensor {:?}", previous.name)));
        }
        end_of_previous = Some((tensor, end));
    }
    Ok(())
}
