//! `.npy` reading and writing of tensors: the input and output format of `wasmnn model run`.
//!
//! Supported are little-endian, C-order arrays of the [`DType`]s, as `numpy.save` writes
//! them: `<f4`, `<f2`, `|i1`, `|u1`, `<i4`, `<i8`, `|b1`. Anything else (Fortran order,
//! big-endian data, other dtypes) is refused with an error that names it.
//!
//! Reading takes these steps:
//! 1. read the magic, version and header length, refusing headers over [`MAX_HEADER_LEN`];
//! 2. find the shape in the header text and check that every product of its dims fits in
//!    64 bits, before npyz parses the header (npyz multiplies the dims unchecked);
//! 3. let npyz parse the header, then check dtype, byte order and memory order;
//! 4. read exactly the announced elements into a buffer that grows as data arrives (a
//!    header cannot make us allocate more than the file holds), refusing truncated files
//!    and bytes after the last element.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use half::f16;
use npyz::{Endianness, NpyFile, NpyHeader, Order, TypeChar, TypeStr, WriteOptions, WriterBuilder};

use crate::tensor::{DType, Tensor, TensorData};

/// Longest header text accepted (numpy itself refuses headers over 10 000 bytes by default).
pub const MAX_HEADER_LEN: usize = 1 << 16;

/// Elements reserved before the data is read; the buffer grows from there as data arrives.
const INITIAL_CAPACITY: usize = 1 << 16;

/// Errors reading or writing `.npy` data.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The underlying reader or writer failed.
    #[error("npy i/o failed")]
    Io(#[from] io::Error),
    /// The magic, version, header length or header text is malformed.
    #[error("bad npy header: {0}")]
    Header(String),
    /// The element type is not one of the supported ones (or is big-endian).
    #[error("unsupported npy dtype (supported: <f4, <f2, |i1, |u1, <i4, <i8, |b1): {0}")]
    DType(String),
    /// The array is stored in Fortran (column-major) order.
    #[error("fortran-order npy arrays are not supported (save a C-contiguous array): shape {0:?}")]
    FortranOrder(Vec<u64>),
    /// The shape's element count does not fit in memory addresses.
    #[error("npy shape is too large: {0:?}")]
    TooLarge(Vec<u64>),
    /// The data ends before the last element.
    #[error("npy data is truncated: expected {expected} elements, got {actual}")]
    Truncated {
        /// Elements the header announces.
        expected: usize,
        /// Elements present.
        actual: usize,
    },
    /// Bytes follow the last element.
    #[error("npy data continues after the last element: {0} elements expected")]
    TrailingData(usize),
    /// An element is invalid for its type (a bool byte other than 0 or 1).
    #[error("bad npy data: {0}")]
    Data(String),
}

/// Reads a `.npy` file into a tensor.
///
/// # Errors
/// [`NpyError::Io`] when the file cannot be opened or read; otherwise as [`read_npy_from`].
pub fn read_npy(path: &Path) -> Result<Tensor, NpyError> {
    read_npy_from(File::open(path)?)
}

/// Reads `.npy` data from a reader (buffered internally) into a tensor. The reader must
/// end right after the last element.
///
/// # Errors
/// Any [`NpyError`]: malformed headers, unsupported dtypes or order, truncated or
/// trailing data, invalid bools, or i/o failures.
pub fn read_npy_from(reader: impl Read) -> Result<Tensor, NpyError> {
    let mut reader = BufReader::new(reader);
    let (header_bytes, text_start) = read_header_bytes(&mut reader)?;
    let shape = scan_shape(&header_bytes[text_start..])?;
    let numel = element_count(&shape)?;
    let header = NpyHeader::from_reader(header_bytes.as_slice()).map_err(|e| NpyError::Header(e.to_string()))?;
    if header.shape() != shape.as_slice() {
        return Err(NpyError::Header(format!("shape field is ambiguous: {:?} vs {:?}", header.shape(), shape)));
    }
    if header.order() == Order::Fortran {
        return Err(NpyError::FortranOrder(shape));
    }
    let dtype = dtype_of(&header.dtype())?;
    let data = match dtype {
        DType::F32 => TensorData::F32(read_elements(header, &mut reader, numel)?),
        DType::F16 => TensorData::F16(read_elements::<f16>(header, &mut reader, numel)?),
        DType::I8 => TensorData::I8(read_elements(header, &mut reader, numel)?),
        DType::U8 => TensorData::U8(read_elements(header, &mut reader, numel)?),
        DType::I32 => TensorData::I32(read_elements(header, &mut reader, numel)?),
        DType::I64 => TensorData::I64(read_elements(header, &mut reader, numel)?),
        DType::Bool => TensorData::Bool(read_elements(header, &mut reader, numel)?),
    };
    if reader.bytes().next().transpose()?.is_some() {
        return Err(NpyError::TrailingData(numel));
    }
    let dims = shape.iter().map(|&d| usize::try_from(d)).collect::<Result<Vec<_>, _>>();
    let dims = dims.map_err(|_| NpyError::TooLarge(shape.clone()))?;
    Tensor::new(dims, data).map_err(|e| NpyError::Header(e.to_string()))
}

