//! The scalar numerics of the specification (DESIGN.md "Determinism", rules 2–4).
//!
//! Every float function a kernel needs is defined here once, from `+ - *` and bit
//! operations only, so the same algorithm can be written in WGSL and give the same bits.
//! Std transcendentals are banned in this crate by `clippy.toml`. `docs/NUMERICS.md`
//! states each algorithm in prose, with its constants and its measured error.
//!
//! How every function here is built:
//! 1. the input is flushed ([`flush`]);
//! 2. the argument is reduced with exact bit operations (exponent split) or with
//!    products that are exact by construction, and clamped into the range the
//!    algorithm handles;
//! 3. a fixed polynomial (Horner form) or Newton iteration runs in f32, in the order
//!    written, every product rounded then flushed and every sum flushed;
//! 4. the result is rescaled by a power of two built from bits;
//! 5. NaN, ±0, ±inf and out-of-range inputs are answered by a final select on the
//!    input's bits (no early returns, so loops over these functions vectorize), and the
//!    result is canonical.
//!
//! Where an intermediate provably cannot be subnormal, its flush would never change a
//! bit, and the code says so by using `mul_n` / `add_n` / `sub_n` with the reason in a
//! comment (a few tiny arguments are replaced by 0 where that gives the same bits, to
//! make this hold). Debug builds, and so the tests, assert the claim on every such
//! operation; release builds skip those flushes, which makes the vectorized loops several
//! times faster on SSE2 (e.g. `exp` runs at about the speed of `f32::exp`).

#[cfg(test)]
mod tests;

/// The one NaN every kernel emits (quiet, positive, zero payload).
pub const CANONICAL_NAN: f32 = f32::from_bits(0x7FC0_0000);

const SIGN: u32 = 0x8000_0000;
const ABS: u32 = 0x7FFF_FFFF;
const EXP_MASK: u32 = 0x7F80_0000;
const MANT_MASK: u32 = 0x007F_FFFF;
const ONE_BITS: u32 = 0x3F80_0000;
const INF_BITS: u32 = 0x7F80_0000;

/// log2(e) (1.442695), for the exponent of [`exp`].
const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B);
/// ln(2) rounded to 15 significant bits (0.69314575): `k * LN2_HI` is exact for |k| < 512.
const LN2_HI: f32 = f32::from_bits(0x3F31_7200);
/// ln(2) − `LN2_HI` (1.4286068e-6).
const LN2_LO: f32 = f32::from_bits(0x35BF_BE8E);

/// Flushes a subnormal to zero of the same sign (rule 4); other values pass unchanged.
#[inline(always)]
pub fn flush(x: f32) -> f32 {
    let bits = x.to_bits();
    if bits & 0x7F80_0000 == 0 { f32::from_bits(bits & 0x8000_0000) } else { x }
}

/// Flushes subnormals and replaces every NaN with [`CANONICAL_NAN`]: the form every
/// kernel output takes.
#[inline(always)]
pub fn canonical(x: f32) -> f32 {
    let bits = x.to_bits();
    if bits & 0x7FFF_FFFF > 0x7F80_0000 { CANONICAL_NAN } else { flush(x) }
}

/// Applies [`canonical`] to every element.
pub fn canonicalize(xs: &mut [f32]) {
    for x in xs {
        *x = canonical(*x);
    }
}

/// `a + b` with the result flushed (a partial sum, rule 4).
#[inline(always)]
pub fn add(a: f32, b: f32) -> f32 {
    flush(a + b)
}

/// `a * b` rounded to f32 and flushed (a product, rules 2 and 4).
#[inline(always)]
pub fn mul(a: f32, b: f32) -> f32 {
    flush(a * b)
}

/// Whether `x` is NaN, by its bits (WGSL may assume floats are finite).
#[inline(always)]
pub fn is_nan(x: f32) -> bool {
    x.to_bits() & 0x7FFF_FFFF > 0x7F80_0000
}

/// The larger of two values; NaN if either is NaN. `max(-0, +0)` is `+0`.
#[inline(always)]
pub fn max(a: f32, b: f32) -> f32 {
    if is_nan(a) || is_nan(b) {
        CANONICAL_NAN
    } else if a > b || (a == b && b.to_bits() == 0x8000_0000) {
        a
    } else {
        b
    }
}

