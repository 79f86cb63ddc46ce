//! The direct depthwise kernel (one input channel per group), vectorized across outputs.
//!
//! A tap `(ky, kx)` of output `(oy, ox)` reads input `(oy·sH + ky·dH - pad_top,
//! ox·sW + kx·dW - pad_left)`. Writing `ky·dH - pad_top = sH·ay + qy` (`0 ≤ qy < sH`),
//! and likewise for columns, that is element `(oy + ay, ox + ax)` of the *phase plane*
//! `(qy, qx)`, the input values whose row is `qy` mod `sH` and column `qx` mod `sW`. With
//! the phase planes and the output laid out with one common row pitch, the flat input
//! index is the flat output index plus a constant per tap, so each tap is one long
//! vector loop over the outputs whose tap row is inside the input, with a mask for the
//! outputs whose tap column is outside (those keep their value: the tap is skipped).
//! The taps are applied in `(ky, kx)` order, so every output sees its own in-bounds taps
//! in the specified order.

use std::borrow::Cow;

use rayon::prelude::*;

use super::cpu::{Geometry, finish, valid_range, zip_strided};
use crate::numerics::{add, mul};
use crate::ops::epilogue::ChannelEpilogue;
use crate::ops::matmul::{avx2_dispatch, flush_is_noop, min_nonzero_bits};

/// About how many outputs the kernel keeps in the L1 cache at once.
const BLOCK_ELEMENTS: usize = 2048;

/// A depthwise conv of one batch item: every output channel in parallel, plus the bias,
/// made canonical, then the epilogue.
pub(super) fn depthwise(
    geo: &Geometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    epilogue: &ChannelEpilogue,
    out: &mut [f32],
) {
    let layout = Layout::new(geo);
    let kernel_size = geo.kernel[0] * geo.kernel[1];
    let per_channel = geo.out_channels / geo.channels;
    let planes = out.par_chunks_mut(geo.out_plane()).zip(w.par_chunks(kernel_size)).enumerate();
    planes.for_each(|(m, (plane, wm))| {
        let xc = &x[m / per_channel * geo.plane()..][..geo.plane()];
        one_plane(geo, &layout, xc, wm, bias.map(|b| b[m]), plane);
        epilogue.apply(m, plane);
    });
}

avx2_dispatch! {
    /// One output plane from its input plane `xc` and weights `wm`, compiled for AVX2 when
    /// the CPU has it.
    fn one_plane(geo: &Geometry, layout: &Layout, xc: &[f32], wm: &[f32], bias: Option<f32>, plane: &mut [f32])
        => one_plane_body
}

#[inline(always)]
fn one_plane_body(geo: &Geometry, layout: &Layout, xc: &[f32], wm: &[f32], bias: Option<f32>, plane: &mut [f32]) {
    let flush = !flush_is_noop(min_nonzero_bits(xc), min_nonzero_bits(wm));
    let phases = layout.phases(geo, xc);
    if layout.pitch == geo.out_width {
        plane_taps(geo, layout, &phases, wm, plane, flush);
    } else {
        let mut work = vec![0.0; geo.out_height * layout.pitch];
        plane_taps(geo, layout, &phases, wm, &mut work, flush);
        for (dst, src) in plane.chunks_exact_mut(geo.out_width).zip(work.chunks_exact(layout.pitch)) {
            dst.copy_from_slice(&src[..geo.out_width]);
        }
    }
    for v in plane {
        *v = finish(*v, bias);
    }
}

/// The common row pitch of the phase planes and of the output work plane, and the
/// column masks.
struct Layout {
    /// Row pitch: at least the output width and the width of every phase plane.
    pitch: usize,
    /// Rows of every phase plane.
    phase_rows: usize,
    /// `masks[kx][i]`: all ones when tap column `kx` is inside the input for flat output
    /// `i` (row pitch [`Layout::pitch`]), else zero.
    masks: Vec<Vec<u32>>,
}

impl Layout {
    fn new(geo: &Geometry) -> Self {
        let pitch = geo.out_width.max(geo.width.div_ceil(geo.strides[1]));
        let masks = (0..geo.kernel[1])
            .map(|kx| {
                let inside = valid_range(geo, 1, kx);
                let row: Vec<u32> =
                    (0..pitch).map(|ox| if (inside.0..inside.1).contains(&ox) { u32::MAX } else { 0 }).collect();
                row.repeat(geo.out_height)
            })
            .collect();
        Layout { pitch, phase_rows: geo.height.div_ceil(geo.strides[0]), masks }
    }

