use proptest::prelude::*;

use super::*;
use crate::ir::Op;
use crate::numerics::reciprocal;
use crate::ops::{eval, infer};
use crate::testutil::{any_f32, assert_bits, assert_thread_invariant, f32s};

/// Flush to zero, written independently of `numerics`.
fn ftz(x: f32) -> f32 {
    if x.is_subnormal() { 0.0f32.copysign(x) } else { x }
}

fn canon(x: f32) -> f32 {
    if x.is_nan() { f32::from_bits(0x7FC0_0000) } else { ftz(x) }
}

/// NaN-propagating maximum with `max(-0, +0) = +0`, written independently.
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a > b || (a == b && a.is_sign_positive()) {
        a
    } else {
        b
    }
}

fn attrs(kind: PoolKind, kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4], ceil_mode: bool) -> PoolAttrs {
    PoolAttrs { kind, kernel, strides, pads, ceil_mode }
}

/// Output size by walking window starts: a window is kept while it starts inside the
/// input or the top padding and ends inside the padded input, or (ceil mode) less than
/// a stride past its end.
fn out_size(size: usize, kernel: usize, stride: usize, begin: usize, end: usize, ceil: bool) -> usize {
    let padded = size + begin + end;
    let fits = |start: usize| if ceil { start + kernel < padded + stride } else { start + kernel <= padded };
    (0..).map(|o| o * stride).take_while(|&start| start < size + begin && fits(start)).count()
}

/// The specification, literally, on one `[N, C, H, W]` input.
fn reference(a: &PoolAttrs, shape: [usize; 4], x: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let [n, c, h, w] = shape;
    if a.kind == PoolKind::GlobalAverage {
        let out =
            x.chunks(h * w).map(|p| canon(ftz(p.iter().fold(0.0, |s, &v| ftz(s + v)) * reciprocal((h * w) as f32))));
        return (vec![n, c, 1, 1], out.collect());
    }
    let oh = out_size(h, a.kernel[0], a.strides[0], a.pads[0], a.pads[2], a.ceil_mode);
    let ow = out_size(w, a.kernel[1], a.strides[1], a.pads[1], a.pads[3], a.ceil_mode);
    let mut out = Vec::new();
    for plane in x.chunks(h * w) {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut max, mut sum, mut inside, mut padded) = (f32::NEG_INFINITY, 0.0f32, 0, 0);
                for ky in 0..a.kernel[0] {
                    for kx in 0..a.kernel[1] {
                        let (py, px) = (oy * a.strides[0] + ky, ox * a.strides[1] + kx);
                        if py < h + a.pads[0] + a.pads[2] && px < w + a.pads[1] + a.pads[3] {
                            padded += 1;
                        }
                        if py < a.pads[0] || px < a.pads[1] || py - a.pads[0] >= h || px - a.pads[1] >= w {
                            continue;
                        }
                        let v = plane[(py - a.pads[0]) * w + px - a.pads[1]];
                        max = nan_max(max, v);
                        sum = ftz(sum + v);
                        inside += 1;
                    }
                }
                out.push(match a.kind {
                    PoolKind::Max => canon(max),
                    PoolKind::Average { count_include_pad: true } => canon(ftz(sum * reciprocal(padded as f32))),
                    _ => canon(ftz(sum * reciprocal(inside as f32))),
                });
            }
        }
    }
    (vec![n, c, oh, ow], out)
}

fn run(a: &PoolAttrs, shape: [usize; 4], x: Vec<f32>) -> Tensor {
    eval(&Op::Pool(a.clone()), &[&Tensor::from_f32(shape.to_vec(), x).unwrap()]).unwrap()
}

fn check(a: &PoolAttrs, shape: [usize; 4], x: Vec<f32>) {
    let (out_shape, expected) = reference(a, shape, &x);
    let out = run(a, shape, x);
    assert_eq!(out.shape(), &out_shape[..], "{a:?} on {shape:?}");
    assert_bits(&f32s(&out), &expected);
}

