// Conv (NCHW, groups, strides, asymmetric pads, dilations), one invocation per output
// element. Preceded by `bindings.wgsl` or `bindings_bias.wgsl`, which declare `x`, `w`,
// `y` (and `bias`) and `with_bias`.
//
// params[1..]: C, H, W, M, cg (input channels per group), mg (output channels per group),
// kH, kW, sH, sW, pad_top, pad_left, dH, dW, OH, OW.
//
// Numerics (ops/conv/mod.rs): acc = +0; taps in (c, ky, kx) order, a tap whose input
// position lies in the padding is SKIPPED (not added as 0 * w); every in-bounds tap does
// acc = nn_add(acc, nn_mul(x, w)); then the bias (nn_add) if any; stored canonical. Every
// product and sum is flushed, which gives the CPU's bits even where its kernels skip flushes
// they have proven to be no-ops.

@group(1) @binding(0) var<storage, read> params: array<u32>;

@compute @workgroup_size(64)
fn conv(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let channels = params[1];
    let height = params[2];
    let width = params[3];
    let out_channels = params[4];
    let cg = params[5];
    let mg = params[6];
    let kh = params[7];
    let kw = params[8];
    let sh = params[9];
    let sw = params[10];
    let pad_top = params[11];
    let pad_left = params[12];
    let dh = params[13];
    let dw = params[14];
    let out_height = params[15];
    let out_width = params[16];

    let row = i / out_width;
    let ox = i - row * out_width;
    let plane = row / out_height;
    let oy = row - plane * out_height;
    let n = plane / out_channels;
    let m = plane - n * out_channels;
    let g = m / mg;

    let plane_size = height * width;
    // The first input plane of the group, and the first weight of output channel `m`;
    // the weights are read in tap order, one after the other.
    var x_plane = (n * channels + g * cg) * plane_size;
    var w_at = m * cg * kh * kw;
    // Input coordinates as u32: a tap above or left of the input wraps around to a huge
    // value, so one `< height` (`< width`) test rejects both sides of the padding.
    let y0 = oy * sh - pad_top;
    let x0 = ox * sw - pad_left;
    var acc: f32 = 0.0;
    for (var c = 0u; c < cg; c++) {
        for (var ky = 0u; ky < kh; ky++) {
            let iy = y0 + ky * dh;
            for (var kx = 0u; kx < kw; kx++) {
                let ix = x0 + kx * dw;
                if ((iy < height) & (ix < width)) {
                    acc = nn_add(acc, nn_mul(nn_load(x[x_plane + iy * width + ix]), nn_load(w[w_at])));
                }
                w_at += 1u;
            }
        }
        x_plane += plane_size;
    }
    y[i] = nn_store(with_bias(acc, m));
}
