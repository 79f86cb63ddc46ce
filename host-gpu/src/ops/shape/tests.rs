//! Each op against hand-worked cases and an independent per-element reference: every
//! element of a test input encodes its own position, so a reference only has to say which
//! input position each output element comes from.

use half::f16;
use proptest::prelude::*;

use super::shape_of;
use crate::ir::{Dim, Fact, Op};
use crate::ops::{InferInput, OpError, eval, infer};
use crate::tensor::{DType, Tensor, TensorData};

const DTYPES: [DType; 7] = [DType::F32, DType::F16, DType::I8, DType::U8, DType::I32, DType::I64, DType::Bool];

/// A tensor whose element `i` encodes `sources[i]` in the given dtype.
fn encoded(dtype: DType, shape: &[usize], sources: &[usize]) -> Tensor {
    let data = match dtype {
        DType::F32 => TensorData::F32(sources.iter().map(|&k| k as f32 + 0.5).collect()),
        DType::F16 => TensorData::F16(sources.iter().map(|&k| f16::from_f32(k as f32)).collect()),
        DType::I8 => TensorData::I8(sources.iter().map(|&k| k as i8).collect()),
        DType::U8 => TensorData::U8(sources.iter().map(|&k| (k as u8) ^ 0x5a).collect()),
        DType::I32 => TensorData::I32(sources.iter().map(|&k| k as i32 * 3).collect()),
        DType::I64 => TensorData::I64(sources.iter().map(|&k| k as i64 - 7).collect()),
        DType::Bool => TensorData::Bool(sources.iter().map(|&k| k % 3 == 0).collect()),
    };
    Tensor::new(shape.to_vec(), data).unwrap()
}

/// A tensor whose elements encode their own positions.
fn iota(dtype: DType, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    encoded(dtype, shape, &(0..n).collect::<Vec<_>>())
}

fn i64s(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::from_i64(shape.to_vec(), values.to_vec()).unwrap()
}

fn vector(values: &[i64]) -> Tensor {
    i64s(&[values.len()], values)
}

fn i32s(values: &[i32]) -> Tensor {
    Tensor::new(vec![values.len()], TensorData::I32(values.to_vec())).unwrap()
}

fn values(t: &Tensor) -> Vec<i64> {
    t.to_i64_vec().unwrap()
}

fn run(op: Op, inputs: &[&Tensor]) -> Tensor {
    eval(&op, inputs).unwrap()
}

fn fails(op: Op, inputs: &[&Tensor]) -> String {
    eval(&op, inputs).unwrap_err().0
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = i % shape[d];
        i /= shape[d];
    }
    index
}

fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// Checks `op` on every dtype against `reference`, which maps an output multi-index to
/// the input multi-index it copies.
fn check_against(
    op: &Op,
    shape: &[usize],
    extra: &[&Tensor],
    out_shape: &[usize],
    reference: impl Fn(&[usize]) -> Vec<usize>,
) {
    let n: usize = out_shape.iter().product();
    let sources: Vec<usize> = (0..n).map(|j| ravel(&reference(&unravel(j, out_shape)), shape)).collect();
    for dtype in DTYPES {
        let x = iota(dtype, shape);
        let inputs: Vec<&Tensor> = [&x].into_iter().chain(extra.iter().copied()).collect();
        let out = eval(op, &inputs).unwrap();
        assert!(out.bits_eq(&encoded(dtype, out_shape, &sources)), "{op:?} on {dtype}{shape:?}: got {out:?}");
    }
}

fn sym(name: &str) -> Dim {
    Dim::Symbol(name.into())
}

fn fact(dtype: DType, dims: Vec<Dim>) -> Fact {
    Fact { dtype, shape: Some(dims) }
}

/// Infers `op` from facts, some inputs being constants.
fn infer_op(op: Op, inputs: &[(Fact, Option<Tensor>)]) -> Result<Fact, OpError> {
    let inputs: Vec<InferInput<'_>> =
        inputs.iter().map(|(fact, value)| InferInput { fact, value: value.as_ref() }).collect();
    infer(&op, &inputs)
}

fn known(t: Tensor) -> (Fact, Option<Tensor>) {
    (Fact::of_tensor(&t), Some(t))
}

fn unknown(fact: Fact) -> (Fact, Option<Tensor>) {
    (fact, None)
}

fn dims(fact: &Fact) -> Vec<Dim> {
    fact.shape.clone().unwrap()
}

#[test]
fn shape_clamps_start_and_end() {
    let dims = [2, 3, 4, 5];
    let cases: [(i64, Option<i64>, &[i64]); 7] = [
        (0, None, &[2, 3, 4, 5]),
        (1, Some(3), &[3, 4]),
        (-1, None, &[5]),
        (-10, Some(10), &[2, 3, 4, 5]),
        (3, Some(1), &[]),
        (0, Some(-1), &[2, 3, 4]),
        (i64::MIN, Some(i64::MAX), &[2, 3, 4, 5]),
    ];
    for (start, end, expected) in cases {
        let out = shape_of(start, end, &dims).unwrap();
        assert_eq!(out.shape(), [expected.len()]);
        assert_eq!(values(&out), expected, "start {start}, end {end:?}");
    }
    assert_eq!(values(&run(Op::Shape { start: 0, end: None }, &[&iota(DType::Bool, &[])])), Vec::<i64>::new());
}

#[test]
fn shape_infers_its_length() {
    let x = unknown(fact(DType::F32, vec![sym("batch"), Dim::Unknown, Dim::Fixed(4)]));
    let out = infer_op(Op::Shape { start: 1, end: None }, &[x]).unwrap();
    assert_eq!(out, Fact::fixed(DType::I64, &[2]));
    let out = infer_op(Op::Shape { start: 0, end: None }, &[unknown(Fact::unknown(DType::F32))]).unwrap();
    assert_eq!(out, fact(DType::I64, vec![Dim::Unknown]));
}

