//! The ggml element types wasmnn reads, their block layouts, and dequantization to f32.
//!
//! Layouts (little-endian, as ggml writes them):
//! - `F32`: 4 bytes per element; `F16`: 2 bytes (IEEE binary16).
//! - `Q8_0`: blocks of 32 elements in 34 bytes: scale `d` (f16), then 32 `i8` values `q`;
//!   element = `d × q`.
//! - `Q4_1`: blocks of 32 elements in 20 bytes: scale `d` (f16), minimum `m` (f16), then 16
//!   bytes whose low nibbles are elements 0–15 and high nibbles elements 16–31 (`q` in
//!   0..=15); element = `d × q + m`.
//!
//! Dequantization rounds the product to f32 and then the sum (no fused multiply-add), so it
//! gives the same bits on every machine.

use half::f16;

/// A tensor element type wasmnn supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// 8-bit blocks with one f16 scale.
    Q8_0,
    /// 4-bit blocks with an f16 scale and minimum.
    Q4_1,
}

impl GgmlType {
    /// The type of a ggml type id, if wasmnn supports it.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        match id {
            0 => Some(GgmlType::F32),
            1 => Some(GgmlType::F16),
            3 => Some(GgmlType::Q4_1),
            8 => Some(GgmlType::Q8_0),
            _ => None,
        }
    }

    /// Elements per block (1 for the float types).
    pub fn block_elements(self) -> u64 {
        match self {
            GgmlType::F32 | GgmlType::F16 => 1,
            GgmlType::Q8_0 | GgmlType::Q4_1 => 32,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 => 2,
            GgmlType::Q8_0 => 34,
            GgmlType::Q4_1 => 20,
        }
    }
}

/// The name ggml gives a type id, for error messages.
pub(super) fn type_name(id: u32) -> &'static str {
    const NAMES: &[(u32, &str)] = &[
        (0, "F32"),
        (1, "F16"),
        (2, "Q4_0"),
        (3, "Q4_1"),
        (6, "Q5_0"),
        (7, "Q5_1"),
        (8, "Q8_0"),
        (9, "Q8_1"),
        (10, "Q2_K"),
        (11, "Q3_K"),
        (12, "Q4_K"),
        (13, "Q5_K"),
        (14, "Q6_K"),
        (15, "Q8_K"),
        (16, "IQ2_XXS"),
        (17, "IQ2_XS"),
        (18, "IQ3_XXS"),
        (19, "IQ1_S"),
        (20, "IQ4_NL"),
        (21, "IQ3_S"),
        (22, "IQ2_S"),
        (23, "IQ4_XS"),
        (24, "I8"),
        (25, "I16"),
        (26, "I32"),
        (27, "I64"),
        (28, "F64"),
        (29, "IQ1_M"),
        (30, "BF16"),
        (34, "TQ1_0"),
        (35, "TQ2_0"),
        (39, "MXFP4"),
    ];
    NAMES.iter().find(|(n, _)| *n == id).map_or("unknown", |(_, name)| name)
}

/// The f32 values of `bytes`, a whole number of `ggml_type` blocks (as
/// [`Gguf::tensor_bytes`](super::Gguf::tensor_bytes) gives them). Trailing bytes that do
/// not fill a block are ignored.
pub fn dequantize(ggml_type: GgmlType, bytes: &[u8]) -> Vec<f32> {
    let half_at = |b: &[u8], i: usize| f16::from_le_bytes([b[i], b[i + 1]]).to_f32();
    match ggml_type {
        GgmlType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        GgmlType::F16 => bytes.chunks_exact(2).map(|b| half_at(b, 0)).collect(),
        GgmlType::Q8_0 => bytes
            .chunks_exact(34)
            .flat_map(|block| {
                let d = half_at(block, 0);
                block[2..].iter().map(move |&q| d * f32::from(q as i8))
            })
            .collect(),
        GgmlType::Q4_1 => bytes
            .chunks_exact(20)
            .flat_map(|block| {
                let (d, m) = (half_at(block, 0), half_at(block, 2));
                let qs = &block[4..];
                let low = qs.iter().map(|&b| b & 0x0f);
                let high = qs.iter().map(|&b| b >> 4);
                low.chain(high).map(move |q| d * f32::from(q) + m)
            })
            .collect(),
    }
}