/// The smaller of two values; NaN if either is NaN. `min(-0, +0)` is `-0`.
#[inline(always)]
pub fn min(a: f32, b: f32) -> f32 {
    if is_nan(a) || is_nan(b) {
        CANONICAL_NAN
    } else if a < b || (a == b && a.to_bits() == 0x8000_0000) {
        a
    } else {
        b
    }
}

/// `a * b` where the caller has shown that the product is never subnormal, so the flush
/// of [`mul`] would be a no-op (asserted in debug builds).
#[inline(always)]
fn mul_n(a: f32, b: f32) -> f32 {
    normal_or_zero(a * b)
}

/// `a + b` where the caller has shown that the sum is never subnormal (see [`mul_n`]).
#[inline(always)]
fn add_n(a: f32, b: f32) -> f32 {
    normal_or_zero(a + b)
}

/// `a - b` where the caller has shown that the difference is never subnormal (see
/// [`mul_n`]).
#[inline(always)]
fn sub_n(a: f32, b: f32) -> f32 {
    normal_or_zero(a - b)
}

/// Returns `v`, asserting in debug builds that it is not subnormal.
#[inline(always)]
fn normal_or_zero(v: f32) -> f32 {
    debug_assert!(v.to_bits() & EXP_MASK != 0 || v.to_bits() & MANT_MASK == 0, "subnormal intermediate {v:e}");
    v
}

/// `2^n` built from bits, for `n` in `[-126, 127]` (always a normal float).
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// `y · 2^n` by adding `n` to the biased exponent of `y`: exact, for a normal `y` whose
/// result is known to stay normal.
#[inline(always)]
fn scale_normal(y: f32, n: i32) -> f32 {
    f32::from_bits(y.to_bits().wrapping_add((n as u32) << 23))
}

/// `|x|` by clearing the sign bit.
#[inline(always)]
fn abs(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & ABS)
}

/// `y` with the sign bit `sign` (`0` or `0x8000_0000`) or-ed in; `y` must be `+` signed.
#[inline(always)]
fn with_sign(y: f32, sign: u32) -> f32 {
    f32::from_bits(y.to_bits() | sign)
}

/// `v` clamped to `[lo, hi]` by comparisons; NaN gives `lo`.
#[inline(always)]
fn clamp(v: f32, lo: f32, hi: f32) -> f32 {
    if v > hi {
        hi
    } else if v > lo {
        v
    } else {
        lo
    }
}

