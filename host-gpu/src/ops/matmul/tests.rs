use proptest::prelude::*;

use super::cpu::{MR, NR, Tile, tile_kernel};
use super::*;
use crate::ir::Op;
use crate::ops::{eval, infer};
use crate::testutil::{any_f32, assert_bits, assert_thread_invariant, f32s};

/// Flush to zero, written independently of `numerics`.
fn ftz(x: f32) -> f32 {
    if x.is_subnormal() { 0.0f32.copysign(x) } else { x }
}

/// The canonical form, written independently of `numerics`.
fn canon(x: f32) -> f32 {
    if x.is_nan() { f32::from_bits(0x7FC0_0000) } else { ftz(x) }
}

/// The always-flushing triple loop of the specification, for one `m × k` by `k × n`.
fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for kk in 0..k {
                acc = ftz(acc + ftz(a[i * k + kk] * b[kk * n + j]));
            }
            out.push(canon(acc));
        }
    }
    out
}

/// Matrix offsets of the items of a broadcast batch, by decomposing each output index.
fn batch_offsets(a: &[usize], b: &[usize], out: &[usize]) -> Vec<(usize, usize)> {
    let items: usize = out.iter().product();
    (0..items)
        .map(|item| {
            let mut rem = item;
            let mut index = vec![0; out.len()];
            for d in (0..out.len()).rev() {
                index[d] = rem % out[d];
                rem /= out[d];
            }
            let offset = |shape: &[usize]| {
                let lead = out.len() - shape.len();
                shape
                    .iter()
                    .enumerate()
                    .fold(0, |acc, (d, &len)| acc * len + if len == 1 { 0 } else { index[lead + d] })
            };
            (offset(a), offset(b))
        })
        .collect()
}

fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v).unwrap()
}

fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    eval(&Op::MatMul, &[a, b]).unwrap()
}

fn canonical_vec(n: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec(any_f32().prop_map(canon), n)
}

