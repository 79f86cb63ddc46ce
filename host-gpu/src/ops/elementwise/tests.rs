use proptest::prelude::*;

use super::*;
use crate::ir::{Dim, Op};
use crate::numerics::{self, canonical};
use crate::ops::{eval, infer};
use crate::testutil::{any_f32, assert_bits, assert_thread_invariant, f32_vec, f32s};

fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v).unwrap()
}

fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Tensor {
    eval(&Op::Binary(op), &[a, b]).unwrap()
}

/// Independent broadcast: the output index decomposed per dim, inputs re-indexed by hand.
fn naive_broadcast(a: &[usize], b: &[usize], out: &[usize], i: usize) -> (usize, usize) {
    let mut rem = i;
    let mut idx = vec![0; out.len()];
    for d in (0..out.len()).rev() {
        idx[d] = rem % out[d];
        rem /= out[d];
    }
    let offset = |shape: &[usize]| {
        let lead = out.len() - shape.len();
        shape.iter().enumerate().fold(0, |acc, (d, &n)| acc * n + if n == 1 { 0 } else { idx[lead + d] })
    };
    (offset(a), offset(b))
}

/// f32 `+ - *` computed in f64 and rounded once more: double rounding is innocuous for
/// these ops on f32 operands (53 ≥ 2·24 + 2), so this is an independent exact reference.
fn via_f64(op: BinaryOp, a: f32, b: f32) -> f32 {
    let (x, y) = (f64::from(a), f64::from(b));
    let r = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        _ => unreachable!(),
    };
    canonical(r as f32)
}

proptest! {
    #[test]
    fn arithmetic_matches_f64_under_broadcast(
        (a_shape, b_shape) in prop_oneof![
            Just((vec![2, 3, 4], vec![4])),
            Just((vec![2, 1, 4], vec![3, 1])),
            Just((vec![1, 5], vec![7, 1])),
            Just((vec![3], vec![])),
        ],
        seed in f32_vec(200),
    ) {
        let out_shape = broadcast_shapes(&a_shape, &b_shape).unwrap();
        let na: usize = a_shape.iter().product();
        let nb: usize = b_shape.iter().product();
        let a = t(&a_shape, seed[..na].iter().map(|&x| canonical(x)).collect());
        let b = t(&b_shape, seed[100..100 + nb].iter().map(|&x| canonical(x)).collect());
        for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul] {
            let got = binary(op, &a, &b);
            prop_assert_eq!(got.shape(), &out_shape[..]);
            let (va, vb) = (f32s(&a), f32s(&b));
            let expected: Vec<f32> = (0..got.len()).map(|i| {
                let (ia, ib) = naive_broadcast(&a_shape, &b_shape, &out_shape, i);
                via_f64(op, va[ia], vb[ib])
            }).collect();
            assert_bits(&f32s(&got), &expected);
        }
    }

    #[test]
    fn comparisons_follow_ieee(a in any_f32(), b in any_f32()) {
        let (ta, tb) = (t(&[1], vec![canonical(a)]), t(&[1], vec![canonical(b)]));
        let (a, b) = (canonical(a), canonical(b));
        for (op, expected) in [
            (BinaryOp::Equal, a == b),
            (BinaryOp::Less, a < b),
            (BinaryOp::LessOrEqual, a <= b),
            (BinaryOp::Greater, a > b),
            (BinaryOp::GreaterOrEqual, a >= b),
        ] {
            let got = binary(op, &ta, &tb);
            prop_assert_eq!(got.as_bool().unwrap(), &[expected][..]);
        }
    }

    #[test]
    fn div_is_close_to_true_quotient(a in -1.0e3f32..1.0e3, b in 1.0e-3f32..1.0e3) {
        let q = f32s(&binary(BinaryOp::Div, &t(&[1], vec![a]), &t(&[1], vec![b])))[0];
        let exact = f64::from(a) / f64::from(b);
        prop_assert!((f64::from(q) - exact).abs() <= exact.abs() * 4.0 * f64::from(f32::EPSILON) + 1e-38);
    }
}