/// `round_ties_even(v)` for |v| < 2^22: adding 1.5·2^23 rounds `v` to an integer (ties to
/// even, IEEE round-to-nearest) and subtracting it back is exact. The same value as
/// `f32::round_ties_even` (WGSL `round`), except that a zero result is always +0; it
/// avoids the library call that `round_ties_even` is on baseline x86-64, which would stop
/// the kernels from vectorizing.
#[inline(always)]
fn round_small(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// Evaluates `c[0] + t·(c[1] + t·(… + t·c[N−1]))` (Horner, innermost first), for a `t`
/// whose every product and partial sum is known to be normal or zero (see [`mul_n`]).
#[inline(always)]
fn horner_n<const N: usize>(t: f32, c: &[f32; N]) -> f32 {
    c.iter().rev().skip(1).fold(c[N - 1], |acc, &ci| add_n(ci, mul_n(t, acc)))
}

/// Quadratic minimax start for `1/m` on `[1, 2)` (relative error ≤ 0.0102):
/// `R0 + m·(R1 + m·R2)`.
const RECIP_POLY: [f32; 3] = [
    f32::from_bits(0x4007_C219), // 2.1212218
    f32::from_bits(0xBFBA_2EDC), // -1.454555
    f32::from_bits(0x3EA5_7EFA), // 0.32323438
];

/// `1/m` for `m` in `[1, 2)`, result in `(0.5, 1]`: the polynomial start, then two Newton
/// steps `y ← y + y·(1 − m·y)`.
#[inline(always)]
fn recip_unit(m: f32) -> f32 {
    // Never subnormal: m is in [1, 2), every y in [0.49, 1.01]; m·y is a float near 1, so
    // 1 − m·y is 0 or at least 2^-24, and y·(1 − m·y) is 0 or at least 2^-26.
    let mut y = horner_n(m, &RECIP_POLY);
    for _ in 0..2 {
        y = add_n(y, mul_n(y, sub_n(1.0, mul_n(m, y))));
    }
    y
}

/// `1 / x`, within 2 ulp (measured max 1.15 ulp over all inputs).
///
/// Specials: NaN → NaN; ±0 (and subnormals, flushed) → ±inf; ±inf → ±0; a result below
/// 2^-126 in magnitude (|x| > 2^126) → ±0. Powers of two give exact results.
///
/// Algorithm: `x = ±m·2^e` with `m` in `[1, 2)` from the bits; `y = 1/m` by a quadratic
/// start and two Newton steps; the result is `±y·2^-e`, formed by subtracting `e` from
/// `y`'s biased exponent, and ±0 when that exponent would not be positive.
#[inline(always)]
pub fn reciprocal(x: f32) -> f32 {
    let bits = flush(x).to_bits();
    let sign = bits & SIGN;
    let biased = (bits & EXP_MASK) >> 23;
    let y = recip_unit(f32::from_bits(ONE_BITS | (bits & MANT_MASK))).to_bits();
    let e = biased as i32 - 127;
    let scaled = if (y >> 23) as i32 - e > 0 { y.wrapping_sub((e as u32) << 23) } else { 0 };
    f32::from_bits(if biased == 0 {
        sign | INF_BITS
    } else if biased == 0xFF {
        if bits & MANT_MASK == 0 { sign } else { CANONICAL_NAN.to_bits() }
    } else {
        sign | scaled
    })
}

/// Splits the bits of a positive `x` into `m` in `[1, 4)` and `k` with `x = m·4^k`
/// (`k` in `[-63, 63]` for a normal `x`; zero and inf give some `m` in `[1, 4)` too).
#[inline(always)]
fn split_even(bits: u32) -> (f32, i32) {
    let e = (bits >> 23) as i32 - 127;
    let odd = (e & 1) as u32;
    (f32::from_bits((bits & MANT_MASK) | ((127 + odd) << 23)), e >> 1)
}

/// `1/√m` for `m` in `[1, 4)`, result in `(0.5, 1]`: the bit-trick start
/// `0x5F3759DF − (bits(m) >> 1)`, then three Newton steps `y ← y + y·(0.5 − (m/2·y)·y)`
/// (the small correction is added last, which keeps the final rounding error near ½ ulp).
#[inline(always)]
fn rsqrt_unit(m: f32) -> f32 {
    // Never subnormal: m/2 is in [0.5, 2), every y in [0.48, 1.04], (m/2·y)·y is a float
    // near 0.5, so 0.5 − (m/2·y)·y is 0 or at least 2^-25.
    let half = mul_n(0.5, m);
    let mut y = f32::from_bits(0x5F37_59DF - (m.to_bits() >> 1));
    for _ in 0..3 {
        y = add_n(y, mul_n(y, sub_n(0.5, mul_n(mul_n(half, y), y))));
    }
    y
}

/// The result of a square-root-like function for a flushed input `bits`: `normal` (the
/// value computed from the bits) for a positive normal input, `zero_mag` signed like the
/// input for ±0, `at_inf` for +inf, NaN for NaN and negative inputs.
#[inline(always)]
fn sqrt_select(bits: u32, normal: f32, zero_mag: u32, at_inf: f32) -> f32 {
    if bits & ABS == 0 {
        f32::from_bits((bits & SIGN) | zero_mag)
    } else if bits == INF_BITS {
        at_inf
    } else if bits > INF_BITS {
        CANONICAL_NAN
    } else {
        normal
    }
}

/// `1 / √x`, within 2 ulp (measured max 1.22 ulp over all inputs).
///
/// Specials: NaN and x < 0 (including −inf) → NaN; +0 → +inf, −0 → −inf (IEEE
/// `rSqrt`; subnormals flush to these); +inf → +0. Every other result is normal.
///
/// Algorithm: `x = m·4^k` with `m` in `[1, 4)` from the bits; `y = 1/√m` by the
/// `0x5F3759DF` bit trick and three Newton steps; the result is `y·2^-k`, formed on the
/// exponent bits.
#[inline(always)]
pub fn rsqrt(x: f32) -> f32 {
    let bits = flush(x).to_bits();
    let (m, k) = split_even(bits & ABS);
    sqrt_select(bits, scale_normal(rsqrt_unit(m), -k), INF_BITS, 0.0)
}

/// `√x`, within 2 ulp (measured max 0.75 ulp over all inputs).
///
/// Specials: NaN and x < 0 (including −inf) → NaN; ±0 → ±0 (subnormals flush to these);
/// +inf → +inf. Every other result is normal.
///
/// Algorithm: `x = m·4^k` as in [`rsqrt`], `y = 1/√m`, `s = m·y`, then one correction
/// `s ← s + (y/2)·(m − s·s)`; the result is `s·2^k`, formed on the exponent bits.
#[inline(always)]
pub fn sqrt(x: f32) -> f32 {
    let bits = flush(x).to_bits();
    let (m, k) = split_even(bits & ABS);
    let y = rsqrt_unit(m);
    // Never subnormal: s and s·s lie in [1, 4), so m − s·s is 0 or at least 2^-23.
    let s = mul_n(m, y);
    let s = add_n(s, mul_n(mul_n(0.5, y), sub_n(m, mul_n(s, s))));
    sqrt_select(bits, scale_normal(s, k), 0, f32::INFINITY)
}

/// Largest x whose e^x is finite (88.72283, `0x42B17217`).
const EXP_MAX: f32 = f32::from_bits(0x42B1_7217);
/// Below this (−88), e^x is under 2^-126 and the result is +0.
const EXP_MIN: f32 = -88.0;
/// Reduced arguments below this (2^-25) in magnitude are replaced by 0 in [`exp`].
const EXP_TINY_R: f32 = f32::from_bits(0x3300_0000);
/// `P` in `e^r ≈ 1 + r + r²·P(r)` on |r| ≤ ln(2)/2 (minimax, relative error 3.1e-9).
const EXP_POLY: [f32; 5] = [
    f32::from_bits(0x3EFF_FFFE), // 0.49999994
    f32::from_bits(0x3E2A_AA49), // 0.16666521
    f32::from_bits(0x3D2A_AC56), // 0.04166826
    f32::from_bits(0x3C09_1CCD), // 0.008368683
    f32::from_bits(0x3AB5_29FC), // 0.0013821716
];

/// `e^x`, within 3 ulp (measured max 0.99 ulp over all inputs).
///
/// Specials: NaN → NaN; ±0 → 1; x > 88.72283 (`0x42B17217`, including +inf) → +inf;
/// x < −88 (including −inf) → +0; results below 2^-126 flush to +0 (from
/// x ≤ −87.33655, `0xC2AEAC50`, on).
///
/// Algorithm, on `x` clamped to `[−88, 88.72283]`: `k = round_ties_even(x·log2e)`;
/// `r = (x − k·LN2_HI) − k·LN2_LO` (the first difference is exact), set to 0 when
/// |r| < 2^-25; `p = (r²·P(r) + r) + 1`; the result is `(p·2^⌊k/2⌋)·2^(k−⌊k/2⌋)`, two flushed products
/// by powers of two built from bits (k lies in `[-127, 128]`).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = flush(x);
    let xc = clamp(x, EXP_MIN, EXP_MAX);
    // Never subnormal: xc is 0 or normal; k is an integer, so k·LN2_HI and k·LN2_LO are 0
    // or at least 1.4e-6; with k ≠ 0 both differences take operands of at least 2^-43, so
    // they are 0 or at least 2^-66 (with k = 0 they are xc itself).
    // The sign of a zero k never matters: then r = xc, and a zero r is replaced by +0.
    let k = round_small(mul_n(xc, LOG2E));
    let r = sub_n(sub_n(xc, mul_n(k, LN2_HI)), mul_n(k, LN2_LO));
    // Below 2^-25, 1 + r rounds to 1 anyway; zeroing such r keeps every later operand 0
    // or above 2^-50, so nothing below is subnormal, and p lies in [0.7, 1.42].
    let r = if abs(r) < EXP_TINY_R { 0.0 } else { r };
    let p = add_n(add_n(mul_n(mul_n(r, r), horner_n(r, &EXP_POLY)), r), 1.0);
    let k = k as i32;
    let y = mul(mul_n(p, pow2(k >> 1)), pow2(k - (k >> 1)));
    if is_nan(x) {
        CANONICAL_NAN
    } else if x > EXP_MAX {
        f32::INFINITY
    } else if x < EXP_MIN {
        0.0
    } else {
        y
    }
}

