//! Conformance cases of the elementwise family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, ints, values};
use crate::ir::{BinaryOp, GraphError, Op, UnaryOp};
use crate::tensor::{DType, Tensor, TensorData};

const FAMILY: &str = "elementwise";

/// Every case of the family: unary, binary, `Where` and `Cast`.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    let mut cases = unary_cases()?;
    cases.extend(binary_float_cases()?);
    cases.extend(broadcast_cases()?);
    cases.extend(binary_int_cases()?);
    cases.extend(binary_bool_cases()?);
    cases.extend(where_cases()?);
    cases.extend(cast_cases()?);
    cases.push(buffer_reuse_case()?);
    Ok(cases)
}

/// `t = -x; u = t·t; v = -u; w = |u|; y = v + w`: `u` is `t`'s last reader and reads it
/// twice, and the next two outputs are allocated while `u` is alive, so a buffer pool that
/// took `t`'s buffer back twice would hand it to both `v` and `w`.
fn buffer_reuse_case() -> Result<Case, GraphError> {
    use crate::ir::{Fact, GraphBuilder};
    let x = values(&[5, 77], 31, Values::WithSpecials(3.0));
    let mut b = GraphBuilder::new();
    b.input("x", Fact::fixed(DType::F32, x.shape()))?;
    b.node("neg", Op::Unary(UnaryOp::Neg), vec!["x".into()], "t");
    b.node("square", Op::Binary(BinaryOp::Mul), vec!["t".into(), "t".into()], "u");
    b.node("neg_u", Op::Unary(UnaryOp::Neg), vec!["u".into()], "v");
    b.node("abs_u", Op::Unary(UnaryOp::Abs), vec!["u".into()], "w");
    b.node("sum", Op::Binary(BinaryOp::Add), vec!["v".into(), "w".into()], "y");
    b.output("y");
    Ok(Case::graph(FAMILY, "buffer_reuse_repeated_input", b.build()?, vec![("x".into(), x)]))
}

/// Every unary float op on values with specials, at a size that is not a multiple of
/// the workgroup; integer and bool unary ops.
fn unary_cases() -> Result<Vec<Case>, GraphError> {
    let floats = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::Sigmoid,
        UnaryOp::HardSigmoid { alpha: 0.2, beta: 0.5 },
        UnaryOp::HardSwish,
        UnaryOp::Tanh,
        UnaryOp::Erf,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Reciprocal,
        UnaryOp::Clip { min: -0.5, max: 6.0 },
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Identity,
        UnaryOp::IsNaN,
    ];
    let mut cases = Vec::new();
    for (seed, op) in (1..).zip(floats) {
        let name = Op::Unary(op).kind_name().to_lowercase();
        for (scale, suffix) in [(4.0, "small"), (100.0, "wide")] {
            let x = values(&[3, 331], seed, Values::WithSpecials(scale));
            let case = Case::single(FAMILY, format!("{name}_{suffix}"), Op::Unary(op), vec![Arg::Input(x)])?;
            cases.push(if suffix == "small" { case.canary() } else { case });
        }
    }
    let ints = tensor(&[5], TensorData::I64(vec![0, -3, 7, i64::from(i32::MAX), i64::from(i32::MIN) + 1]))?;
    for op in [UnaryOp::Neg, UnaryOp::Abs] {
        let name = format!("{}_i64", Op::Unary(op).kind_name().to_lowercase());
        cases.push(Case::single(FAMILY, name, Op::Unary(op), vec![Arg::Input(ints.clone())])?);
    }
    let bools = tensor(&[4], TensorData::Bool(vec![true, false, false, true]))?;
    cases.push(Case::single(FAMILY, "not", Op::Unary(UnaryOp::Not), vec![Arg::Input(bools)])?);
    Ok(cases)
}

/// A tensor from its data (the case data always fits its shape).
fn tensor(shape: &[usize], data: TensorData) -> Result<Tensor, GraphError> {
    Tensor::new(shape.to_vec(), data)
        .map_err(|e| GraphError::Input { name: "case data".into(), message: e.to_string() })
}

/// The lower-case name of a binary op.
fn binary_name(op: BinaryOp) -> String {
    Op::Binary(op).kind_name().to_lowercase()
}

/// A case of `op` on two inputs.
fn binary(name: impl Into<String>, op: BinaryOp, a: Tensor, b: Tensor) -> Result<Case, GraphError> {
    Case::single(FAMILY, name, Op::Binary(op), vec![Arg::Input(a), Arg::Input(b)])
}

