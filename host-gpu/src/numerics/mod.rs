//! The scalar numerics of the specification (DESIGN.md "Determinism", rules 2–4).
//!
//! Every float function a kernel needs is defined here once, from `+ - *` and bit
//! operations only, so the same algorithm can be written in WGSL and give the same bits.
//! Std transcendentals are banned in this crate by `clippy.toml`.

/// The one NaN every kernel emits (quiet, positive, zero payload).
pub const CANONICAL_NAN: f32 = f32::from_bits(0x7FC0_0000);

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

/// `1 / x` (stub: being written).
pub fn reciprocal(x: f32) -> f32 {
    1.0 / x
}

/// `1 / sqrt(x)` (stub: being written).
pub fn rsqrt(x: f32) -> f32 {
    x
}

/// `sqrt(x)` (stub: being written).
pub fn sqrt(x: f32) -> f32 {
    x
}

/// `e^x` (stub: being written).
pub fn exp(x: f32) -> f32 {
    x
}

/// Natural logarithm (stub: being written).
pub fn log(x: f32) -> f32 {
    x
}

/// Hyperbolic tangent (stub: being written).
pub fn tanh(x: f32) -> f32 {
    x
}

/// Error function (stub: being written).
pub fn erf(x: f32) -> f32 {
    x
}

/// Logistic sigmoid (stub: being written).
pub fn sigmoid(x: f32) -> f32 {
    x
}

/// `a / b` as `a * reciprocal(b)` (rule 3).
#[inline(always)]
pub fn div(a: f32, b: f32) -> f32 {
    canonical(a * reciprocal(b))
}
