// wasmnn numerics prelude: the WGSL port of host-gpu/src/numerics/mod.rs.
//
// Every kernel is `prelude.wgsl` + the kernel's own source, concatenated on the host. Each
// function below computes, for every input, the same bits as the Rust function of the same
// name (`nn_exp` = `numerics::exp`, ...): same algorithm, same constants (given by their f32
// bit patterns), same operation order. docs/NUMERICS.md states the algorithms in prose; the
// Rust code is normative. Any change here or there must change both and bump SPEC_VERSION.
//
// Contract with the executor
// --------------------------
// * `nn_numerics` (group 0, binding 0, a 16-byte uniform buffer) must be bound for every
//   pipeline and must hold `zero == 0u`. All numerics depend on it being 0 at run time; the
//   point is that no compiler can know that (see "The rounding barrier" below). Keeping the
//   barrier in group 0 for every pipeline lets the executor bind it once per compute pass and
//   keeps Vulkan's descriptor-set compatibility (sets 0..N must match) intact when pipelines
//   change; kernels put their tensors in group 1 and up.
// * Kernels flush every f32 they load, compute every product with `nn_mul` and every sum
//   with `nn_add` / `nn_sub` (one fixed order per output element), and store canonical
//   values. Preferably f32 tensors are bound as `array<u32>`, read with `nn_load(bits)` and
//   written with `nn_store(x)`, so that no float load or store touches their bits.
// * The executor's self-test runs every nn_* function on a fixed input set on the adapter and
//   compares the bits with the CPU before the adapter is used (DESIGN.md: --backend auto).
// * Never use WGSL's float builtins with open accuracy or open ±0/NaN behaviour: exp, exp2,
//   log, log2, pow, sqrt, inverseSqrt, sin, cos, tanh, `/` on floats, fma, and also min, max,
//   clamp, abs, sign on floats (their ±0 and NaN results vary by driver). Use the nn_*
//   functions. Integer builtins and integer arithmetic are exact and free to use (integer
//   `/` and `%` are defined for a zero divisor but naga wraps them in a helper: avoid them in
//   inner loops).
//
// What Vulkan lets a driver do to plain f32 code (naga emits no NoContraction decorations and
// no float-controls execution modes, so all of this is allowed by default):
// 1. contract `a * b + c` into one fused multiply-add (one rounding instead of two);
// 2. reassociate: `(a + b) + c` -> `a + (b + c)`, and so fold `(v + C) - C` into `v`;
// 3. flush any subnormal input or result of any instruction to zero;
// 4. ignore the sign of zero (observed: llvmpipe folds `0 - x` into `-x`, Apple's GPU gives
//    +0 for `-0 * x`, a Mesa driver summed negative zeros to +0, NVIDIA rewrites a
//    select-based max into a max instruction with other ±0 rules), and assume that no NaN or
//    infinity exists (which also lets LLVM-based drivers fold bit tests such as
//    `(bits & 0x7fffffff) > 0x7f800000`, recognised as is-NaN, to false);
// 5. use any rounding mode (WGSL does not fix one either); every desktop GPU and lavapipe
//    round f32 `+ - *` to nearest-even, which this file assumes and the executor's self-test
//    must check (ties in both directions) before an adapter is used.
//
// The rounding barrier (answers 1, 2 and the folding half of 4)
// ---------------------------------------------------------------
// Every float result that matters is read back as bits through `nn_bits(x)`, which is
// `bitcast<u32>(x) ^ nn_numerics.zero`. The XOR operand lives in a buffer, so at pipeline
// compile time the driver cannot know it is 0 (an `override` constant would NOT work: its
// value is known when the pipeline is compiled). Consequences:
// * the product `a * b` in `nn_mul` has its bits observed by an integer XOR, so the driver
//   must materialise the rounded f32 product; the consumer of `nn_mul` receives
//   `bitcast<f32>(integer)`, not an OpFMul, so there is no multiply+add pair left to fuse
//   (this is what blocks FMA contraction);
// * likewise every sum leaves `nn_add` as a bitcast integer, so no chain of additions is
//   visible as float algebra and nothing can be reassociated, and `(v + C) - C` in
//   `nn_round_small` cannot be folded to `v`;
// * classification (NaN / inf / zero / subnormal tests) is done on XOR-ed bits, which no
//   compiler can turn back into an fp-class query and fold under "no NaN/inf" assumptions.
// The barrier is visible in every nn_mul / nn_add below, which is what DESIGN.md rule 2 asks
// for (lavapipe never fuses, so conformance tests alone cannot show that it works). A driver
// that specialised shaders on uniform *contents* would defeat it; none is known to do so for
// Vulkan compute. If one ever does, move `zero` to a read_write storage buffer, whose
// contents a compiler cannot assume constant.
//
// Signs of zero (answers the rest of 4)
// -------------------------------------
// `nn_mul` and `nn_add` take only the *magnitude* of the hardware result and compute the sign
// bit from the operands' bits, by the IEEE 754 rules (round to nearest): a product's sign is
// the XOR of the operands' signs; a sum's sign is that of the operand of larger magnitude,
// and for equal magnitudes it is negative only if both operands are (so x + (-x) = +0 and
// -0 + -0 = -0). For every non-NaN result this is exactly the IEEE sign, so the bits equal
// the CPU's; for a NaN result the sign is irrelevant (outputs are canonicalised). This makes
// `-0` outputs the same on drivers that ignore the sign of zero.
//
// Subnormals (answers 3)
// ----------------------
// `nn_flush` replaces a subnormal by the zero of the same sign. It is applied to every kernel
// input (by the kernel), inside `nn_mul` / `nn_add` / `nn_sub` (every product and partial
// sum), and wherever the Rust code calls `flush`. The `_n` variants (`nn_mul_n`, `nn_add_n`,
// `nn_sub_n`) keep the barrier and the sign rule but skip the flush: they port Rust's
// `mul_n` / `add_n` / `sub_n`, used only where the Rust code proves (and debug builds assert)
// that the value is never subnormal, so the flush could not change a bit. A flushing driver
// and an IEEE driver then agree, because no subnormal is ever consumed.
// Residual risk, documented rather than solved: a product whose exact value lies in
// (2^-126 - 2^-150, 2^-126) rounds up to 2^-126 in IEEE arithmetic (so on the CPU); a driver
// that detects underflow *before* rounding may flush it to 0 instead. Such products need
// operands whose exponents sum to about -126; the self-test should probe one.
//
// WGSL notes for readers of the port
// ----------------------------------
// * naga (wgpu's shader translator, 30.x) cannot constant-evaluate `bitcast`, so a
//   module-scope `const X: f32 = bitcast<f32>(..)` is rejected. Constants are therefore
//   module-scope `u32` bit patterns, turned into f32 by `nn_f` inside functions (exact; no
//   decimal rounding question). Infinity and NaN are only ever produced as u32 bits and
//   bitcast at run time: WGSL forbids constant expressions that evaluate to inf or NaN.
// * `select(f, t, cond)` returns `t` when `cond` is true. Both arms are always evaluated;
//   the Rust `if` arms have no side effects, so that changes no bit.
// * Special inputs are answered by selects on u32 bits at the end of each function, as in
//   the Rust code. Results are chosen between as bits, so a -0 cannot be lost in a float
//   select either (Vulkan requires OpSelect to keep the sign of zero only under
//   SignedZeroInfNanPreserve). Comparisons that may meet NaN, infinity or ±0 are done on
//   integer keys (`nn_lt`, `nn_gt`), never with float `<`, so they cannot be rewritten into
//   a float min/max.
// * Shifts: `>>` on i32 is arithmetic (Rust's `>>` on i32); u32 `+ - <<` wrap at run time
//   (Rust's `wrapping_*`). Float -> int conversions are applied only to integer values in
//   range (exact); int -> float only to |v| < 2^24 (exact).
// * Rust's `canonicalize(&mut [f32])` is `nn_canonical` applied per element by the kernel;
//   Rust's debug-only `normal_or_zero` assertion has no WGSL counterpart.