#[test]
fn reshape_copies_zero_and_infers_minus_one() {
    let x = iota(DType::F32, &[2, 3, 4]);
    let cases: [(&[i64], &[usize]); 5] = [
        (&[0, -1], &[2, 12]),
        (&[4, 0, -1], &[4, 3, 2]),
        (&[-1], &[24]),
        (&[2, 3, 4], &[2, 3, 4]),
        (&[1, 0, 1, 8], &[1, 3, 1, 8]),
    ];
    for (target, expected) in cases {
        let out = run(Op::Reshape { allowzero: false }, &[&x, &vector(target)]);
        assert_eq!(out.shape(), expected, "target {target:?}");
        assert!(out.data() == x.data());
    }
    let out = run(Op::Reshape { allowzero: false }, &[&x, &i32s(&[6, -1])]);
    assert_eq!(out.shape(), [6, 4]);
}

#[test]
fn reshape_zero_sized_and_allowzero() {
    let empty = iota(DType::I8, &[0, 4]);
    let reshape = |allowzero, target: &[i64]| eval(&Op::Reshape { allowzero }, &[&empty, &vector(target)]);
    assert_eq!(reshape(false, &[-1, 2]).unwrap().shape(), [0, 2]);
    assert_eq!(reshape(true, &[4, 0]).unwrap().shape(), [4, 0]);
    assert_eq!(reshape(false, &[0, 2, 2]).unwrap().shape(), [0, 2, 2]);
    assert!(reshape(false, &[2, 0]).unwrap_err().0.contains("cannot reshape 0 elements"));
    assert!(reshape(false, &[0, -1]).unwrap_err().0.contains("cannot reshape"));
    assert!(reshape(true, &[0, -1]).unwrap_err().0.contains("allowzero"));
}

#[test]
fn reshape_rejects_bad_targets() {
    let x = iota(DType::F32, &[6]);
    let reshape = |target: &[i64]| fails(Op::Reshape { allowzero: false }, &[&x, &vector(target)]);
    assert!(reshape(&[-1, -1]).contains("more than one -1"));
    assert!(reshape(&[-2, 3]).contains("negative dimension: -2"));
    assert!(reshape(&[4]).contains("cannot reshape 6 elements"));
    assert!(reshape(&[4, -1]).contains("cannot reshape"));
    assert!(reshape(&[2, 0]).contains("copies dimension 1"));
    assert!(reshape(&[i64::MAX, i64::MAX]).contains("too many elements"));
    let float_target = Tensor::from_f32(vec![1], vec![6.0]).unwrap();
    assert!(fails(Op::Reshape { allowzero: false }, &[&x, &float_target]).contains("must be i32 or i64"));
}

#[test]
fn reshape_infers_symbolic_dims() {
    let x = || unknown(fact(DType::F32, vec![sym("batch"), sym("seq"), Dim::Fixed(384)]));
    let op = || Op::Reshape { allowzero: false };
    let out = infer_op(op(), &[x(), known(vector(&[0, 0, 12, 32]))]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), sym("seq"), Dim::Fixed(12), Dim::Fixed(32)]);
    let out = infer_op(op(), &[x(), known(vector(&[0, -1]))]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), Dim::Unknown]);
    let out = infer_op(op(), &[x(), known(vector(&[0, 0, -1, 64]))]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), sym("seq"), Dim::Fixed(6), Dim::Fixed(64)]);
    let heads = unknown(fact(DType::F32, vec![sym("batch"), Dim::Fixed(12), sym("seq"), Dim::Fixed(32)]));
    let out = infer_op(op(), &[heads, known(vector(&[-1, 384]))]).unwrap();
    assert_eq!(dims(&out), [Dim::Unknown, Dim::Fixed(384)]);
    let merged = unknown(fact(DType::F32, vec![sym("batch"), sym("seq"), Dim::Fixed(12), Dim::Fixed(32)]));
    let out = infer_op(op(), &[merged, known(vector(&[0, -1, 384]))]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), sym("seq"), Dim::Fixed(384)]);
    let target = unknown(Fact::fixed(DType::I64, &[3]));
    assert_eq!(dims(&infer_op(op(), &[x(), target]).unwrap()), [Dim::Unknown, Dim::Unknown, Dim::Unknown]);
    let out = infer_op(op(), &[unknown(Fact::unknown(DType::F32)), known(vector(&[0, 7]))]).unwrap();
    assert_eq!(dims(&out), [Dim::Unknown, Dim::Fixed(7)]);
    let fixed = unknown(Fact::fixed(DType::F32, &[2, 3]));
    assert!(infer_op(op(), &[fixed, known(vector(&[5]))]).unwrap_err().0.contains("cannot reshape 6"));
}

#[test]
fn transpose_permutes_axes() {
    let x = iota(DType::I64, &[2, 3]);
    let out = run(Op::Transpose { perm: vec![1, 0] }, &[&x]);
    assert_eq!(out.shape(), [3, 2]);
    assert_eq!(values(&out), [0, 3, 1, 4, 2, 5].map(|v| v - 7));
    let reversed = run(Op::Transpose { perm: vec![] }, &[&iota(DType::I64, &[2, 3, 4])]);
    assert!(reversed.bits_eq(&run(Op::Transpose { perm: vec![2, 1, 0] }, &[&iota(DType::I64, &[2, 3, 4])])));
    let scalar = iota(DType::Bool, &[]);
    assert!(run(Op::Transpose { perm: vec![] }, &[&scalar]).bits_eq(&scalar));
    for perm in [vec![0, 0], vec![0], vec![0, 2], vec![1, 0, 2]] {
        assert!(fails(Op::Transpose { perm }, &[&x]).contains("not a permutation"));
    }
}

#[test]
fn transpose_attention_heads_on_every_dtype() {
    let shape = [1, 8, 3, 4];
    check_against(&Op::Transpose { perm: vec![0, 2, 1, 3] }, &shape, &[], &[1, 3, 8, 4], |o| {
        vec![o[0], o[2], o[1], o[3]]
    });
    check_against(&Op::Transpose { perm: vec![3, 1, 0, 2] }, &shape, &[], &[4, 8, 1, 3], |o| {
        vec![o[2], o[1], o[3], o[0]]
    });
}

