//! The scalar numerics against f64 std (the independent reference): dense sweeps over
//! f32 bit patterns with the accuracy goals of `docs/NUMERICS.md`, special-value tables,
//! property tests, and pinned golden bits that catch accidental changes of the spec.
#![expect(clippy::disallowed_methods, reason = "f64 std is the independent reference")]

use super::*;
use proptest::prelude::*;

/// 2^-126, the smallest normal f32.
const MIN_NORMAL: f64 = 1.175_494_350_822_287_5e-38;
/// 2^128: an f32 infinity is measured as this, so a result rounded up past `f32::MAX`
/// counts as its distance from the exact value.
const TWO_128: f64 = 3.402_823_669_209_385e38;
/// 2^24: integer-valued pow exponents below this take the binary-powering path.
const TWO_24: f32 = 16_777_216.0;

/// How a result is judged against its exact value.
#[derive(Clone, Copy, Debug)]
enum Tol {
    /// At most this many ulps of the exact value's binade.
    Ulp(f64),
    /// At most this many ulps, or at most this absolute error.
    UlpOrAbs(f64, f64),
    /// At most this absolute error.
    Abs(f64),
}

impl Tol {
    /// The ulp bound (0 for a purely absolute tolerance).
    fn ulps(self) -> f64 {
        match self {
            Tol::Ulp(u) | Tol::UlpOrAbs(u, _) => u,
            Tol::Abs(_) => 0.0,
        }
    }

    fn accepts(self, ulp: f64, abs: f64) -> bool {
        match self {
            Tol::Ulp(u) => ulp <= u,
            Tol::UlpOrAbs(u, a) => ulp <= u || abs <= a,
            Tol::Abs(a) => abs <= a,
        }
    }
}

/// One unary function under test, with its f64 reference and accuracy goal.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    f: fn(f32) -> f32,
    reference: fn(f64) -> f64,
    tol: Tol,
}

const RECIPROCAL: Case = Case { name: "reciprocal", f: reciprocal, reference: |x| 1.0 / x, tol: Tol::Ulp(2.0) };
const RSQRT: Case = Case { name: "rsqrt", f: rsqrt, reference: |x| 1.0 / x.sqrt(), tol: Tol::Ulp(2.0) };
const SQRT: Case = Case { name: "sqrt", f: sqrt, reference: f64::sqrt, tol: Tol::Ulp(2.0) };
const EXP: Case = Case { name: "exp", f: exp, reference: f64::exp, tol: Tol::Ulp(3.0) };
const LOG: Case = Case { name: "log", f: log, reference: f64::ln, tol: Tol::Ulp(3.0) };
const TANH: Case = Case { name: "tanh", f: tanh, reference: f64::tanh, tol: Tol::UlpOrAbs(4.0, 1e-7) };
const SIGMOID: Case =
    Case { name: "sigmoid", f: sigmoid, reference: |x| 1.0 / (1.0 + (-x).exp()), tol: Tol::UlpOrAbs(4.0, 1e-7) };
const ERF: Case = Case { name: "erf", f: erf, reference: erf_reference, tol: Tol::Abs(2e-7) };
const CASES: [Case; 8] = [RECIPROCAL, RSQRT, SQRT, EXP, LOG, TANH, SIGMOID, ERF];

