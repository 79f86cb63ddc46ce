//! A GGUF writer for tests: builds files (metadata entries, tensor table, aligned tensor
//! data) valid unless told otherwise, and the encodings tests need to fill them (strings,
//! f16 values, Q8_0 and Q4_1 blocks). Shared by the GGUF reader's tests and the llama
//! loader's tests.

use half::f16;

use super::{DEFAULT_ALIGNMENT, MAGIC};

/// Writes GGUF files for the tests, valid unless told otherwise.
///
/// Metadata values and tensor data are taken as already encoded bytes, so a test can write
/// any value type id (or an unknown one) and any data, consistent with the shape or not.
pub(crate) struct Writer {
    /// The version field of the header (3 unless a test changes it).
    pub(crate) version: u32,
    metadata: Vec<u8>,
    kv_count: u64,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
    alignment: u64,
}

impl Writer {
    /// An empty version 3 file with the default alignment.
    pub(crate) fn new() -> Self {
        Writer { version: 3, metadata: Vec::new(), kv_count: 0, tensors: Vec::new(), alignment: DEFAULT_ALIGNMENT }
    }

    /// Appends a metadata entry: `key`, GGUF value type `type_id`, `value` already encoded.
    pub(crate) fn key(&mut self, key: &str, type_id: u32, value: &[u8]) -> &mut Self {
        self.metadata.extend(string(key));
        self.metadata.extend(type_id.to_le_bytes());
        self.metadata.extend(value);
        self.kv_count += 1;
        self
    }

    /// Appends a tensor: `name`, dims in GGUF order, ggml type `type_id`, its `data` bytes.
    pub(crate) fn tensor(&mut self, name: &str, dims: &[u64], type_id: u32, data: Vec<u8>) -> &mut Self {
        self.tensors.push((name.to_owned(), dims.to_vec(), type_id, data));
        self
    }

    /// The file, with tensors laid out one after another, each aligned.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut offsets = Vec::new();
        let mut data_len = 0u64;
        for (_, _, _, data) in &self.tensors {
            offsets.push(data_len);
            data_len = (data_len + data.len() as u64).next_multiple_of(self.alignment);
        }
        self.bytes_with_offsets(&offsets)
    }

    /// The file with each tensor's data at the given offset from the start of the data
    /// section (gaps are zero; overlapping data is written in table order).
    pub(crate) fn bytes_with_offsets(&self, offsets: &[u64]) -> Vec<u8> {
        let mut out = self.header(offsets);
        let start = out.len();
        for ((_, _, _, data), offset) in self.tensors.iter().zip(offsets) {
            let at = start + *offset as usize;
            out.resize(out.len().max(at + data.len()), 0);
            out[at..at + data.len()].copy_from_slice(data);
        }
        out
    }

    /// Where the data section of [`Writer::bytes`] starts: the length of the header,
    /// metadata and tensor table, padded to the alignment.
    pub(crate) fn data_start(&self) -> usize {
        self.header(&vec![0; self.tensors.len()]).len()
    }

    /// Everything before the data section, padded to the alignment.
    fn header(&self, offsets: &[u64]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend(self.kv_count.to_le_bytes());
        out.extend(&self.metadata);
        for ((name, dims, type_id, _), offset) in self.tensors.iter().zip(offsets) {
            out.extend(string(name));
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(type_id.to_le_bytes());
            out.extend(offset.to_le_bytes());
        }
        out.resize((out.len() as u64).next_multiple_of(self.alignment) as usize, 0);
        out
    }
}

/// A GGUF string: its length as a u64, then its UTF-8 bytes.
pub(crate) fn string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend(s.as_bytes());
    out
}

/// `x` rounded to f16, little-endian.
pub(crate) fn f16_bytes(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

/// One Q8_0 block: scale 0.25, values -16..16.
pub(crate) fn q8_block() -> Vec<u8> {
    let mut block = f16_bytes(0.25).to_vec();
    block.extend((-16i8..16).map(|q| q as u8));
    block
}

/// One Q4_1 block: scale 0.5, minimum -2, nibbles 0..=15 (low) and 15..=0 (high).
pub(crate) fn q4_block() -> Vec<u8> {
    let mut block = f16_bytes(0.5).to_vec();
    block.extend(f16_bytes(-2.0));
    block.extend((0u8..16).map(|i| i | ((15 - i) << 4)));
    block
}