/// `±(1 + small·2^-23) · 2^e` with `e` in `exps`: values whose products and sums land
/// around the subnormal range and cancel there.
fn tiny(exps: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => (any::<bool>(), 0u32..4, exps.clone()).prop_map(|(neg, low, e)| {
            let x = f32::from_bits((((e + 127) as u32) << 23) | low);
            if neg { -x } else { x }
        }),
        1 => (any::<bool>(), 0u32..1 << 23, exps).prop_map(|(neg, mant, e)| {
            let x = f32::from_bits((((e + 127) as u32) << 23) | mant);
            if neg { -x } else { x }
        }),
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_flushing_reference_bitwise(
        (m, k, n) in (1usize..24, 0usize..40, 1usize..40),
        seed in canonical_vec(24 * 40 + 40 * 40),
    ) {
        let a = seed[..m * k].to_vec();
        let b = seed[24 * 40..24 * 40 + k * n].to_vec();
        let out = matmul(&t(&[m, k], a.clone()), &t(&[k, n], b.clone()));
        prop_assert_eq!(out.shape(), &[m, n]);
        assert_bits(&f32s(&out), &naive(&a, &b, m, k, n));
    }

    #[test]
    fn tiny_values_match_flushing_reference(
        (m, k, n) in (1usize..10, 1usize..40, 1usize..36),
        (a, b) in (-60i32..-45, -66i32..-50).prop_flat_map(|(ea, eb)| (
            proptest::collection::vec(tiny(ea..=ea + 1), 10 * 40),
            proptest::collection::vec(tiny(eb..=eb + 1), 40 * 36),
        )),
    ) {
        // Products of about 2^(ea + eb), from 2^-126 to 2^-94: some tiles pass the check,
        // some do not, and partial sums cancel down to multiples of 2^(ea + eb - 23).
        let (a, b) = (a[..m * k].to_vec(), b[..k * n].to_vec());
        let out = matmul(&t(&[m, k], a.clone()), &t(&[k, n], b.clone()));
        assert_bits(&f32s(&out), &naive(&a, &b, m, k, n));
    }

    #[test]
    fn unflushed_kernel_is_exact_when_the_check_passes(
        k in 1usize..48,
        a in proptest::collection::vec(tiny(-52..=-50), MR * 48),
        b in proptest::collection::vec(tiny(-51..=-49), 48 * NR),
    ) {
        let rows: [&[f32]; MR] = std::array::from_fn(|r| &a[r * 48..r * 48 + k]);
        let panel = &b[..k * NR];
        let a_min = rows.iter().map(|r| min_nonzero_bits(r)).min().unwrap();
        prop_assume!(flush_is_noop(a_min, min_nonzero_bits(panel)));
        let zero: Tile = [[0.0; NR]; MR];
        let fast = tile_kernel::<false>(zero, rows, panel, NR);
        let expected = naive(&rows.concat(), panel, MR, k, NR);
        assert_bits(fast.as_flattened(), &expected);
    }

    #[test]
    fn broadcast_batches_match_reference(
        (a_shape, b_shape, out_shape) in prop_oneof![
            Just((vec![2, 3, 5, 4], vec![4, 6], vec![2, 3, 5, 6])),
            Just((vec![2, 1, 5, 4], vec![3, 4, 6], vec![2, 3, 5, 6])),
            Just((vec![5, 4], vec![3, 4, 6], vec![3, 5, 6])),
            Just((vec![1, 3, 1, 4], vec![2, 1, 4, 1], vec![2, 3, 1, 1])),
            Just((vec![4], vec![2, 4, 3], vec![2, 3])),
            Just((vec![3, 2, 4], vec![4], vec![3, 2])),
            Just((vec![4], vec![4], vec![])),
        ],
        seed in canonical_vec(256),
    ) {
        let na: usize = a_shape.iter().product();
        let nb: usize = b_shape.iter().product();
        let a = seed[..na].to_vec();
        let b = seed[128..128 + nb].to_vec();
        let out = matmul(&t(&a_shape, a.clone()), &t(&b_shape, b.clone()));
        prop_assert_eq!(out.shape(), &out_shape[..]);
        // Promote by hand: rank-1 `a` is one row, rank-1 `b` one column.
        let (pa, pb) = (if a_shape.len() == 1 { vec![1, 4] } else { a_shape.clone() },
                        if b_shape.len() == 1 { vec![4, 1] } else { b_shape.clone() });
        let (m, k, n) = (pa[pa.len() - 2], 4, pb[pb.len() - 1]);
        let batch = broadcast_shapes(&pa[..pa.len() - 2], &pb[..pb.len() - 2]).unwrap();
        let mut expected = Vec::new();
        for (ia, ib) in batch_offsets(&pa[..pa.len() - 2], &pb[..pb.len() - 2], &batch) {
            expected.extend(naive(&a[ia * m * k..(ia + 1) * m * k], &b[ib * k * n..(ib + 1) * k * n], m, k, n));
        }
        assert_bits(&f32s(&out), &expected);
    }

    #[test]
    fn close_to_f64_for_large_k(
        k in 1000usize..1100,
        (m, n) in (1usize..6, 1usize..20),
        seed in proptest::collection::vec(-4.0f32..4.0, 6 * 1100 + 1100 * 20),
    ) {
        let a = seed[..m * k].to_vec();
        let b = seed[6 * 1100..6 * 1100 + k * n].to_vec();
        let out = f32s(&matmul(&t(&[m, k], a.clone()), &t(&[k, n], b.clone())));
        for i in 0..m {
            for j in 0..n {
                let (exact, magnitude) = (0..k).fold((0.0f64, 0.0f64), |(s, g), kk| {
                    let p = f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]);
                    (s + p, g + p.abs())
                });
                // Standard bound for recursive summation: about (k + 1) · u · Σ|a·b|.
                let bound = (k as f64 + 1.0) * f64::from(f32::EPSILON) * 0.5 * magnitude * 1.01;
                let got = f64::from(out[i * n + j]);
                prop_assert!((got - exact).abs() <= bound, "({i}, {j}): {got} vs {exact}, bound {bound}");
            }
        }
    }
}

#[test]
fn unflushed_kernel_would_differ_without_the_check() {
    // 2^-70 · 2^-70 = 2^-140 is subnormal: the check must send this tile to the flushing kernel.
    let x = f32::from_bits((127 - 70) << 23);
    assert!(!flush_is_noop(min_nonzero_bits(&[x]), min_nonzero_bits(&[x])));
    let one = [x];
    let rows: [&[f32]; MR] = [&one[..]; MR];
    let fast = tile_kernel::<false>([[0.0; NR]; MR], rows, &[x; NR], NR);
    assert!(fast[0][0].is_subnormal(), "the test inputs must produce a subnormal product");
    let out = matmul(&t(&[1, 1], vec![x]), &t(&[1, 1], vec![x]));
    assert_eq!(f32s(&out)[0].to_bits(), 0);
}

#[test]
fn cancellation_to_a_negative_subnormal_flushes_to_negative_zero() {
    // 1.5·2^-126 - 2^-125 = -2^-127: the partial sum is flushed to -0, then -0 + -0 stays -0.
    let a = t(&[1, 3], vec![1.5, -1.0, -0.0]);
    let b = t(&[3, 1], vec![f32::MIN_POSITIVE, 2.0 * f32::MIN_POSITIVE, 1.0]);
    assert_eq!(f32s(&matmul(&a, &b))[0].to_bits(), 0x8000_0000);
}