#[test]
fn transpose_infers_symbolic_dims() {
    let x = unknown(fact(DType::F32, vec![sym("batch"), sym("seq"), Dim::Fixed(12), Dim::Fixed(32)]));
    let out = infer_op(Op::Transpose { perm: vec![0, 2, 1, 3] }, &[x]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), Dim::Fixed(12), sym("seq"), Dim::Fixed(32)]);
    let out = infer_op(Op::Transpose { perm: vec![1, 0] }, &[unknown(Fact::unknown(DType::U8))]).unwrap();
    assert_eq!(dims(&out), [Dim::Unknown, Dim::Unknown]);
    assert!(infer_op(Op::Transpose { perm: vec![1, 1] }, &[unknown(Fact::unknown(DType::U8))]).is_err());
}

/// Bit patterns that a float kernel would change: data movement must not.
fn odd_f32_bits() -> Tensor {
    let bits = [0x7FC0_0001u32, 0xFFC0_0000, 0x8000_0000, 0x0000_0001, 0x7F80_0000, 0x3F80_0000];
    Tensor::from_f32(vec![2, 3], bits.map(f32::from_bits).to_vec()).unwrap()
}

fn f32_bits(t: &Tensor) -> Vec<u32> {
    t.as_f32().unwrap().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn element_bits_are_copied_unchanged() {
    let x = odd_f32_bits();
    let bits = f32_bits(&x);
    let t = run(Op::Transpose { perm: vec![1, 0] }, &[&x]);
    assert_eq!(f32_bits(&t), [bits[0], bits[3], bits[1], bits[4], bits[2], bits[5]]);
    let g = run(Op::Gather { axis: 1 }, &[&x, &vector(&[2, 0])]);
    assert_eq!(f32_bits(&g), [bits[2], bits[0], bits[5], bits[3]]);
    let c = run(Op::Concat { axis: 0 }, &[&x, &x]);
    assert_eq!(f32_bits(&c), [bits.clone(), bits.clone()].concat());
    let e = run(Op::Expand, &[&x, &vector(&[2, 1, 1])]);
    assert_eq!(f32_bits(&e), [bits.clone(), bits.clone()].concat());
    let s = run(Op::Slice, &[&x, &vector(&[-1]), &vector(&[i64::MIN]), &vector(&[1]), &vector(&[-1])]);
    assert_eq!(f32_bits(&s), [bits[2], bits[1], bits[0], bits[5], bits[4], bits[3]]);
}

#[test]
fn squeeze_removes_unit_axes() {
    let x = iota(DType::F16, &[1, 3, 1, 2]);
    let squeeze = |axes: &[i64]| eval(&Op::Squeeze { axes: axes.to_vec() }, &[&x]);
    assert_eq!(squeeze(&[]).unwrap().shape(), [3, 2]);
    assert_eq!(squeeze(&[0]).unwrap().shape(), [3, 1, 2]);
    assert_eq!(squeeze(&[-2, 0]).unwrap().shape(), [3, 2]);
    assert!(squeeze(&[]).unwrap().bits_eq(&iota(DType::F16, &[3, 2])));
    assert!(squeeze(&[1]).unwrap_err().0.contains("cannot squeeze axis 1 of size 3"));
    assert!(squeeze(&[0, -4]).unwrap_err().0.contains("repeated"));
    assert!(squeeze(&[4]).unwrap_err().0.contains("out of range"));
}

#[test]
fn squeeze_infers_symbolic_dims() {
    let x = || unknown(fact(DType::F32, vec![Dim::Fixed(1), sym("batch"), Dim::Fixed(1)]));
    assert_eq!(infer_op(Op::Squeeze { axes: vec![] }, &[x()]).unwrap().shape, None);
    assert_eq!(dims(&infer_op(Op::Squeeze { axes: vec![0, 2] }, &[x()]).unwrap()), [sym("batch")]);
    assert_eq!(dims(&infer_op(Op::Squeeze { axes: vec![1] }, &[x()]).unwrap()), [Dim::Fixed(1), Dim::Fixed(1)]);
    let fixed = unknown(Fact::fixed(DType::F32, &[1, 5]));
    assert!(infer_op(Op::Squeeze { axes: vec![1] }, &[fixed]).is_err());
}

#[test]
fn unsqueeze_inserts_unit_axes() {
    let x = iota(DType::I32, &[3, 4]);
    let unsqueeze = |axes: &[i64]| eval(&Op::Unsqueeze { axes: axes.to_vec() }, &[&x]);
    assert_eq!(unsqueeze(&[0, -1]).unwrap().shape(), [1, 3, 4, 1]);
    assert_eq!(unsqueeze(&[1]).unwrap().shape(), [3, 1, 4]);
    assert_eq!(unsqueeze(&[3, 0]).unwrap().shape(), [1, 3, 4, 1]);
    assert!(unsqueeze(&[1]).unwrap().data() == x.data());
    assert!(unsqueeze(&[0, -4]).unwrap_err().0.contains("repeated"));
    assert!(unsqueeze(&[3]).unwrap_err().0.contains("out of range"));
    assert_eq!(run(Op::Unsqueeze { axes: vec![0] }, &[&iota(DType::I64, &[])]).shape(), [1]);
    let sym_x = unknown(fact(DType::I64, vec![sym("batch"), sym("seq")]));
    let out = infer_op(Op::Unsqueeze { axes: vec![1, 2] }, &[sym_x]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), Dim::Fixed(1), Dim::Fixed(1), sym("seq")]);
}