/// Writes a tensor to a `.npy` file (created or truncated).
///
/// # Errors
/// [`NpyError::Io`] when the file cannot be created or written.
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<(), NpyError> {
    write_npy_to(BufWriter::new(File::create(path)?), tensor)
}

/// Writes a tensor as `.npy` data (format version 1.0, little-endian, C order) and
/// flushes the writer.
///
/// # Errors
/// [`NpyError::Io`] when the writer fails.
pub fn write_npy_to(writer: impl Write, tensor: &Tensor) -> Result<(), NpyError> {
    let shape: Vec<u64> = tensor.shape().iter().map(|&d| d as u64).collect();
    match tensor.data() {
        TensorData::F32(v) => write_elements(writer, DType::F32, &shape, v),
        TensorData::F16(v) => write_elements(writer, DType::F16, &shape, v),
        TensorData::I8(v) => write_elements(writer, DType::I8, &shape, v),
        TensorData::U8(v) => write_elements(writer, DType::U8, &shape, v),
        TensorData::I32(v) => write_elements(writer, DType::I32, &shape, v),
        TensorData::I64(v) => write_elements(writer, DType::I64, &shape, v),
        TensorData::Bool(v) => write_elements(writer, DType::Bool, &shape, v),
    }
}

/// Distinct, safe file names (`<stem>.npy`) for writing the named tensors into one folder.
///
/// Each name is made safe as follows: characters outside `[A-Za-z0-9_.-]` become `_`, a
/// leading `.` becomes `_` (no hidden files, no `..`), an empty name becomes `_`, and the
/// stem is cut to 200 bytes. A stem already taken by an earlier name (compared
/// ASCII-case-insensitively, for case-insensitive file systems) gets `-<position>`
/// appended until it is free.
pub fn output_file_names(names: &[&str]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    names
        .iter()
        .enumerate()
        .map(|(position, name)| {
            let mut stem = safe_stem(name);
            while !taken.insert(stem.to_ascii_lowercase()) {
                stem.push_str(&format!("-{position}"));
            }
            format!("{stem}.npy")
        })
        .collect()
}

/// The longest stem [`output_file_names`] keeps (file systems allow 255 bytes per name).
const MAX_STEM_LEN: usize = 200;

fn safe_stem(name: &str) -> String {
    let mut stem: String = name
        .chars()
        .take(MAX_STEM_LEN)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' })
        .collect();
    if stem.is_empty() {
        stem.push('_');
    } else if stem.starts_with('.') {
        stem.replace_range(..1, "_");
    }
    stem
}

/// The npyz type string for a dtype (little-endian; `|` where byte order is irrelevant).
fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::Bool => "|b1",
    }
}

/// Reads the magic, version, header length and header text; returns all those bytes and
/// the offset of the text.
fn read_header_bytes(reader: &mut impl Read) -> Result<(Vec<u8>, usize), NpyError> {
    let mut preamble = [0u8; 8];
    read_header_part(reader, &mut preamble, "file is shorter than the npy magic")?;
    if &preamble[..6] != b"\x93NUMPY" {
        return Err(NpyError::Header(format!("not an npy file, magic is: {:02x?}", &preamble[..6])));
    }
    let len_size = match preamble[6] {
        1 => 2,
        2 | 3 => 4,
        major => return Err(NpyError::Header(format!("unsupported format version: {major}.{}", preamble[7]))),
    };
    let mut len_bytes = [0u8; 4];
    read_header_part(reader, &mut len_bytes[..len_size], "header length is truncated")?;
    let header_len = u32::from_le_bytes(len_bytes) as usize;
    if header_len > MAX_HEADER_LEN {
        return Err(NpyError::Header(format!("header is longer than {MAX_HEADER_LEN} bytes: {header_len}")));
    }
    let mut bytes = preamble.to_vec();
    bytes.extend_from_slice(&len_bytes[..len_size]);
    let text_start = bytes.len();
    bytes.resize(text_start + header_len, 0);
    read_header_part(reader, &mut bytes[text_start..], "header text is truncated")?;
    Ok((bytes, text_start))
}

