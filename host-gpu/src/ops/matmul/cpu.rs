//! The f32 matrix-product engine shared by MatMul and Conv: packing, the register-blocked
//! microkernel and the parallel driver.
//!
//! Steps of [`gemm`]:
//! 1. the left operand is read in place ([`Lhs`]) in blocks of [`MR`] rows, the right
//!    one ([`Rhs`]) in panels of [`NR`] columns, packed when k is long; the smallest
//!    nonzero magnitude of each block and panel is recorded;
//! 2. the output is cut into jobs of rows × columns, run in parallel with rayon; a job
//!    walks its panels and, for each, its row blocks;
//! 3. each `MR × NR` tile runs the microkernel: `MR · NR` accumulators, each sequential in
//!    k (the order of the module documentation of `ops::matmul`), vectorized across
//!    columns; the flushing or the non-flushing variant is chosen per tile from the
//!    recorded minima (see "Skipping the flushes" there), which never changes a bit.
//!
//! The microkernel body is compiled twice: generic, and with AVX2 enabled (chosen at run
//! time). FMA is never enabled, and Rust never contracts `a * b + c`.

use rayon::prelude::*;

/// Defines `fn $name(args)` that calls the `#[inline(always)]` function `$body(args)`,
/// compiled with AVX2 enabled (never FMA) when the CPU supports it, else as is. The
/// arithmetic is the same either way; only the vector width changes.
macro_rules! avx2_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use avx2_dispatch;

use crate::numerics::{add, canonical, mul};

/// Rows of a microkernel tile: with [`NR`], 12 vector accumulators of the 16 AVX registers.
pub(crate) const MR: usize = 6;
/// Columns of a microkernel tile (two AVX vectors).
pub(crate) const NR: usize = 16;
/// Rows of the output one parallel job covers (a multiple of [`MR`]).
const JOB_ROWS: usize = 8 * MR;
/// Columns of the output one parallel job covers (a multiple of [`NR`]).
const JOB_COLS: usize = 16 * NR;
/// Slice of k a job runs over all its row blocks before moving on, so that the slice of
/// the panel stays in the L1 cache (partial sums are kept exactly, so order is unchanged).
const KC: usize = 256;

/// The accumulators of one microkernel tile.
pub(super) type Tile = [[f32; NR]; MR];
/// `|x|` bits of the smallest nonzero, non-NaN magnitude seen; those of `+inf` when none.
type MinBits = u32;
/// Bits of `+inf`: a minimum at or above it means every nonzero value is infinite or NaN.
const INF_BITS: MinBits = 0x7F80_0000;
/// Products at least this large (2^-103) are multiples of 2^-126 (see the module docs).
const MIN_EXACT_PRODUCT: f64 = 9.860_761_315_262_648e-32;

avx2_dispatch! {
    /// The smallest nonzero, non-NaN `|x|` of `xs`, as bits (NaNs and zeros are ignored).
    pub(crate) fn min_nonzero_bits(xs: &[f32]) -> MinBits => min_nonzero_bits_body
}

#[inline(always)]
fn min_nonzero_bits_body(xs: &[f32]) -> MinBits {
    // Eight independent running minima (the minimum does not depend on the order), in
    // f32 so that the comparisons vectorize.
    let (runs, rest) = xs.as_chunks::<8>();
    let mut lanes = [f32::INFINITY; 8];
    for run in runs {
        for (m, &x) in lanes.iter_mut().zip(run) {
            *m = keep_smaller(*m, x);
        }
    }
    rest.iter().chain(&lanes).fold(f32::INFINITY, |m, &x| keep_smaller(m, x)).to_bits()
}

/// Whether no product of a value of magnitude ≥ `a` by one of magnitude ≥ `b`, and no
/// running sum of such products, can be subnormal, so flushing them changes nothing.
pub(crate) fn flush_is_noop(a: MinBits, b: MinBits) -> bool {
    if a >= INF_BITS || b >= INF_BITS {
        return true;
    }
    // Both are finite positive f32 values; their product is exact in f64.
    f64::from(f32::from_bits(a)) * f64::from(f32::from_bits(b)) >= MIN_EXACT_PRODUCT
}

/// A row-major left operand `m × k`, read in place, with the smallest nonzero magnitude
/// of each block of [`MR`] rows.
pub(crate) struct Lhs<'a> {
    data: &'a [f32],
    m: usize,
    k: usize,
    block_min: Vec<MinBits>,
}

impl<'a> Lhs<'a> {
    /// Wraps a row-major `m × k` matrix.
    pub(crate) fn new(data: &'a [f32], m: usize, k: usize) -> Self {
        debug_assert_eq!(data.len(), m * k);
        let block_min = data.par_chunks((MR * k).max(1)).map(min_nonzero_bits).collect();
        Lhs { data, m, k, block_min }
    }