fn arb_kind() -> impl Strategy<Value = PoolKind> {
    prop_oneof![
        Just(PoolKind::Max),
        any::<bool>().prop_map(|count_include_pad| PoolKind::Average { count_include_pad }),
        Just(PoolKind::GlobalAverage),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_reference_bitwise(
        kind in arb_kind(),
        (kh, kw) in (1usize..5, 1usize..5),
        strides in (1usize..4, 1usize..4),
        pads in proptest::array::uniform4(0usize..4),
        ceil_mode in any::<bool>(),
        (n, c, h, w) in (1usize..3, 1usize..4, 1usize..10, 1usize..10),
        seed in proptest::collection::vec(any_f32().prop_map(canon), 2 * 3 * 9 * 9),
    ) {
        let pads = [pads[0] % kh, pads[1] % kw, pads[2] % kh, pads[3] % kw];
        prop_assume!(h + pads[0] + pads[2] >= kh && w + pads[1] + pads[3] >= kw);
        let a = attrs(kind, [kh, kw], [strides.0, strides.1], pads, ceil_mode);
        check(&a, [n, c, h, w], seed[..n * c * h * w].to_vec());
    }
}

#[test]
fn ceil_mode_drops_a_window_starting_in_the_padding() {
    let shape = |a: &PoolAttrs, h: usize| {
        let x = Fact::fixed(DType::F32, &[1, 1, h, h]);
        infer(&Op::Pool(a.clone()), &[InferInput { fact: &x, value: None }]).unwrap().shape.unwrap()[2].clone()
    };
    let max = |pads, ceil| attrs(PoolKind::Max, [3, 3], [2, 2], pads, ceil);
    assert_eq!(shape(&max([1; 4], false), 6), Dim::Fixed(3));
    assert_eq!(shape(&max([1; 4], true), 6), Dim::Fixed(4));
    let two = |ceil| attrs(PoolKind::Max, [2, 2], [2, 2], [1; 4], ceil);
    assert_eq!(shape(&two(false), 3), Dim::Fixed(2));
    assert_eq!(shape(&two(true), 3), Dim::Fixed(2), "a third window would start in the bottom padding");
    let x: Vec<f32> = (0..36).map(|i| i as f32).collect();
    check(&max([1; 4], true), [1, 1, 6, 6], x.clone());
    check(&attrs(PoolKind::Average { count_include_pad: true }, [3, 3], [2, 2], [1; 4], true), [1, 1, 6, 6], x);
}

#[test]
fn count_include_pad_changes_the_divisor() {
    let x = vec![1.0; 9];
    let avg = |include| attrs(PoolKind::Average { count_include_pad: include }, [3, 3], [1, 1], [1; 4], false);
    let corner = |include| f32s(&run(&avg(include), [1, 1, 3, 3], x.clone()))[0];
    assert_eq!(corner(false), 1.0);
    assert_eq!(corner(true).to_bits(), (4.0 * reciprocal(9.0)).to_bits());
}

#[test]
fn special_values() {
    let max = attrs(PoolKind::Max, [2, 2], [2, 2], [0; 4], false);
    let out = f32s(&run(&max, [1, 1, 2, 4], vec![-0.0, 0.0, f32::NAN, 1.0, -0.0, -0.0, 2.0, f32::INFINITY]));
    assert_eq!(out[0].to_bits(), 0, "max(-0, +0) is +0");
    assert_eq!(out[1].to_bits(), 0x7FC0_0000, "NaN wins, canonical");
    let all_neg_zero = f32s(&run(&max, [1, 1, 2, 2], vec![-0.0; 4]));
    assert_eq!(all_neg_zero[0].to_bits(), 0x8000_0000);
    let global = attrs(PoolKind::GlobalAverage, [1, 1], [1, 1], [0; 4], false);
    let out = f32s(&run(&global, [1, 2, 1, 2], vec![f32::MAX, f32::MAX, f32::INFINITY, f32::NEG_INFINITY]));
    assert_eq!(out[0], f32::INFINITY, "the sum overflows");
    assert_eq!(out[1].to_bits(), 0x7FC0_0000);
}

#[test]
fn thread_count_does_not_change_bits() {
    let x: Vec<f32> = (0..4 * 8 * 21 * 19).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
    for kind in [PoolKind::Max, PoolKind::Average { count_include_pad: false }, PoolKind::GlobalAverage] {
        let a = attrs(kind, [3, 3], [2, 2], [1; 4], true);
        assert_thread_invariant(|| run(&a, [4, 8, 21, 19], x.clone()));
        check(&a, [4, 8, 21, 19], x.clone());
    }
}

#[test]
fn infers_and_rejects() {
    let batch = Dim::Symbol("batch".into());
    let x = Fact { dtype: DType::F32, shape: Some(vec![batch.clone(), Dim::Fixed(8), Dim::Unknown, Dim::Fixed(7)]) };
    let input = [InferInput { fact: &x, value: None }];
    let a = attrs(PoolKind::Max, [3, 3], [2, 2], [1; 4], false);
    let out = infer(&Op::Pool(a), &input).unwrap();
    assert_eq!(out.shape, Some(vec![batch.clone(), Dim::Fixed(8), Dim::Unknown, Dim::Fixed(4)]));
    let g = attrs(PoolKind::GlobalAverage, [1, 1], [1, 1], [0; 4], false);
    assert_eq!(
        infer(&Op::Pool(g), &input).unwrap().shape,
        Some(vec![batch, Dim::Fixed(8), Dim::Fixed(1), Dim::Fixed(1)])
    );
    let bad = attrs(PoolKind::Max, [2, 2], [1, 1], [2, 0, 0, 0], false);
    assert!(infer(&Op::Pool(bad), &input).unwrap_err().0.contains("pads must be smaller than the kernel"));
    let i = Fact::fixed(DType::I64, &[1, 1, 4, 4]);
    let err =
        infer(&Op::Pool(attrs(PoolKind::Max, [2, 2], [1, 1], [0; 4], false)), &[InferInput { fact: &i, value: None }]);
    assert_eq!(err.unwrap_err().0, "pooling supports f32 only, got i64");
    let r3 = Fact::fixed(DType::F32, &[1, 4, 4]);
    let err =
        infer(&Op::Pool(attrs(PoolKind::Max, [2, 2], [1, 1], [0; 4], false)), &[InferInput { fact: &r3, value: None }]);
    assert_eq!(err.unwrap_err().0, "pooling needs a rank-4 input, got rank 3");
}
