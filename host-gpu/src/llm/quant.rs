//! Quantized matrix products: Q4_1 / Q8_0 weights times activations quantized per block of
//! 32 to int8 (DESIGN rule 5). This module **is** the specification of these products
//! (`docs/NUMERICS.md`, "Quantized matrix products"):
//!
//! 1. Activations, per row and block of 32 values `x` (flushed): `amax = max |x_i|`; a
//!    block holding NaN or ±inf makes every output of its row the canonical NaN.
//!    `dx = amax ⊗ C` with `C` = f32 nearest 1/127 (`0x3C010204`),
//!    `id = dx == 0 ? 0 : reciprocal(dx)`,
//!    `qx_i = clamp(round_ties_even(x_i ⊗ id), −127, 127)`, `sx = Σ qx_i`.
//! 2. Per weight block (`dw`, `mw` exact f32 of the stored f16; `qw_i` the stored
//!    integers): `P = Σ qw_i · qx_i` (exact; any order), then for Q4_1
//!    `v = (dw ⊗ dx) ⊗ f32(P) ⊕ (mw ⊗ dx) ⊗ f32(sx)` and for Q8_0 `v = (dw ⊗ dx) ⊗ f32(P)`.
//! 3. Output: `acc = +0`, `acc = acc ⊕ v_b` for blocks in ascending order, canonical.
//!
//! `⊗`/`⊕` are the flushing [`mul`]/[`add`]. |P| ≤ 127·127·32 and |sx| ≤ 127·32 are below
//! 2^24, so their conversions are exact. The integer dot products run on AVX2 when the CPU
//! has it (`maddubs`/`madd`, exact), else scalar: same bits either way.

use rayon::prelude::*;

use super::LlmError;
use crate::gguf::{GgmlType, Gguf, TensorInfo};
use crate::numerics::{CANONICAL_NAN, add, canonical, flush, mul, reciprocal};

/// Elements of one quantization block.
pub const BLOCK: usize = 32;

/// f32 nearest 1/127: the activation scale is `amax ⊗ INV_127`.
pub const INV_127: f32 = f32::from_bits(0x3C01_0204);

/// Output rows one parallel job computes (a multiple of [`ROW_GROUP`]).
const JOB_ROWS: usize = 32;

/// The weight formats of [`QMatrix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QKind {
    /// ggml Q4_1: per block of 32 a scale `d`, a minimum `m` and 4-bit `q`: `w = d·q + m`.
    Q4_1,
    /// ggml Q8_0: per block of 32 a scale `d` and 8-bit signed `q`: `w = d·q`.
    Q8_0,
}

impl QKind {
    /// Bytes of quantized integers per block (two 4-bit values per byte for Q4_1).
    pub fn quant_bytes(self) -> usize {
        match self {
            QKind::Q4_1 => BLOCK / 2,
            QKind::Q8_0 => BLOCK,
        }
    }
}

/// Rows whose blocks are stored interleaved (see [`QMatrix`]).
pub const ROW_GROUP: usize = 8;

/// A quantized weight matrix of `rows` outputs by `k` inputs, repacked from the GGUF
/// blocks into separate arrays (scales, minimums, integers) that both executors read.
///
/// Layout: rows are padded with zero blocks to a multiple of [`ROW_GROUP`], and within
/// each group of eight rows block `j` of the eight rows are adjacent: block `(r, j)` is at
/// index [`QMatrix::block_index`] `= ((r / 8) · kb + j) · 8 + r % 8` of `scales`/`mins`
/// (and times the block's byte count in `quants`). A product over eight rows then reads
/// three sequential streams instead of twenty-four strided ones, which is what decode,
/// bound by memory, needs.
#[derive(Debug, Clone)]
pub struct QMatrix {
    /// Weight format.
    pub kind: QKind,
    /// Output rows.
    pub rows: usize,
    /// Inputs per row (a multiple of [`BLOCK`]).
    pub k: usize,
    /// `d` of every block, exact f32 of the stored f16.
    pub scales: Vec<f32>,
    /// `m` of every block (Q4_1; empty for Q8_0).
    pub mins: Vec<f32>,
    /// The integers of every block: Q4_1 byte `j` holds element `j` in its low nibble and
    /// element `j + 16` in its high one (ggml's order); Q8_0 bytes are `i8`.
    pub quants: Vec<u8>,
}