    /// The phase planes of one input plane, one after the other in `(qy, qx)` order, each
    /// `phase_rows × pitch` (zero where no input value falls). With stride 1 and a pitch
    /// equal to the input width that is the input plane itself.
    #[inline(always)]
    fn phases<'a>(&self, geo: &Geometry, x: &'a [f32]) -> Cow<'a, [f32]> {
        let [sy, sx] = geo.strides;
        if [sy, sx] == [1, 1] && self.pitch == geo.width {
            return Cow::Borrowed(x);
        }
        let mut phased = vec![0.0; sy * sx * self.phase_rows * self.pitch];
        for (q, phase) in phased.chunks_exact_mut(self.phase_rows * self.pitch).enumerate() {
            let (qy, qx) = (q / sx, q % sx);
            let rows = x.chunks_exact(geo.width).skip(qy).step_by(sy);
            for (dst, src) in phase.chunks_exact_mut(self.pitch).zip(rows) {
                let src = src.get(qx..).unwrap_or_default();
                let n = src.len().div_ceil(sx).min(self.pitch);
                zip_strided(&mut dst[..n], src, sx, |d, v| *d = v);
            }
        }
        Cow::Owned(phased)
    }
}

/// Every tap of one output plane (`acc`, row pitch [`Layout::pitch`]), in blocks of rows
/// that stay in the L1 cache.
#[inline(always)]
fn plane_taps(geo: &Geometry, layout: &Layout, phases: &[f32], wm: &[f32], acc: &mut [f32], flush: bool) {
    acc.fill(0.0);
    let pitch = layout.pitch;
    let phase_len = layout.phase_rows * pitch;
    let block = pitch * BLOCK_ELEMENTS.div_ceil(pitch);
    for block_start in (0..acc.len()).step_by(block) {
        let block_end = (block_start + block).min(acc.len());
        for (ky, w_row) in wm.chunks_exact(geo.kernel[1]).enumerate() {
            let (y0, y1) = valid_range(geo, 0, ky);
            let (ay, qy) = phase_of(ky * geo.dilations[0], geo.pads[0], geo.strides[0]);
            for ((kx, &wv), mask) in w_row.iter().enumerate().zip(&layout.masks) {
                let (ax, qx) = phase_of(kx * geo.dilations[1], geo.pads[1], geo.strides[1]);
                let phase = &phases[(qy * geo.strides[1] + qx) * phase_len..][..phase_len];
                // Input index = output index + shift. Outputs whose input index falls
                // outside the phase plane have their tap column outside the input, so
                // they are masked anyway.
                let shift = ay * pitch as isize + ax;
                let start = (y0 * pitch).max(block_start).max(shift.unsigned_abs() * usize::from(shift < 0));
                let end = (y1 * pitch).min(block_end).min(phase_len.saturating_add_signed(-shift));
                if start >= end {
                    continue;
                }
                let xs = &phase[start.saturating_add_signed(shift)..end.saturating_add_signed(shift)];
                let (acc, mask) = (&mut acc[start..end], &mask[start..end]);
                if flush {
                    masked_tap::<true>(acc, xs, mask, wv);
                } else {
                    masked_tap::<false>(acc, xs, mask, wv);
                }
            }
        }
    }
}

/// `offset - pad = stride · a + q` with `0 ≤ q < stride`: the phase-plane offset `a`
/// and the phase `q` of a tap.
fn phase_of(offset: usize, pad: usize, stride: usize) -> (isize, usize) {
    let (offset, stride) = (offset as isize - pad as isize, stride as isize);
    (offset.div_euclid(stride), offset.rem_euclid(stride).unsigned_abs())
}

/// `acc[i] = add(acc[i], mul(xs[i], w))` where `mask[i]` is all ones, else unchanged
/// (selected by bits, which compiles to a blend rather than a slow masked store).
#[inline(always)]
fn masked_tap<const FLUSH: bool>(acc: &mut [f32], xs: &[f32], mask: &[u32], w: f32) {
    for ((a, &x), &m) in acc.iter_mut().zip(xs).zip(mask) {
        let sum = if FLUSH { add(*a, mul(x, w)) } else { *a + x * w };
        *a = f32::from_bits((sum.to_bits() & m) | (a.to_bits() & !m));
    }
}