// ---------------------------------------------------------------------------------------
// The run-time zero
// ---------------------------------------------------------------------------------------

struct NnNumerics {
    // Always 0u at run time; see "The rounding barrier" above.
    zero: u32,
    reserved0: u32,
    reserved1: u32,
    reserved2: u32,
}

@group(0) @binding(0) var<uniform> nn_numerics: NnNumerics;

// ---------------------------------------------------------------------------------------
// Bit patterns (Rust: SIGN, ABS, EXP_MASK, MANT_MASK, ONE_BITS, INF_BITS, CANONICAL_NAN)
// ---------------------------------------------------------------------------------------

const NN_SIGN: u32 = 0x80000000u;
const NN_ABS: u32 = 0x7FFFFFFFu;
const NN_EXP_MASK: u32 = 0x7F800000u;
const NN_MANT_MASK: u32 = 0x007FFFFFu;
const NN_ONE: u32 = 0x3F800000u;           // 1.0
const NN_INF: u32 = 0x7F800000u;           // +inf
const NN_NEG_INF: u32 = 0xFF800000u;       // -inf
const NN_CANONICAL_NAN: u32 = 0x7FC00000u; // the one NaN every kernel emits

// Small exactly representable values, also by bits for uniformity.
const NN_HALF: u32 = 0x3F000000u;          // 0.5
const NN_NEG_HALF: u32 = 0xBF000000u;      // -0.5
const NN_TWO_POW_24: u32 = 0x4B800000u;    // 16777216.0 = 2^24

// reciprocal: quadratic minimax start for 1/m on [1, 2) (RECIP_POLY).
const NN_RECIP_R0: u32 = 0x4007C219u;      // 2.1212218
const NN_RECIP_R1: u32 = 0xBFBA2EDCu;      // -1.454555
const NN_RECIP_R2: u32 = 0x3EA57EFAu;      // 0.32323438

// rsqrt / sqrt: the bit-trick start constant.
const NN_RSQRT_MAGIC: u32 = 0x5F3759DFu;

// exp / log shared constants.
const NN_LOG2E: u32 = 0x3FB8AA3Bu;         // 1.442695
const NN_LN2_HI: u32 = 0x3F317200u;        // 0.69314575 (15 significant bits)
const NN_LN2_LO: u32 = 0x35BFBE8Eu;        // 1.4286068e-6

// exp.
const NN_EXP_MAX: u32 = 0x42B17217u;       // 88.72283, largest x with a finite e^x
const NN_EXP_MIN: u32 = 0xC2B00000u;       // -88.0
const NN_EXP_TINY_R: u32 = 0x33000000u;    // 2^-25
const NN_ROUND_MAGIC: u32 = 0x4B400000u;   // 12582912.0 = 1.5 * 2^23 (round_small)
const NN_EXP_P0: u32 = 0x3EFFFFFEu;        // 0.49999994
const NN_EXP_P1: u32 = 0x3E2AAA49u;        // 0.16666521
const NN_EXP_P2: u32 = 0x3D2AAC56u;        // 0.04166826
const NN_EXP_P3: u32 = 0x3C091CCDu;        // 0.008368683
const NN_EXP_P4: u32 = 0x3AB529FCu;        // 0.0013821716