impl QMatrix {
    /// Repacks the GGUF tensor `name`, which must be `[k, rows]` (GGUF order) of a
    /// supported type.
    ///
    /// # Errors
    /// [`LlmError::Model`] when it is missing, misshapen or of another type.
    pub fn from_gguf(gguf: &Gguf, name: &str, k: usize, rows: usize) -> Result<QMatrix, LlmError> {
        let info = find(gguf, name, &[k, rows])?;
        let kind = match info.ggml_type {
            GgmlType::Q4_1 => QKind::Q4_1,
            GgmlType::Q8_0 => QKind::Q8_0,
            other => {
                return Err(LlmError::Model(format!(
                    "tensor {name} has type {other:?}; the llama engine runs Q4_1 and Q8_0 matrices"
                )));
            }
        };
        Ok(QMatrix::from_blocks(kind, rows, k, gguf.tensor_bytes(info)))
    }

    /// Repacks ggml blocks (`rows · k/32` of them, in row order; the caller has checked the
    /// byte count) into the interleaved layout. Scales and minimums are canonicalized: the
    /// kernels take them as they are.
    pub fn from_blocks(kind: QKind, rows: usize, k: usize, bytes: &[u8]) -> QMatrix {
        let kb = k / BLOCK;
        let stored = rows.div_ceil(ROW_GROUP) * ROW_GROUP * kb;
        let qb = kind.quant_bytes();
        let header = match kind {
            QKind::Q4_1 => 4,
            QKind::Q8_0 => 2,
        };
        let mut matrix = QMatrix {
            kind,
            rows,
            k,
            scales: vec![0.0; stored],
            mins: vec![0.0; if kind == QKind::Q4_1 { stored } else { 0 }],
            quants: vec![0; stored * qb],
        };
        let f16 = |b: &[u8]| canonical(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
        for (b, block) in bytes.chunks_exact(header + qb).take(rows * kb).enumerate() {
            let at = matrix.block_index(b / kb.max(1), b % kb.max(1));
            matrix.scales[at] = f16(&block[0..2]);
            if kind == QKind::Q4_1 {
                matrix.mins[at] = f16(&block[2..4]);
            }
            matrix.quants[at * qb..(at + 1) * qb].copy_from_slice(&block[header..]);
        }
        matrix
    }

    /// Where block `j` of row `r` is stored (see the layout above).
    pub fn block_index(&self, r: usize, j: usize) -> usize {
        ((r / ROW_GROUP) * self.blocks_per_row() + j) * ROW_GROUP + r % ROW_GROUP
    }

    /// Blocks per row.
    pub fn blocks_per_row(&self) -> usize {
        self.k / BLOCK
    }

    /// One row dequantized (`d ⊗ q ⊕ m`, or `d ⊗ q`): how the embedding is looked up.
    pub fn dequantize_row(&self, row: usize) -> Vec<f32> {
        let qb = self.kind.quant_bytes();
        let mut out = Vec::with_capacity(self.k);
        for j in 0..self.blocks_per_row() {
            let b = self.block_index(row, j);
            let d = self.scales[b];
            let q = &self.quants[b * qb..(b + 1) * qb];
            match self.kind {
                QKind::Q4_1 => {
                    let m = self.mins[b];
                    let values = q.iter().map(|&v| v & 15).chain(q.iter().map(|&v| v >> 4));
                    out.extend(values.map(|v| canonical(add(mul(d, f32::from(v)), m))));
                }
                QKind::Q8_0 => out.extend(q.iter().map(|&v| canonical(mul(d, f32::from(v as i8))))),
            }
        }
        out
    }
}

/// Finds tensor `name` and checks its GGUF dims.
pub(super) fn find<'a>(gguf: &'a Gguf, name: &str, dims: &[usize]) -> Result<&'a TensorInfo, LlmError> {
    let info = gguf.tensor(name).ok_or_else(|| LlmError::Model(format!("tensor {name} is missing")))?;
    if info.dims.len() != dims.len() || info.dims.iter().zip(dims).any(|(&a, &b)| a != b as u64) {
        return Err(LlmError::Model(format!("tensor {name} has dims {:?}, expected {dims:?}", info.dims)));
    }
    Ok(info)
}

/// Rows of activations quantized per block ([module documentation](self), step 1).
#[derive(Debug, Clone, PartialEq)]
pub struct QActs {
    /// Values per row.
    pub k: usize,
    /// `qx`, row-major.
    pub q: Vec<i8>,
    /// `dx` of every block.
    pub d: Vec<f32>,
    /// `sx` of every block.
    pub s: Vec<i32>,
    /// Rows that held NaN or ±inf (their outputs are NaN).
    pub poisoned: Vec<bool>,
}

