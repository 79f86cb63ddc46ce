//! The CPU convolution kernels: tap matrix + MatMul engine, a direct depthwise kernel,
//! and the tap-by-tap reference used where the window touches the padding.
//!
//! Steps of [`conv`], per batch item:
//! 1. a depthwise conv (one input channel per group) computes every output plane
//!    directly, in parallel: [`depthwise_flat`] when the stride is 1 and output rows are
//!    as wide as input rows, else [`depthwise_rows`];
//! 2. otherwise each group lays the taps out as a `cg·kH·kW × OH·OW` matrix ([`tap_matrix`]; a
//!    1×1, stride 1, unpadded conv uses the input itself) and multiply the group's weight
//!    rows by it with [`matmul::gemm`]; then the outputs whose window touches the padding
//!    (where the matrix held zeros for skipped taps) are recomputed by [`conv_point`];
//! 3. the bias is added and every output made canonical (by the MatMul engine for the
//!    outputs it computes).

use rayon::prelude::*;

use crate::ir::ConvAttrs;
use crate::numerics::{add, canonical, mul};
use crate::ops::matmul::{self, Lhs, Rhs, avx2_dispatch, flush_is_noop, min_nonzero_bits};

/// Sizes of one convolution, all concrete.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    group: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    /// Top, left, bottom, right.
    pads: [usize; 4],
    dilations: [usize; 2],
    out_height: usize,
    out_width: usize,
}

impl Geometry {
    /// The geometry of `x` (`[N, C, H, W]`) convolved with `w` (`[M, C/group, kH, kW]`);
    /// the shapes must have passed the checks of `conv::infer`.
    pub(crate) fn new(attrs: &ConvAttrs, x: &[usize], w: &[usize]) -> Self {
        let out = |axis: usize| {
            let padded = x[2 + axis] + attrs.pads[axis] + attrs.pads[axis + 2];
            (padded - attrs.dilations[axis] * (attrs.kernel[axis] - 1) - 1) / attrs.strides[axis] + 1
        };
        Geometry {
            batch: x[0],
            channels: x[1],
            height: x[2],
            width: x[3],
            out_channels: w[0],
            group: attrs.group,
            kernel: attrs.kernel,
            strides: attrs.strides,
            pads: attrs.pads,
            dilations: attrs.dilations,
            out_height: out(0),
            out_width: out(1),
        }
    }

    /// `[N, M, OH, OW]`.
    pub(crate) fn output_shape(&self) -> Vec<usize> {
        vec![self.batch, self.out_channels, self.out_height, self.out_width]
    }

    fn group_channels(&self) -> usize {
        self.channels / self.group
    }

    fn group_outputs(&self) -> usize {
        self.out_channels / self.group
    }

    /// Taps per output: `cg · kH · kW`.
    fn taps(&self) -> usize {
        self.group_channels() * self.kernel[0] * self.kernel[1]
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height * self.out_width
    }

    /// The input coordinate of tap `k` for output coordinate `o` along `axis`, if inside.
    fn input_coord(&self, axis: usize, o: usize, k: usize) -> Option<usize> {
        let size = if axis == 0 { self.height } else { self.width };
        (o * self.strides[axis] + k * self.dilations[axis]).checked_sub(self.pads[axis]).filter(|&i| i < size)
    }

    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.strides == [1, 1] && self.pads == [0; 4]
    }
}

/// The convolution of `x` by `w` (plus `bias`), as the NCHW output buffer.
pub(crate) fn conv(geo: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0.0; geo.batch * geo.out_channels * geo.out_plane()];
    if out.is_empty() {
        return out;
    }
    let group_in = geo.group_channels() * geo.plane();
    let group_out = geo.group_outputs() * geo.out_plane();
    let group_w = geo.group_outputs() * geo.taps();
    let mg = geo.group_outputs();
    for (n, out_item) in out.chunks_exact_mut(geo.out_channels * geo.out_plane()).enumerate() {
        let x_item = &x[n * geo.channels * geo.plane()..(n + 1) * geo.channels * geo.plane()];
        if geo.group_channels() == 1 {
            depthwise(geo, x_item, w, bias, out_item);
            continue;
        }
        for (g, out_group) in out_item.chunks_exact_mut(group_out).enumerate() {
            let xg = &x_item[g * group_in..(g + 1) * group_in];
            let bias = bias.map(|b| &b[g * mg..(g + 1) * mg]);
            via_gemm(geo, xg, &w[g * group_w..(g + 1) * group_w], bias, out_group);
        }
    }
    out
}

