// Broadcast binary ops, one invocation per output element; `OP` (an override constant)
// selects the function and the input type. Codes: `elementwise/gpu.rs` `binary_code`.
// f32 results are stored canonical (nn_store), as `scalar::binary_f32` makes them; the
// inputs are canonical, so `nn_add` etc. give the bits of Rust's `canonical(a + b)`.
// i32 (and i64, held as i32) arithmetic wraps; bools are words 0/1.

override OP: u32 = 0u;

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> a: array<u32>;
@group(1) @binding(2) var<storage, read> b: array<u32>;
@group(1) @binding(3) var<storage, read_write> y: array<u32>;

// IEEE `x == y` on bits: false when either is NaN, +0 == -0.
fn feq(x: u32, y: u32) -> bool {
    return !(nn_is_nan_bits(x) | nn_is_nan_bits(y)) & (nn_key(x) == nn_key(y));
}

// IEEE `x <= y` on bits: false when either is NaN.
fn fle(x: u32, y: u32) -> bool {
    return !(nn_is_nan_bits(x) | nn_is_nan_bits(y)) & (nn_key(x) <= nn_key(y));
}

// Rust `wrapping_pow`: base^e modulo 2^32 by binary powering (a product modulo 2^32 is
// the same for signed and unsigned words).
fn ipow(base: u32, e_in: u32) -> u32 {
    var acc = 1u;
    var p = base;
    var e = e_in;
    loop {
        if ((e & 1u) != 0u) {
            acc = acc * p;
        }
        e = e >> 1u;
        if (e == 0u) {
            break;
        }
        p = p * p;
    }
    return acc;
}

// A bool word.
fn word(t: bool) -> u32 {
    return select(0u, 1u, t);
}

fn apply(wa: u32, wb: u32) -> u32 {
    let fa = nn_load(wa);
    let fb = nn_load(wb);
    let ia = bitcast<i32>(wa);
    let ib = bitcast<i32>(wb);
    switch OP {
        // f32.
        case 1u: { return nn_store(nn_add(fa, fb)); }
        case 2u: { return nn_store(nn_sub(fa, fb)); }
        case 3u: { return nn_store(nn_mul(fa, fb)); }
        case 4u: { return nn_store(nn_div(fa, fb)); }
        case 5u: { return nn_store(nn_pow(fa, fb)); }
        case 6u: { return nn_store(nn_max(fa, fb)); }
        case 7u: { return nn_store(nn_min(fa, fb)); }
        case 8u: { return word(feq(nn_bits(fa), nn_bits(fb))); }
        case 9u: { return word(nn_lt(fa, fb)); }
        case 10u: { return word(fle(nn_bits(fa), nn_bits(fb))); }
        case 11u: { return word(nn_gt(fa, fb)); }
        case 12u: { return word(fle(nn_bits(fb), nn_bits(fa))); }
        // i32 (two's complement words); Equal also serves bools.
        case 21u: { return wa + wb; }
        case 22u: { return wa - wb; }
        case 23u: { return wa * wb; }
        // Truncates toward zero; i32::MIN / -1 gives i32::MIN (WGSL and Rust's
        // `checked_div(..).unwrap_or(MIN)` alike). The CPU rejects a zero divisor.
        case 24u: { return bitcast<u32>(ia / ib); }
        // The CPU rejects negative exponents.
        case 25u: { return ipow(wa, wb); }
        case 26u: { return bitcast<u32>(max(ia, ib)); }
        case 27u: { return bitcast<u32>(min(ia, ib)); }
        case 28u: { return word(wa == wb); }
        case 29u: { return word(ia < ib); }
        case 30u: { return word(ia <= ib); }
        case 31u: { return word(ia > ib); }
        case 32u: { return word(ia >= ib); }
        // bool.
        case 41u: { return word((wa != 0u) & (wb != 0u)); }
        case 42u: { return word((wa != 0u) | (wb != 0u)); }
        case 43u: { return word((wa != 0u) != (wb != 0u)); }
        default: { return 0u; }
    }
}

@compute @workgroup_size(64)
fn binary(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let off = bc_offsets(i, 2u);
    y[i] = apply(a[off.x], b[off.y]);
}