impl QActs {
    /// Quantizes `x`, rows of `k` values (`k` a multiple of [`BLOCK`]).
    pub fn quantize(x: &[f32], k: usize) -> QActs {
        let rows = x.len() / k;
        let blocks = x.len() / BLOCK;
        let mut acts =
            QActs { k, q: vec![0; x.len()], d: vec![0.0; blocks], s: vec![0; blocks], poisoned: vec![false; rows] };
        for (b, (block, q)) in x.chunks_exact(BLOCK).zip(acts.q.chunks_exact_mut(BLOCK)).enumerate() {
            let mut amax = 0u32;
            let mut finite = true;
            for &v in block {
                let bits = flush(v).to_bits() & 0x7FFF_FFFF;
                finite &= bits < 0x7F80_0000;
                amax = amax.max(bits);
            }
            if !finite {
                acts.poisoned[b * BLOCK / k] = true;
                continue;
            }
            let dx = mul(f32::from_bits(amax), INV_127);
            let id = if dx == 0.0 { 0.0 } else { reciprocal(dx) };
            let mut sum = 0i32;
            for (qi, &v) in q.iter_mut().zip(block) {
                let r = round_small(mul(flush(v), id)).clamp(-127.0, 127.0);
                *qi = r as i8;
                sum += i32::from(*qi);
            }
            acts.d[b] = dx;
            acts.s[b] = sum;
        }
        acts
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.poisoned.len()
    }
}

/// 1.5 · 2^23: adding and subtracting it rounds to an integer, ties to even.
const ROUNDER: f32 = 12_582_912.0;

/// `v.round_ties_even()` for |v| < 2^22 (here |v| ≤ 127.00002), up to the sign of a zero
/// result (always +0; the i8 conversion that follows erases it): `v + 1.5·2^23` lands
/// where the f32 spacing is 1, so the addition rounds `v` to an integer, ties to even,
/// and the subtraction is exact. Two adds instead of a libm call (`rintf`) on CPUs
/// without SSE4.1.
pub(crate) fn round_small(v: f32) -> f32 {
    (v + ROUNDER) - ROUNDER
}

/// `acts · wᵀ`: `[rows of acts, w.rows]`, each output as the [module documentation](self)
/// says, in parallel over weight rows.
///
/// # Panics
/// When `acts.k != w.k` (a programming error: shapes are checked at load).
pub fn qmatmul(acts: &QActs, w: &QMatrix) -> Vec<f32> {
    let [out] = qmatmul_many(acts, [w]);
    out
}

/// [`qmatmul`] of the same activations by several matrices (q, k and v; gate and up) in
/// one parallel loop: one fork-join instead of several, which is what decode, a few
/// hundred small products per token, pays for. With AVX2, eight weight rows are computed
/// at once (one float lane each, the same operations in the same order); the last rows
/// of a matrix whose row count is not a multiple of eight, and CPUs without AVX2, use
/// [`row_dot`].
///
/// # Panics
/// When a matrix's width differs from `acts.k` (shapes are checked at load).
pub fn qmatmul_many<const N: usize>(acts: &QActs, ws: [&QMatrix; N]) -> [Vec<f32>; N] {
    let n = acts.rows();
    // Computed as [weight row][token] so that each weight row is read once for all
    // tokens, then transposed.
    let mut by_row: [Vec<f32>; N] = std::array::from_fn(|i| {
        assert_eq!(acts.k, ws[i].k, "activation and weight widths differ");
        vec![0.0f32; ws[i].rows * n]
    });
    let jobs: Vec<(&QMatrix, usize, &mut [f32])> = ws
        .iter()
        .zip(&mut by_row)
        .flat_map(|(&w, out)| out.chunks_mut(JOB_ROWS * n).enumerate().map(move |(i, c)| (w, i * JOB_ROWS, c)))
        .collect();
    let wide = has_avx2();
    jobs.into_par_iter().for_each(|(w, first, out)| rows_job(acts, w, first, out, wide));
    std::array::from_fn(|i| if n == 1 { std::mem::take(&mut by_row[i]) } else { transpose(&by_row[i], ws[i].rows, n) })
}