#[test]
fn concat_joins_along_an_axis() {
    let a = i64s(&[2, 1], &[1, 2]);
    let b = i64s(&[2, 2], &[3, 4, 5, 6]);
    let empty = i64s(&[2, 0], &[]);
    for axis in [1, -1] {
        let out = run(Op::Concat { axis }, &[&a, &empty, &b]);
        assert_eq!(out.shape(), [2, 3]);
        assert_eq!(values(&out), [1, 3, 4, 2, 5, 6]);
    }
    assert_eq!(values(&run(Op::Concat { axis: 0 }, &[&b, &b])), [3, 4, 5, 6, 3, 4, 5, 6]);
    assert!(run(Op::Concat { axis: 0 }, &[&a]).bits_eq(&a));
    assert!(fails(Op::Concat { axis: 0 }, &[&a, &b]).contains("differ off the axis"));
    assert!(fails(Op::Concat { axis: 0 }, &[&a, &vector(&[1])]).contains("differ in rank"));
    assert!(fails(Op::Concat { axis: 1 }, &[&a, &iota(DType::I32, &[2, 1])]).contains("dtypes differ"));
    assert!(fails(Op::Concat { axis: 0 }, &[&iota(DType::I64, &[]), &iota(DType::I64, &[])]).contains("out of range"));
    assert!(fails(Op::Concat { axis: 2 }, &[&a, &a]).contains("out of range"));
}

#[test]
fn concat_infers_symbolic_dims() {
    let a = unknown(fact(DType::F32, vec![sym("batch"), Dim::Fixed(3)]));
    let b = unknown(fact(DType::F32, vec![sym("batch"), Dim::Fixed(5)]));
    assert_eq!(
        dims(&infer_op(Op::Concat { axis: -1 }, &[a.clone(), b.clone()]).unwrap()),
        [sym("batch"), Dim::Fixed(8)]
    );
    assert_eq!(
        dims(&infer_op(Op::Concat { axis: 0 }, &[a.clone(), a.clone()]).unwrap()),
        [Dim::Unknown, Dim::Fixed(3)]
    );
    let c = unknown(fact(DType::F32, vec![Dim::Fixed(2), Dim::Unknown]));
    assert_eq!(dims(&infer_op(Op::Concat { axis: 1 }, &[c, a.clone()]).unwrap()), [Dim::Fixed(2), Dim::Unknown]);
    let rankless = unknown(Fact::unknown(DType::F32));
    assert_eq!(dims(&infer_op(Op::Concat { axis: 1 }, &[rankless, b.clone()]).unwrap()), [sym("batch"), Dim::Unknown]);
    assert!(infer_op(Op::Concat { axis: 0 }, &[a.clone(), b]).is_err());
    assert!(infer_op(Op::Concat { axis: 0 }, &[a, unknown(Fact::unknown(DType::I64))]).is_err());
}

