// Unary elementwise ops, one invocation per element; `OP` (an override constant, so each
// op is its own pipeline) selects the function. Codes: `elementwise/gpu.rs` `unary_code`.
// Every result is stored canonical (nn_store), as the CPU kernels make theirs.

override OP: u32 = 0u;

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read_write> y: array<u32>;

// Rust `scalar::hard_sigmoid`: clamp(alpha * x + beta, 0, 1), NaN propagating; -0 -> +0.
fn hard_sigmoid(v_in: f32, alpha: f32, beta: f32) -> f32 {
    let v = nn_add(nn_mul(alpha, v_in), beta);
    let at_least_one = !nn_lt(v, 1.0) & !nn_is_nan(v);
    let keep = nn_gt(v, 0.0) | nn_is_nan(v);
    return select(select(0.0, v, keep), 1.0, at_least_one);
}

// Rust `f32::floor`, on bits (WGSL's floor may lose the sign of zero): integers, inf and
// NaN pass; |x| < 1 gives +0, -0 or -1; otherwise the fraction bits are cleared, after
// rounding the magnitude up for negative values.
fn floor_bits(b: u32) -> u32 {
    let e = i32((b >> 23u) & 0xFFu) - 127;
    let negative = (b & NN_SIGN) != 0u;
    if (e >= 23) {
        return b;
    }
    if (e < 0) {
        return select(0u, select(0xBF800000u, NN_SIGN, (b & NN_ABS) == 0u), negative);
    }
    let mask = 0x007FFFFFu >> u32(e);
    if ((b & mask) == 0u) {
        return b;
    }
    return select(b & ~mask, (b + mask) & ~mask, negative);
}

// Rust `f32::ceil`, on bits: the mirror of floor_bits.
fn ceil_bits(b: u32) -> u32 {
    let e = i32((b >> 23u) & 0xFFu) - 127;
    let negative = (b & NN_SIGN) != 0u;
    if (e >= 23) {
        return b;
    }
    if (e < 0) {
        return select(select(0x3F800000u, 0u, (b & NN_ABS) == 0u), NN_SIGN, negative);
    }
    let mask = 0x007FFFFFu >> u32(e);
    if ((b & mask) == 0u) {
        return b;
    }
    return select((b + mask) & ~mask, b & ~mask, negative);
}

fn apply(b: u32) -> u32 {
    let v = nn_load(b);
    let p1 = nn_f(params[1]);
    let p2 = nn_f(params[2]);
    switch OP {
        case 1u: { return nn_store(nn_neg(v)); }
        case 2u: { return nn_store(nn_abs(v)); }
        case 3u: { return nn_store(nn_max(v, 0.0)); }
        case 4u: { return nn_store(nn_sigmoid(v)); }
        case 5u: { return nn_store(hard_sigmoid(v, p1, p2)); }
        // 1/6 rounded to f32 (0x3E2AAAAB) and 0.5: the slope and offset of HardSwish.
        case 6u: { return nn_store(nn_mul(v, hard_sigmoid(v, nn_f(0x3E2AAAABu), 0.5))); }
        case 7u: { return nn_store(nn_tanh(v)); }
        case 8u: { return nn_store(nn_erf(v)); }
        case 9u: { return nn_store(nn_exp(v)); }
        case 10u: { return nn_store(nn_log(v)); }
        case 11u: { return nn_store(nn_sqrt(v)); }
        case 12u: { return nn_store(nn_reciprocal(v)); }
        case 13u: { return nn_store(nn_max(p1, nn_min(p2, v))); }
        case 14u: { return nn_store(nn_f(floor_bits(nn_bits(v)))); }
        case 15u: { return nn_store(nn_f(ceil_bits(nn_bits(v)))); }
        // Integer and bool ops read their words as they are.
        case 16u: { return u32(-bitcast<i32>(b)); }
        case 17u: { return u32(abs(bitcast<i32>(b))); }
        case 18u: { return select(0u, 1u, nn_is_nan_bits(b ^ nn_numerics.zero)); }
        case 19u: { return select(1u, 0u, b != 0u); }
        default: { return b; }
    }
}

@compute @workgroup_size(64)
fn unary(
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