fn read_header_part(reader: &mut impl Read, buf: &mut [u8], eof_message: &str) -> Result<(), NpyError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => NpyError::Header(format!("{eof_message}: {} bytes expected", buf.len())),
        _ => NpyError::Io(e),
    })
}

/// Finds the `'shape': (d, …)` entry in the header text. Numpy writes it as a tuple of
/// decimal integers; the full parse by npyz must agree with this scan.
fn scan_shape(text: &[u8]) -> Result<Vec<u64>, NpyError> {
    let text = std::str::from_utf8(text).map_err(|e| NpyError::Header(format!("header is not utf-8: {e}")))?;
    let mut keys =
        ["'shape'", "\"shape\""].into_iter().flat_map(|k| text.match_indices(k).map(move |(i, _)| i + k.len()));
    let (Some(after_key), None) = (keys.next(), keys.next()) else {
        return Err(NpyError::Header(format!("expected exactly one shape key: {}", snippet(text))));
    };
    let value = text[after_key..].trim_start().strip_prefix(':').map(str::trim_start);
    let not_a_tuple = || NpyError::Header(format!("shape is not a tuple of integers: {}", snippet(&text[after_key..])));
    let (close, body) = match value {
        Some(v) if v.starts_with('(') => (')', &v[1..]),
        Some(v) if v.starts_with('[') => (']', &v[1..]),
        _ => return Err(not_a_tuple()),
    };
    let body = &body[..body.find(close).ok_or_else(not_a_tuple)?];
    body.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| if d.bytes().all(|b| b.is_ascii_digit()) { d.parse::<u64>().ok() } else { None })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(not_a_tuple)
}

/// At most the first 80 characters of a header fragment, for error messages.
fn snippet(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}

/// The element count of a shape. Every running product of the non-zero dims must fit in
/// 64 bits (npyz computes them unchecked, and a zero dim would hide an overflow from the
/// total), and the count must fit in `usize`.
fn element_count(shape: &[u64]) -> Result<usize, NpyError> {
    let too_large = || NpyError::TooLarge(shape.to_vec());
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d.max(1))).ok_or_else(too_large)?;
    let numel: u64 = shape.iter().product();
    usize::try_from(numel).map_err(|_| too_large())
}

/// Maps a header dtype to a tensor dtype: only little-endian (or byte-sized) scalars of
/// the supported kinds.
fn dtype_of(dtype: &npyz::DType) -> Result<DType, NpyError> {
    let unsupported = || NpyError::DType(dtype.descr());
    let npyz::DType::Plain(ts) = dtype else {
        return Err(unsupported());
    };
    if ts.size_field() > 1 && ts.endianness() != Endianness::Little {
        return Err(unsupported());
    }
    match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => Ok(DType::F32),
        (TypeChar::Float, 2) => Ok(DType::F16),
        (TypeChar::Int, 1) => Ok(DType::I8),
        (TypeChar::Uint, 1) => Ok(DType::U8),
        (TypeChar::Int, 4) => Ok(DType::I32),
        (TypeChar::Int, 8) => Ok(DType::I64),
        (TypeChar::Bool, 1) => Ok(DType::Bool),
        _ => Err(unsupported()),
    }
}

/// Reads the `numel` elements that follow the header.
fn read_elements<T: npyz::Deserialize>(
    header: NpyHeader,
    reader: &mut impl Read,
    numel: usize,
) -> Result<Vec<T>, NpyError> {
    let data = NpyFile::with_header(header, reader).data::<T>().map_err(|e| NpyError::DType(e.to_string()))?;
    let mut out = Vec::with_capacity(numel.min(INITIAL_CAPACITY));
    for element in data {
        match element {
            Ok(x) => out.push(x),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(NpyError::Truncated { expected: numel, actual: out.len() });
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(NpyError::Data(e.to_string())),
            Err(e) => return Err(NpyError::Io(e)),
        }
    }
    Ok(out)
}

fn write_elements<T: npyz::Serialize + Copy>(
    writer: impl Write,
    dtype: DType,
    shape: &[u64],
    data: &[T],
) -> Result<(), NpyError> {
    let type_str: TypeStr = descr(dtype).parse().map_err(|e| NpyError::DType(format!("{e}")))?;
    let mut out =
        WriteOptions::<T>::new().dtype(npyz::DType::Plain(type_str)).shape(shape).writer(writer).begin_nd()?;
    out.extend(data.iter().copied())?;
    out.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests;