fn slice(x: &Tensor, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Result<Tensor, OpError> {
    eval(&Op::Slice, &[x, &vector(starts), &vector(ends), &vector(axes), &vector(steps)])
}

#[test]
fn slice_follows_onnx_clamping() {
    let x = i64s(&[10], &(0..10).collect::<Vec<_>>());
    let cases: [(i64, i64, i64, &[i64]); 10] = [
        (2, 8, 2, &[2, 4, 6]),
        (-1, i64::MIN, -1, &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
        (i64::MAX, i64::MIN, -3, &[9, 6, 3, 0]),
        (0, i64::MAX, 1, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        (i64::MIN, 3, i64::MAX, &[0]),
        (5, 2, 1, &[]),
        (-3, -1, 1, &[7, 8]),
        (20, 30, 1, &[]),
        (8, -20, i64::MIN, &[8]),
        (-20, 12, 4, &[0, 4, 8]),
    ];
    for (start, end, step, expected) in cases {
        assert_eq!(values(&slice(&x, &[start], &[end], &[0], &[step]).unwrap()), expected, "{start}..{end} by {step}");
    }
    assert!(slice(&x, &[0], &[5], &[0], &[0]).unwrap_err().0.contains("step is zero"));
    assert!(slice(&x, &[0], &[5, 6], &[0], &[1]).unwrap_err().0.contains("differ in length"));
    let empty = i64s(&[0], &[]);
    assert_eq!(slice(&empty, &[-1], &[i64::MIN], &[0], &[-1]).unwrap().shape(), [0]);
}

#[test]
fn slice_of_a_matrix_with_optional_inputs() {
    let x = iota(DType::I64, &[3, 4]);
    let out = slice(&x, &[1, -1], &[3, 0], &[0, -1], &[1, -2]).unwrap();
    assert_eq!(out.shape(), [2, 2]);
    assert_eq!(values(&out), [7, 5, 11, 9].map(|v| v - 7));
    let bounds = [i32s(&[1]), i32s(&[3])];
    let out = run(Op::Slice, &[&x, &bounds[0], &bounds[1]]);
    assert_eq!(out.shape(), [2, 4]);
    assert!(slice(&x, &[0, 0], &[1, 1], &[1, -1], &[1, 1]).unwrap_err().0.contains("repeated"));
    assert!(slice(&x, &[0], &[1], &[2], &[1]).unwrap_err().0.contains("out of range"));
}

/// The ONNX Slice definition, step by step: the indices an axis of size `dim` yields.
fn reference_indices(start: i64, end: i64, step: i64, dim: usize) -> Vec<usize> {
    let d = dim as i128;
    let (mut s, mut e) = (i128::from(start), i128::from(end));
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    let (s, e) = if step > 0 { (s.clamp(0, d), e.clamp(0, d)) } else { (s.max(0).min(d - 1), e.max(-1).min(d - 1)) };
    let mut out = Vec::new();
    let mut i = s;
    while (step > 0 && i < e) || (step < 0 && i > e) {
        out.push(i as usize);
        i += i128::from(step);
    }
    out
}

fn bound() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -9i64..9, 1 => Just(i64::MIN), 1 => Just(i64::MAX)]
}

/// One sliced axis: axis, whether it is named from the end, start, end, step.
type AxisCase = (usize, bool, i64, i64, i64);

fn slice_case() -> impl Strategy<Value = (Vec<usize>, Vec<AxisCase>)> {
    prop::collection::vec(0usize..6, 1..=4).prop_flat_map(|shape| {
        let rank = shape.len();
        let axis = (0..rank, any::<bool>(), bound(), bound(), prop_oneof![-3i64..=-1, 1i64..=3]);
        (Just(shape), prop::collection::vec(axis, 0..=rank))
    })
}

#[test]
fn transpose_on_large_attention_shape() {
    check_against(&Op::Transpose { perm: vec![0, 2, 1, 3] }, &[1, 128, 12, 32], &[], &[1, 12, 128, 32], |o| {
        vec![o[0], o[2], o[1], o[3]]
    });
}

proptest! {
    #[test]
    fn transpose_then_inverse_is_identity(
        (shape, perm) in prop::collection::vec(0usize..5, 0..=5)
            .prop_flat_map(|shape| { let r = shape.len(); (Just(shape), Just((0..r).collect::<Vec<_>>()).prop_shuffle()) }),
        bits in prop::collection::vec(any::<u32>(), 1024..=1024),
    ) {
        let n: usize = shape.iter().product();
        let x = Tensor::from_f32(shape.clone(), bits[..n].iter().map(|&b| f32::from_bits(b)).collect()).unwrap();
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        let y = run(Op::Transpose { perm: perm.clone() }, &[&x]);
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        prop_assert_eq!(y.shape(), out_shape.as_slice());
        for j in 0..n {
            let o = unravel(j, &out_shape);
            let mut i = vec![0; shape.len()];
            for (k, &p) in perm.iter().enumerate() {
                i[p] = o[k];
            }
            prop_assert_eq!(f32_bits(&y)[j], bits[ravel(&i, &shape)]);
        }
        let back = run(Op::Transpose { perm: inverse }, &[&y]);
        prop_assert!(back.bits_eq(&x));
    }

    #[test]
    fn slice_matches_the_reference((shape, axes) in slice_case()) {
        let rank = shape.len();
        let mut seen = vec![false; rank];
        let axes: Vec<_> = axes.into_iter().filter(|a| !std::mem::replace(&mut seen[a.0], true)).collect();
        let mut lists: Vec<Vec<usize>> = shape.iter().map(|&d| (0..d).collect()).collect();
        for &(axis, _, start, end, step) in &axes {
            lists[axis] = reference_indices(start, end, step, shape[axis]);
        }
        let out_shape: Vec<usize> = lists.iter().map(Vec::len).collect();
        let names: Vec<i64> = axes.iter().map(|&(a, negative, ..)| if negative { a as i64 - rank as i64 } else { a as i64 }).collect();
        let pick = |f: fn(&AxisCase) -> i64| vector(&axes.iter().map(f).collect::<Vec<_>>());
        let extra = [pick(|a| a.2), pick(|a| a.3), vector(&names), pick(|a| a.4)];
        check_against(&Op::Slice, &shape, &extra.iter().collect::<Vec<_>>(), &out_shape, |o| {
            o.iter().enumerate().map(|(k, &i)| lists[k][i]).collect()
        });
    }

    #[test]
    fn concat_of_slices_round_trips(
        (shape, axis, cut) in prop::collection::vec(0usize..5, 1..=4)
            .prop_flat_map(|shape| { let r = shape.len(); (Just(shape), 0..r) })
            .prop_flat_map(|(shape, axis)| { let d = shape[axis]; (Just(shape), Just(axis), 0..=d) }),
    ) {
        let x = iota(DType::I64, &shape);
        let a = slice(&x, &[0], &[cut as i64], &[axis as i64], &[1]).unwrap();
        let b = slice(&x, &[cut as i64], &[i64::MAX], &[axis as i64], &[1]).unwrap();
        let joined = run(Op::Concat { axis: axis as i64 }, &[&a, &b]);
        prop_assert!(joined.bits_eq(&x));
    }

    #[test]
    fn reshape_round_trips(shape in prop::collection::vec(0usize..5, 0..=4), minus in any::<prop::sample::Index>()) {
        let x = iota(DType::U8, &shape);
        let mut target: Vec<i64> = shape.iter().rev().map(|&d| d as i64).collect();
        target.push(1);
        if shape.iter().all(|&d| d > 0) {
            let at = minus.index(target.len());
            target[at] = -1;
        }
        let flat = run(Op::Reshape { allowzero: true }, &[&x, &vector(&[x.len() as i64])]);
        let y = run(Op::Reshape { allowzero: true }, &[&flat, &vector(&target)]);
        prop_assert_eq!(y.len(), x.len());
        let back = shape.iter().map(|&d| d as i64).collect::<Vec<_>>();
        let restored = run(Op::Reshape { allowzero: true }, &[&y, &vector(&back)]);
        prop_assert!(restored.bits_eq(&x));
    }

    #[test]
    fn gather_matches_the_reference(
        (shape, axis, indices) in prop::collection::vec(1usize..5, 1..=3)
            .prop_flat_map(|shape| { let r = shape.len(); (Just(shape), 0..r) })
            .prop_flat_map(|(shape, axis)| {
                let d = shape[axis] as i64;
                (Just(shape), Just(axis), prop::collection::vec(-d..d, 0..6))
            }),
    ) {
        let index_shape = if indices.len() == 4 { vec![2, 2] } else { vec![indices.len()] };
        let index = i64s(&index_shape, &indices);
        let out_shape = [&shape[..axis], &index_shape, &shape[axis + 1..]].concat();
        let d = shape[axis] as i64;
        check_against(&Op::Gather { axis: axis as i64 - shape.len() as i64 }, &shape, &[&index], &out_shape, |o| {
            let q = index_shape.len();
            let i = indices[ravel(&o[axis..axis + q], &index_shape)];
            let wrapped = if i < 0 { i + d } else { i } as usize;
            [&o[..axis], &[wrapped], &o[axis + q..]].concat()
        });
    }

    #[test]
    fn expand_matches_the_reference(
        (shape, target) in prop::collection::vec(1usize..4, 0..=3).prop_flat_map(|shape| {
            let dims: Vec<_> = shape.iter().map(|&d| if d == 1 { (0i64..4).boxed() } else { prop_oneof![Just(1i64), Just(d as i64)].boxed() }).collect();
            (Just(shape), dims, prop::collection::vec(0i64..3, 0..=2))
        }).prop_map(|(shape, dims, lead)| (shape, [lead, dims].concat())),
    ) {
        let out_shape: Vec<usize> = {
            let offset = target.len() - shape.len();
            target.iter().enumerate().map(|(i, &t)| match i.checked_sub(offset) {
                Some(j) if shape[j] != 1 => shape[j],
                _ => t as usize,
            }).collect()
        };
        let offset = out_shape.len() - shape.len();
        check_against(&Op::Expand, &shape, &[&vector(&target)], &out_shape, |o| {
            shape.iter().enumerate().map(|(j, &d)| if d == 1 { 0 } else { o[offset + j] }).collect()
        });
    }
}

#[test]
fn slice_infers_from_constant_bounds() {
    let x = || unknown(fact(DType::F32, vec![sym("batch"), Dim::Fixed(10), sym("seq")]));
    let bounds = |s: &[i64], e: &[i64], a: &[i64], st: &[i64]| [s, e, a, st].map(|v| known(vector(v)));
    let [s, e, a, st] = bounds(&[0, 1, 0], &[i64::MAX, -1, 4], &[0, 1, 2], &[1, 2, 1]);
    let out = infer_op(Op::Slice, &[x(), s, e, a, st]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), Dim::Fixed(4), Dim::Unknown]);
    let [s, e, a, _] = bounds(&[0], &[1], &[1], &[1]);
    let steps = unknown(Fact::fixed(DType::I64, &[1]));
    let out = infer_op(Op::Slice, &[x(), s, e, a, steps]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), Dim::Unknown, sym("seq")]);
    let starts = unknown(Fact::fixed(DType::I64, &[1]));
    let [_, e, a, st] = bounds(&[0], &[1], &[1], &[1]);
    assert_eq!(dims(&infer_op(Op::Slice, &[x(), starts.clone(), e, a, st]).unwrap())[1], Dim::Unknown);
    let [s, e, a, st] = bounds(&[0], &[1], &[1], &[0]);
    assert!(infer_op(Op::Slice, &[x(), s, e, a, st]).unwrap_err().0.contains("step is zero"));
    let floats = unknown(Fact::fixed(DType::F32, &[1]));
    assert!(infer_op(Op::Slice, &[x(), floats, starts.clone(), starts.clone(), starts]).is_err());
}