#[test]
fn special_values() {
    let a = t(&[4, 2], vec![f32::INFINITY, 1.0, 0.0, f32::INFINITY, f32::MAX, f32::MAX, f32::NAN, 1.0]);
    let b = t(&[2, 1], vec![2.0, 0.0]);
    let out = f32s(&matmul(&a, &b));
    assert_eq!(out[0], f32::INFINITY);
    assert_eq!(out[1].to_bits(), 0x7FC0_0000, "inf · 0 is the canonical NaN");
    assert_eq!(out[2], f32::INFINITY, "overflow gives inf");
    assert_eq!(out[3].to_bits(), 0x7FC0_0000, "NaN propagates, canonical");
    // The accumulator starts at +0, so a lone -0 product gives +0.
    let out = f32s(&matmul(&t(&[1, 1], vec![-1.0]), &t(&[1, 1], vec![0.0])));
    assert_eq!(out[0].to_bits(), 0);
}

#[test]
fn empty_inner_dimension_gives_positive_zeros() {
    let out = matmul(&t(&[3, 0], vec![]), &t(&[0, 2], vec![]));
    assert_bits(&f32s(&out), &[0.0; 6]);
    let out = matmul(&t(&[0, 3], vec![]), &t(&[3, 2], vec![0.5; 6]));
    assert_eq!(out.shape(), &[0, 2]);
}

#[test]
fn thread_count_does_not_change_bits() {
    let (m, k, n) = (70, 50, 300);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 * 0.001 - 0.5).collect();
    let mut b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 997) as f32 * 0.002 - 1.0).collect();
    b[17] = 1.0e-30; // makes some tiles take the flushing kernel
    let (a, b) = (t(&[m, k], a), t(&[k, n], b));
    assert_thread_invariant(|| matmul(&a, &b));
    assert_bits(&f32s(&matmul(&a, &b)), &naive(a.as_f32().unwrap(), b.as_f32().unwrap(), m, k, n));
}

fn fact(dims: &[Dim]) -> Fact {
    Fact { dtype: DType::F32, shape: Some(dims.to_vec()) }
}

fn infer_matmul(a: &Fact, b: &Fact) -> Result<Fact, OpError> {
    infer(&Op::MatMul, &[InferInput { fact: a, value: None }, InferInput { fact: b, value: None }])
}

#[test]
fn infers_symbolic_and_broadcast_dims() {
    let (batch, seq) = (Dim::Symbol("batch".into()), Dim::Symbol("seq".into()));
    let a = fact(&[batch.clone(), seq.clone(), Dim::Fixed(384)]);
    let b = Fact::fixed(DType::F32, &[384, 1536]);
    assert_eq!(infer_matmul(&a, &b).unwrap(), fact(&[batch, seq.clone(), Dim::Fixed(1536)]));
    let a = Fact::fixed(DType::F32, &[2, 1, 5, 4]);
    let b = Fact::fixed(DType::F32, &[3, 4, 6]);
    assert_eq!(infer_matmul(&a, &b).unwrap(), Fact::fixed(DType::F32, &[2, 3, 5, 6]));
    let v = Fact::fixed(DType::F32, &[4]);
    assert_eq!(infer_matmul(&v, &v).unwrap(), Fact::fixed(DType::F32, &[]));
    assert_eq!(infer_matmul(&Fact::unknown(DType::F32), &v).unwrap(), Fact::unknown(DType::F32));
}

#[test]
fn rejects_bad_inputs_with_clear_messages() {
    let a = Fact::fixed(DType::F32, &[1, 128, 384]);
    let b = Fact::fixed(DType::F32, &[256, 384]);
    assert_eq!(infer_matmul(&a, &b).unwrap_err().0, "inner dimensions differ: a is [1, 128, 384], b is [256, 384]");
    let i = Fact::fixed(DType::I64, &[2, 2]);
    assert_eq!(infer_matmul(&i, &i).unwrap_err().0, "matmul supports f32 only, got i64");
    let s = Fact::fixed(DType::F32, &[]);
    assert!(infer_matmul(&s, &a).unwrap_err().0.contains("rank 1 or more"));
    let err = eval(&Op::MatMul, &[&t(&[2, 3], vec![0.0; 6]), &t(&[2, 3], vec![0.0; 6])]).unwrap_err();
    assert_eq!(err.0, "inner dimensions differ: a is [2, 3], b is [2, 3]");
    assert!(eval(&Op::MatMul, &[&t(&[2, 3], vec![0.0; 6])]).is_err());
}