// log.
const NN_SQRT2_BITS: u32 = 0x3FB504F3u;    // largest f32 below sqrt(2)
const NN_LOG_HALF_EXP: u32 = 0x3F000000u;  // exponent field of [0.5, 1)
const NN_LOG_Q0: u32 = 0x3EAAAAAAu;        // 0.3333333
const NN_LOG_Q1: u32 = 0xBE800113u;        // -0.2500082
const NN_LOG_Q2: u32 = 0x3E4CD00Du;        // 0.2000124
const NN_LOG_Q3: u32 = 0xBE2A3940u;        // -0.16623402
const NN_LOG_Q4: u32 = 0x3E116CACu;        // 0.14201611
const NN_LOG_Q5: u32 = 0xBE06C184u;        // -0.13159758
const NN_LOG_Q6: u32 = 0x3E02AF12u;        // 0.12762097
const NN_LOG_Q7: u32 = 0xBD9C61D1u;        // -0.076358445

// tanh.
const NN_SMALL_ARG: u32 = 0x39800000u;     // 2^-12
const NN_TANH_SMALL: u32 = 0x3F200000u;    // 0.625
const NN_TANH_CLAMP: u32 = 0x41200000u;    // 10.0
const NN_TANH_T0: u32 = 0xBEAAAA99u;       // -0.3333328
const NN_TANH_T1: u32 = 0x3E08837Bu;       // 0.13331406
const NN_TANH_T2: u32 = 0xBD5C1AD2u;       // -0.053736515
const NN_TANH_T3: u32 = 0x3CA8FC67u;       // 0.020628167
const NN_TANH_T4: u32 = 0xBBBA8671u;       // -0.005692296

// erf.
const NN_ERF_SMALL_ARG: u32 = 0x39000000u; // 2^-13 (Rust: SMALL_ARG * 0.5, exact)
const NN_ERF_CLAMP: u32 = 0x40800000u;     // 4.0
const NN_ERF_E0: u32 = 0x3E0375D4u;        // 0.12837917
const NN_ERF_E1: u32 = 0xBEC0939Fu;        // -0.37612626
const NN_ERF_E2: u32 = 0x3DE71673u;        // 0.11283579
const NN_ERF_E3: u32 = 0xBCDBFB8Du;        // -0.026853347
const NN_ERF_E4: u32 = 0x3BA9F912u;        // 0.005187162
const NN_ERF_E5: u32 = 0xBA51A8AFu;        // -0.0007997853
const NN_ERF_E6: u32 = 0x38A3B8FEu;        // 7.806903e-5
const NN_ERFC_F0: u32 = 0x3F7C72DBu;       // 0.98612756
const NN_ERFC_F1: u32 = 0xBF862BCFu;       // -1.0482119
const NN_ERFC_F2: u32 = 0x3F4AE7A7u;       // 0.79259723
const NN_ERFC_F3: u32 = 0xBEDD056Fu;       // -0.43168208
const NN_ERFC_F4: u32 = 0x3E281309u;       // 0.16413511
const NN_ERFC_F5: u32 = 0xBD27EE3Du;       // -0.040998686
const NN_ERFC_F6: u32 = 0x3BC4C782u;       // 0.0060052285
const NN_ERFC_F7: u32 = 0xB9CBE45Eu;       // -0.00038889324

// ---------------------------------------------------------------------------------------
// Bits, barrier, classification
// ---------------------------------------------------------------------------------------

// An f32 from its bit pattern (Rust: f32::from_bits). A function call, so naga never tries
// to constant-evaluate the bitcast (see the WGSL notes above).
fn nn_f(b: u32) -> f32 {
    return bitcast<f32>(b);
}

// The bits of `x`, through the rounding barrier: exact (zero == 0u at run time) but opaque
// to every compiler. Use this whenever a float's bits are inspected.
fn nn_bits(x: f32) -> u32 {
    return bitcast<u32>(x) ^ nn_numerics.zero;
}

// `x` unchanged, through the barrier: for kernels that need to pin a float value (for
// example a product they do not feed to nn_add right away).
fn nn_opaque(x: f32) -> f32 {
    return bitcast<f32>(nn_bits(x));
}

// EXPLICIT SUBNORMAL FLUSH, on bits: exponent field 0 -> keep only the sign bit (a zero of
// the same sign); every other pattern (normals, zeros, inf, NaN) passes unchanged.
fn nn_flush_bits(b: u32) -> u32 {
    return select(b, b & NN_SIGN, (b & NN_EXP_MASK) == 0u);
}

fn nn_is_nan_bits(b: u32) -> bool {
    return (b & NN_ABS) > NN_INF;
}

// Rust: flush. Flushes a subnormal to the zero of the same sign.
fn nn_flush(x: f32) -> f32 {
    return bitcast<f32>(nn_flush_bits(nn_bits(x)));
}

// Rust: is_nan. By bits: WGSL lets compilers assume floats are never NaN.
fn nn_is_nan(x: f32) -> bool {
    return nn_is_nan_bits(nn_bits(x));
}

// Rust: canonical. Flushes subnormals and replaces every NaN by 0x7FC00000: the form of
// every value a kernel stores.
fn nn_canonical(x: f32) -> f32 {
    let b = nn_bits(x);
    return bitcast<f32>(select(nn_flush_bits(b), NN_CANONICAL_NAN, nn_is_nan_bits(b)));
}

