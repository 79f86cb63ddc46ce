#![expect(clippy::disallowed_methods, reason = "f64 std functions are the independent reference")]

use proptest::prelude::*;

use crate::ir::Op;
use crate::numerics::{add, canonical, mul, reciprocal, rsqrt};
use crate::ops::eval;
use crate::tensor::Tensor;
use crate::testutil::{assert_bits, assert_thread_invariant, f32s};

fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v).unwrap()
}

/// The specified LayerNorm order, written as plain index loops.
fn layer_norm_spec(x: &[f32], n: usize, eps: f32, scale: &[f32], bias: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    let inv_n = reciprocal(n as f32);
    for r in 0..x.len() / n {
        let row = &x[r * n..(r + 1) * n];
        let mut sum = 0.0;
        for &v in row {
            sum = add(sum, v);
        }
        let mean = mul(sum, inv_n);
        let mut sq = 0.0;
        for &v in row {
            let d = canonical(v - mean);
            sq = add(sq, mul(d, d));
        }
        let inv = rsqrt(add(mul(sq, inv_n), eps));
        for (i, &v) in row.iter().enumerate() {
            out.push(canonical(add(mul(mul(canonical(v - mean), inv), scale[i]), bias[i])));
        }
    }
    out
}

fn layer_norm_f64(row: &[f32], eps: f32, scale: &[f32], bias: &[f32]) -> Vec<f64> {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + f64::from(eps)).sqrt();
    row.iter()
        .enumerate()
        .map(|(i, &v)| (f64::from(v) - mean) * inv * f64::from(scale[i]) + f64::from(bias[i]))
        .collect()
}

proptest! {
    #[test]
    fn layer_norm_matches_spec_and_f64(rows in 1usize..5, n in prop_oneof![Just(1usize), 2..40usize, Just(384)], seed in any::<u64>()) {
        let mut state = seed;
        let mut next = || { state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1); ((state >> 40) as f32) * (1.0 / 16_777_216.0) * 8.0 - 4.0 };
        let x: Vec<f32> = (0..rows * n).map(|_| next()).collect();
        let scale: Vec<f32> = (0..n).map(|_| next()).collect();
        let bias: Vec<f32> = (0..n).map(|_| next()).collect();
        let eps = 1e-5;
        let op = Op::LayerNorm { axis: -1, epsilon: eps };
        let got = eval(&op, &[&t(&[rows, n], x.clone()), &t(&[n], scale.clone()), &t(&[n], bias.clone())]).unwrap();
        let got = f32s(&got);
        assert_bits(&got, &layer_norm_spec(&x, n, eps, &scale, &bias));
        for r in 0..rows {
            let reference = layer_norm_f64(&x[r * n..(r + 1) * n], eps, &scale, &bias);
            for (g, e) in got[r * n..(r + 1) * n].iter().zip(&reference) {
                prop_assert!((f64::from(*g) - e).abs() <= 1e-4 * (1.0 + e.abs()), "{} vs {}", g, e);
            }
        }
    }
}

#[test]
fn layer_norm_propagates_nan_per_row_and_is_thread_invariant() {
    let n = 384;
    let mut x: Vec<f32> = (0..n * 64).map(|i| ((i * 37) % 101) as f32 * 0.01 - 0.5).collect();
    x[5] = f32::NAN;
    let x = t(&[64, n], x);
    let ones = t(&[n], vec![1.0; n]);
    let zeros = t(&[n], vec![0.0; n]);
    let op = Op::LayerNorm { axis: 1, epsilon: 1e-12 };
    let out = eval(&op, &[&x, &ones, &zeros]).unwrap();
    let v = f32s(&out);
    assert!(v[..n].iter().all(|x| x.is_nan()));
    assert!(v[n..].iter().all(|x| x.is_finite()));
    assert_thread_invariant(|| eval(&op, &[&x, &ones, &zeros]).unwrap());
}

#[test]
fn batch_norm_matches_its_formula() {
    let x = t(&[1, 2, 2, 2], vec![1.0, 2.0, 3.0, 4.0, -1.0, -2.0, 0.0, f32::INFINITY]);
    let scale = t(&[2], vec![2.0, 0.5]);
    let bias = t(&[2], vec![0.1, -0.1]);
    let mean = t(&[2], vec![2.5, 0.0]);
    let var = t(&[2], vec![1.25, 4.0]);
    let eps = 1e-5;
    let out = f32s(&eval(&Op::BatchNorm { epsilon: eps }, &[&x, &scale, &bias, &mean, &var]).unwrap());
    let xs = f32s(&x);
    for (i, &o) in out.iter().enumerate() {
        let c = i / 4;
        let (s, b, m, v) = ([2.0, 0.5][c], [0.1, -0.1][c], [2.5, 0.0][c], [1.25, 4.0][c]);
        let expected = (f64::from(xs[i]) - m) / (v + f64::from(eps)).sqrt() * s + b;
        if expected.is_infinite() {
            assert_eq!(f64::from(o), expected);
        } else {
            assert!((f64::from(o) - expected).abs() < 1e-5, "{o} vs {expected}");
        }
    }
    let bad_params = t(&[3], vec![1.0; 3]);
    assert!(eval(&Op::BatchNorm { epsilon: eps }, &[&x, &bad_params, &bias, &mean, &var]).is_err());
}