#[test]
fn gather_picks_rows_and_checks_indices() {
    let x = i64s(&[3, 2], &[1, 2, 3, 4, 5, 6]);
    assert_eq!(values(&run(Op::Gather { axis: 0 }, &[&x, &vector(&[2, 0, -1])])), [5, 6, 1, 2, 5, 6]);
    let column = run(Op::Gather { axis: 1 }, &[&x, &i64s(&[2, 1], &[1, 0])]);
    assert_eq!(column.shape(), [3, 2, 1]);
    assert_eq!(values(&column), [2, 1, 4, 3, 6, 5]);
    let scalar = run(Op::Gather { axis: -1 }, &[&x, &i64s(&[], &[1])]);
    assert_eq!((scalar.shape(), values(&scalar)), (&[3][..], vec![2, 4, 6]));
    let i32_index = Tensor::new(vec![1], TensorData::I32(vec![-3])).unwrap();
    assert_eq!(values(&run(Op::Gather { axis: 0 }, &[&x, &i32_index])), [1, 2]);
    assert_eq!(run(Op::Gather { axis: 0 }, &[&x, &vector(&[])]).shape(), [0, 2]);
    assert!(fails(Op::Gather { axis: 0 }, &[&x, &vector(&[0, 3])]).contains("index 3 is out of range"));
    assert!(fails(Op::Gather { axis: 0 }, &[&x, &vector(&[-4])]).contains("index -4 is out of range"));
    assert!(fails(Op::Gather { axis: 2 }, &[&x, &vector(&[0])]).contains("out of range"));
    let float_index = Tensor::from_f32(vec![1], vec![0.0]).unwrap();
    assert!(fails(Op::Gather { axis: 0 }, &[&x, &float_index]).contains("must be i32 or i64"));
}

#[test]
fn gather_embedding_rows() {
    let ids: Vec<i64> = (0..128).map(|i| (i * 7919) % 1000).collect();
    let index = i64s(&[1, 128], &ids);
    check_against(&Op::Gather { axis: 0 }, &[1000, 16], &[&index], &[1, 128, 16], |o| vec![ids[o[1]] as usize, o[2]]);
}

#[test]
fn gather_infers_symbolic_dims() {
    let table = || unknown(Fact::fixed(DType::F32, &[30522, 384]));
    let ids = unknown(fact(DType::I64, vec![sym("batch"), sym("seq")]));
    let out = infer_op(Op::Gather { axis: 0 }, &[table(), ids]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), sym("seq"), Dim::Fixed(384)]);
    assert!(
        infer_op(Op::Gather { axis: 0 }, &[table(), known(vector(&[30522]))]).unwrap_err().0.contains("index 30522")
    );
    let shape = unknown(fact(DType::I64, vec![Dim::Fixed(3)]));
    let out = infer_op(Op::Gather { axis: 0 }, &[shape, known(i64s(&[], &[1]))]).unwrap();
    assert_eq!(dims(&out), Vec::<Dim>::new());
    let float_ids = unknown(Fact::fixed(DType::F32, &[2]));
    assert!(infer_op(Op::Gather { axis: 0 }, &[table(), float_ids]).is_err());
}