// Kernel I/O on bits. Binding f32 tensors as `array<u32>` and converting here means no float
// instruction ever sees an unflushed subnormal (Vulkan lets a driver flush subnormal *inputs*,
// possibly to +0) and no float store can rewrite a NaN. `nn_load` flushes a loaded pattern
// (every kernel input is flushed); `nn_store` returns the canonical bits of a result.
fn nn_load(b: u32) -> f32 {
    return bitcast<f32>(nn_flush_bits(b ^ nn_numerics.zero));
}

fn nn_store(x: f32) -> u32 {
    return nn_bits(nn_canonical(x));
}

// Rust: abs (private). Clears the sign bit.
fn nn_abs(x: f32) -> f32 {
    return bitcast<f32>(nn_bits(x) & NN_ABS);
}

// IEEE negation (Rust: unary `-`), by flipping the sign bit: a driver that ignores the sign
// of zero may compile a float negation as `0 - x`.
fn nn_neg(x: f32) -> f32 {
    return bitcast<f32>(nn_bits(x) ^ NN_SIGN);
}

// Rust: with_sign (private). `y` (positive) with the sign bit `sign` (0 or 0x80000000) or-ed in.
fn nn_with_sign(y: f32, sign: u32) -> f32 {
    return bitcast<f32>(nn_bits(y) | sign);
}

// A total-order key for non-NaN bit patterns: comparing keys as i32 is IEEE comparison of the
// floats (-0 and +0 get the same key 0, as they compare equal).
fn nn_key(b: u32) -> i32 {
    let m = i32(b & NN_ABS);
    return select(m, -m, (b & NN_SIGN) != 0u);
}

// IEEE `a < b` (false when either is NaN), on bits.
fn nn_lt(a: f32, b: f32) -> bool {
    let ba = nn_bits(a);
    let bb = nn_bits(b);
    return !(nn_is_nan_bits(ba) | nn_is_nan_bits(bb)) & (nn_key(ba) < nn_key(bb));
}

// IEEE `a > b` (false when either is NaN), on bits.
fn nn_gt(a: f32, b: f32) -> bool {
    return nn_lt(b, a);
}

// ---------------------------------------------------------------------------------------
// Products and sums (Rust: mul, add, mul_n, add_n, sub_n)
// ---------------------------------------------------------------------------------------

// IEEE sign bit of the product a * b (any non-NaN result): the XOR of the operands' signs.
fn nn_mul_sign(a: f32, b: f32) -> u32 {
    return (bitcast<u32>(a) ^ bitcast<u32>(b)) & NN_SIGN;
}

// IEEE sign bit of the sum a + b (any non-NaN result, round to nearest): that of the operand
// of larger magnitude; for equal magnitudes negative only if both operands are negative
// (x + (-x) = +0, -0 + -0 = -0, +0 + -0 = +0).
fn nn_add_sign(a: f32, b: f32) -> u32 {
    let ba = bitcast<u32>(a);
    let bb = bitcast<u32>(b);
    let ma = ba & NN_ABS;
    let mb = bb & NN_ABS;
    return select(select(bb, ba, ma > mb), ba & bb, ma == mb) & NN_SIGN;
}

// Rust: mul. The product rounded to f32 (bits pinned by the barrier: never fused into an
// add), sign by the IEEE rule, magnitude FLUSHED if subnormal.
fn nn_mul(a: f32, b: f32) -> f32 {
    let mag = nn_bits(a * b) & NN_ABS;
    return bitcast<f32>(nn_mul_sign(a, b) | nn_flush_bits(mag));
}

// Rust: add. The sum rounded to f32 (pinned by the barrier: never reassociated), sign by the
// IEEE rule, magnitude FLUSHED if subnormal.
fn nn_add(a: f32, b: f32) -> f32 {
    let mag = nn_bits(a + b) & NN_ABS;
    return bitcast<f32>(nn_add_sign(a, b) | nn_flush_bits(mag));
}

// Rust: `add(a, -b)` (a partial difference), flushed.
fn nn_sub(a: f32, b: f32) -> f32 {
    return nn_add(a, nn_neg(b));
}

// Rust: mul_n. Like nn_mul, without the flush: only where the Rust code proves the product
// is never subnormal. The barrier and the sign rule stay.
fn nn_mul_n(a: f32, b: f32) -> f32 {
    let mag = nn_bits(a * b) & NN_ABS;
    return bitcast<f32>(nn_mul_sign(a, b) | mag);
}

// Rust: add_n. Like nn_add, without the flush (the sum is proven never subnormal).
fn nn_add_n(a: f32, b: f32) -> f32 {
    let mag = nn_bits(a + b) & NN_ABS;
    return bitcast<f32>(nn_add_sign(a, b) | mag);
}

// Rust: sub_n. Like nn_sub, without the flush (the difference is proven never subnormal).
fn nn_sub_n(a: f32, b: f32) -> f32 {
    return nn_add_n(a, nn_neg(b));
}

// ---------------------------------------------------------------------------------------
// min / max (Rust: max, min): NaN if either input is NaN; max(-0, +0) = +0, min(-0, +0) = -0.
// Decided on integer keys and returned as bits, so no compiler can turn them into a float
// min/max instruction (whose ±0 and NaN results differ between drivers).
// ---------------------------------------------------------------------------------------

fn nn_max(a: f32, b: f32) -> f32 {
    let ba = nn_bits(a);
    let bb = nn_bits(b);
    let ka = nn_key(ba);
    let kb = nn_key(bb);
    // Rust: a > b || (a == b && b.to_bits() == 0x8000_0000) -> a, else b.
    let pick_a = (ka > kb) | ((ka == kb) & (bb == NN_SIGN));
    let r = select(bb, ba, pick_a);
    return bitcast<f32>(select(r, NN_CANONICAL_NAN, nn_is_nan_bits(ba) | nn_is_nan_bits(bb)));
}

