// MaxPool, AveragePool and GlobalAveragePool, NCHW (`ops/pool/mod.rs`), one invocation per
// output element. The window's rows are oy*sH - pad_top .. (kH of them, cut at the end of
// the padded input) and likewise its columns; only the positions inside the input are
// read, in row-major order (padding is skipped, never added):
//   Max:     acc = -inf, acc = max(acc, x)  (NaN wins), output canonical(acc);
//   Average: acc = +0, acc = add(acc, x), output canonical(mul(acc, reciprocal(count))),
//            count = the positions read, or with count_include_pad the window positions
//            inside the padded input (ceil-mode overhang never counts).
// Global average pooling is the average with a window of the whole plane (no padding).
//
// KIND: 0 Max, 1 Average, 2 Average with count_include_pad.
// params[1..=12] = H, W, OH, OW, kH, kW, sH, sW, pad top, pad left, pad bottom, pad right.

override KIND: u32 = 0u;

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read_write> y: array<u32>;

// a - b, or 0 when b > a.
fn saturating_sub(a: u32, b: u32) -> u32 {
    return select(a - b, 0u, b > a);
}

// The window along one axis (Rust: `Window::span`): the input positions [first, end)
// and the number of window positions inside the padded input.
struct Span {
    first: u32,
    end: u32,
    padded: u32,
}

fn span(o: u32, size: u32, kernel: u32, stride: u32, pad_begin: u32, pad_end: u32) -> Span {
    let start = o * stride;
    let end = min(start + kernel, size + pad_begin + pad_end);
    return Span(min(saturating_sub(start, pad_begin), size), min(saturating_sub(end, pad_begin), size), end - start);
}

@compute @workgroup_size(64)
fn pool(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let h = params[1];
    let w = params[2];
    let oh = params[3];
    let ow = params[4];
    let out_plane = oh * ow;
    let plane = i / out_plane;
    let at = i - plane * out_plane;
    let oy = at / ow;
    let ox = at - oy * ow;
    let rows = span(oy, h, params[5], params[7], params[9], params[11]);
    let cols = span(ox, w, params[6], params[8], params[10], params[12]);
    let base = plane * h * w;
    if (KIND == 0u) {
        var acc = nn_f(NN_NEG_INF);
        for (var iy = rows.first; iy < rows.end; iy++) {
            for (var ix = cols.first; ix < cols.end; ix++) {
                acc = nn_max(acc, nn_load(x[base + iy * w + ix]));
            }
        }
        y[i] = nn_store(acc);
    } else {
        var acc: f32 = 0.0;
        for (var iy = rows.first; iy < rows.end; iy++) {
            for (var ix = cols.first; ix < cols.end; ix++) {
                acc = nn_add(acc, nn_load(x[base + iy * w + ix]));
            }
        }
        let read = (rows.end - rows.first) * (cols.end - cols.first);
        let n = select(read, rows.padded * cols.padded, KIND == 2u);
        // n < 2^24 (checked by `pool::infer`), so the conversion is exact.
        y[i] = nn_store(nn_mul(acc, nn_reciprocal(f32(n))));
    }
}