/// erf in f64: its Maclaurin series below 2.5, the continued fraction of erfc
/// (Abramowitz & Stegun 7.1.14) above. Both are far more accurate than f32.
fn erf_reference(x: f64) -> f64 {
    let a = x.abs();
    if a.is_nan() {
        return f64::NAN;
    }
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    let r = if a < 2.5 {
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term.abs() > 1e-20 {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        two_over_sqrt_pi * sum
    } else if a.is_finite() {
        let mut t = a;
        for k in (1..=200).rev() {
            t = a + f64::from(k) / 2.0 / t;
        }
        1.0 - (-a * a).exp() * two_over_sqrt_pi / 2.0 / t
    } else {
        1.0
    };
    r.copysign(x)
}

/// The ulp of `v`'s binade (binades below 2^-126 count as 2^-126's).
fn ulp_of(v: f64) -> f64 {
    let e = ((v.abs().to_bits() >> 52) as i32 - 1023).max(-126);
    f64::from_bits(((e - 23 + 1023) as u64) << 52)
}

/// Judges `got` against `exact`: `Ok((ulp error, absolute error))` or why it is wrong.
/// Exact zeros must match with their sign; a result flushed to ±0 is right when the
/// exact value is below 2^-126 (or within the tolerance of it); an exact value at or
/// beyond 2^128 must give ±inf.
fn judge_value(tol: Tol, got: f32, exact: f64) -> Result<(f64, f64), String> {
    if exact.is_nan() || got.is_nan() {
        return if exact.is_nan() && got.to_bits() == CANONICAL_NAN.to_bits() {
            Ok((0.0, 0.0))
        } else {
            Err(format!("expected {exact:e}, got {got:e} ({:#010x})", got.to_bits()))
        };
    }
    let same_sign = got.is_sign_negative() == exact.is_sign_negative();
    if exact == 0.0 || exact.abs() >= TWO_128 {
        return if got.to_bits() == (exact as f32).to_bits() {
            Ok((0.0, 0.0))
        } else {
            Err(format!("expected exactly {exact:e}, got {got:e}"))
        };
    }
    if got == 0.0 {
        let band = MIN_NORMAL * (1.0 + tol.ulps() * f64::from(f32::EPSILON));
        return if same_sign && exact.abs() < band {
            Ok((0.0, exact.abs()))
        } else {
            Err(format!("flushed to {got:e}, expected {exact:e}"))
        };
    }
    let got = if got.is_infinite() { TWO_128.copysign(f64::from(got)) } else { f64::from(got) };
    let abs = (got - exact).abs();
    let ulp = abs / ulp_of(exact);
    if tol.accepts(ulp, abs) {
        Ok((ulp, abs))
    } else {
        Err(format!("expected {exact:e}, got {got:e}: {ulp:.3} ulp, {abs:e} abs"))
    }
}

/// Judges `case.f(x)`; the reference sees the flushed input, and the result must be
/// canonical.
fn judge(case: &Case, x: f32) -> Result<(f64, f64), String> {
    let got = (case.f)(x);
    let why = if got.to_bits() == canonical(got).to_bits() {
        judge_value(case.tol, got, (case.reference)(f64::from(flush(x))))
    } else {
        Err(format!("result {:#010x} is not canonical", got.to_bits()))
    };
    why.map_err(|why| format!("{}({x:e} = {:#010x}): {why}", case.name, x.to_bits()))
}

/// Every 4096th f32 bit pattern (the low 12 bits varied by a hash), then every 251st
/// pattern of ±[2^-10, 32).
fn sweep() -> impl Iterator<Item = f32> {
    let coarse = (0..1u32 << 20).map(|i| (i << 12) | (i.wrapping_mul(0x9E37_79B9) >> 20));
    let dense = (0x3A80_0000u32..0x4200_0000).step_by(251).flat_map(|b| [b, b | 0x8000_0000]);
    coarse.chain(dense).map(f32::from_bits)
}

/// The worst errors seen in a sweep, with their inputs.
#[derive(Debug, Default)]
struct Worst {
    ulp: f64,
    ulp_at: f32,
    abs: f64,
    abs_at: f32,
}

impl Worst {
    fn note(&mut self, x: f32, (ulp, abs): (f64, f64)) {
        if ulp > self.ulp {
            (self.ulp, self.ulp_at) = (ulp, x);
        }
        if abs > self.abs {
            (self.abs, self.abs_at) = (abs, x);
        }
    }
}

/// Sweeps `case`, panicking on the first miss, and prints the worst errors.
fn sweep_case(case: &Case) -> Worst {
    let mut worst = Worst::default();
    for x in sweep() {
        worst.note(x, judge(case, x).unwrap_or_else(|why| panic!("{why}")));
    }
    eprintln!(
        "{}: max {:.3} ulp at {:e}, max {:.3e} abs at {:e}",
        case.name, worst.ulp, worst.ulp_at, worst.abs, worst.abs_at
    );
    worst
}

#[test]
fn reciprocal_sweep() {
    sweep_case(&RECIPROCAL);
}

#[test]
fn rsqrt_sweep() {
    sweep_case(&RSQRT);
}

#[test]
fn sqrt_sweep() {
    sweep_case(&SQRT);
}

#[test]
fn exp_sweep() {
    sweep_case(&EXP);
}

#[test]
fn log_sweep() {
    sweep_case(&LOG);
}

#[test]
fn tanh_sweep() {
    sweep_case(&TANH);
}

#[test]
fn sigmoid_sweep() {
    sweep_case(&SIGMOID);
}

#[test]
fn erf_sweep() {
    sweep_case(&ERF);
}

#[test]
fn erf_reference_matches_known_values() {
    // Python's math.erf (correctly rounded to f64 at these points).
    let known = [
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (3.0, 0.999_977_909_503_001_4),
        (3.5, 0.999_999_256_901_627_6),
        (-2.4, -0.999_311_486_103_354_9),
    ];
    for (x, want) in known {
        assert!((erf_reference(x) - want).abs() < 1e-15, "erf({x})");
    }
}

/// Inputs with exactly specified results: `(function, input, expected)`.
fn special_table() -> Vec<(Case, f32, f32)> {
    let (inf, nan, sub) = (f32::INFINITY, f32::NAN, f32::from_bits(0x0000_1234));
    let tiny = f32::MIN_POSITIVE;
    vec![
        (RECIPROCAL, 0.0, inf),
        (RECIPROCAL, -0.0, -inf),
        (RECIPROCAL, sub, inf),
        (RECIPROCAL, -sub, -inf),
        (RECIPROCAL, inf, 0.0),
        (RECIPROCAL, -inf, -0.0),
        (RECIPROCAL, nan, CANONICAL_NAN),
        (RECIPROCAL, 1.0, 1.0),
        (RECIPROCAL, 2.0, 0.5),
        (RECIPROCAL, -4.0, -0.25),
        (RECIPROCAL, 0.125, 8.0),
        (RECIPROCAL, tiny, f32::from_bits(0x7E80_0000)),
        (RECIPROCAL, f32::from_bits(0x7E80_0000), tiny),
        (RECIPROCAL, f32::from_bits(0x7F00_0000), 0.0),
        (RECIPROCAL, -f32::MAX, -0.0),
        (RSQRT, 0.0, inf),
        (RSQRT, -0.0, -inf),
        (RSQRT, sub, inf),
        (RSQRT, -sub, -inf),
        (RSQRT, inf, 0.0),
        (RSQRT, -inf, CANONICAL_NAN),
        (RSQRT, -1.0, CANONICAL_NAN),
        (RSQRT, nan, CANONICAL_NAN),
        (RSQRT, 1.0, 1.0),
        (RSQRT, 4.0, 0.5),
        (RSQRT, 0.25, 2.0),
        (RSQRT, tiny, f32::from_bits(0x5F00_0000)),
        (SQRT, 0.0, 0.0),
        (SQRT, -0.0, -0.0),
        (SQRT, -sub, -0.0),
        (SQRT, inf, inf),
        (SQRT, -inf, CANONICAL_NAN),
        (SQRT, -1.0, CANONICAL_NAN),
        (SQRT, nan, CANONICAL_NAN),
        (SQRT, 1.0, 1.0),
        (SQRT, 4.0, 2.0),
        (SQRT, 9.0, 3.0),
        (SQRT, 0.25, 0.5),
        (SQRT, tiny, f32::from_bits(0x2000_0000)),
        (EXP, 0.0, 1.0),
        (EXP, -0.0, 1.0),
        (EXP, sub, 1.0),
        (EXP, inf, inf),
        (EXP, -inf, 0.0),
        (EXP, nan, CANONICAL_NAN),
        (EXP, f32::from_bits(0x42B1_7218), inf),
        (EXP, 1000.0, inf),
        (EXP, -87.5, 0.0),
        (EXP, -88.0, 0.0),
        (EXP, -1000.0, 0.0),
        (LOG, 1.0, 0.0),
        (LOG, 0.0, -inf),
        (LOG, -0.0, -inf),
        (LOG, sub, -inf),
        (LOG, -sub, -inf),
        (LOG, inf, inf),
        (LOG, -inf, CANONICAL_NAN),
        (LOG, -1.0, CANONICAL_NAN),
        (LOG, nan, CANONICAL_NAN),
        (TANH, 0.0, 0.0),
        (TANH, -0.0, -0.0),
        (TANH, -sub, -0.0),
        (TANH, inf, 1.0),
        (TANH, -inf, -1.0),
        (TANH, nan, CANONICAL_NAN),
        (TANH, 9.02, 1.0),
        (TANH, -20.0, -1.0),
        (TANH, 1e-30, 1e-30),
        (TANH, -1e-30, -1e-30),
        (SIGMOID, 0.0, 0.5),
        (SIGMOID, -0.0, 0.5),
        (SIGMOID, sub, 0.5),
        (SIGMOID, inf, 1.0),
        (SIGMOID, -inf, 0.0),
        (SIGMOID, nan, CANONICAL_NAN),
        (SIGMOID, 17.5, 1.0),
        (SIGMOID, -88.0, 0.0),
        (SIGMOID, -100.0, 0.0),
        (ERF, 0.0, 0.0),
        (ERF, -0.0, -0.0),
        (ERF, -sub, -0.0),
        (ERF, inf, 1.0),
        (ERF, -inf, -1.0),
        (ERF, nan, CANONICAL_NAN),
        (ERF, 3.95, 1.0),
        (ERF, -4.0, -1.0),
        (ERF, -1e9, -1.0),
    ]
}

#[test]
fn special_values() {
    for (case, x, want) in special_table() {
        let got = (case.f)(x);
        assert_eq!(got.to_bits(), want.to_bits(), "{}({x:e}) = {got:e}, want {want:e}", case.name);
    }
}

/// The saturation points stated in the doc comments: the first input (by bits) at
/// which each result is exactly ±1 or +0, and the exp overflow boundary.
#[test]
fn saturation_thresholds() {
    let before = |bits: u32| f32::from_bits(bits - 1);
    for (case, first, want) in [
        (TANH, 0x4110_2CB4, 1.0),
        (ERF, 0x4079_AEAC, 1.0),
        (SIGMOID, 0x4185_1592, 1.0),
        (EXP, 0xC2AE_AC50, 0.0),
        (SIGMOID, 0xC2AE_AC50, 0.0),
    ] {
        let (at, prev) = ((case.f)(f32::from_bits(first)), (case.f)(before(first)));
        assert_eq!(at.to_bits(), f32::to_bits(want), "{} at {first:#x}", case.name);
        assert_ne!(prev.to_bits(), f32::to_bits(want), "{} before {first:#x}", case.name);
    }
    assert_eq!(tanh(-1e30), -1.0);
    assert_eq!(erf(-1e30), -1.0);
    assert!(exp(EXP_MAX).is_finite());
    assert_eq!(exp(f32::from_bits(EXP_MAX.to_bits() + 1)), f32::INFINITY);
}

/// Regression values computed by this implementation: they change only when the
/// specification changes (which bumps `SPEC_VERSION`).
#[test]
fn golden_bits() {
    let inputs = [0.1f32, 0.5, 1.5, 3.0, -2.5, 10.0, 1e-3, 12345.678];
    let golden: [(Case, [u32; 8]); 8] = [
        (
            RECIPROCAL,
            [0x4120_0000, 0x4000_0000, 0x3F2A_AAAB, 0x3EAA_AAAB, 0xBECC_CCCC, 0x3DCC_CCCC, 0x4479_FFFF, 0x38A9_DE8D],
        ),
        (
            RSQRT,
            [0x404A_62C2, 0x3FB5_04F3, 0x3F51_05EC, 0x3F13_CD3A, 0x7FC0_0000, 0x3EA1_E89B, 0x41FC_FB72, 0x3C13_74BD],
        ),
        (
            SQRT,
            [0x3EA1_E89B, 0x3F35_04F3, 0x3F9C_C471, 0x3FDD_B3D7, 0x7FC0_0000, 0x404A_62C2, 0x3D01_86E3, 0x42DE_38E3],
        ),
        (EXP, [0x3F8D_763E, 0x3FD3_094C, 0x408F_69FF, 0x41A0_AF2E, 0x3DA8_1C2E, 0x46AC_14EE, 0x3F80_20C9, 0x7F80_0000]),
        (LOG, [0xC013_5D8E, 0xBF31_7218, 0x3ECF_991F, 0x3F8C_9F54, 0x7FC0_0000, 0x4013_5D8E, 0xC0DD_0C55, 0x4116_BCAB]),
        (
            TANH,
            [0x3DCC_1EBC, 0x3EEC_9A9F, 0x3F67_B7CC, 0x3F7E_BBE9, 0xBF7C_92C1, 0x3F80_0000, 0x3A83_126C, 0x3F80_0000],
        ),
        (
            SIGMOID,
            [0x3F06_650A, 0x3F1F_597F, 0x3F51_4C8F, 0x3F73_DBE6, 0x3D9B_5B88, 0x3F7F_FD06, 0x3F00_1062, 0x3F80_0000],
        ),
        (ERF, [0x3DE6_52F5, 0x3F05_3F7B, 0x3F77_52AB, 0x3F7F_FE8D, 0xBF7F_E554, 0x3F80_0000, 0x3A93_E61C, 0x3F80_0000]),
    ];
    for (case, want) in golden {
        let got = inputs.map(|x| (case.f)(x).to_bits());
        assert_eq!(got, want, "{}: {:#010X?}", case.name, got);
    }
}

/// `pow` special cases (IEEE 754 `pow`, plus the choices documented on [`pow`]).
#[test]
fn pow_special_values() {
    let (inf, nan, sub) = (f32::INFINITY, f32::NAN, f32::from_bits(0x0000_1234));
    let table: [(f32, f32, f32); 64] = [
        (nan, 0.0, 1.0),
        (nan, -0.0, 1.0),
        (2.0, sub, 1.0),
        (1.0, nan, 1.0),
        (1.0, inf, 1.0),
        (1.0, -inf, 1.0),
        (-1.0, inf, 1.0),
        (-1.0, -inf, 1.0),
        (nan, 1.0, CANONICAL_NAN),
        (2.0, nan, CANONICAL_NAN),
        (0.0, 3.0, 0.0),
        (-0.0, 3.0, -0.0),
        (-sub, 3.0, -0.0),
        (-0.0, 2.0, 0.0),
        (0.0, -1.0, inf),
        (-0.0, -1.0, -inf),
        (-0.0, -2.0, inf),
        (0.0, 0.5, 0.0),
        (-0.0, 0.5, 0.0),
        (-0.0, -0.5, inf),
        (0.0, -1.5, inf),
        (-0.0, -1.5, inf),
        (-0.0, 2.5, 0.0),
        (0.0, inf, 0.0),
        (0.0, -inf, inf),
        (inf, 2.0, inf),
        (inf, -1.0, 0.0),
        (inf, 0.5, inf),
        (-inf, 3.0, -inf),
        (-inf, 2.0, inf),
        (-inf, -1.0, -0.0),
        (-inf, -2.0, 0.0),
        (-inf, 0.5, inf),
        (-inf, -0.5, 0.0),
        (-inf, 2.5, inf),
        (0.5, inf, 0.0),
        (0.5, -inf, inf),
        (2.0, inf, inf),
        (2.0, -inf, 0.0),
        (-0.5, inf, 0.0),
        (-2.0, -inf, 0.0),
        (-2.0, 0.5, CANONICAL_NAN),
        (-2.0, 1.5, CANONICAL_NAN),
        (-1.0, 0.5, CANONICAL_NAN),
        (-1.0, 3.0, -1.0),
        (-2.0, 3.0, -8.0),
        (-2.0, 2.0, 4.0),
        (-2.0, -1.0, -0.5),
        (2.0, TWO_24, inf),
        (-2.0, TWO_24, inf),
        (0.5, TWO_24, 0.0),
        (-1.0, 2.0 * TWO_24, 1.0),
        (3.0, 2.0, 9.0),
        (2.0, 10.0, 1024.0),
        (2.0, -3.0, 0.125),
        (4.0, 0.5, 2.0),
        (4.0, -0.5, 0.5),
        (sub, -1.0, inf),
        (2.0, 127.0, f32::from_bits(0x7F00_0000)),
        (2.0, 128.0, inf),
        (0.5, 126.0, f32::MIN_POSITIVE),
        (0.5, 127.0, 0.0),
        (2.0, -127.0, 0.0),
        // The documented edge: 0.5^127 flushes, so its reciprocal is inf, not 2^127.
        (0.5, -127.0, inf),
    ];
    for (x, y, want) in table {
        let got = pow(x, y);
        assert_eq!(got.to_bits(), want.to_bits(), "pow({x:e}, {y:e}) = {got:e}, want {want:e}");
    }
}

/// The tolerance of `pow(x, y)`: binary powering rounds once per product, so the error
/// grows with the number of products; the exp/log path loses `|y·ln x|·2^-24` relative
/// in rounding `y·log(x)`.
fn pow_tolerance(x: f32, y: f32) -> Tol {
    if y.round_ties_even() == y && y.abs() < TWO_24 {
        Tol::Ulp(2.0 + f64::from(y.abs()))
    } else {
        Tol::Ulp(2.0 + 3.0 * (f64::from(y) * f64::from(x).abs().ln()).abs())
    }
}

/// Judges `pow(x, y)` against f64 `powf`; the documented overflow of negative integer
/// powers whose `x^|y|` flushed is accepted.
fn judge_pow(x: f32, y: f32) -> Result<(f64, f64), String> {
    let got = pow(x, y);
    let exact = f64::from(flush(x)).powf(f64::from(flush(y)));
    let flushed_reciprocal = y < 0.0 && y.round_ties_even() == y && got.is_infinite() && exact.abs() >= 2f64.powi(126);
    if flushed_reciprocal || got.to_bits() != canonical(got).to_bits() {
        return if flushed_reciprocal { Ok((0.0, 0.0)) } else { Err(format!("pow({x:e}, {y:e}) is not canonical")) };
    }
    judge_value(pow_tolerance(x, y), got, exact).map_err(|why| format!("pow({x:e}, {y:e}): {why}"))
}

#[test]
fn pow_sweep() {
    let ys = [2.0f32, 3.0, 4.0, 7.0, -1.0, -2.0, -3.0, 0.5, -0.5, 1.5, 2.2, -1.7, 0.3333, 12.5];
    for y in ys {
        let mut worst = Worst::default();
        for x in sweep().step_by(3) {
            worst.note(x, judge_pow(x, y).unwrap_or_else(|why| panic!("{why}")));
        }
        eprintln!("pow(x, {y}): max {:.3} ulp at {:e}", worst.ulp, worst.ulp_at);
    }
}

#[test]
fn pow_golden_bits() {
    let cases = [
        (0.1f32, 2.0f32, 0x3C23_D70B_u32),
        (1.7, 3.0, 0x409D_374C),
        (2.5, -2.0, 0x3E23_D70A),
        (10.0, 0.5, 0x404A_62C2),
        (3.0, 1.5, 0x40A6_46E2),
        (0.9, 40.25, 0x3C6B_DFCE),
    ];
    for (x, y, want) in cases {
        let got = pow(x, y).to_bits();
        assert_eq!(got, want, "pow({x}, {y}) = {got:#010X}");
    }
}

#[test]
fn div_is_product_with_reciprocal() {
    assert_eq!(div(1.0, 3.0).to_bits(), 0x3EAA_AAAB);
    assert_eq!(div(6.0, 3.0), 2.0);
    assert_eq!(div(1.0, 0.0), f32::INFINITY);
    assert_eq!(div(-1.0, 0.0), f32::NEG_INFINITY);
    assert_eq!(div(0.0, 0.0).to_bits(), CANONICAL_NAN.to_bits());
    assert_eq!(div(f32::INFINITY, f32::INFINITY).to_bits(), CANONICAL_NAN.to_bits());
}

/// f32 values weighted towards the cases that break numerics: ±0, ±inf, NaNs,
/// subnormals, the extremes, values near 1, and any bit pattern.
fn interesting_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => any::<u32>().prop_map(f32::from_bits),
        1 => (0u32..0x0080_0000, any::<bool>()).prop_map(|(m, neg)| f32::from_bits(m | if neg { 0x8000_0000 } else { 0 })),
        1 => prop::sample::select(vec![0.0, -0.0, f32::INFINITY, -f32::INFINITY, f32::NAN, f32::MAX, -f32::MAX, f32::MIN_POSITIVE, 1.0, -1.0]),
        1 => (0.9f32..1.1).prop_map(|v| v),
        2 => (-100.0f32..100.0).prop_map(|v| v),
    ]
}