#[test]
fn gather_nd_follows_the_onnx_examples() {
    let square = i64s(&[2, 2], &[0, 1, 2, 3]);
    let cube = i64s(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]);
    let gather = |b, data: &Tensor, indices: Tensor| run(Op::GatherNd { batch_dims: b }, &[data, &indices]);
    let out = gather(0, &square, i64s(&[2, 2], &[0, 0, 1, 1]));
    assert_eq!((out.shape(), values(&out)), (&[2][..], vec![0, 3]));
    let out = gather(0, &square, i64s(&[2, 1], &[1, 0]));
    assert_eq!((out.shape(), values(&out)), (&[2, 2][..], vec![2, 3, 0, 1]));
    let out = gather(0, &cube, i64s(&[2, 2], &[0, 1, 1, 0]));
    assert_eq!((out.shape(), values(&out)), (&[2, 2][..], vec![2, 3, 4, 5]));
    let out = gather(0, &cube, i64s(&[2, 1, 2], &[0, 1, 1, 0]));
    assert_eq!((out.shape(), values(&out)), (&[2, 1, 2][..], vec![2, 3, 4, 5]));
    let out = gather(1, &cube, i64s(&[2, 1], &[1, 0]));
    assert_eq!((out.shape(), values(&out)), (&[2, 2][..], vec![2, 3, 4, 5]));
    let out = gather(0, &cube, i64s(&[1, 3], &[-1, -2, 1]));
    assert_eq!((out.shape(), values(&out)), (&[1][..], vec![5]));
    let out = gather(0, &cube, i64s(&[0, 2], &[]));
    assert_eq!(out.shape(), [0, 2]);
}

#[test]
fn gather_nd_rejects_bad_inputs() {
    let cube = i64s(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]);
    let gather = |b, indices: Tensor| fails(Op::GatherNd { batch_dims: b }, &[&cube, &indices]);
    assert!(gather(0, i64s(&[1, 2], &[0, 2])).contains("index 2 is out of range"));
    assert!(gather(0, i64s(&[1, 4], &[0, 0, 0, 0])).contains("1 to 3 elements"));
    assert!(gather(2, i64s(&[2, 1], &[0, 0])).contains("batch_dims"));
    assert!(gather(1, i64s(&[3, 1], &[0, 0, 0])).contains("dimensions differ"));
    let sym_data = unknown(fact(DType::F32, vec![sym("batch"), Dim::Fixed(5), Dim::Fixed(7)]));
    let index = unknown(fact(DType::I64, vec![sym("batch"), Dim::Fixed(3), Dim::Fixed(1)]));
    let out = infer_op(Op::GatherNd { batch_dims: 1 }, &[sym_data, index]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), Dim::Fixed(3), Dim::Fixed(7)]);
}

#[test]
fn range_generates_integer_sequences() {
    let range = |s: i64, l: i64, d: i64| eval(&Op::Range, &[&i64s(&[], &[s]), &i64s(&[], &[l]), &i64s(&[], &[d])]);
    assert_eq!(values(&range(0, 5, 1).unwrap()), [0, 1, 2, 3, 4]);
    assert_eq!(values(&range(10, 0, -3).unwrap()), [10, 7, 4, 1]);
    assert_eq!(values(&range(5, 5, 1).unwrap()), Vec::<i64>::new());
    assert_eq!(values(&range(0, 5, -1).unwrap()), Vec::<i64>::new());
    assert_eq!(values(&range(i64::MAX - 2, i64::MAX, 1).unwrap()), [i64::MAX - 2, i64::MAX - 1]);
    assert_eq!(values(&range(i64::MIN, i64::MAX, i64::MAX).unwrap()), [i64::MIN, -1, i64::MAX - 1]);
    assert!(range(0, 5, 0).unwrap_err().0.contains("delta is zero"));
    assert!(range(i64::MIN, i64::MAX, 1).unwrap_err().0.contains("too many elements"));
    let scalar32 = |v: i32| Tensor::new(vec![], TensorData::I32(vec![v])).unwrap();
    let out = run(Op::Range, &[&scalar32(-2), &scalar32(3), &scalar32(2)]);
    assert_eq!((out.dtype(), values(&out)), (DType::I32, vec![-2, 0, 2]));
    assert!(fails(Op::Range, &[&scalar32(0), &i64s(&[], &[3]), &scalar32(1)]).contains("differ in dtype"));
    let f = Tensor::scalar_f32(1.0);
    assert!(fails(Op::Range, &[&f, &f, &f]).contains("i32 and i64 only"));
    assert!(fails(Op::Range, &[&vector(&[0, 1]), &vector(&[3]), &vector(&[1])]).contains("must be a scalar"));
}

#[test]
fn range_infers_its_length() {
    let scalar = |v| known(i64s(&[], &[v]));
    assert_eq!(infer_op(Op::Range, &[scalar(2), scalar(9), scalar(3)]).unwrap(), Fact::fixed(DType::I64, &[3]));
    let limit = unknown(Fact::fixed(DType::I64, &[]));
    assert_eq!(dims(&infer_op(Op::Range, &[scalar(0), limit, scalar(1)]).unwrap()), [Dim::Unknown]);
    let float = unknown(Fact::fixed(DType::F32, &[]));
    assert!(infer_op(Op::Range, &[float.clone(), float.clone(), float]).is_err());
}

#[test]
fn expand_broadcasts_both_ways() {
    let x = i64s(&[3, 1], &[1, 2, 3]);
    let out = run(Op::Expand, &[&x, &vector(&[2, 1, 2])]);
    assert_eq!((out.shape(), values(&out)), (&[2, 3, 2][..], vec![1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]));
    let out = run(Op::Expand, &[&i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]), &vector(&[1])]);
    assert_eq!(out.shape(), [2, 3]);
    assert_eq!(run(Op::Expand, &[&i64s(&[0, 1], &[]), &vector(&[0, 5])]).shape(), [0, 5]);
    assert!(fails(Op::Expand, &[&x, &vector(&[-1, 1])]).contains("negative dimension"));
    assert!(fails(Op::Expand, &[&x, &vector(&[2, 2])]).contains("do not broadcast"));
    assert!(fails(Op::Expand, &[&x, &vector(&[1 << 20, 1 << 12, 1, 1])]).contains("too many elements"));
    assert!(fails(Op::Expand, &[&x, &vector(&[i64::MAX, i64::MAX, 1, 1])]).contains("too many elements"));
}