/// The finished output: `canonical(add(acc, bias))`, or `canonical(acc)` without bias.
fn finish(acc: f32, bias: Option<f32>) -> f32 {
    canonical(bias.map_or(acc, |b| add(acc, b)))
}

/// One group through the MatMul engine, then the outputs touching the padding tap by tap.
fn via_gemm(geo: &Geometry, xg: &[f32], wg: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let (taps, pixels) = (geo.taps(), geo.out_plane());
    let lhs = Lhs::new(wg, geo.group_outputs(), taps);
    if geo.is_pointwise() {
        matmul::gemm(&lhs, &Rhs::new(xg, taps, pixels), bias, out);
    } else {
        matmul::gemm(&lhs, &Rhs::new(&tap_matrix(geo, xg), taps, pixels), bias, out);
    }
    fix_border(geo, xg, wg, bias, out);
}

/// The `taps × pixels` matrix: row `(c, ky, kx)` holds, for each output pixel, the input
/// value under that tap, or 0 where the tap is in the padding (those outputs are
/// recomputed by [`fix_border`]).
fn tap_matrix(geo: &Geometry, xg: &[f32]) -> Vec<f32> {
    let [kh, kw] = geo.kernel;
    let mut matrix = vec![0.0; geo.taps() * geo.out_plane()];
    matrix.par_chunks_mut(geo.out_plane()).enumerate().for_each(|(t, row)| {
        let (c, ky, kx) = (t / (kh * kw), t / kw % kh, t % kw);
        let channel = &xg[c * geo.plane()..(c + 1) * geo.plane()];
        let (y0, y1) = valid_range(geo, 0, ky);
        let (x0, x1) = valid_range(geo, 1, kx);
        if x0 >= x1 {
            return;
        }
        for oy in y0..y1 {
            let iy = oy * geo.strides[0] + ky * geo.dilations[0] - geo.pads[0];
            let first = iy * geo.width + x0 * geo.strides[1] + kx * geo.dilations[1] - geo.pads[1];
            let dst = &mut row[oy * geo.out_width + x0..oy * geo.out_width + x1];
            zip_strided(dst, &channel[first..], geo.strides[1], |d, v| *d = v);
        }
    });
    matrix
}

/// Recomputes, with [`conv_point`], every output whose window touches the padding.
fn fix_border(geo: &Geometry, xg: &[f32], wg: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let (y0, y1) = interior(geo, 0);
    let (x0, x1) = interior(geo, 1);
    let planes = out.par_chunks_mut(geo.out_plane()).zip(wg.par_chunks(geo.taps())).enumerate();
    planes.for_each(|(m, (plane, wm))| {
        let b = bias.map(|b| b[m]);
        for (oy, row) in plane.chunks_exact_mut(geo.out_width).enumerate() {
            let border_row = oy < y0 || oy >= y1;
            for ox in border_columns(border_row, x0, x1, geo.out_width) {
                row[ox] = finish(conv_point(geo, xg, wm, oy, ox), b);
            }
        }
    });
}

/// The columns of an output row that are not interior: all of them on a border row.
fn border_columns(border_row: bool, x0: usize, x1: usize, width: usize) -> impl Iterator<Item = usize> {
    let (left, right) = if border_row { (width, width) } else { (x0.min(width), x1.max(x0)) };
    (0..left).chain(right..width)
}

/// One output, tap by tap in the specified order, padded taps skipped (before the bias).
fn conv_point(geo: &Geometry, xg: &[f32], wm: &[f32], oy: usize, ox: usize) -> f32 {
    let [kh, kw] = geo.kernel;
    let (ky0, ky1) = tap_range(geo, 0, oy);
    let (kx0, kx1) = tap_range(geo, 1, ox);
    let mut acc = 0.0f32;
    for (channel, wc) in xg.chunks_exact(geo.plane()).zip(wm.chunks_exact(kh * kw)) {
        for ky in ky0..ky1 {
            let iy = oy * geo.strides[0] + ky * geo.dilations[0] - geo.pads[0];
            for kx in kx0..kx1 {
                let ix = ox * geo.strides[1] + kx * geo.dilations[1] - geo.pads[1];
                acc = add(acc, mul(channel[iy * geo.width + ix], wc[ky * kw + kx]));
            }
        }
    }
    acc
}