/// Values with specials quantized to multiples of 0.5 in [-4, 4] (specials kept), so that
/// comparisons meet equal values and `Pow` meets integer, ±0.5 and other exponents.
fn grid(shape: &[usize], seed: u64) -> Result<Tensor, GraphError> {
    let x = values(shape, seed, Values::WithSpecials(4.0));
    let data = x.as_f32().map_err(|e| GraphError::Input { name: "grid".into(), message: e.to_string() })?;
    let q = data.iter().map(|&v| if v.abs() <= 4.0 { (v * 2.0) as i32 as f32 * 0.5 } else { v }).collect();
    tensor(shape, TensorData::F32(q))
}

/// Every binary float op on values with specials at a small and a wide scale (products
/// and powers overflow and underflow there), comparisons and `Pow` also on a grid.
fn binary_float_cases() -> Result<Vec<Case>, GraphError> {
    use BinaryOp::*;
    let ops = [Add, Sub, Mul, Div, Pow, Max, Min, Equal, Less, LessOrEqual, Greater, GreaterOrEqual];
    let mut cases = Vec::new();
    for (seed, op) in (40..).zip(ops) {
        for (scale, suffix) in [(4.0, "small"), (1.0e20, "wide")] {
            let a = values(&[3, 331], seed, Values::WithSpecials(scale));
            let b = values(&[3, 331], seed + 100, Values::WithSpecials(scale));
            let case = binary(format!("{}_{suffix}", binary_name(op)), op, a, b)?;
            cases.push(if suffix == "small" { case.canary() } else { case });
        }
        if op.is_comparison() || op == Pow {
            let a = if op == Pow { values(&[5, 67], seed, Values::WithSpecials(4.0)) } else { grid(&[5, 67], seed)? };
            cases.push(binary(format!("{}_grid", binary_name(op)), op, a, grid(&[5, 67], seed + 100)?)?);
        }
    }
    Ok(cases)
}

/// Broadcasting: size-1 and missing dims on either side, scalars, high ranks, and one
/// output above 65,535 workgroups (the executor's 2-D dispatch split).
fn broadcast_cases() -> Result<Vec<Case>, GraphError> {
    use BinaryOp::*;
    let shapes: [(&str, BinaryOp, &[usize], &[usize]); 11] = [
        ("add_3x1x5_4x1", Add, &[3, 1, 5], &[4, 1]),
        ("mul_scalar_tensor", Mul, &[], &[7, 9]),
        ("sub_tensor_scalar", Sub, &[5, 7], &[]),
        ("div_2x3x4_4", Div, &[2, 3, 4], &[4]),
        ("max_1x5_5x1", Max, &[1, 5], &[5, 1]),
        ("min_rank6", Min, &[2, 1, 3, 1, 2, 3], &[1, 2, 1, 3, 1, 3]),
        ("pow_2x3x4_1x1", Pow, &[2, 3, 4], &[1, 1]),
        ("less_3x1x5_1x4x1", Less, &[3, 1, 5], &[1, 4, 1]),
        ("equal_6x1_1", Equal, &[6, 1], &[1]),
        ("add_rank7", Add, &[2, 1, 2, 1, 2, 1, 3], &[1, 3, 1, 2, 1, 2, 1]),
        ("greater_4x5x6_same", Greater, &[4, 5, 6], &[4, 5, 6]),
    ];
    let mut cases = Vec::new();
    for (seed, (name, op, sa, sb)) in (60..).zip(shapes) {
        let (a, b) = if op.is_comparison() {
            (grid(sa, seed)?, grid(sb, seed + 100)?)
        } else {
            (values(sa, seed, Values::WithSpecials(4.0)), values(sb, seed + 100, Values::WithSpecials(4.0)))
        };
        let case = binary(format!("bcast_{name}"), op, a, b)?;
        cases.push(if name == "add_3x1x5_4x1" { case.canary() } else { case });
    }
    let big = values(&[4_200_000], 90, Values::Uniform(100.0));
    cases.push(binary("add_large", Add, big, Tensor::scalar_f32(0.75))?);
    Ok(cases)
}

/// The values of an i64 tensor.
fn i64s(x: &Tensor) -> Result<&[i64], GraphError> {
    x.as_i64().map_err(|e| GraphError::Input { name: "ints".into(), message: e.to_string() })
}