fn nn_min(a: f32, b: f32) -> f32 {
    let ba = nn_bits(a);
    let bb = nn_bits(b);
    let ka = nn_key(ba);
    let kb = nn_key(bb);
    // Rust: a < b || (a == b && a.to_bits() == 0x8000_0000) -> a, else b.
    let pick_a = (ka < kb) | ((ka == kb) & (ba == NN_SIGN));
    let r = select(bb, ba, pick_a);
    return bitcast<f32>(select(r, NN_CANONICAL_NAN, nn_is_nan_bits(ba) | nn_is_nan_bits(bb)));
}

// ---------------------------------------------------------------------------------------
// Private helpers of numerics/mod.rs
// ---------------------------------------------------------------------------------------

// Rust: pow2. 2^n from bits, for n in [-126, 127].
fn nn_pow2(n: i32) -> f32 {
    return bitcast<f32>(u32(n + 127) << 23u);
}

// Rust: scale_normal. y * 2^n by adding n to the biased exponent (wrapping u32 add), for a
// normal y whose result stays normal.
fn nn_scale_normal(y: f32, n: i32) -> f32 {
    return bitcast<f32>(nn_bits(y) + (u32(n) << 23u));
}

// Rust: clamp. `v` clamped to [lo, hi] by comparisons; NaN gives lo.
fn nn_clamp(v: f32, lo: f32, hi: f32) -> f32 {
    return select(select(lo, v, nn_gt(v, lo)), hi, nn_gt(v, hi));
}

// Rust: round_small. round_ties_even(v) for |v| < 2^22 as (v + 1.5*2^23) - 1.5*2^23; a zero
// result is +0. Both operations go through the barrier (nn_add_n / nn_sub_n), so a driver
// allowed to reassociate cannot fold the expression to `v`. (WGSL `round` is RoundEven and
// would give the same value, but possibly -0 for a zero result; this form is bit-identical
// to the Rust code.) Neither step is subnormal: v + M >= 2^22, and the difference is an
// integer.
fn nn_round_small(v: f32) -> f32 {
    let m = nn_f(NN_ROUND_MAGIC);
    return nn_sub_n(nn_add_n(v, m), m);
}

// ---------------------------------------------------------------------------------------
// reciprocal
// ---------------------------------------------------------------------------------------

// Rust: recip_unit. 1/m for m in [1, 2), result in (0.5, 1]: the quadratic start
// R0 + m*(R1 + m*R2) (Horner, innermost first), then two Newton steps y <- y + y*(1 - m*y).
// Never subnormal (see the Rust comment), hence the _n operations.
fn nn_recip_unit(m: f32) -> f32 {
    var y = nn_f(NN_RECIP_R2);
    y = nn_add_n(nn_f(NN_RECIP_R1), nn_mul_n(m, y));
    y = nn_add_n(nn_f(NN_RECIP_R0), nn_mul_n(m, y));
    for (var i = 0u; i < 2u; i++) {
        y = nn_add_n(y, nn_mul_n(y, nn_sub_n(1.0, nn_mul_n(m, y))));
    }
    return y;
}

// Rust: reciprocal. 1/x within 2 ulp. NaN -> NaN; ±0 (and subnormals, flushed) -> ±inf;
// ±inf -> ±0; |x| > 2^126 -> ±0; powers of two exact.
fn nn_reciprocal(x: f32) -> f32 {
    let bits = nn_bits(nn_flush(x));
    let sign = bits & NN_SIGN;
    let biased = (bits & NN_EXP_MASK) >> 23u;
    let y = nn_bits(nn_recip_unit(bitcast<f32>(NN_ONE | (bits & NN_MANT_MASK))));
    let e = i32(biased) - 127;
    // y * 2^-e by subtracting e from y's exponent field; 0 when that field would not be
    // positive (the result would be subnormal, and is flushed).
    let scaled = select(0u, y - (u32(e) << 23u), i32(y >> 23u) - e > 0);
    var out = sign | scaled;
    out = select(out, select(NN_CANONICAL_NAN, sign, (bits & NN_MANT_MASK) == 0u), biased == 0xFFu);
    out = select(out, sign | NN_INF, biased == 0u);
    return bitcast<f32>(out);
}

// Rust: div. a / b as canonical(a * reciprocal(b)).
fn nn_div(a: f32, b: f32) -> f32 {
    return nn_canonical(nn_mul(a, nn_reciprocal(b)));
}

// ---------------------------------------------------------------------------------------
// rsqrt / sqrt
// ---------------------------------------------------------------------------------------

// Rust: split_even's tuple (m, k) with x = m * 4^k.
struct NnSplit {
    m: f32,
    k: i32,
}

// Rust: split_even. For the bits of a positive x: m in [1, 4) and k in [-63, 63] (zero and inf
// give some m in [1, 4) too).
fn nn_split_even(b: u32) -> NnSplit {
    let e = i32(b >> 23u) - 127;
    let odd = u32(e & 1);
    return NnSplit(bitcast<f32>((b & NN_MANT_MASK) | ((127u + odd) << 23u)), e >> 1u);
}

// Rust: rsqrt_unit. 1/sqrt(m) for m in [1, 4), result in (0.5, 1]: the 0x5F3759DF start, then
// three Newton steps y <- y + y*(0.5 - (m/2*y)*y). Never subnormal.
fn nn_rsqrt_unit(m: f32) -> f32 {
    let half = nn_mul_n(0.5, m);
    var y = bitcast<f32>(NN_RSQRT_MAGIC - (nn_bits(m) >> 1u));
    for (var i = 0u; i < 3u; i++) {
        y = nn_add_n(y, nn_mul_n(y, nn_sub_n(0.5, nn_mul_n(nn_mul_n(half, y), y))));
    }
    return y;
}

