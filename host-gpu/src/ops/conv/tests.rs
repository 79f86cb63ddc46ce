use proptest::prelude::*;

use super::*;
use crate::ir::Op;
use crate::ops::{eval, infer};
use crate::testutil::{any_f32, assert_bits, assert_thread_invariant, f32s};

/// Flush to zero, written independently of `numerics`.
fn ftz(x: f32) -> f32 {
    if x.is_subnormal() { 0.0f32.copysign(x) } else { x }
}

fn canon(x: f32) -> f32 {
    if x.is_nan() { f32::from_bits(0x7FC0_0000) } else { ftz(x) }
}

/// A conv problem: input and weight shapes, attributes, values.
#[derive(Debug, Clone)]
struct Problem {
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    attrs: ConvAttrs,
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl Problem {
    fn out_size(&self, axis: usize) -> usize {
        let a = &self.attrs;
        let padded = self.x_shape[2 + axis] + a.pads[axis] + a.pads[axis + 2];
        (padded - a.dilations[axis] * (a.kernel[axis] - 1) - 1) / a.strides[axis] + 1
    }

    /// The specification, literally: skip padded taps, flush every product and sum.
    fn reference(&self) -> Vec<f32> {
        let [n, c, h, w] = self.x_shape;
        let [m, cg, kh, kw] = self.w_shape;
        let (oh, ow) = (self.out_size(0), self.out_size(1));
        let a = &self.attrs;
        let mg = m / a.group;
        let mut out = Vec::new();
        for b in 0..n {
            for oc in 0..m {
                let g = oc / mg;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0f32;
                        for ic in 0..cg {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                                    let ix = (ox * a.strides[1] + kx * a.dilations[1]) as isize - a.pads[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xv = self.x[((b * c + g * cg + ic) * h + iy as usize) * w + ix as usize];
                                    let wv = self.w[((oc * cg + ic) * kh + ky) * kw + kx];
                                    acc = ftz(acc + ftz(xv * wv));
                                }
                            }
                        }
                        if let Some(bias) = &self.bias {
                            acc = ftz(acc + bias[oc]);
                        }
                        out.push(canon(acc));
                    }
                }
            }
        }
        out
    }

    fn run(&self) -> Tensor {
        let x = Tensor::from_f32(self.x_shape.to_vec(), self.x.clone()).unwrap();
        let w = Tensor::from_f32(self.w_shape.to_vec(), self.w.clone()).unwrap();
        let bias = self.bias.as_ref().map(|b| Tensor::from_f32(vec![b.len()], b.clone()).unwrap());
        let mut inputs = vec![&x, &w];
        inputs.extend(bias.as_ref());
        eval(&Op::Conv(self.attrs.clone()), &inputs).unwrap()
    }

    fn check(&self) {
        let out = self.run();
        assert_eq!(out.shape(), &[self.x_shape[0], self.w_shape[0], self.out_size(0), self.out_size(1)]);
        assert_bits(&f32s(&out), &self.reference());
    }
}

/// Deterministic ordinary values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32).map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0).collect()
}

/// Conv attributes, in the order of the struct.
fn attrs(kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4], dilations: [usize; 2], group: usize) -> ConvAttrs {
    ConvAttrs { kernel, strides, pads, dilations, group }
}

fn problem(x_shape: [usize; 4], m: usize, attrs: ConvAttrs, bias: bool) -> Problem {
    let w_shape = [m, x_shape[1] / attrs.group, attrs.kernel[0], attrs.kernel[1]];
    let nx: usize = x_shape.iter().product();
    let nw: usize = w_shape.iter().product();
    Problem { x_shape, w_shape, attrs, x: values(nx, 1), w: values(nw, 2), bias: bias.then(|| values(m, 3)) }
}

/// Random problems: groups 1, 2 or depthwise, every attribute varied, values including
/// ±0, ±inf, NaN, huge and flushed subnormals.
fn arb_problem() -> impl Strategy<Value = Problem> {
    let geometry = (
        1usize..3,
        prop_oneof![Just(1usize), Just(2), Just(0)],
        1usize..4,
        1usize..4,
        (1usize..11, 1usize..11),
        (1usize..4, 1usize..4),
        (1usize..4, 1usize..4),
        proptest::array::uniform4(0usize..3),
        (1usize..3, 1usize..3),
        any::<bool>(),
    );
    geometry
        .prop_filter_map(
            "kernel larger than padded input",
            |(n, group, cg, mg, (h, w), kernel, strides, pads, dil, bias)| {
                let (cg, group) = if group == 0 { (1, 3) } else { (cg, group) };
                let x_shape = [n, cg * group, h, w];
                let attrs = attrs([kernel.0, kernel.1], [strides.0, strides.1], pads, [dil.0, dil.1], group);
                let p = problem(x_shape, mg * group, attrs, bias);
                let fits = (0..2).all(|a| x_shape[2 + a] + pads[a] + pads[a + 2] > dil_span(&p, a));
                fits.then_some(p)
            },
        )
        .prop_flat_map(|p| {
            let (nx, nw, nb) = (p.x.len(), p.w.len(), p.bias.as_ref().map_or(0, Vec::len));
            let vec = |n| proptest::collection::vec(any_f32().prop_map(canon), n);
            (Just(p), vec(nx), vec(nw), vec(nb))
        })
        .prop_map(|(mut p, x, w, b)| {
            p.x = x;
            p.w = w;
            if p.bias.is_some() {
                p.bias = Some(b);
            }
            p
        })
}