/// i64 data as the dtype of a case (values within the i32 range).
fn int_tensor(x: &Tensor, dtype: DType) -> Result<Tensor, GraphError> {
    let v = i64s(x)?;
    let data = match dtype {
        DType::I32 => TensorData::I32(v.iter().map(|&i| i as i32).collect()),
        _ => TensorData::I64(v.to_vec()),
    };
    tensor(x.shape(), data)
}

/// `x` (i64) with `head` written over its first elements.
fn with_head(x: Tensor, head: &[i64]) -> Result<Tensor, GraphError> {
    let mut v = i64s(&x)?.to_vec();
    for (slot, &h) in v.iter_mut().zip(head) {
        *slot = h;
    }
    tensor(x.shape(), TensorData::I64(v))
}

/// Every non-logical binary op on i32 (wrapping at the extremes, i32::MIN / -1) and on
/// i64 (values whose results stay in the i32 range the GPU holds i64 in), one broadcast.
fn binary_int_cases() -> Result<Vec<Case>, GraphError> {
    use BinaryOp::*;
    let ops = [Add, Sub, Mul, Div, Pow, Max, Min, Equal, Less, LessOrEqual, Greater, GreaterOrEqual];
    let (max, min) = (i64::from(i32::MAX), i64::from(i32::MIN));
    let mut cases = Vec::new();
    for (seed, op) in (200..).zip(ops) {
        for dtype in [DType::I32, DType::I64] {
            let wide = dtype == DType::I32;
            let (a, b) = match op {
                Pow if wide => {
                    (with_head(ints(&[5, 67], seed, -40, 40), &[max, min, -1, 0])?, ints(&[5, 67], seed + 1, 0, 13))
                }
                Pow => (
                    with_head(ints(&[5, 67], seed, -6, 7), &[0, -1, 1])?,
                    with_head(ints(&[5, 67], seed + 1, 0, 9), &[0, 8, 7])?,
                ),
                // Nonzero divisors: -50..=-1 and 1..=50.
                Div => {
                    let (b, sign) = (ints(&[5, 67], seed + 1, 1, 51), ints(&[5, 67], seed + 2, 0, 2));
                    let mut d: Vec<i64> =
                        i64s(&b)?.iter().zip(i64s(&sign)?).map(|(&v, &s)| if s == 0 { -v } else { v }).collect();
                    let mut a = ints(&[5, 67], seed, -100_000, 100_000);
                    if wide {
                        d[..3].copy_from_slice(&[-1, 1, -1]);
                        a = with_head(a, &[min, min, max])?;
                    }
                    (a, tensor(&[5, 67], TensorData::I64(d))?)
                }
                _ if wide => (
                    with_head(ints(&[5, 67], seed, -100_000, 100_000), &[max, min, max, min, 0])?,
                    with_head(ints(&[5, 67], seed + 1, -100_000, 100_000), &[1, -1, max, min, 0])?,
                ),
                _ => (ints(&[5, 67], seed, -1000, 1000), ints(&[5, 67], seed + 1, -1000, 1000)),
            };
            // Comparisons meet equal values too.
            let b = if op.is_comparison() { with_head(b, &i64s(&a)?[..40])? } else { b };
            let name = format!("{}_{}", binary_name(op), if wide { "i32" } else { "i64" });
            let case = binary(name, op, int_tensor(&a, dtype)?, int_tensor(&b, dtype)?)?;
            cases.push(if matches!(op, Add | Div) && wide { case.canary() } else { case });
        }
    }
    let (a, b) = (ints(&[4, 1, 6], 230, -1000, 1000), ints(&[5, 1], 231, -1000, 1000));
    cases.push(binary("bcast_mul_i64_4x1x6_5x1", Mul, a, b)?);
    Ok(cases)
}

/// Bools from `ints` of 0 and 1.
fn bools(shape: &[usize], seed: u64) -> Result<Tensor, GraphError> {
    let x = ints(shape, seed, 0, 2);
    let v = i64s(&x)?;
    tensor(shape, TensorData::Bool(v.iter().map(|&i| i != 0).collect()))
}

/// The logical ops and `Equal` on bools, broadcast and not.
fn binary_bool_cases() -> Result<Vec<Case>, GraphError> {
    let mut cases = Vec::new();
    for (seed, op) in (300..).zip([BinaryOp::And, BinaryOp::Or, BinaryOp::Xor, BinaryOp::Equal]) {
        let name = binary_name(op);
        cases.push(binary(format!("{name}_bool"), op, bools(&[2, 3, 1], seed)?, bools(&[1, 4], seed + 1)?)?.canary());
        cases.push(binary(format!("{name}_bool_same"), op, bools(&[7, 11], seed)?, bools(&[7, 11], seed + 1)?)?);
    }
    Ok(cases)
}