    /// Columns `k0..k1` of the rows of block `blk`; rows past `m` repeat the last row
    /// (their results are dropped).
    fn block(&self, blk: usize, k0: usize, k1: usize) -> [&'a [f32]; MR] {
        std::array::from_fn(|r| {
            let row = (blk * MR + r).min(self.m - 1);
            &self.data[row * self.k + k0..row * self.k + k1]
        })
    }
}

/// A right operand `k × n`, walked in panels of [`NR`] columns, with the smallest
/// nonzero magnitude of each panel. Short ones are read in place (row-major; the last,
/// partial panel copied and zero-padded); long ones are packed panel by panel, k-major,
/// so that a panel is one contiguous run.
pub(crate) struct Rhs<'a> {
    k: usize,
    n: usize,
    layout: Layout<'a>,
    panel_min: Vec<MinBits>,
}

/// Where [`Rhs`] keeps its values.
enum Layout<'a> {
    /// The caller's row-major matrix, and its last partial panel (`k × NR`) if any.
    InPlace { data: &'a [f32], tail: Vec<f32> },
    /// Every panel as `k × NR` values, the last one zero-padded.
    Packed(Vec<f32>),
}

/// Depth from which [`Rhs`] packs: below it, packing costs more than it saves.
const PACK_MIN_K: usize = 64;

impl<'a> Rhs<'a> {
    /// Wraps a row-major `k × n` matrix.
    pub(crate) fn new(data: &'a [f32], k: usize, n: usize) -> Self {
        debug_assert_eq!(data.len(), k * n);
        if k >= PACK_MIN_K {
            return Rhs::packed(data, k, n);
        }
        let full = n / NR;
        let width = n - full * NR;
        let mut tail = vec![0.0; if width > 0 { k * NR } else { 0 }];
        for (dst, row) in tail.chunks_exact_mut(NR).zip(data.chunks_exact(n)) {
            dst[..width].copy_from_slice(&row[full * NR..]);
        }
        let panel_min = (0..n.div_ceil(NR)).into_par_iter().map(|p| panel_min_in_place(data, n, p)).collect();
        Rhs { k, n, layout: Layout::InPlace { data, tail }, panel_min }
    }

    fn packed(data: &[f32], k: usize, n: usize) -> Self {
        let mut packed = vec![0.0; n.div_ceil(NR) * NR * k];
        let panel_min = packed
            .par_chunks_mut(NR * k)
            .enumerate()
            .map(|(p, panel)| {
                let (c0, width) = (p * NR, NR.min(n - p * NR));
                for (dst, row) in panel.chunks_exact_mut(NR).zip(data.chunks_exact(n)) {
                    dst[..width].copy_from_slice(&row[c0..c0 + width]);
                }
                min_nonzero_bits(panel)
            })
            .collect();
        Rhs { k, n, layout: Layout::Packed(packed), panel_min }
    }

    /// Panel `p` from row `k0` on, and the distance between its rows.
    fn panel(&self, p: usize, k0: usize) -> (&[f32], usize) {
        match &self.layout {
            Layout::Packed(packed) => (&packed[(p * self.k + k0) * NR..], NR),
            Layout::InPlace { data, .. } if (p + 1) * NR <= self.n => (&data[k0 * self.n + p * NR..], self.n),
            Layout::InPlace { tail, .. } => (&tail[k0 * NR..], NR),
        }
    }
}

/// The smallest nonzero, non-NaN `|x|` of panel `p` (columns `p·NR ..`, at most [`NR`]) of
/// a row-major matrix with `n` columns, as bits.
fn panel_min_in_place(data: &[f32], n: usize, p: usize) -> MinBits {
    let columns = p * NR..(p * NR + NR).min(n);
    let mut lanes = [f32::INFINITY; NR];
    for row in data.chunks_exact(n) {
        for (m, &x) in lanes.iter_mut().zip(&row[columns.clone()]) {
            *m = keep_smaller(*m, x);
        }
    }
    min_nonzero_bits(&lanes)
}

/// `min(m, |x|)`, ignoring zeros and NaNs (`a < m` is false for NaN).
#[inline(always)]
fn keep_smaller(m: f32, x: f32) -> f32 {
    let a = x.abs();
    if a < m && a != 0.0 { a } else { m }
}

/// `out = a × b` (row-major `m × n`), every element the documented sequential sum, then
/// `add(sum, bias[row])` when a bias (one value per row) is given, made canonical.
/// Parallel across output tiles; the result does not depend on the threads.
pub(crate) fn gemm(a: &Lhs<'_>, b: &Rhs<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    debug_assert_eq!(a.k, b.k);
    debug_assert_eq!(out.len(), a.m * b.n);
    if out.is_empty() {
        return;
    }
    jobs(out, b.n).into_par_iter().for_each(|job| run_job(a, b, bias, job));
}