/// The taps `k0..k1` along `axis` that are inside the input for output coordinate `o`.
fn tap_range(geo: &Geometry, axis: usize, o: usize) -> (usize, usize) {
    let size = if axis == 0 { geo.height } else { geo.width };
    let (start, dilation) = (o * geo.strides[axis], geo.dilations[axis]);
    let first = geo.pads[axis].saturating_sub(start).div_ceil(dilation);
    let end = (size + geo.pads[axis]).saturating_sub(start).div_ceil(dilation);
    (first.min(geo.kernel[axis]), end.min(geo.kernel[axis]))
}

/// A depthwise conv (one input channel per group) of one batch item: every output
/// channel in parallel.
fn depthwise(geo: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let kernel_size = geo.kernel[0] * geo.kernel[1];
    let masks = flat_masks(geo);
    let planes = out.par_chunks_mut(geo.out_plane()).zip(w.par_chunks(kernel_size)).enumerate();
    planes.for_each(|(m, (plane, wm))| {
        let c = m / geo.group_outputs();
        let xg = &x[c * geo.plane()..(c + 1) * geo.plane()];
        let flush = !flush_is_noop(min_nonzero_bits(xg), min_nonzero_bits(wm));
        match &masks {
            Some(masks) => depthwise_flat(geo, xg, wm, plane, masks, flush),
            None => depthwise_rows(geo, xg, wm, plane, flush),
        }
        let b = bias.map(|b| b[m]);
        for v in plane {
            *v = finish(*v, b);
        }
    });
}

/// For a stride-1 conv whose output rows are as wide as the input rows, the flat output
/// index and the flat input index of a tap differ by a constant; `masks[kx][i]` is all
/// ones when tap column `kx` is inside the input for flat output `i`, else zero. `None`
/// for other convs.
fn flat_masks(geo: &Geometry) -> Option<Vec<Vec<u32>>> {
    if geo.strides != [1, 1] || geo.out_width != geo.width {
        return None;
    }
    let masks = (0..geo.kernel[1])
        .map(|kx| {
            let (x0, x1) = valid_range(geo, 1, kx);
            let row: Vec<u32> =
                (0..geo.out_width).map(|ox| if (x0..x1).contains(&ox) { u32::MAX } else { 0 }).collect();
            row.repeat(geo.out_height)
        })
        .collect();
    Some(masks)
}

avx2_dispatch! {
    /// [`depthwise_flat_body`], compiled for AVX2 when the CPU has it.
    fn depthwise_flat(geo: &Geometry, x: &[f32], wm: &[f32], plane: &mut [f32], masks: &[Vec<u32>], flush: bool)
        => depthwise_flat_body
}

/// One output plane of a stride-1, same-width depthwise conv, in blocks of rows that
/// stay in the L1 cache: for each tap in `(ky, kx)` order, one pass over the block's
/// outputs whose tap row is inside, updating those whose tap column is inside too.
#[inline(always)]
fn depthwise_flat_body(geo: &Geometry, x: &[f32], wm: &[f32], plane: &mut [f32], masks: &[Vec<u32>], flush: bool) {
    plane.fill(0.0);
    let width = geo.width;
    let block = width * FLAT_BLOCK_ELEMENTS.div_ceil(width);
    for block_start in (0..plane.len()).step_by(block) {
        let block_end = (block_start + block).min(plane.len());
        for (ky, w_row) in wm.chunks_exact(geo.kernel[1]).enumerate() {
            let (y0, y1) = valid_range(geo, 0, ky);
            let row_shift = (ky * geo.dilations[0]) as isize - geo.pads[0] as isize;
            for ((kx, &wv), mask) in w_row.iter().enumerate().zip(masks) {
                // Input index = output index + shift. Outputs whose input index falls
                // outside the plane have their tap column outside the row: masked anyway.
                let shift = row_shift * width as isize + (kx * geo.dilations[1]) as isize - geo.pads[1] as isize;
                let start = (y0 * width).max(block_start).max(shift.unsigned_abs() * usize::from(shift < 0));
                let end = (y1 * width).min(block_end).min(geo.plane().saturating_add_signed(-shift));
                if start >= end {
                    continue;
                }
                let xs = &x[start.saturating_add_signed(shift)..end.saturating_add_signed(shift)];
                let (acc, mask) = (&mut plane[start..end], &mask[start..end]);
                if flush {
                    masked_tap::<true>(acc, xs, mask, wv);
                } else {
                    masked_tap::<false>(acc, xs, mask, wv);
                }
            }
        }
    }
}

/// About how many outputs [`depthwise_flat_body`] keeps in cache at once.
const FLAT_BLOCK_ELEMENTS: usize = 2048;