// Rust: sqrt_select, on bits. For a flushed input `bits`: ±zero_mag for ±0, at_inf for +inf,
// NaN for NaN and negative inputs, `normal` otherwise.
fn nn_sqrt_select(bits: u32, normal: u32, zero_mag: u32, at_inf: u32) -> u32 {
    var out = normal;
    out = select(out, NN_CANONICAL_NAN, bits > NN_INF);
    out = select(out, at_inf, bits == NN_INF);
    out = select(out, (bits & NN_SIGN) | zero_mag, (bits & NN_ABS) == 0u);
    return out;
}

// Rust: rsqrt. 1/sqrt(x) within 2 ulp. NaN and x < 0 -> NaN; +0 -> +inf, -0 -> -inf;
// +inf -> +0.
fn nn_rsqrt(x: f32) -> f32 {
    let bits = nn_bits(nn_flush(x));
    let s = nn_split_even(bits & NN_ABS);
    let normal = nn_bits(nn_scale_normal(nn_rsqrt_unit(s.m), -s.k));
    return bitcast<f32>(nn_sqrt_select(bits, normal, NN_INF, 0u));
}

// Rust: sqrt. sqrt(x) within 2 ulp. NaN and x < 0 -> NaN; ±0 -> ±0; +inf -> +inf.
fn nn_sqrt(x: f32) -> f32 {
    let bits = nn_bits(nn_flush(x));
    let sp = nn_split_even(bits & NN_ABS);
    let m = sp.m;
    let y = nn_rsqrt_unit(m);
    // Never subnormal: s and s*s lie in [1, 4), so m - s*s is 0 or at least 2^-23.
    let s0 = nn_mul_n(m, y);
    let s1 = nn_add_n(s0, nn_mul_n(nn_mul_n(0.5, y), nn_sub_n(m, nn_mul_n(s0, s0))));
    let normal = nn_bits(nn_scale_normal(s1, sp.k));
    return bitcast<f32>(nn_sqrt_select(bits, normal, 0u, NN_INF));
}

// ---------------------------------------------------------------------------------------
// exp
// ---------------------------------------------------------------------------------------

// Rust: horner_n(r, &EXP_POLY) = P0 + r*(P1 + r*(P2 + r*(P3 + r*P4))), innermost first.
fn nn_exp_poly(r: f32) -> f32 {
    var p = nn_f(NN_EXP_P4);
    p = nn_add_n(nn_f(NN_EXP_P3), nn_mul_n(r, p));
    p = nn_add_n(nn_f(NN_EXP_P2), nn_mul_n(r, p));
    p = nn_add_n(nn_f(NN_EXP_P1), nn_mul_n(r, p));
    p = nn_add_n(nn_f(NN_EXP_P0), nn_mul_n(r, p));
    return p;
}

// Rust: exp. e^x within 3 ulp. NaN -> NaN; ±0 -> 1; x > 88.72283 (and +inf) -> +inf;
// x < -88 (and -inf) -> +0; results below 2^-126 flush to +0.
fn nn_exp(x_in: f32) -> f32 {
    let x = nn_flush(x_in);
    let xc = nn_clamp(x, nn_f(NN_EXP_MIN), nn_f(NN_EXP_MAX));
    // k = round_ties_even(xc * log2e), an integer in [-127, 128] (NaN was clamped to -88).
    let k = nn_round_small(nn_mul_n(xc, nn_f(NN_LOG2E)));
    // r = (xc - k*LN2_HI) - k*LN2_LO; the first difference is exact.
    let r0 = nn_sub_n(nn_sub_n(xc, nn_mul_n(k, nn_f(NN_LN2_HI))), nn_mul_n(k, nn_f(NN_LN2_LO)));
    // Below 2^-25, 1 + r rounds to 1 anyway: r is replaced by +0 (keeps every later operand
    // 0 or above 2^-50, so nothing below is subnormal).
    let r = select(r0, 0.0, nn_lt(nn_abs(r0), nn_f(NN_EXP_TINY_R)));
    let p = nn_add_n(nn_add_n(nn_mul_n(nn_mul_n(r, r), nn_exp_poly(r)), r), 1.0);
    let ki = i32(k);
    // (p * 2^(k>>1)) * 2^(k - (k>>1)): the second product is where results below 2^-126
    // are FLUSHED to +0 (full nn_mul).
    let y = nn_mul(nn_mul_n(p, nn_pow2(ki >> 1u)), nn_pow2(ki - (ki >> 1u)));
    var out = nn_bits(y);
    out = select(out, 0u, nn_lt(x, nn_f(NN_EXP_MIN)));
    out = select(out, NN_INF, nn_gt(x, nn_f(NN_EXP_MAX)));
    out = select(out, NN_CANONICAL_NAN, nn_is_nan(x));
    return bitcast<f32>(out);
}

// ---------------------------------------------------------------------------------------
// log
// ---------------------------------------------------------------------------------------