proptest! {
    #[test]
    fn unary_functions_hold_their_goals(x in interesting_f32()) {
        for case in &CASES {
            let verdict = judge(case, x);
            prop_assert!(verdict.is_ok(), "{}", verdict.unwrap_err());
        }
    }

    #[test]
    fn pow_holds_its_goal(x in interesting_f32(), n in -8i32..=8, frac in prop::sample::select(vec![0.0f32, 0.5, 0.25, -0.3])) {
        let verdict = judge_pow(x, n as f32 + frac);
        prop_assert!(verdict.is_ok(), "{}", verdict.unwrap_err());
    }
}

#[test]
fn exact_results() {
    for n in 1..=4096u16 {
        let v = f32::from(n);
        assert_eq!(sqrt(v * v), v, "sqrt({})", v * v);
    }
    for k in -126..=126i32 {
        let (x, inv) = (pow2(k), pow2(-k));
        assert_eq!((reciprocal(x), reciprocal(-x)), (inv, -inv), "reciprocal(2^{k})");
    }
    for k in -63..=63i32 {
        assert_eq!((rsqrt(pow2(2 * k)), sqrt(pow2(2 * k))), (pow2(-k), pow2(k)), "4^{k}");
    }
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(log(1.0), 0.0);
}

/// Equal values; a zero result may carry the other sign, which `exp` does not depend on.
#[test]
fn round_small_is_round_ties_even() {
    let below_2_22 = (0u32..0x4A80_0000).step_by(257).flat_map(|b| [b, b | 0x8000_0000]);
    for v in below_2_22.chain([0x3F00_0000, 0x3FC0_0000, 0x4020_0000, 0xBF00_0000]).map(f32::from_bits) {
        assert_eq!(round_small(v), v.round_ties_even(), "{v:e}");
    }
}
