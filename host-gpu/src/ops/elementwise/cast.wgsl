// `Cast` between the GPU's element types, one invocation per element; `OP` (an override
// constant) selects the conversion. Codes: `elementwise/gpu.rs` `cast_code`. Casts that
// keep the word (int <-> int, bool -> int, same type) are aliases and never run here.
// The rules are `cast.rs`'s; every conversion is done on bits, so no WGSL float <-> int
// conversion (whose rounding and range behaviour are open) is involved.

override OP: u32 = 0u;

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read_write> y: array<u32>;

// Rust `x.trunc() as i64 as i32` for a finite |x| < 2^63 (the inputs the CPU accepts):
// the integer part of the magnitude modulo 2^32, negated (wrapping) for negative x.
fn trunc_to_i32(b: u32) -> u32 {
    let e = i32((b >> 23u) & 0xFFu) - 127;
    let m = (b & NN_MANT_MASK) | 0x00800000u;
    var mag = 0u;
    if (e >= 0 && e <= 23) {
        mag = m >> u32(23 - e);
    } else if (e > 23 && e < 55) {
        mag = m << u32(e - 23);
    }
    return select(mag, 0u - mag, (b & NN_SIGN) != 0u);
}

// Rust `v as f32` for an i32 word, rounded to nearest, ties to even (exact for |v| < 2^24,
// the only values the CPU converts).
fn i32_to_f32(w: u32) -> u32 {
    let sign = w & NN_SIGN;
    let mag = select(w, 0u - w, sign != 0u);
    if (mag == 0u) {
        return 0u;
    }
    let top = 31u - countLeadingZeros(mag);
    var mant = mag << (23u - min(top, 23u));
    if (top > 23u) {
        let shift = top - 23u;
        let rest = mag & ((1u << shift) - 1u);
        let half = 1u << (shift - 1u);
        mant = mag >> shift;
        mant += select(0u, 1u, rest > half || (rest == half && (mant & 1u) != 0u));
    }
    // The implicit bit of `mant` adds 1 to the exponent field (and a rounding carry to
    // 2^24 one more, with a zero fraction: the next power of two).
    return sign | (((top + 126u) << 23u) + mant);
}

fn apply(w: u32) -> u32 {
    switch OP {
        // f32 -> f32: canonical.
        case 1u: { return nn_store(nn_load(w)); }
        // f32 -> bool: nonzero, NaN included (a subnormal is flushed to zero first).
        case 2u: { return select(0u, 1u, (nn_flush_bits(w) & NN_ABS) != 0u); }
        // f32 -> i32 / i64.
        case 3u: { return trunc_to_i32(nn_flush_bits(w)); }
        // i32 / i64 -> f32.
        case 4u: { return i32_to_f32(w); }
        // i32 / i64 -> bool.
        case 5u: { return select(0u, 1u, w != 0u); }
        // bool -> f32.
        case 6u: { return select(0u, NN_ONE, w != 0u); }
        default: { return w; }
    }
}

@compute @workgroup_size(64)
fn convert(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    y[i] = apply(x[i]);
}