// Rust: horner_n(f, &LOG_POLY) = Q0 + f*(Q1 + ... + f*Q7), innermost first.
fn nn_log_poly(f: f32) -> f32 {
    var q = nn_f(NN_LOG_Q7);
    q = nn_add_n(nn_f(NN_LOG_Q6), nn_mul_n(f, q));
    q = nn_add_n(nn_f(NN_LOG_Q5), nn_mul_n(f, q));
    q = nn_add_n(nn_f(NN_LOG_Q4), nn_mul_n(f, q));
    q = nn_add_n(nn_f(NN_LOG_Q3), nn_mul_n(f, q));
    q = nn_add_n(nn_f(NN_LOG_Q2), nn_mul_n(f, q));
    q = nn_add_n(nn_f(NN_LOG_Q1), nn_mul_n(f, q));
    q = nn_add_n(nn_f(NN_LOG_Q0), nn_mul_n(f, q));
    return q;
}

// Rust: log. ln x within 3 ulp. NaN and x < 0 -> NaN; ±0 (and subnormals) -> -inf;
// +inf -> +inf; 1 -> +0.
fn nn_log(x: f32) -> f32 {
    let bits = nn_bits(nn_flush(x));
    let mant = bits & NN_MANT_MASK;
    // The mantissa exceeds sqrt(2): halve m and increment e.
    let big = (mant | NN_ONE) > NN_SQRT2_BITS;
    let m = bitcast<f32>(mant | select(NN_ONE, NN_LOG_HALF_EXP, big));
    let e = f32(i32((bits & NN_ABS) >> 23u) - 127 + select(0, 1, big)); // |e| <= 128: exact
    // Never subnormal (see the Rust comment): every operand is 0 or above 2^-102.
    let f = nn_sub_n(m, 1.0);
    let z = nn_mul_n(f, f);
    var y = nn_mul_n(nn_mul_n(f, nn_log_poly(f)), z);
    y = nn_add_n(y, nn_mul_n(e, nn_f(NN_LN2_LO)));
    y = nn_sub_n(y, nn_mul_n(0.5, z));
    y = nn_add_n(nn_add_n(f, y), nn_mul_n(e, nn_f(NN_LN2_HI)));
    var out = nn_bits(y);
    out = select(out, NN_CANONICAL_NAN, bits > NN_INF); // NaN, and every negative x
    out = select(out, NN_INF, bits == NN_INF);
    out = select(out, NN_NEG_INF, (bits & NN_ABS) == 0u);
    return bitcast<f32>(out);
}

// ---------------------------------------------------------------------------------------
// tanh, sigmoid
// ---------------------------------------------------------------------------------------

// Rust: horner_n(z, &TANH_POLY), innermost first.
fn nn_tanh_poly(z: f32) -> f32 {
    var t = nn_f(NN_TANH_T4);
    t = nn_add_n(nn_f(NN_TANH_T3), nn_mul_n(z, t));
    t = nn_add_n(nn_f(NN_TANH_T2), nn_mul_n(z, t));
    t = nn_add_n(nn_f(NN_TANH_T1), nn_mul_n(z, t));
    t = nn_add_n(nn_f(NN_TANH_T0), nn_mul_n(z, t));
    return t;
}

// Rust: tanh. Within 4 ulp or 1e-7 absolute. NaN -> NaN; ±0 -> ±0; |x| >= 9.010914 and
// ±inf -> ±1.
fn nn_tanh(x_in: f32) -> f32 {
    let x = nn_flush(x_in);
    let a = nn_abs(x);
    // Below 2^-12 the polynomial term is under half an ulp of a: z = 0 there.
    let z = select(nn_mul_n(a, a), 0.0, nn_lt(a, nn_f(NN_SMALL_ARG)));
    let small = nn_add_n(nn_mul_n(nn_mul_n(nn_tanh_poly(z), z), a), a);
    // Never subnormal: e^(2a) + 1 >= 4.4, so 2*reciprocal(..) >= 4e-9 and 1 - that >= 0.55.
    let ac = nn_clamp(a, nn_f(NN_TANH_SMALL), nn_f(NN_TANH_CLAMP));
    let e2a = nn_exp(nn_mul_n(2.0, ac));
    let large = nn_sub_n(1.0, nn_mul_n(2.0, nn_reciprocal(nn_add_n(e2a, 1.0))));
    let t = select(nn_bits(large), nn_bits(small), nn_lt(a, nn_f(NN_TANH_SMALL)));
    let xb = nn_bits(x);
    return bitcast<f32>(select(t | (xb & NN_SIGN), NN_CANONICAL_NAN, nn_is_nan_bits(xb)));
}

// Rust: sigmoid. 1 / (1 + e^-x) = reciprocal(1 + exp(-x)); 1 + e^-x >= 1 is never subnormal.
fn nn_sigmoid(x: f32) -> f32 {
    return nn_reciprocal(nn_add_n(1.0, nn_exp(nn_neg(nn_flush(x)))));
}

// ---------------------------------------------------------------------------------------
// erf
// ---------------------------------------------------------------------------------------

// Rust: horner_n(z, &ERF_SMALL_POLY), innermost first.
fn nn_erf_small_poly(z: f32) -> f32 {
    var p = nn_f(NN_ERF_E6);
    p = nn_add_n(nn_f(NN_ERF_E5), nn_mul_n(z, p));
    p = nn_add_n(nn_f(NN_ERF_E4), nn_mul_n(z, p));
    p = nn_add_n(nn_f(NN_ERF_E3), nn_mul_n(z, p));
    p = nn_add_n(nn_f(NN_ERF_E2), nn_mul_n(z, p));
    p = nn_add_n(nn_f(NN_ERF_E1), nn_mul_n(z, p));
    p = nn_add_n(nn_f(NN_ERF_E0), nn_mul_n(z, p));
    return p;
}

