use crate::ir::{Op, ReduceKind};
use crate::numerics::{add, mul, reciprocal};
use crate::ops::eval;
use crate::tensor::Tensor;
use crate::testutil::{assert_bits, assert_thread_invariant, f32s};

fn reduce(kind: ReduceKind, axes: Vec<i64>, keepdims: bool, x: &Tensor) -> Tensor {
    eval(&Op::Reduce { kind, axes, keepdims }, &[x]).unwrap()
}

fn sample(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_f32(shape.to_vec(), (0..n).map(|i| ((i * 37) % 23) as f32 * 0.3 - 3.0).collect()).unwrap()
}

#[test]
fn sum_and_mean_over_middle_axis_follow_index_order() {
    let x = sample(&[2, 3, 4]);
    let v = f32s(&x);
    let sum = reduce(ReduceKind::Sum, vec![1], false, &x);
    assert_eq!(sum.shape(), &[2, 4]);
    let mut expected = Vec::new();
    for a in 0..2 {
        for c in 0..4 {
            let mut acc = 0.0;
            for b in 0..3 {
                acc = add(acc, v[a * 12 + b * 4 + c]);
            }
            expected.push(acc);
        }
    }
    assert_bits(&f32s(&sum), &expected);
    let mean = reduce(ReduceKind::Mean, vec![-2], true, &x);
    assert_eq!(mean.shape(), &[2, 1, 4]);
    let means: Vec<f32> = expected.iter().map(|&s| mul(s, reciprocal(3.0))).collect();
    assert_bits(&f32s(&mean), &means);
}

#[test]
fn max_over_all_axes_and_nan() {
    let x = sample(&[3, 5]);
    let max = reduce(ReduceKind::Max, vec![], false, &x);
    assert_eq!(max.shape(), &[] as &[usize]);
    let expected = f32s(&x).into_iter().fold(f32::NEG_INFINITY, f32::max);
    assert_bits(&f32s(&max), &[expected]);
    let with_nan = Tensor::from_f32(vec![3], vec![1.0, f32::NAN, 2.0]).unwrap();
    assert!(f32s(&reduce(ReduceKind::Min, vec![0], false, &with_nan))[0].is_nan());
}

#[test]
fn integer_sum_and_bad_axes() {
    let x = Tensor::from_i64(vec![2, 2], vec![1, 2, 3, i64::MAX]).unwrap();
    let s = reduce(ReduceKind::Sum, vec![0], false, &x);
    assert_eq!(s.as_i64().unwrap(), &[4, i64::MIN + 1]);
    assert!(eval(&Op::Reduce { kind: ReduceKind::Sum, axes: vec![2], keepdims: false }, &[&x]).is_err());
    assert!(eval(&Op::Reduce { kind: ReduceKind::Sum, axes: vec![0, -2], keepdims: false }, &[&x]).is_err());
}

#[test]
fn thread_invariant() {
    let x = sample(&[8, 64, 33]);
    assert_thread_invariant(|| reduce(ReduceKind::Mean, vec![0, 2], false, &x));
}