/// `Q` in `ln(1+f) ≈ f − f²/2 + f³·Q(f)` on `f` in `[√½ − 1, √2 − 1]` (minimax, relative
/// error 5.8e-9).
const LOG_POLY: [f32; 8] = [
    f32::from_bits(0x3EAA_AAAA), // 0.3333333
    f32::from_bits(0xBE80_0113), // -0.2500082
    f32::from_bits(0x3E4C_D00D), // 0.2000124
    f32::from_bits(0xBE2A_3940), // -0.16623402
    f32::from_bits(0x3E11_6CAC), // 0.14201611
    f32::from_bits(0xBE06_C184), // -0.13159758
    f32::from_bits(0x3E02_AF12), // 0.12762097
    f32::from_bits(0xBD9C_61D1), // -0.076358445
];
/// Bits of the largest f32 below √2 (1.4142135): mantissas above it are halved.
const SQRT2_BITS: u32 = 0x3FB5_04F3;

/// Natural logarithm, within 3 ulp (measured max 0.84 ulp over all inputs).
///
/// Specials: NaN and x < 0 (including −inf) → NaN; ±0 (and subnormals) → −inf;
/// +inf → +inf; 1 → +0.
///
/// Algorithm: `x = m·2^e` from the bits, with `m` moved into `[√½, √2)` (halved and `e`
/// incremented when its bits exceed `0x3FB504F3`); `f = m − 1` (exact); with `z = f²`:
/// `y = (f·Q(f))·z`, `y = y + e·LN2_LO`, `y = y − z/2`, `r = f + y`, result `r + e·LN2_HI`.
#[inline(always)]
pub fn log(x: f32) -> f32 {
    let bits = flush(x).to_bits();
    let big = (bits & MANT_MASK) | ONE_BITS > SQRT2_BITS;
    let m = f32::from_bits((bits & MANT_MASK) | if big { 0x3F00_0000 } else { ONE_BITS });
    let e = (((bits & ABS) >> 23) as i32 - 127 + i32::from(big)) as f32;
    // Never subnormal: f = m − 1 is 0 or at least 2^-24 in magnitude, so f² is 0 or at
    // least 2^-48 and f³·Q(f) 0 or at least 2^-76; e·LN2_LO is 0 or at least 1.4e-6. Every
    // operand is 0 or above 2^-102, so every sum is 0 or normal.
    let f = sub_n(m, 1.0);
    let z = mul_n(f, f);
    let y = mul_n(mul_n(f, horner_n(f, &LOG_POLY)), z);
    let y = add_n(y, mul_n(e, LN2_LO));
    let y = sub_n(y, mul_n(0.5, z));
    let y = add_n(add_n(f, y), mul_n(e, LN2_HI));
    if bits & ABS == 0 {
        f32::NEG_INFINITY
    } else if bits == INF_BITS {
        f32::INFINITY
    } else if bits > INF_BITS {
        CANONICAL_NAN
    } else {
        y
    }
}