#[test]
fn max_min_propagate_nan_and_order_signed_zero() {
    let a = t(&[4], vec![f32::NAN, 1.0, -0.0, 0.0]);
    let b = t(&[4], vec![1.0, f32::NAN, 0.0, -0.0]);
    let max = f32s(&binary(BinaryOp::Max, &a, &b));
    let min = f32s(&binary(BinaryOp::Min, &a, &b));
    assert_bits(&max, &[numerics::CANONICAL_NAN, numerics::CANONICAL_NAN, 0.0, 0.0]);
    assert_bits(&min, &[numerics::CANONICAL_NAN, numerics::CANONICAL_NAN, -0.0, -0.0]);
}

#[test]
fn outputs_are_canonical() {
    let nan_with_payload = f32::from_bits(0x7FC1_2345);
    let a = t(&[3], vec![nan_with_payload, f32::MIN_POSITIVE, f32::INFINITY]);
    let b = t(&[3], vec![1.0, 0.5, f32::NEG_INFINITY]);
    // NaN payload canonicalized; MIN_POSITIVE * 0.5 is subnormal → +0; inf + -inf → NaN.
    assert_bits(&f32s(&binary(BinaryOp::Mul, &a, &b))[..2], &[numerics::CANONICAL_NAN, 0.0]);
    assert_bits(&f32s(&binary(BinaryOp::Add, &a, &b))[2..], &[numerics::CANONICAL_NAN]);
}

#[test]
fn hard_activations_match_their_formulas() {
    let xs: Vec<f32> = (-80..=80).map(|i| i as f32 * 0.1).collect();
    let x = t(&[xs.len()], xs.clone());
    let hs = f32s(&eval(&Op::Unary(UnaryOp::HardSwish), &[&x]).unwrap());
    let hsig = f32s(&eval(&Op::Unary(UnaryOp::HardSigmoid { alpha: 0.2, beta: 0.5 }), &[&x]).unwrap());
    for (i, &v) in xs.iter().enumerate() {
        let v64 = f64::from(v);
        let swish = v64 * (v64 / 6.0 + 0.5).clamp(0.0, 1.0);
        let sig = (0.2 * v64 + 0.5).clamp(0.0, 1.0);
        assert!((f64::from(hs[i]) - swish).abs() <= 1e-6 * swish.abs().max(1.0), "hardswish({v})");
        assert!((f64::from(hsig[i]) - sig).abs() <= 1e-6, "hardsigmoid({v})");
    }
    assert_bits(
        &f32s(&eval(&Op::Unary(UnaryOp::Relu), &[&t(&[3], vec![-0.0, -2.0, f32::NAN])]).unwrap()),
        &[0.0, 0.0, numerics::CANONICAL_NAN],
    );
}

#[test]
fn integer_ops_are_exact_and_checked() {
    let a = Tensor::from_i64(vec![3], vec![7, -7, i64::MAX]).unwrap();
    let b = Tensor::from_i64(vec![3], vec![2, 2, 1]).unwrap();
    assert_eq!(binary(BinaryOp::Div, &a, &b).as_i64().unwrap(), &[3, -3, i64::MAX]);
    assert_eq!(binary(BinaryOp::Add, &a, &b).as_i64().unwrap(), &[9, -5, i64::MIN]);
    let zero = Tensor::from_i64(vec![1], vec![0]).unwrap();
    assert!(eval(&Op::Binary(BinaryOp::Div), &[&a, &zero]).unwrap_err().0.contains("division by zero"));
}