#[test]
fn expand_infers_symbolic_dims() {
    let mask = || unknown(fact(DType::Bool, vec![sym("batch"), Dim::Fixed(1), sym("seq")]));
    let out = infer_op(Op::Expand, &[mask(), known(vector(&[1, 12, 1]))]).unwrap();
    assert_eq!(dims(&out), [sym("batch"), Dim::Fixed(12), sym("seq")]);
    let out =
        infer_op(Op::Expand, &[unknown(Fact::fixed(DType::F32, &[3, 1])), unknown(Fact::fixed(DType::I64, &[4]))])
            .unwrap();
    assert_eq!(dims(&out), [Dim::Unknown, Dim::Unknown, Dim::Fixed(3), Dim::Unknown]);
    assert!(infer_op(Op::Expand, &[mask(), known(vector(&[-3]))]).is_err());
}

#[test]
fn flatten_splits_at_the_axis() {
    let x = iota(DType::Bool, &[2, 3, 4]);
    let cases: [(i64, [usize; 2]); 5] = [(1, [2, 12]), (0, [1, 24]), (3, [24, 1]), (-1, [6, 4]), (-3, [1, 24])];
    for (axis, expected) in cases {
        let out = run(Op::Flatten { axis }, &[&x]);
        assert_eq!(out.shape(), expected, "axis {axis}");
        assert!(out.data() == x.data());
    }
    assert!(fails(Op::Flatten { axis: 4 }, &[&x]).contains("out of range"));
    assert!(fails(Op::Flatten { axis: -4 }, &[&x]).contains("out of range"));
    let heads = || unknown(fact(DType::F32, vec![sym("batch"), Dim::Fixed(12), Dim::Fixed(32)]));
    assert_eq!(dims(&infer_op(Op::Flatten { axis: 1 }, &[heads()]).unwrap()), [sym("batch"), Dim::Fixed(384)]);
    assert_eq!(dims(&infer_op(Op::Flatten { axis: 2 }, &[heads()]).unwrap()), [Dim::Unknown, Dim::Fixed(32)]);
    let empty = unknown(fact(DType::F32, vec![sym("batch"), Dim::Fixed(0)]));
    assert_eq!(dims(&infer_op(Op::Flatten { axis: 0 }, &[empty]).unwrap()), [Dim::Fixed(1), Dim::Fixed(0)]);
}

/// Shape and Range nodes fold into constants before a graph reaches the GPU, so no
/// conformance case runs their kernels: their lowering and WGSL are checked here.
mod gpu_lowering {
    use naga::valid::{Capabilities, ValidationFlags, Validator};

    use super::super::gpu::lower;
    use super::vector;
    use crate::gpu::kernel::{Dispatch, GpuInput, Lowered};
    use crate::ir::Op;
    use crate::tensor::DType;

    fn input(dtype: DType, shape: &[usize]) -> GpuInput<'_> {
        GpuInput { dtype, shape, value: None }
    }

    fn one_dispatch(op: &Op, inputs: &[GpuInput<'_>], output: &GpuInput<'_>) -> Dispatch {
        match lower(op, inputs, output).unwrap() {
            Lowered::Dispatches(mut d) if d.len() == 1 => d.remove(0),
            other => panic!("expected one dispatch, got {other:?}"),
        }
    }

    fn validate(dispatch: &Dispatch) {
        let source = dispatch.kernel.source();
        let module = naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| panic!("{}", e.emit_to_string(&source)));
        let info = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module);
        info.unwrap_or_else(|e| panic!("{}", e.emit_to_string(&source)));
        assert!(module.entry_points.iter().any(|e| e.name == dispatch.kernel.entry));
    }

    #[test]
    fn shape_writes_its_dims_from_the_params() {
        let x = [input(DType::F32, &[2, 3, 5, 7])];
        let d = one_dispatch(&Op::Shape { start: 1, end: Some(-1) }, &x, &input(DType::I64, &[2]));
        assert_eq!((d.params.as_slice(), d.inputs.as_slice(), d.invocations), (&[3, 5][..], &[][..], 2));
        validate(&d);
        let d = one_dispatch(&Op::Shape { start: 0, end: None }, &x, &input(DType::I64, &[4]));
        assert_eq!(d.params, [2, 3, 5, 7]);
        assert!(lower(&Op::Shape { start: 0, end: None }, &x, &input(DType::I64, &[3])).is_err());
        let huge = [input(DType::F32, &[1 << 31])];
        assert!(lower(&Op::Shape { start: 0, end: None }, &huge, &input(DType::I64, &[1])).is_err());
    }

    #[test]
    fn range_reads_start_and_delta_on_the_device() {
        let bound = vector(&[4]);
        for dtype in [DType::I32, DType::I64] {
            let scalars =
                [input(dtype, &[]), input(dtype, &[]), GpuInput { value: Some(&bound), ..input(dtype, &[1]) }];
            let d = one_dispatch(&Op::Range, &scalars, &input(dtype, &[7]));
            assert_eq!((d.inputs.as_slice(), d.invocations), (&[0, 2][..], 7));
            validate(&d);
        }
        let floats = [input(DType::F32, &[]), input(DType::F32, &[]), input(DType::F32, &[])];
        assert!(lower(&Op::Range, &floats, &input(DType::F32, &[3])).is_err());
        let vectors = [input(DType::I64, &[2]), input(DType::I64, &[]), input(DType::I64, &[])];
        assert!(lower(&Op::Range, &vectors, &input(DType::I64, &[3])).is_err());
    }
}