/// 2^-12: below this |x|, [`tanh`] uses `z = 0` in its polynomial (and [`erf`] below
/// half of it), which gives the same bits as the true `z` while avoiding subnormals.
const SMALL_ARG: f32 = f32::from_bits(0x3980_0000);
/// Below this |x|, [`tanh`] uses its odd polynomial (0.625).
const TANH_SMALL: f32 = 0.625;
/// |x| is clamped to at most this before `e^(2|x|)`; tanh is 1 in f32 from 9.010914 on.
const TANH_CLAMP: f32 = 10.0;
/// `P` in `tanh(x) ≈ x + x·z·P(z)`, `z = x²`, on |x| < 0.625 (minimax, relative error
/// 4.5e-9; the same fit as Cephes `tanhf`).
const TANH_POLY: [f32; 5] = [
    f32::from_bits(0xBEAA_AA99), // -0.3333328
    f32::from_bits(0x3E08_837B), // 0.13331406
    f32::from_bits(0xBD5C_1AD2), // -0.053736515
    f32::from_bits(0x3CA8_FC67), // 0.020628167
    f32::from_bits(0xBBBA_8671), // -0.005692296
];

/// Hyperbolic tangent, within 4 ulp or 1e-7 absolute (measured max 1.53 ulp, 9.1e-8
/// absolute, over all inputs).
///
/// Specials: NaN → NaN; ±0 → ±0; ±inf → ±1; |x| ≥ 9.010914 (`0x41102CB4`) → ±1.
///
/// Algorithm, on `a = |x|` with the sign of `x` put back at the end: for a < 0.625, with
/// `z = a·a` (0 when a < 2^-12): `(P(z)·z)·a + a`. Otherwise, with `a` clamped to `[0.625, 10]`:
/// `1 − 2·reciprocal(exp(2a) + 1)`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let x = flush(x);
    let a = abs(x);
    // Below 2^-12, a·z·P(z) is under half an ulp of a and the sum rounds to a anyway;
    // zeroing z there keeps every operand 0 or above 2^-40: nothing is subnormal.
    let z = if a < SMALL_ARG { 0.0 } else { mul_n(a, a) };
    let small = add_n(mul_n(mul_n(horner_n(z, &TANH_POLY), z), a), a);
    // Never subnormal: e^(2a) + 1 ≥ 4.4, so 2·reciprocal(…) ≥ 4e-9 and 1 − that ≥ 0.55.
    let ac = clamp(a, TANH_SMALL, TANH_CLAMP);
    let large = sub_n(1.0, mul_n(2.0, reciprocal(add_n(exp(mul_n(2.0, ac)), 1.0))));
    let t = if a < TANH_SMALL { small } else { large };
    if is_nan(x) { CANONICAL_NAN } else { with_sign(t, x.to_bits() & SIGN) }
}