// Rust: horner_n(a, &ERFC_POLY), innermost first.
fn nn_erfc_poly(a: f32) -> f32 {
    var p = nn_f(NN_ERFC_F7);
    p = nn_add_n(nn_f(NN_ERFC_F6), nn_mul_n(a, p));
    p = nn_add_n(nn_f(NN_ERFC_F5), nn_mul_n(a, p));
    p = nn_add_n(nn_f(NN_ERFC_F4), nn_mul_n(a, p));
    p = nn_add_n(nn_f(NN_ERFC_F3), nn_mul_n(a, p));
    p = nn_add_n(nn_f(NN_ERFC_F2), nn_mul_n(a, p));
    p = nn_add_n(nn_f(NN_ERFC_F1), nn_mul_n(a, p));
    p = nn_add_n(nn_f(NN_ERFC_F0), nn_mul_n(a, p));
    return p;
}

// Rust: erf. Within 2e-7 absolute. NaN -> NaN; ±0 -> ±0; |x| >= 3.9012861 and ±inf -> ±1;
// |x| < 9.2e-38 -> x (the product a*P flushes).
fn nn_erf(x_in: f32) -> f32 {
    let x = nn_flush(x_in);
    let a = nn_abs(x);
    // Below 2^-13, P(z) rounds to P(0) anyway: z = 0 there.
    let z = select(nn_mul_n(a, a), 0.0, nn_lt(a, nn_f(NN_ERF_SMALL_ARG)));
    // a * P(z) uses the FLUSHING nn_mul: it is subnormal for tiny a.
    let small = nn_add_n(a, nn_mul(a, nn_erf_small_poly(z)));
    // Never subnormal: a in [1, 4], e^-a^2 >= 1.1e-7, R(a) in [0.13, 0.43].
    let ac = nn_clamp(a, 1.0, nn_f(NN_ERF_CLAMP));
    let large = nn_sub_n(1.0, nn_mul_n(nn_exp(nn_neg(nn_mul_n(ac, ac))), nn_erfc_poly(ac)));
    let t = select(nn_bits(large), nn_bits(small), nn_lt(a, 1.0));
    let xb = nn_bits(x);
    return bitcast<f32>(select(t | (xb & NN_SIGN), NN_CANONICAL_NAN, nn_is_nan_bits(xb)));
}

// ---------------------------------------------------------------------------------------
// pow
// ---------------------------------------------------------------------------------------

// Rust: powi. x^n for n < 2^24 by binary powering: acc = 1, b = x; for each bit of n from the
// least significant: if set, acc = acc*b; if higher bits remain, b = b*b. Every product is
// FLUSHED (nn_mul). At most 24 iterations.
fn nn_powi(x: f32, n_in: u32) -> f32 {
    var acc: f32 = 1.0;
    var b = x;
    var n = n_in;
    loop {
        if ((n & 1u) != 0u) {
            acc = nn_mul(acc, b);
        }
        n = n >> 1u;
        if (n == 0u) {
            break;
        }
        b = nn_mul(b, b);
    }
    return acc;
}

// Rust: `y.round_ties_even() == y` for a non-NaN y, on its bits: true for ±0, ±inf and every
// |y| >= 2^23; false for 0 < |y| < 1; else true iff the fraction bits are zero.
fn nn_is_integral_bits(b: u32) -> bool {
    let mag = b & NN_ABS;
    let e = mag >> 23u;
    // Number of fraction bits, 0..=23 (an integer clamp: exact, and keeps the shift < 32).
    let frac_bits = 150u - clamp(e, 127u, 150u);
    let frac_zero = (mag & ((1u << frac_bits) - 1u)) == 0u;
    return select(frac_zero, mag == 0u, e < 127u);
}

// Rust: pow. x^y; the first matching case applies (inputs flushed first):
// 1. y = ±0 -> 1 (even for NaN x); x = 1 -> 1 (even for NaN y);
// 2. x or y NaN -> NaN;
// 3. y integer-valued with |y| < 2^24: nn_powi(x, |y|), then reciprocal when y < 0;
// 4. |x| = 1 and y = ±inf -> 1;
// 5. x finite, negative and nonzero, y not an integer -> NaN;
// 6. on a = |x|: y = 0.5 -> sqrt(a); y = -0.5 -> rsqrt(a); else exp(y * log(a)).
fn nn_pow(x_in: f32, y_in: f32) -> f32 {
    let x = nn_flush(x_in);
    let y = nn_flush(y_in);
    let bx = nn_bits(x);
    let by = nn_bits(y);
    let ax = bx & NN_ABS;
    let ay = by & NN_ABS;
    if ((ay == 0u) | (bx == NN_ONE)) {
        return 1.0;
    }
    if (nn_is_nan_bits(bx) | nn_is_nan_bits(by)) {
        return nn_f(NN_CANONICAL_NAN);
    }
    let integral = nn_is_integral_bits(by);
    if (integral & (ay < NN_TWO_POW_24)) {
        let p = nn_powi(x, u32(nn_f(ay))); // |y| is an integer below 2^24: exact
        let q = select(nn_bits(p), nn_bits(nn_reciprocal(p)), (by & NN_SIGN) != 0u);
        return nn_canonical(bitcast<f32>(q));
    }
    if ((ax == NN_ONE) & (ay == NN_INF)) {
        return 1.0;
    }
    // x < 0 (sign set and nonzero), finite, and y not an integer.
    if (((bx & NN_SIGN) != 0u) & (ax != 0u) & (ax != NN_INF) & !integral) {
        return nn_f(NN_CANONICAL_NAN);
    }
    let a = nn_f(ax);
    if (by == NN_HALF) {
        return nn_sqrt(a);
    }
    if (by == NN_NEG_HALF) {
        return nn_rsqrt(a);
    }
    return nn_exp(nn_mul(y, nn_log(a)));
}