/// Outputs of weight rows `first..` (as many as `out` holds, `n` tokens each).
fn rows_job(acts: &QActs, w: &QMatrix, first: usize, out: &mut [f32], wide: bool) {
    let n = acts.rows();
    let rows = out.len() / n;
    let mut i = 0;
    while i < rows {
        let group = if wide && rows - i >= ROW_GROUP { ROW_GROUP } else { 1 };
        for t in 0..n {
            let mut values = [CANONICAL_NAN; ROW_GROUP];
            if !acts.poisoned[t] {
                if group == ROW_GROUP {
                    values = rows8(w, first + i, acts, t);
                } else {
                    values[0] = row_dot(w, first + i, acts, t);
                }
            }
            for (r, &v) in values[..group].iter().enumerate() {
                out[(i + r) * n + t] = canonical(v);
            }
        }
        i += group;
    }
}

/// `[rows][n]` → `[n][rows]`.
fn transpose(values: &[f32], rows: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * n];
    for (row, column) in values.chunks_exact(n).enumerate() {
        for (t, &v) in column.iter().enumerate() {
            out[t * rows + row] = v;
        }
    }
    out
}

/// Whether the eight-row AVX2 kernel can run.
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Outputs of weight rows `row..row + 8` (`row` a multiple of 8) against activation row
/// `t` (AVX2 present).
fn rows8(w: &QMatrix, row: usize, acts: &QActs, t: usize) -> [f32; 8] {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: only called when `has_avx2()`.
        unsafe { avx2::rows8(w, row, acts, t) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (w, row, acts, t);
        unreachable!("rows8 needs AVX2")
    }
}

/// One output, plainly: weight row `row` against activation row `t` (not canonicalized).
pub(crate) fn row_dot(w: &QMatrix, row: usize, acts: &QActs, t: usize) -> f32 {
    let kb = w.blocks_per_row();
    let qb = w.kind.quant_bytes();
    let mut acc = 0.0f32;
    for j in 0..kb {
        let (b, a) = (w.block_index(row, j), t * kb + j);
        let wq = &w.quants[b * qb..(b + 1) * qb];
        let aq = &acts.q[a * BLOCK..(a + 1) * BLOCK];
        let mut p = [0i32];
        match w.kind {
            QKind::Q4_1 => q4_dots_scalar(wq, aq, &mut p),
            QKind::Q8_0 => q8_dots_scalar(wq, aq, &mut p),
        }
        let dx = acts.d[a];
        let mut v = mul(mul(w.scales[b], dx), p[0] as f32);
        if w.kind == QKind::Q4_1 {
            v = add(v, mul(mul(w.mins[b], dx), acts.s[a] as f32));
        }
        acc = add(acc, v);
    }
    acc
}

/// `P` of each Q4_1 block: `wq` 16 bytes per block, `aq` 32 values per block.
pub(crate) fn q4_dots_scalar(wq: &[u8], aq: &[i8], dots: &mut [i32]) {
    for ((w, a), p) in wq.chunks_exact(BLOCK / 2).zip(aq.chunks_exact(BLOCK)).zip(dots) {
        let (lo, hi) = a.split_at(BLOCK / 2);
        *p = w
            .iter()
            .zip(lo.iter().zip(hi))
            .map(|(&q, (&l, &h))| i32::from(q & 15) * i32::from(l) + i32::from(q >> 4) * i32::from(h))
            .sum();
    }
}