#[test]
fn cast_rules() {
    let ints = Tensor::from_i64(vec![3], vec![-5, 0, (1 << 24) - 1]).unwrap();
    let f = eval(&Op::Cast { to: DType::F32 }, &[&ints]).unwrap();
    assert_bits(&f32s(&f), &[-5.0, 0.0, 16_777_215.0]);
    let big = Tensor::from_i64(vec![1], vec![1 << 24]).unwrap();
    assert!(eval(&Op::Cast { to: DType::F32 }, &[&big]).is_err());
    let floats = t(&[4], vec![-2.7, 2.7, -0.0, 1e9]);
    let back = eval(&Op::Cast { to: DType::I64 }, &[&floats]).unwrap();
    assert_eq!(back.as_i64().unwrap(), &[-2, 2, 0, 1_000_000_000]);
    assert!(eval(&Op::Cast { to: DType::I64 }, &[&t(&[1], vec![f32::NAN])]).is_err());
    let i8s = Tensor::new(vec![2], TensorData::I8(vec![-128, 127])).unwrap();
    assert_bits(&f32s(&eval(&Op::Cast { to: DType::F32 }, &[&i8s]).unwrap()), &[-128.0, 127.0]);
    let bools = eval(&Op::Cast { to: DType::Bool }, &[&t(&[3], vec![0.0, -0.0, f32::NAN])]).unwrap();
    assert_eq!(bools.as_bool().unwrap(), &[false, false, true]);
}

#[test]
fn where_broadcasts_and_copies_bits() {
    let cond = Tensor::new(vec![2, 1], TensorData::Bool(vec![true, false])).unwrap();
    let x = t(&[3], vec![1.0, -0.0, 3.0]);
    let y = Tensor::scalar_f32(f32::MIN);
    let out = eval(&Op::Where, &[&cond, &x, &y]).unwrap();
    assert_eq!(out.shape(), &[2, 3]);
    assert_bits(&f32s(&out), &[1.0, -0.0, 3.0, f32::MIN, f32::MIN, f32::MIN]);
}

#[test]
fn inference_keeps_symbols_and_rejects_mismatches() {
    let a = Fact { dtype: DType::F32, shape: Some(vec![Dim::Symbol("batch".into()), Dim::Fixed(384)]) };
    let b = Fact::fixed(DType::F32, &[384]);
    let inputs = [InferInput { fact: &a, value: None }, InferInput { fact: &b, value: None }];
    assert_eq!(infer(&Op::Binary(BinaryOp::Add), &inputs).unwrap(), a);
    let c = Fact::fixed(DType::F32, &[383]);
    let bad = [InferInput { fact: &a, value: None }, InferInput { fact: &c, value: None }];
    assert!(infer(&Op::Binary(BinaryOp::Add), &bad).is_err());
    let i = Fact::fixed(DType::I64, &[384]);
    let mixed = [InferInput { fact: &a, value: None }, InferInput { fact: &i, value: None }];
    assert!(infer(&Op::Binary(BinaryOp::Add), &mixed).unwrap_err().0.contains("dtypes differ"));
}

#[test]
fn large_elementwise_is_thread_invariant() {
    let n = 3 * PARALLEL_THRESHOLD + 17;
    let a = t(&[n], (0..n).map(|i| (i as f32 * 0.37).sin_cos_free()).collect());
    let b = t(&[n], (0..n).map(|i| 1.0 + i as f32 * 1e-3).collect());
    assert_thread_invariant(|| binary(BinaryOp::Div, &a, &b));
    assert_thread_invariant(|| eval(&Op::Unary(UnaryOp::Erf), &[&a]).unwrap());
}

/// A cheap deterministic pseudo-random value in [-4, 4) without transcendentals.
trait SinCosFree {
    fn sin_cos_free(self) -> f32;
}
impl SinCosFree for f32 {
    fn sin_cos_free(self) -> f32 {
        let bits = self.to_bits().wrapping_mul(2_654_435_761);
        (bits >> 8) as f32 * (8.0 / 16_777_216.0) - 4.0
    }
}

#[test]
fn hard_sigmoid_select_chain_equals_max_min() {
    for &v in crate::testutil::SPECIALS.iter().chain(&[0.5, 1.0, 1.5, -0.5, f32::from_bits(0x7FC1_2345)]) {
        let x = canonical(v);
        let expected = numerics::max(0.0, numerics::min(1.0, numerics::add(numerics::mul(1.0, x), 0.0)));
        assert_bits(&[canonical(scalar::hard_sigmoid(x, 1.0, 0.0))], &[expected]);
    }
}