/// Logistic sigmoid `1 / (1 + e^-x)`, within 4 ulp or 1e-7 absolute (measured max
/// 2.85 ulp, 1.28e-7 absolute, over all inputs).
///
/// Specials: NaN → NaN; ±0 → 0.5; +inf → 1; −inf → +0; x ≥ 16.635532 (`0x41851592`) → 1;
/// x ≤ −87.33655 (`0xC2AEAC50`) → +0 (the result would be below 2^-126).
///
/// Algorithm: `reciprocal(1 + exp(−x))`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    // Never subnormal: 1 + e^-x ≥ 1.
    reciprocal(add_n(1.0, exp(-flush(x))))
}

/// `P` in `erf(a) ≈ a + a·P(a²)` on `a` in `[0, 1)` (minimax, relative error 1.4e-9).
const ERF_SMALL_POLY: [f32; 7] = [
    f32::from_bits(0x3E03_75D4), // 0.12837917
    f32::from_bits(0xBEC0_939F), // -0.37612626
    f32::from_bits(0x3DE7_1673), // 0.11283579
    f32::from_bits(0xBCDB_FB8D), // -0.026853347
    f32::from_bits(0x3BA9_F912), // 0.005187162
    f32::from_bits(0xBA51_A8AF), // -0.0007997853
    f32::from_bits(0x38A3_B8FE), // 7.806903e-5
];
/// `R` in `erfc(a) ≈ e^(-a²)·R(a)` on `a` in `[1, 4]` (minimax in the absolute error of
/// erfc, 1.3e-8).
const ERFC_POLY: [f32; 8] = [
    f32::from_bits(0x3F7C_72DB), // 0.98612756
    f32::from_bits(0xBF86_2BCF), // -1.0482119
    f32::from_bits(0x3F4A_E7A7), // 0.79259723
    f32::from_bits(0xBEDD_056F), // -0.43168208
    f32::from_bits(0x3E28_1309), // 0.16413511
    f32::from_bits(0xBD27_EE3D), // -0.040998686
    f32::from_bits(0x3BC4_C782), // 0.0060052285
    f32::from_bits(0xB9CB_E45E), // -0.00038889324
];
/// |x| is clamped to at most this; erf is 1 in f32 from 3.9012861 on.
const ERF_CLAMP: f32 = 4.0;