/// `acc[i] = add(acc[i], mul(xs[i], w))` where `mask[i]` is all ones, else unchanged
/// (selected by bits, which compiles to a blend rather than a slow masked store).
#[inline(always)]
fn masked_tap<const FLUSH: bool>(acc: &mut [f32], xs: &[f32], mask: &[u32], w: f32) {
    for ((a, &x), &m) in acc.iter_mut().zip(xs).zip(mask) {
        let sum = if FLUSH { add(*a, mul(x, w)) } else { *a + x * w };
        *a = f32::from_bits((sum.to_bits() & m) | (a.to_bits() & !m));
    }
}

avx2_dispatch! {
    /// [`depthwise_rows_body`], compiled for AVX2 when the CPU has it.
    fn depthwise_rows(geo: &Geometry, x: &[f32], wm: &[f32], plane: &mut [f32], flush: bool) => depthwise_rows_body
}

/// One output plane of any depthwise conv: for each output row, the taps in `(ky, kx)`
/// order, each applied to the range of `ox` for which it is inside the input.
#[inline(always)]
fn depthwise_rows_body(geo: &Geometry, x: &[f32], wm: &[f32], plane: &mut [f32], flush: bool) {
    let stride = geo.strides[1];
    let ranges: Vec<(usize, usize)> = (0..geo.kernel[1]).map(|kx| valid_range(geo, 1, kx)).collect();
    for (oy, acc) in plane.chunks_exact_mut(geo.out_width).enumerate() {
        acc.fill(0.0);
        for (ky, w_row) in wm.chunks_exact(geo.kernel[1]).enumerate() {
            let Some(iy) = geo.input_coord(0, oy, ky) else { continue };
            for ((kx, &wv), &(lo, hi)) in w_row.iter().enumerate().zip(&ranges) {
                if lo >= hi {
                    continue;
                }
                // ix = ox·stride + kx·dilation - pad, inside the row for ox in lo..hi.
                let first = iy * geo.width + lo * stride + kx * geo.dilations[1] - geo.pads[1];
                let xs = &x[first..=first + (hi - lo - 1) * stride];
                let acc = &mut acc[lo..hi];
                if flush {
                    zip_strided(acc, xs, stride, |a, x| *a = add(*a, mul(x, wv)));
                } else {
                    zip_strided(acc, xs, stride, |a, x| *a = *a + x * wv);
                }
            }
        }
    }
}

/// `f(&mut dst[i], src[i · stride])` for every `i`, with strides 1 and 2 specialized.
#[inline(always)]
fn zip_strided(dst: &mut [f32], src: &[f32], stride: usize, f: impl Fn(&mut f32, f32)) {
    match stride {
        1 => zip_every::<1>(dst, src, f),
        2 => zip_every::<2>(dst, src, f),
        _ => dst.iter_mut().zip(src.iter().step_by(stride)).for_each(|(d, &x)| f(d, x)),
    }
}

/// [`zip_strided`] for a stride known at compile time: runs of 8 outputs read `8·S`
/// consecutive inputs, which the compiler turns into vector loads and shuffles.
#[inline(always)]
fn zip_every<const S: usize>(dst: &mut [f32], src: &[f32], f: impl Fn(&mut f32, f32)) {
    let mut done = 0;
    for (d8, window) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8 * S)) {
        for (i, d) in d8.iter_mut().enumerate() {
            f(d, window[i * S]);
        }
        done += 8;
    }
    for (d, &x) in dst[done..].iter_mut().zip(src[done * S..].iter().step_by(S)) {
        f(d, x);
    }
}

/// The range of output coordinates along `axis` whose tap `k` lies inside the input.
fn valid_range(geo: &Geometry, axis: usize, k: usize) -> (usize, usize) {
    let (size, out) = if axis == 0 { (geo.height, geo.out_height) } else { (geo.width, geo.out_width) };
    let (stride, pad) = (geo.strides[axis], geo.pads[axis]);
    let offset = k * geo.dilations[axis];
    let lo = pad.saturating_sub(offset).div_ceil(stride);
    let hi = if size + pad > offset { (size + pad - offset - 1) / stride + 1 } else { 0 };
    (lo.min(out), hi.min(out))
}

/// The range of output coordinates along `axis` whose every tap lies inside the input.
fn interior(geo: &Geometry, axis: usize) -> (usize, usize) {
    let (lo, _) = valid_range(geo, axis, 0);
    let (_, hi) = valid_range(geo, axis, geo.kernel[axis] - 1);
    (lo, hi.max(lo))
}
