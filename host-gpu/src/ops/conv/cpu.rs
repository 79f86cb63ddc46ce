//! The CPU convolution kernels: tap matrix + MatMul engine, a direct depthwise kernel,
//! and the tap-by-tap reference used where the window touches the padding.
//!
//! Steps of [`conv`], per batch item:
//! 1. a depthwise conv (one input channel per group) computes every output plane
//!    directly, in parallel ([`depthwise`]);
//! 2. otherwise each group lays the taps out as a `cg·kH·kW × OH·OW` matrix ([`tap_matrix`]; a
//!    1×1, stride 1, unpadded conv uses the input itself) and multiply the group's weight
//!    rows by it with [`matmul::gemm`]; then the outputs whose window touches the padding
//!    (where the matrix held zeros for skipped taps) are recomputed by [`conv_point`];
//! 3. the bias is added and every output made canonical (by the MatMul engine for the
//!    outputs it computes);
//! 4. the fused [`ChannelEpilogue`] runs over each finished plane.

use rayon::prelude::*;

use super::depthwise;
use crate::ir::ConvAttrs;
use crate::numerics::{add, canonical, mul};
use crate::ops::epilogue::ChannelEpilogue;
use crate::ops::matmul::{self, Lhs, Rhs};

/// Sizes of one convolution, all concrete.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub(super) batch: usize,
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) out_channels: usize,
    pub(super) group: usize,
    pub(super) kernel: [usize; 2],
    pub(super) strides: [usize; 2],
    /// Top, left, bottom, right.
    pub(super) pads: [usize; 4],
    pub(super) dilations: [usize; 2],
    pub(super) out_height: usize,
    pub(super) out_width: usize,
}

impl Geometry {
    /// The geometry of `x` (`[N, C, H, W]`) convolved with `w` (`[M, C/group, kH, kW]`)
    /// into `out` (`[N, M, OH, OW]`), as checked and computed by `conv::infer`.
    pub(crate) fn new(attrs: &ConvAttrs, x: &[usize], w: &[usize], out: &[usize]) -> Self {
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
            out_height: out[2],
            out_width: out[3],
        }
    }

    pub(super) fn group_channels(&self) -> usize {
        self.channels / self.group
    }

    pub(super) fn group_outputs(&self) -> usize {
        self.out_channels / self.group
    }

    /// Taps per output: `cg · kH · kW`.
    pub(super) fn taps(&self) -> usize {
        self.group_channels() * self.kernel[0] * self.kernel[1]
    }

    pub(super) fn plane(&self) -> usize {
        self.height * self.width
    }

    pub(super) fn out_plane(&self) -> usize {
        self.out_height * self.out_width
    }

    pub(super) fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.strides == [1, 1] && self.pads == [0; 4]
    }
}

/// The convolution of `x` by `w` (plus `bias`), followed by `epilogue`, as the NCHW
/// output buffer.
pub(crate) fn conv(geo: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, epilogue: &ChannelEpilogue) -> Vec<f32> {
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
            depthwise::depthwise(geo, x_item, w, bias, epilogue, out_item);
            continue;
        }
        for (g, out_group) in out_item.chunks_exact_mut(group_out).enumerate() {
            let xg = &x_item[g * group_in..(g + 1) * group_in];
            let bias = bias.map(|b| &b[g * mg..(g + 1) * mg]);
            let planes = Planes { first_channel: g * mg, epilogue };
            via_gemm(geo, xg, &w[g * group_w..(g + 1) * group_w], bias, &planes, out_group);
        }
    }
    out
}

/// The finished output: `canonical(add(acc, bias))`, or `canonical(acc)` without bias.
#[inline(always)]
pub(super) fn finish(acc: f32, bias: Option<f32>) -> f32 {
    canonical(bias.map_or(acc, |b| add(acc, b)))
}

/// Where a group's output planes sit among all channels, and what to run over them.
struct Planes<'a> {
    /// The channel of the group's first output plane.
    first_channel: usize,
    /// The fused work.
    epilogue: &'a ChannelEpilogue,
}

/// One group through the MatMul engine, then the outputs touching the padding tap by tap,
/// then the epilogue.
fn via_gemm(geo: &Geometry, xg: &[f32], wg: &[f32], bias: Option<&[f32]>, planes: &Planes<'_>, out: &mut [f32]) {
    let (taps, pixels) = (geo.taps(), geo.out_plane());
    let lhs = Lhs::new(wg, geo.group_outputs(), taps);
    if geo.is_pointwise() {
        matmul::gemm(&lhs, &Rhs::new(xg, taps, pixels), bias, out);
    } else {
        matmul::gemm(&lhs, &Rhs::new(&tap_matrix(geo, xg), taps, pixels), bias, out);
    }
    finish_planes(geo, xg, wg, bias, planes, out);
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

/// Recomputes, with [`conv_point`], every output whose window touches the padding, then
/// runs the epilogue over the plane.
fn finish_planes(geo: &Geometry, xg: &[f32], wg: &[f32], bias: Option<&[f32]>, planes: &Planes<'_>, out: &mut [f32]) {
    let (y0, y1) = interior(geo, 0);
    let (x0, x1) = interior(geo, 1);
    let outputs = out.par_chunks_mut(geo.out_plane()).zip(wg.par_chunks(geo.taps())).enumerate();
    outputs.for_each(|(m, (plane, wm))| {
        let b = bias.map(|b| b[m]);
        for (oy, row) in plane.chunks_exact_mut(geo.out_width).enumerate() {
            let border_row = oy < y0 || oy >= y1;
            for ox in border_columns(border_row, x0, x1, geo.out_width) {
                row[ox] = finish(conv_point(geo, xg, wm, oy, ox), b);
            }
        }
        planes.epilogue.apply(planes.first_channel + m, plane);
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

/// `f(&mut dst[i], src[i · stride])` for every `i`, with strides 1 and 2 specialized.
#[inline(always)]
pub(super) fn zip_strided(dst: &mut [f32], src: &[f32], stride: usize, f: impl Fn(&mut f32, f32)) {
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
pub(super) fn valid_range(geo: &Geometry, axis: usize, k: usize) -> (usize, usize) {
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