/// `Where` on f32, i64, i32 and bool branches with three-way broadcasting.
fn where_cases() -> Result<Vec<Case>, GraphError> {
    let case = |name: &str, args: [Tensor; 3]| Case::single(FAMILY, name, Op::Where, args.map(Arg::Input).to_vec());
    Ok(vec![
        case(
            "where_f32_bcast",
            [bools(&[3, 1, 5], 400)?, values(&[4, 5], 401, Values::WithSpecials(4.0)), Tensor::scalar_f32(-0.0)],
        )?
        .canary(),
        case("where_i64_bcast", [bools(&[6], 402)?, ints(&[2, 6], 403, -1000, 1000), ints(&[2, 1], 404, -5, 5)])?,
        case(
            "where_i32_same",
            [
                bools(&[7, 11], 405)?,
                int_tensor(&ints(&[7, 11], 406, -9, 9), DType::I32)?,
                int_tensor(&ints(&[7, 11], 407, -9, 9), DType::I32)?,
            ],
        )?,
        case("where_bool_bcast", [bools(&[4, 1], 408)?, bools(&[1, 3], 409)?, bools(&[4, 3], 410)?])?,
    ])
}

/// `Cast` between f32, i32, i64 and bool in both directions, with the edges of each rule:
/// truncation toward zero, wrapping of large floats into i32, |v| < 2^24 to f32, NaN and
/// subnormals to bool.
fn cast_cases() -> Result<Vec<Case>, GraphError> {
    let cast = |to: DType, x: Tensor| {
        let name = format!("cast_{}_to_{}", x.dtype(), to).to_lowercase();
        Case::single(FAMILY, name, Op::Cast { to }, vec![Arg::Input(x)])
    };
    // Finite floats below 2^63 (the CPU rejects the others).
    let edges = [
        0.0,
        -0.0,
        1.0e-40,
        -1.0e-40,
        f32::MIN_POSITIVE,
        0.5,
        -0.5,
        0.999,
        -0.999,
        1.0,
        -1.0,
        2.5,
        -2.5,
        16_777_216.0,
        2_147_483_520.0,
        -2_147_483_648.0,
        2_147_483_648.0,
        3.0e9,
        -3.0e9,
        4_294_967_296.0,
        1.0e15,
        -1.0e15,
        9.2e18,
        -9.2e18,
        123_456.75,
        -7_654_321.5,
    ];
    let with_edges = |x: Tensor, edges: &[f32]| -> Result<Tensor, GraphError> {
        let v = x.as_f32().map_err(|e| GraphError::Input { name: "floats".into(), message: e.to_string() })?;
        let data = edges.iter().copied().chain(v.iter().copied()).collect::<Vec<f32>>();
        tensor(&[data.len()], TensorData::F32(data))
    };
    let limit = (1 << 24) - 1;
    let small_ints = with_head(ints(&[3, 101], 501, -limit, limit + 1), &[limit, -limit, 0, 1, -1])?;
    let i32s = with_head(ints(&[3, 101], 502, -1000, 1000), &[i64::from(i32::MAX), i64::from(i32::MIN), 0])?;
    Ok(vec![
        cast(DType::I32, with_edges(values(&[3, 101], 503, Values::Uniform(3.0e9)), &edges)?)?.canary(),
        cast(DType::I64, with_edges(values(&[3, 101], 504, Values::Uniform(1.0e5)), &edges[..16])?)?,
        cast(DType::Bool, values(&[3, 101], 505, Values::WithSpecials(4.0)))?.canary(),
        cast(DType::F32, values(&[3, 101], 506, Values::WithSpecials(100.0)))?,
        cast(DType::F32, small_ints.clone())?.canary(),
        cast(DType::F32, int_tensor(&small_ints, DType::I32)?)?,
        cast(DType::I64, int_tensor(&i32s, DType::I32)?)?,
        cast(DType::I32, i32s.clone())?,
        cast(DType::I64, i32s.clone())?,
        cast(DType::Bool, i32s.clone())?,
        cast(DType::Bool, int_tensor(&i32s, DType::I32)?)?,
        cast(DType::F32, bools(&[3, 101], 507)?)?,
        cast(DType::I64, bools(&[3, 101], 508)?)?,
        cast(DType::I32, bools(&[3, 101], 509)?)?,
        cast(DType::Bool, bools(&[3, 101], 510)?)?,
    ])
}
