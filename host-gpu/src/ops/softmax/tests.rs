#![expect(clippy::disallowed_methods, reason = "f64 std functions are the independent reference")]

use proptest::prelude::*;

use crate::ir::Op;
use crate::numerics::CANONICAL_NAN;
use crate::ops::eval;
use crate::tensor::Tensor;
use crate::testutil::{assert_bits, assert_thread_invariant, f32s};

fn softmax(shape: &[usize], v: Vec<f32>, axis: i64) -> Vec<f32> {
    f32s(&eval(&Op::Softmax { axis }, &[&Tensor::from_f32(shape.to_vec(), v).unwrap()]).unwrap())
}

proptest! {
    #[test]
    fn matches_f64_softmax(row in proptest::collection::vec(-30.0f32..30.0, 1..300)) {
        let got = softmax(&[row.len()], row.clone(), -1);
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let e: Vec<f64> = row.iter().map(|&v| (f64::from(v) - m).exp()).collect();
        let s: f64 = e.iter().sum();
        let eps = f64::from(f32::EPSILON);
        for ((g, e), &x) in got.iter().zip(&e).zip(&row) {
            let expected = e / s;
            // Rounding `x - m` to f32 costs up to |x - m|·eps/2 of relative error in exp,
            // on top of a few ulp from exp, the sum and the reciprocal.
            let bound = expected * (16.0 + (f64::from(x) - m).abs()) * eps + 1e-37;
            prop_assert!((f64::from(*g) - expected).abs() <= bound, "{} vs {}", g, expected);
        }
    }

    #[test]
    fn strided_axis_equals_contiguous(a in 1usize..5, b in 1usize..7, seed in proptest::collection::vec(-5.0f32..5.0, 35)) {
        let v: Vec<f32> = seed[..a * b].to_vec();
        let along_0 = softmax(&[a, b], v.clone(), 0);
        let transposed: Vec<f32> = (0..a * b).map(|i| v[(i % a) * b + i / a]).collect();
        let along_last = softmax(&[b, a], transposed, 1);
        let back: Vec<f32> = (0..a * b).map(|i| along_last[(i % b) * a + i / b]).collect();
        assert_bits(&along_0, &back);
    }
}

#[test]
fn special_rows() {
    // A masked row (large negative, as MiniLM's mask) is still a distribution.
    let masked = softmax(&[3], vec![0.0, -3.402_823_5e38, 0.0], -1);
    assert_bits(&masked, &[0.5, 0.0, 0.5]);
    // NaN anywhere makes the row NaN; all -inf rows are NaN (inf - inf).
    assert!(softmax(&[2], vec![1.0, f32::NAN], -1).iter().all(|v| v.to_bits() == CANONICAL_NAN.to_bits()));
    assert!(softmax(&[2], vec![f32::NEG_INFINITY; 2], -1).iter().all(|v| v.is_nan()));
    // +inf dominates: inf - inf is NaN for that element, others exp(-inf) = 0.
    let with_inf = softmax(&[2], vec![f32::INFINITY, 1.0], -1);
    assert!(with_inf[0].is_nan());
}

#[test]
fn thread_invariant_on_attention_shape() {
    let v: Vec<f32> = (0..12 * 128 * 128).map(|i| ((i * 7919) % 1000) as f32 * 0.01 - 5.0).collect();
    let x = Tensor::from_f32(vec![1, 12, 128, 128], v).unwrap();
    assert_thread_invariant(|| eval(&Op::Softmax { axis: -1 }, &[&x]).unwrap());
}
