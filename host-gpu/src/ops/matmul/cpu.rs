//! The f32 matrix-product engine shared by MatMul and Conv: packing, the register-blocked
//! microkernel and the parallel driver.
//!
//! Steps of [`gemm`]:
//! 1. the right operand is packed into panels of [`NR`] columns, k-major inside a panel
//!    ([`PackedB`], the last panel padded with zeros); the left operand is read in place
//!    ([`Lhs`]) in blocks of [`MR`] rows; the smallest nonzero magnitude of each panel and
//!    block is recorded;
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

use crate::numerics::{add, canonical, mul};

/// Rows of a microkernel tile.
pub(crate) const MR: usize = 4;
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
/// `|x|` bits of the smallest nonzero, non-NaN magnitude seen; [`NO_NONZERO`] when none.
type MinBits = u32;
/// [`MinBits`] of a run of values that holds no nonzero, non-NaN value.
const NO_NONZERO: MinBits = u32::MAX;
/// Bits of `+inf`: a minimum at or above it means every nonzero value is infinite or NaN.
const INF_BITS: MinBits = 0x7F80_0000;
/// Products at least this large (2^-103) are multiples of 2^-126 (see the module docs).
const MIN_EXACT_PRODUCT: f64 = 9.860_761_315_262_648e-32;

/// The smallest nonzero, non-NaN `|x|` of `xs`, as bits (NaNs and zeros are ignored).
pub(crate) fn min_nonzero_bits(xs: &[f32]) -> MinBits {
    xs.iter().fold(NO_NONZERO, |m, &x| {
        let bits = x.to_bits() & 0x7FFF_FFFF;
        let bits = if bits == 0 || bits > INF_BITS { NO_NONZERO } else { bits };
        m.min(bits)
    })
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
        let block_min = data.chunks((MR * k).max(1)).map(min_nonzero_bits).collect();
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

/// A right operand `k × n`, packed in panels of [`NR`] columns: panel `p` holds, for each
/// k, its `NR` values (columns past `n` are zero).
pub(crate) struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
    panel_min: Vec<MinBits>,
}

impl PackedB {
    /// Packs a row-major `k × n` matrix.
    pub(crate) fn pack(b: &[f32], k: usize, n: usize) -> Self {
        debug_assert_eq!(b.len(), k * n);
        PackedB::from_panels(k, n, |p, panel| {
            let c0 = p * NR;
            let width = NR.min(n - c0);
            for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
                dst[..width].copy_from_slice(&b[kk * n + c0..kk * n + c0 + width]);
            }
        })
    }

    /// Builds the panels with `fill(p, panel)`, which writes panel `p` (`k × NR`, k-major,
    /// zero-initialized): the columns `p·NR ..` of the matrix.
    pub(crate) fn from_panels(k: usize, n: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Self {
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0; panels * NR * k];
        let panel_min = data
            .par_chunks_mut((NR * k).max(1))
            .enumerate()
            .map(|(p, panel)| {
                fill(p, panel);
                min_nonzero_bits(panel)
            })
            .collect();
        PackedB { k, n, data, panel_min }
    }

    fn panel(&self, p: usize) -> &[[f32; NR]] {
        self.data[p * NR * self.k..(p + 1) * NR * self.k].as_chunks::<NR>().0
    }
}

/// `out = a × b` (row-major `m × n`), every element the documented sequential sum,
/// canonical. Parallel across output tiles; the result does not depend on the threads.
pub(crate) fn gemm(a: &Lhs<'_>, b: &PackedB, out: &mut [f32]) {
    debug_assert_eq!(a.k, b.k);
    debug_assert_eq!(out.len(), a.m * b.n);
    if out.is_empty() {
        return;
    }
    if a.k == 0 {
        out.fill(0.0);
        return;
    }
    jobs(out, b.n).into_par_iter().for_each(|job| run_job(a, b, job));
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

fn run_job(a: &Lhs<'_>, b: &PackedB, job: Job<'_>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { run_job_avx2(a, b, job) };
        return;
    }
    run_job_body(a, b, job);
}

/// [`run_job_body`] compiled for AVX2 (without FMA).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_job_avx2(a: &Lhs<'_>, b: &PackedB, job: Job<'_>) {
    run_job_body(a, b, job);
}

#[inline(always)]
fn run_job_body(a: &Lhs<'_>, b: &PackedB, mut job: Job<'_>) {
    let width = job.rows.first().map_or(0, |r| r.len());
    let first_block = job.row0 / MR;
    let blocks = job.rows.len().div_ceil(MR);
    let mut tiles: Vec<Tile> = vec![[[0.0; NR]; MR]; blocks];
    for p in job.col0 / NR..(job.col0 + width).div_ceil(NR) {
        let panel = b.panel(p);
        tiles.fill([[0.0; NR]; MR]);
        for k0 in (0..a.k).step_by(KC) {
            let k1 = (k0 + KC).min(a.k);
            for (blk, tile) in (first_block..).zip(tiles.iter_mut()) {
                let block = a.block(blk, k0, k1);
                // The choice depends on the whole of k, so it is the same for every slice.
                *tile = if flush_is_noop(a.block_min[blk], b.panel_min[p]) {
                    tile_kernel::<false>(*tile, block, &panel[k0..k1])
                } else {
                    tile_kernel::<true>(*tile, block, &panel[k0..k1])
                };
            }
        }
        let c0 = p * NR - job.col0;
        let cols = NR.min(width - c0);
        for (row, acc) in job.rows.iter_mut().zip(tiles.iter().flatten()) {
            for (o, &v) in row[c0..c0 + cols].iter_mut().zip(acc) {
                *o = canonical(v);
            }
        }
    }
}

/// Continues one tile over a slice of k: `acc[r][c] += a[r][k] · b[k][c]`,
/// sequential in k. With `FLUSH`, every product and partial sum is flushed ([`mul`],
/// [`add`]); without, the caller has proven the flushes are no-ops.
#[inline(always)]
pub(super) fn tile_kernel<const FLUSH: bool>(mut acc: Tile, a: [&[f32]; MR], b: &[[f32; NR]]) -> Tile {
    let a = a.map(|row| &row[..b.len()]);
    for (kk, bk) in b.iter().enumerate() {
        for (acc_row, row) in acc.iter_mut().zip(a) {
            let x = row[kk];
            for (s, &y) in acc_row.iter_mut().zip(bk) {
                *s = if FLUSH { add(*s, mul(x, y)) } else { *s + x * y };
            }
        }
    }
    acc
}