/// Error function, within 2e-7 absolute (measured max 9.2e-8 over all inputs).
///
/// Specials: NaN → NaN; ±0 → ±0; ±inf → ±1; |x| ≥ 3.9012861 (`0x4079AEAC`) → ±1; for
/// |x| < 9.2e-38 the result is `x` (the product `x·P` flushes).
///
/// Algorithm, on `a = |x|` with the sign of `x` put back at the end: for a < 1, with
/// `z = a·a` (0 when a < 2^-13): `a + a·P(z)`. Otherwise, with `a` clamped to `[1, 4]`: `1 − exp(−(a·a))·R(a)`.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = flush(x);
    let a = abs(x);
    // Below 2^-13, z·P'(z) is under half an ulp of P(0) and P(z) rounds to P(0) anyway;
    // zeroing z there keeps the Horner operands 0 or above 2^-40. a·P(z) is flushed
    // (tiny a), and a + a·P(z) ≥ a is then normal.
    let z = if a < SMALL_ARG * 0.5 { 0.0 } else { mul_n(a, a) };
    let small = add_n(a, mul(a, horner_n(z, &ERF_SMALL_POLY)));
    // Never subnormal: a in [1, 4], so a² ≤ 16, e^-a² ≥ 1.1e-7, R(a) in [0.13, 0.43] with
    // every Horner operand above 2^-102, and 1 − e^-a²·R(a) ≥ 0.84.
    let ac = clamp(a, 1.0, ERF_CLAMP);
    let large = sub_n(1.0, mul_n(exp(-mul_n(ac, ac)), horner_n(ac, &ERFC_POLY)));
    let t = if a < 1.0 { small } else { large };
    if is_nan(x) { CANONICAL_NAN } else { with_sign(t, x.to_bits() & SIGN) }
}

/// `x^n` for `n < 2^24` by binary powering, in this order: `acc = 1`, `b = x`; for each
/// bit of `n` from the least significant: if it is set, `acc = acc·b`; if higher bits
/// remain, `b = b·b`. Every product is flushed.
#[inline]
fn powi(x: f32, mut n: u32) -> f32 {
    let mut acc = 1.0;
    let mut b = x;
    loop {
        if n & 1 != 0 {
            acc = mul(acc, b);
        }
        n >>= 1;
        if n == 0 {
            return acc;
        }
        b = mul(b, b);
    }
}

/// `x^y`.
///
/// Cases, in order (inputs flushed first):
/// 1. `y = ±0` → 1 (even for NaN `x`); `x = 1` → 1 (even for NaN `y`);
/// 2. NaN `x` or `y` → NaN;
/// 3. `y` integer-valued with |y| < 2^24: binary powering of `x` by `n = |y|` (`powi`
///    order: `acc = 1`, `b = x`; per bit of `n` from the lowest, `acc = acc·b` if set,
///    then `b = b·b` if higher bits remain), then `reciprocal(acc)` when `y < 0`. Signs,
///    ±0 and ±inf follow from the products; a negative power whose magnitude would be in
///    `[2^126, 2^128)` comes out ±inf, because `x^n` itself flushed to ±0;
/// 4. `x = ±1` and `y = ±inf` → 1;
/// 5. `x` finite, negative and nonzero, with `y` not an integer → NaN;
/// 6. otherwise, on `a = |x|` (here `y` is an even integer ≥ 2^24, ±inf or not an
///    integer, and `x` is positive, −0 or −inf): `y = 0.5` → `sqrt(a)`, `y = −0.5` →
///    `rsqrt(a)`, else `exp(y·log(a))`.
///
/// So the IEEE 754 special cases (`pow(±0, y)`, `pow(±inf, y)`, `pow(x, ±inf)`) hold.
/// Accuracy: case 3 rounds once per product (measured 0.5 ulp for y = 2, 1.3 for 3,
/// 1.9 for 4, 4.3 for 7, 1.2 for −1, 2.1 for −2); case 6 is within `2 + 3·|y·ln a|` ulp,
/// the rounding of `y·log(a)` being amplified by `exp` (up to ~130 ulp near overflow).
#[inline]
pub fn pow(x: f32, y: f32) -> f32 {
    let (x, y) = (flush(x), flush(y));
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if is_nan(x) || is_nan(y) {
        return CANONICAL_NAN;
    }
    let integral = y.round_ties_even() == y;
    if integral && abs(y) < 16_777_216.0 {
        let p = powi(x, abs(y) as u32);
        return canonical(if y < 0.0 { reciprocal(p) } else { p });
    }
    let a = abs(x);
    if a == 1.0 && abs(y) == f32::INFINITY {
        return 1.0;
    }
    if x < 0.0 && a != f32::INFINITY && !integral {
        return CANONICAL_NAN;
    }
    if y == 0.5 {
        sqrt(a)
    } else if y == -0.5 {
        rsqrt(a)
    } else {
        exp(mul(y, log(a)))
    }
}

/// `a / b` as `a * reciprocal(b)` (rule 3).
#[inline(always)]
pub fn div(a: f32, b: f32) -> f32 {
    canonical(a * reciprocal(b))
}