/// A rectangle of the output: rows `row0 ..` (one slice each), columns `col0 ..`.
struct Job<'a> {
    row0: usize,
    col0: usize,
    rows: Vec<&'a mut [f32]>,
}

/// Cuts a row-major output with `n` columns into disjoint [`Job`]s.
fn jobs(out: &mut [f32], n: usize) -> Vec<Job<'_>> {
    let col_jobs = n.div_ceil(JOB_COLS);
    let row_jobs = (out.len() / n).div_ceil(JOB_ROWS);
    let mut jobs: Vec<Job<'_>> = (0..row_jobs * col_jobs)
        .map(|j| Job { row0: j / col_jobs * JOB_ROWS, col0: j % col_jobs * JOB_COLS, rows: Vec::new() })
        .collect();
    for (i, row) in out.chunks_exact_mut(n).enumerate() {
        for (c, segment) in row.chunks_mut(JOB_COLS).enumerate() {
            jobs[i / JOB_ROWS * col_jobs + c].rows.push(segment);
        }
    }
    jobs
}

avx2_dispatch! {
    /// Runs one job, compiled for AVX2 when the CPU has it.
    fn run_job(a: &Lhs<'_>, b: &Rhs<'_>, bias: Option<&[f32]>, job: Job<'_>) => run_job_body
}

/// A job: for each panel, for each slice of k, every row block's tile; then the tiles of
/// the panel are finished and stored.
#[inline(always)]
fn run_job_body(a: &Lhs<'_>, b: &Rhs<'_>, bias: Option<&[f32]>, mut job: Job<'_>) {
    let width = job.rows.first().map_or(0, |r| r.len());
    let first_block = job.row0 / MR;
    let mut tiles: Vec<Tile> = vec![[[0.0; NR]; MR]; job.rows.len().div_ceil(MR)];
    for p in job.col0 / NR..(job.col0 + width).div_ceil(NR) {
        tiles.fill([[0.0; NR]; MR]);
        for k0 in (0..a.k).step_by(KC) {
            let k1 = (k0 + KC).min(a.k);
            let (panel, stride) = b.panel(p, k0);
            for (blk, tile) in (first_block..).zip(tiles.iter_mut()) {
                let block = a.block(blk, k0, k1);
                // The choice depends on the whole of k, so it is the same for every slice.
                *tile = if flush_is_noop(a.block_min[blk], b.panel_min[p]) {
                    tile_kernel::<false>(*tile, block, panel, stride)
                } else {
                    tile_kernel::<true>(*tile, block, panel, stride)
                };
            }
        }
        let c0 = p * NR - job.col0;
        let rows = job.rows.iter_mut().zip(tiles.iter().flatten()).zip(job.row0..);
        for ((row, acc), i) in rows {
            let done = finish_row(acc, bias.map(|b| b[i]));
            match row[c0..].first_chunk_mut::<NR>() {
                Some(dst) => *dst = done,
                None => row[c0..].copy_from_slice(&done[..width - c0]),
            }
        }
    }
}

/// The finished outputs of one tile row: `canonical(add(acc, bias))`, or `canonical(acc)`.
#[inline(always)]
fn finish_row(acc: &[f32; NR], bias: Option<f32>) -> [f32; NR] {
    let mut done = *acc;
    if let Some(b) = bias {
        for v in &mut done {
            *v = add(*v, b);
        }
    }
    for v in &mut done {
        *v = canonical(*v);
    }
    done
}

/// Continues one tile over a slice of k: `acc[r][c] += a[r][k] · b[k][c]`, sequential in
/// k, where row `k` of the panel starts at `b[k · stride]`. With `FLUSH`, every product
/// and partial sum is flushed ([`mul`], [`add`]); without, the caller has proven the
/// flushes are no-ops.
#[inline(always)]
pub(super) fn tile_kernel<const FLUSH: bool>(mut acc: Tile, a: [&[f32]; MR], b: &[f32], stride: usize) -> Tile {
    let len = a[0].len();
    let a = a.map(|row| &row[..len]);
    for (kk, b_row) in b.chunks(stride).take(len).enumerate() {
        let Some(bk) = b_row.first_chunk::<NR>() else { break };
        for (acc_row, row) in acc.iter_mut().zip(a) {
            let x = row[kk];
            for (s, &y) in acc_row.iter_mut().zip(bk) {
                *s = if FLUSH { add(*s, mul(x, y)) } else { *s + x * y };
            }
        }
    }
    acc
}
