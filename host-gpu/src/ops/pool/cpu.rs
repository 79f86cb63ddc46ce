//! The CPU pooling kernels: every plane (one batch item, one channel) in parallel, each
//! output from its window in row-major order.

use std::ops::Range;

use rayon::prelude::*;

use crate::ir::{PoolAttrs, PoolKind};
use crate::numerics::{add, canonical, max, mul, reciprocal};

/// Sizes of one windowed pool, all concrete.
pub(crate) struct Window {
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    /// Top, left, bottom, right.
    pads: [usize; 4],
}

impl Window {
    /// The windows of `attrs` over an input of shape `x` giving an output of shape `out`
    /// (both `[N, C, H, W]`, checked by `pool::infer`).
    pub(crate) fn new(attrs: &PoolAttrs, x: &[usize], out: &[usize]) -> Self {
        Window {
            height: x[2],
            width: x[3],
            out_height: out[2],
            out_width: out[3],
            kernel: attrs.kernel,
            strides: attrs.strides,
            pads: attrs.pads,
        }
    }

    /// The input rows (`axis` 0) or columns (1) under output coordinate `o`, and how many
    /// window positions lie inside the padded input.
    fn span(&self, axis: usize, o: usize) -> (Range<usize>, usize) {
        let size = if axis == 0 { self.height } else { self.width };
        let start = o * self.strides[axis];
        let end = (start + self.kernel[axis]).min(size + self.pads[axis] + self.pads[axis + 2]);
        let inside = start.saturating_sub(self.pads[axis]).min(size)..end.saturating_sub(self.pads[axis]).min(size);
        (inside, end - start)
    }
}

/// The pooled output of `x` (NCHW, as a flat buffer).
pub(crate) fn pool(kind: PoolKind, window: &Window, x: &[f32]) -> Vec<f32> {
    let plane = window.height * window.width;
    match kind {
        PoolKind::GlobalAverage => {
            x.par_chunks(plane.max(1)).map(|p| average(p.iter().fold(0.0, |acc, &v| add(acc, v)), p.len())).collect()
        }
        PoolKind::Max | PoolKind::Average { .. } => {
            let out_plane = window.out_height * window.out_width;
            let mut out = vec![0.0; x.len() / plane.max(1) * out_plane];
            if out_plane > 0 {
                let planes = out.par_chunks_mut(out_plane).zip(x.par_chunks(plane.max(1)));
                planes.for_each(|(out, x)| pool_plane(kind, window, x, out));
            }
            out
        }
    }
}

/// One output plane of a windowed pool.
fn pool_plane(kind: PoolKind, window: &Window, x: &[f32], out: &mut [f32]) {
    for (oy, row) in out.chunks_exact_mut(window.out_width).enumerate() {
        let (rows, padded_rows) = window.span(0, oy);
        for (ox, v) in row.iter_mut().enumerate() {
            let (cols, padded_cols) = window.span(1, ox);
            let values = Values { x, width: window.width, rows: rows.clone(), cols: cols.clone() };
            *v = match kind {
                PoolKind::Max => canonical(values.fold(f32::NEG_INFINITY, max)),
                PoolKind::Average { count_include_pad: true } => {
                    average(values.fold(0.0, add), padded_rows * padded_cols)
                }
                _ => average(values.fold(0.0, add), rows.len() * cols.len()),
            };
        }
    }
}

/// The in-bounds values of one window: `rows × cols` of a plane of rows of `width`.
struct Values<'a> {
    x: &'a [f32],
    width: usize,
    rows: Range<usize>,
    cols: Range<usize>,
}

impl Values<'_> {
    /// Folds `f` over the values in row-major order.
    fn fold(self, init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
        let Values { x, width, rows, cols } = self;
        rows.fold(init, |acc, iy| x[iy * width..][cols.clone()].iter().fold(acc, |acc, &v| f(acc, v)))
    }
}

/// `mul(sum, reciprocal(count))` (`count < 2^24`).
fn average(sum: f32, count: usize) -> f32 {
    // Exact: `pool::infer` checks that every count is below 2^24.
    canonical(mul(sum, reciprocal(count as f32)))
}