/// `P` of each Q8_0 block: `wq` and `aq` 32 values per block.
pub(crate) fn q8_dots_scalar(wq: &[u8], aq: &[i8], dots: &mut [i32]) {
    for ((w, a), p) in wq.chunks_exact(BLOCK).zip(aq.chunks_exact(BLOCK)).zip(dots) {
        *p = w.iter().zip(a).map(|(&q, &x)| i32::from(q as i8) * i32::from(x)).sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Eight weight rows at once with AVX2. The integer block dots use `maddubs` (u8 × i8,
    //! adjacent pairs summed to i16: at most 2·15·127 for Q4_1 and 2·128·127 for Q8_0, so
    //! it never saturates) and `madd` with ones to i32, then a transposing `hadd` tree
    //! leaves row `r`'s `P` in lane `r`: all exact. The float steps run lane-wise with the
    //! same operations, in the same order, as [`super::row_dot`]: vector `mul`/`add` round
    //! like scalar ones (no FMA is enabled), and [`flush`] clears subnormal lanes as the
    //! scalar flush does, so each lane's bits equal the scalar result.

    use std::arch::x86_64::*;

    use super::{BLOCK, QActs, QKind, QMatrix, ROW_GROUP};

    /// Lane-wise `numerics::flush`: subnormal lanes become zero of their sign.
    #[target_feature(enable = "avx2")]
    fn flush(x: __m256) -> __m256 {
        let bits = _mm256_castps_si256(x);
        let tiny = _mm256_cmpeq_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7F80_0000)), _mm256_setzero_si256());
        let keep = _mm256_or_si256(_mm256_xor_si256(tiny, _mm256_set1_epi32(-1)), _mm256_set1_epi32(i32::MIN));
        _mm256_castsi256_ps(_mm256_and_si256(bits, keep))
    }

    /// Lane-wise flushing product.
    #[target_feature(enable = "avx2")]
    fn mul(a: __m256, b: __m256) -> __m256 {
        flush(_mm256_mul_ps(a, b))
    }

    /// Lane-wise flushing sum.
    #[target_feature(enable = "avx2")]
    fn add(a: __m256, b: __m256) -> __m256 {
        flush(_mm256_add_ps(a, b))
    }

    /// Lane `r` = sum of the eight lanes of `p[r]`.
    #[target_feature(enable = "avx2")]
    fn transpose_sum(p: [__m256i; 8]) -> __m256i {
        let s01 = _mm256_hadd_epi32(p[0], p[1]);
        let s23 = _mm256_hadd_epi32(p[2], p[3]);
        let s45 = _mm256_hadd_epi32(p[4], p[5]);
        let s67 = _mm256_hadd_epi32(p[6], p[7]);
        let s0123 = _mm256_hadd_epi32(s01, s23);
        let s4567 = _mm256_hadd_epi32(s45, s67);
        let low = _mm256_permute2x128_si256::<0x20>(s0123, s4567);
        let high = _mm256_permute2x128_si256::<0x31>(s0123, s4567);
        _mm256_add_epi32(low, high)
    }

    /// See `super::rows8`.
    #[target_feature(enable = "avx2")]
    pub(super) fn rows8(w: &QMatrix, row: usize, acts: &QActs, t: usize) -> [f32; 8] {
        let kb = w.blocks_per_row();
        let qb = w.kind.quant_bytes();
        let ones = _mm256_set1_epi16(1);
        let low = _mm_set1_epi8(15);
        let mut acc = _mm256_setzero_ps();
        for j in 0..kb {
            let a = t * kb + j;
            let x = &acts.q[a * BLOCK..(a + 1) * BLOCK];
            // SAFETY: `x` has 32 bytes; unaligned load.
            let x = unsafe { _mm256_loadu_si256(x.as_ptr().cast()) };
            // Block j of the eight rows: adjacent in every array.
            let first = w.block_index(row, j);
            let quants = &w.quants[first * qb..(first + ROW_GROUP) * qb];
            let mut partial = [_mm256_setzero_si256(); ROW_GROUP];
            for (part, q) in partial.iter_mut().zip(quants.chunks_exact(qb)) {
                *part = match w.kind {
                    QKind::Q4_1 => {
                        // SAFETY: `q` has 16 bytes; unaligned load.
                        let packed = unsafe { _mm_loadu_si128(q.as_ptr().cast()) };
                        let lo = _mm_and_si128(packed, low);
                        let hi = _mm_and_si128(_mm_srli_epi16::<4>(packed), low);
                        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set_m128i(hi, lo), x), ones)
                    }
                    QKind::Q8_0 => {
                        // SAFETY: `q` has 32 bytes; unaligned load.
                        let q = unsafe { _mm256_loadu_si256(q.as_ptr().cast()) };
                        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
                        _mm256_madd_epi16(pairs, ones)
                    }
                };
            }
            let p = _mm256_cvtepi32_ps(transpose_sum(partial));
            let dw = &w.scales[first..first + ROW_GROUP];
            // SAFETY: `dw` has 8 floats; unaligned load.
            let dw = unsafe { _mm256_loadu_ps(dw.as_ptr()) };
            let dx = _mm256_set1_ps(acts.d[a]);
            let mut v = mul(mul(dw, dx), p);
            if w.kind == QKind::Q4_1 {
                let mw = &w.mins[first..first + ROW_GROUP];
                // SAFETY: `mw` has 8 floats; unaligned load.
                let mw = unsafe { _mm256_loadu_ps(mw.as_ptr()) };
                v = add(v, mul(mul(mw, dx), _mm256_set1_ps(acts.s[a] as f32)));
            }
            acc = add(acc, v);
        }
        let mut out = [0.0f32; 8];
        // SAFETY: `out` has 8 floats; unaligned store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), acc) };
        out
    }
}