fn dil_span(p: &Problem, axis: usize) -> usize {
    p.attrs.dilations[axis] * (p.attrs.kernel[axis] - 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn matches_reference_bitwise(p in arb_problem()) {
        p.check();
    }

    #[test]
    fn tiny_values_match_reference(p in arb_problem(), ex in -70i32..-45, ew in -70i32..-45) {
        // Rescale to magnitudes whose products and sums straddle the subnormal range.
        let scale = |v: &mut Vec<f32>, e: i32| {
            let s = f32::from_bits(((e + 127) as u32) << 23);
            v.iter_mut().for_each(|x| *x = ftz(x.clamp(-4.0, 4.0) * s));
        };
        let mut p = p;
        scale(&mut p.x, ex);
        scale(&mut p.w, ew);
        p.check();
    }
}

#[test]
fn model_shapes_match_reference() {
    // The orientation CNN's kinds of conv, at reduced sizes with odd edges.
    problem([1, 3, 17, 19], 16, attrs([3, 3], [2, 2], [1; 4], [1, 1], 1), true).check();
    problem([1, 8, 15, 13], 8, attrs([3, 3], [1, 1], [1; 4], [1, 1], 8), true).check();
    problem([1, 8, 15, 13], 8, attrs([3, 3], [2, 2], [1; 4], [1, 1], 8), true).check();
    problem([1, 12, 9, 9], 12, attrs([5, 5], [1, 1], [2; 4], [1, 1], 12), true).check();
    problem([1, 12, 9, 9], 12, attrs([5, 5], [2, 2], [2; 4], [1, 1], 12), false).check();
    problem([1, 70, 9, 7], 20, attrs([1, 1], [1, 1], [0; 4], [1, 1], 1), true).check();
    problem([2, 300, 3, 3], 33, attrs([1, 1], [1, 1], [0; 4], [1, 1], 1), true).check();
}

#[test]
fn uncommon_geometries_match_reference() {
    // Depthwise with a channel multiplier, asymmetric pads, dilation, stride 3, 1×1 with
    // stride and padding, a kernel as wide as the padded input.
    problem([1, 4, 11, 12], 8, attrs([3, 2], [1, 1], [0, 1, 2, 0], [1, 1], 4), true).check();
    problem([1, 4, 11, 12], 4, attrs([3, 3], [1, 1], [2, 2, 2, 2], [2, 2], 4), false).check();
    problem([1, 4, 11, 40], 4, attrs([3, 3], [3, 3], [1, 1, 1, 1], [1, 1], 4), false).check();
    problem([1, 6, 8, 8], 4, attrs([3, 3], [1, 2], [1, 0, 0, 1], [2, 1], 2), true).check();
    problem([1, 5, 6, 7], 3, attrs([1, 1], [2, 2], [1, 1, 1, 1], [1, 1], 1), true).check();
    problem([1, 2, 3, 4], 2, attrs([5, 6], [1, 1], [1, 1, 1, 1], [1, 1], 1), false).check();
}

#[test]
fn padded_taps_are_skipped() {
    // An infinite weight on the top-left tap: outputs whose top-left tap is padding must
    // stay finite, the others become infinite. Depthwise and MatMul paths alike.
    for (c, group) in [(1, 1), (2, 1), (2, 2)] {
        let mut p = problem([1, c, 3, 3], c, attrs([3, 3], [1, 1], [1; 4], [1, 1], group), false);
        p.x = vec![1.0; p.x.len()];
        p.w = vec![0.5; p.w.len()];
        let per_output = p.w.len() / c;
        for m in 0..c {
            p.w[m * per_output] = f32::INFINITY;
        }
        let out = f32s(&p.run());
        assert_eq!(out[0], 0.5 * (4 * (c / group)) as f32, "corner output of {c} channels, group {group}");
        assert_eq!(out[4], f32::INFINITY);
        p.check();
    }
}

#[test]
fn skipped_tap_keeps_negative_zero() {
    // 2^-126 - 1.5·2^-126 flushes to -0; the padded third tap is skipped, so -0 stays
    // (adding mul(0, 1) = +0 would give +0).
    let attrs = ConvAttrs { kernel: [1, 3], strides: [1, 1], pads: [0, 0, 0, 1], dilations: [1, 1], group: 1 };
    for c in [1, 2] {
        let x = Tensor::from_f32(vec![1, c, 1, 2], vec![1.0; 2 * c]).unwrap();
        let mut w = vec![f32::MIN_POSITIVE, -1.5 * f32::MIN_POSITIVE, 1.0];
        w.extend([-0.0; 3].iter().take(3 * (c - 1)));
        let w = Tensor::from_f32(vec![1, c, 1, 3], w).unwrap();
        let out = eval(&Op::Conv(attrs.clone()), &[&x, &w]).unwrap();
        assert_eq!(f32s(&out), vec![-0.0]);
        assert_eq!(f32s(&out)[0].to_bits(), 0x8000_0000, "{c} channels");
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    for p in [
        problem([1, 3, 40, 37], 16, attrs([3, 3], [2, 2], [1; 4], [1, 1], 1), true),
        problem([1, 16, 30, 30], 16, attrs([3, 3], [1, 1], [1; 4], [1, 1], 16), true),
        problem([1, 16, 30, 30], 16, attrs([5, 5], [2, 2], [2; 4], [1, 1], 16), true),
        problem([1, 64, 20, 20], 48, attrs([1, 1], [1, 1], [0; 4], [1, 1], 1), true),
    ] {
        assert_thread_invariant(|| p.run());
        p.check();
    }
}

fn facts(x: &[Dim], w: &[usize], bias: Option<usize>) -> Result<Fact, OpError> {
    let attrs = ConvAttrs { kernel: [w[2], w[3]], strides: [2, 2], pads: [1; 4], dilations: [1, 1], group: 1 };
    let x = Fact { dtype: DType::F32, shape: Some(x.to_vec()) };
    let w = Fact::fixed(DType::F32, w);
    let b = bias.map(|n| Fact::fixed(DType::F32, &[n]));
    let mut inputs = vec![InferInput { fact: &x, value: None }, InferInput { fact: &w, value: None }];
    inputs.extend(b.as_ref().map(|fact| InferInput { fact, value: None }));
    infer(&Op::Conv(attrs), &inputs)
}

#[test]
fn infers_output_dims() {
    let batch = Dim::Symbol("batch".into());
    let x = [batch.clone(), Dim::Fixed(3), Dim::Fixed(224), Dim::Fixed(224)];
    let out = facts(&x, &[16, 3, 3, 3], Some(16)).unwrap();
    assert_eq!(out.shape, Some(vec![batch.clone(), Dim::Fixed(16), Dim::Fixed(112), Dim::Fixed(112)]));
    let x = [batch.clone(), Dim::Fixed(3), Dim::Symbol("h".into()), Dim::Fixed(5)];
    let out = facts(&x, &[16, 3, 3, 3], None).unwrap();
    assert_eq!(out.shape, Some(vec![batch, Dim::Fixed(16), Dim::Unknown, Dim::Fixed(3)]));
}

#[test]
fn rejects_bad_inputs_with_clear_messages() {
    let x = [Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(8), Dim::Fixed(8)];
    assert_eq!(facts(&x, &[16, 3, 3, 3], None).unwrap_err().0, "weights expect 3 input channels, input has 4");
    assert_eq!(facts(&x, &[16, 4, 3, 3], Some(8)).unwrap_err().0, "conv bias has 8 values for 16 output channels");
    let tiny = [Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(1), Dim::Fixed(8)];
    assert_eq!(
        facts(&tiny, &[16, 4, 5, 3], None).unwrap_err().0,
        "padded input size 3 is smaller than the dilated kernel 5"
    );
    let attrs = ConvAttrs { kernel: [5, 5], strides: [1, 1], pads: [0; 4], dilations: [1, 1], group: 1 };
    let xt = Tensor::from_f32(vec![1, 1, 8, 8], vec![0.0; 64]).unwrap();
    let wt = Tensor::from_f32(vec![1, 1, 3, 3], vec![0.0; 9]).unwrap();
    let err = eval(&Op::Conv(attrs.clone()), &[&xt, &wt]).unwrap_err();
    assert_eq!(err.0, "kernel_shape [5, 5] does not match weights of kernel [3, 3]");
    let it = Tensor::from_i64(vec![1, 1, 8, 8], vec![0; 64]).unwrap();
    assert_eq!(eval(&Op::Conv(attrs), &[&it, &wt]).unwrap_err().0, "conv supports f32 only, got i64");
}
