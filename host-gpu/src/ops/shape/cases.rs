//! Conformance cases of the shape family (see [`crate::conformance`]).
//!
//! Data is f32 with specials (the words must come back bit for bit), i64 over the whole
//! i32 range and bool; shape-like inputs (targets, slice bounds, axes) are constants.
//! Shape and Range have no case: with a concrete input shape (Shape) or constant bounds
//! (Range) a node is folded into a constant when the graph is built, and otherwise its
//! output shape is not concrete, so no graph can keep either node and run on the GPU.

use crate::conformance::{Arg, Case, Values, ints, values};
use crate::ir::{Fact, GraphBuilder, GraphError, Op};
use crate::tensor::{DType, Tensor, TensorData, TensorError};

const FAMILY: &str = "shape";

/// A tensor built for a case, its error as a [`GraphError`].
fn made(name: &str, tensor: Result<Tensor, TensorError>) -> Result<Tensor, GraphError> {
    tensor.map_err(|e| GraphError::Input { name: name.into(), message: e.to_string() })
}

/// An i64 vector.
fn longs(values: &[i64]) -> Result<Tensor, GraphError> {
    made("longs", Tensor::from_i64(vec![values.len()], values.to_vec()))
}

/// An i64 tensor of any shape.
fn longs_shaped(shape: &[usize], values: &[i64]) -> Result<Tensor, GraphError> {
    made("longs", Tensor::from_i64(shape.to_vec(), values.to_vec()))
}

/// An i32 tensor.
fn i32s(shape: &[usize], values: &[i32]) -> Result<Tensor, GraphError> {
    made("i32s", Tensor::new(shape.to_vec(), TensorData::I32(values.to_vec())))
}

/// Case data of `dtype`: f32 with specials, i64 over the i32 range, or bool.
fn data(dtype: DType, shape: &[usize], seed: u64) -> Result<Tensor, GraphError> {
    match dtype {
        DType::F32 => Ok(values(shape, seed, Values::WithSpecials(100.0))),
        DType::I64 => Ok(ints(shape, seed, i64::from(i32::MIN), i64::from(i32::MAX))),
        _ => {
            let bits = ints(shape, seed, 0, 2)
                .to_i64_vec()
                .map_err(|e| GraphError::Input { name: "bools".into(), message: e.to_string() })?;
            made("bools", Tensor::new(shape.to_vec(), TensorData::Bool(bits.iter().map(|&b| b == 1).collect())))
        }
    }
}

/// The lowercase name of a dtype for case names.
fn suffix(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::I64 => "i64",
        _ => "bool",
    }
}

/// Every shape op kind but Shape and Range (see the module docs).
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    let mut cases = Vec::new();
    reshapes(&mut cases)?;
    transposes(&mut cases)?;
    slices(&mut cases)?;
    gathers(&mut cases)?;
    gather_nds(&mut cases)?;
    concats(&mut cases)?;
    expands(&mut cases)?;
    folded(&mut cases)?;
    Ok(cases)
}

/// Shape and Range with known operands fold to constants when the graph is built (both
/// executors then return the folded value): the cases pin that folding; their kernels
/// are checked by the family's unit tests.
fn folded(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    for (name, start, end) in [("shape_all", 0, None), ("shape_tail", -2, None), ("shape_middle", 1, Some(3))] {
        let args = vec![Arg::Input(data(DType::F32, &[2, 3, 5, 7], 90)?)];
        cases.push(Case::single(FAMILY, name, Op::Shape { start, end }, args)?);
    }
    let bounds = [longs_shaped(&[], &[-3])?, longs_shaped(&[], &[11])?, longs_shaped(&[], &[2])?];
    cases.push(Case::single(FAMILY, "range_i64", Op::Range, bounds.into_iter().map(Arg::Constant).collect())?);
    let bounds = [i32s(&[], &[9])?, i32s(&[], &[-4])?, i32s(&[], &[-3])?];
    cases.push(Case::single(FAMILY, "range_i32_down", Op::Range, bounds.into_iter().map(Arg::Constant).collect())?);
    Ok(())
}

/// Reshape, Squeeze, Unsqueeze and Flatten (aliases), alone and between kernels.
fn reshapes(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    let x = || data(DType::F32, &[3, 5, 7], 1);
    let reshape = Op::Reshape { allowzero: false };
    cases.push(
        Case::single(
            FAMILY,
            "reshape_f32",
            reshape.clone(),
            vec![Arg::Input(x()?), Arg::Constant(longs(&[7, -1, 3])?)],
        )?
        .canary(),
    );
    let args = vec![Arg::Input(data(DType::I64, &[4, 6], 2)?), Arg::Constant(longs(&[0, 2, 3])?)];
    cases.push(Case::single(FAMILY, "reshape_i64_copy_dim", reshape, args)?);
    let squeeze = Op::Squeeze { axes: vec![0, -2] };
    cases.push(
        Case::single(FAMILY, "squeeze_f32", squeeze, vec![Arg::Input(data(DType::F32, &[1, 5, 1, 7], 3)?)])?.canary(),
    );
    let squeeze_all = Op::Squeeze { axes: Vec::new() };
    cases.push(Case::single(
        FAMILY,
        "squeeze_all_bool",
        squeeze_all,
        vec![Arg::Input(data(DType::Bool, &[1, 3, 1], 4)?)],
    )?);
    let unsqueeze = Op::Unsqueeze { axes: vec![0, -1] };
    cases.push(Case::single(FAMILY, "unsqueeze_f32", unsqueeze, vec![Arg::Input(x()?)])?.canary());
    let flatten = Op::Flatten { axis: 2 };
    cases.push(
        Case::single(FAMILY, "flatten_f32", flatten, vec![Arg::Input(data(DType::F32, &[2, 3, 5, 7], 5)?)])?.canary(),
    );
    let flatten0 = Op::Flatten { axis: 0 };
    cases.push(Case::single(FAMILY, "flatten_axis0_i64", flatten0, vec![Arg::Input(data(DType::I64, &[3, 4], 6)?)])?);
    cases.push(aliases_between_kernels()?);
    Ok(())
}

/// x [6, 35] -> Reshape [6, 5, 7] -> Transpose [2, 0, 1] -> Flatten 1 -> Unsqueeze [0]:
/// a kernel reading an alias of a graph input, and an alias of a kernel's output as the
/// graph output.
fn aliases_between_kernels() -> Result<Case, GraphError> {
    let x = data(DType::F32, &[6, 35], 7)?;
    let mut builder = GraphBuilder::new();
    builder.input("x", Fact::fixed(x.dtype(), x.shape()))?;
    builder.constant("target", longs(&[6, 5, 7])?)?;
    builder.node("reshape", Op::Reshape { allowzero: false }, vec!["x".into(), "target".into()], "r");
    builder.node("transpose", Op::Transpose { perm: vec![2, 0, 1] }, vec!["r".into()], "t");
    builder.node("flatten", Op::Flatten { axis: 1 }, vec!["t".into()], "f");
    builder.node("unsqueeze", Op::Unsqueeze { axes: vec![0] }, vec!["f".into()], "y");
    builder.output("y");
    let graph = builder.build()?;
    Ok(Case::graph(FAMILY, "alias_chain", graph, vec![("x".into(), x)]))
}

/// Transposes of rank 2 to 4, several perms, every dtype.
fn transposes(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    let runs: [(DType, &[usize], &[usize]); 13] = [
        (DType::F32, &[3, 5, 7], &[2, 0, 1]),
        (DType::F32, &[3, 5, 7], &[1, 2, 0]),
        (DType::F32, &[3, 5, 7], &[0, 2, 1]),
        (DType::F32, &[3, 5, 7], &[]),
        (DType::F32, &[2, 3, 4, 5], &[0, 2, 3, 1]),
        (DType::F32, &[2, 3, 4, 5], &[3, 1, 0, 2]),
        (DType::F32, &[2, 3, 4, 5], &[1, 0, 3, 2]),
        (DType::F32, &[3, 1, 4, 9], &[3, 2, 1, 0]),
        (DType::F32, &[67, 131], &[1, 0]),
        (DType::F32, &[4, 1, 6], &[1, 0, 2]),
        (DType::I64, &[4, 6, 5], &[2, 1, 0]),
        (DType::Bool, &[3, 2, 5, 3], &[2, 0, 3, 1]),
        (DType::I64, &[4, 6, 5], &[0, 1, 2]),
    ];
    for (seed, (dtype, shape, perm)) in (10..).zip(runs) {
        let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
        let order: Vec<String> = perm.iter().map(ToString::to_string).collect();
        let name = format!("transpose_{}_{}_perm{}", suffix(dtype), dims.join("x"), order.join(""));
        let op = Op::Transpose { perm: perm.to_vec() };
        let case = Case::single(FAMILY, name, op, vec![Arg::Input(data(dtype, shape, seed)?)])?;
        cases.push(if seed == 10 { case.canary() } else { case });
    }
    Ok(())
}

/// One slice case: data, then constant starts, ends and optional axes and steps.
fn slice(name: &str, x: Tensor, bounds: &[&[i64]]) -> Result<Case, GraphError> {
    let mut args = vec![Arg::Input(x)];
    for b in bounds {
        args.push(Arg::Constant(longs(b)?));
    }
    Case::single(FAMILY, name, Op::Slice, args)
}

/// Slices with steps, negative bounds and steps, clamping, default axes, empty results.
fn slices(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    let x = || data(DType::F32, &[7, 9, 11], 20);
    cases.push(slice("slice_steps_f32", x()?, &[&[1, -8], &[6, -1], &[0, 2], &[2, 3]])?.canary());
    cases.push(slice("slice_negative_steps_f32", x()?, &[&[-1, 8], &[-100, 1], &[1, 0], &[-2, -3]])?.canary());
    cases.push(slice("slice_default_axes_f32", x()?, &[&[1, 0, 2], &[4, 100, -1]])?);
    cases.push(slice("slice_negative_axis_f32", x()?, &[&[-3], &[-1], &[-1], &[1]])?);
    cases.push(slice("slice_reverse_all_f32", x()?, &[&[-1, -1, -1], &[-100, -100, -100], &[2, 0, 1], &[-1, -1, -1]])?);
    let x4 = data(DType::F32, &[3, 4, 5, 6], 21)?;
    cases.push(slice("slice_rank4_f32", x4, &[&[0, -1, 1, 5], &[3, -5, 100, 0], &[0, 1, 2, 3], &[1, -1, 2, -2]])?);
    let args = vec![
        Arg::Input(data(DType::F32, &[5, 8], 22)?),
        Arg::Constant(i32s(&[1], &[-2])?),
        Arg::Constant(i32s(&[1], &[0])?),
        Arg::Constant(i32s(&[1], &[1])?),
        Arg::Constant(i32s(&[1], &[-3])?),
    ];
    cases.push(Case::single(FAMILY, "slice_i32_bounds_f32", Op::Slice, args)?);
    cases.push(slice("slice_i64", data(DType::I64, &[6, 10], 23)?, &[&[5, 1], &[0, 10], &[0, 1], &[-2, 4]])?);
    cases.push(slice("slice_bool", data(DType::Bool, &[6, 10], 24)?, &[&[-5, 9], &[-1, 2], &[0, 1], &[1, -3]])?);
    cases.push(slice("slice_empty_f32", x()?, &[&[5], &[2], &[1], &[1]])?);
    cases.push(slice("slice_whole_f32", x()?, &[&[0], &[100], &[0], &[1]])?);
    cases.push(slice("slice_one_element_f32", x()?, &[&[3, 4, -2], &[4, 5, -1]])?);
    Ok(())
}

/// Gathers on axes 0, 1 and -1 with negative indices, constant and run-time, i64 and i32
/// indices, a scalar index, every dtype.
fn gathers(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    let args = vec![Arg::Input(data(DType::F32, &[7, 13], 30)?), Arg::Constant(longs(&[-1, 0, 3, -7, 6])?)];
    cases.push(Case::single(FAMILY, "gather_axis0_f32", Op::Gather { axis: 0 }, args)?.canary());
    let indices = longs_shaped(&[2, 3], &[-1, 2, 0, 8, -9, 4])?;
    let args = vec![Arg::Input(data(DType::F32, &[5, 9, 4], 31)?), Arg::Input(indices)];
    cases.push(Case::single(FAMILY, "gather_axis1_runtime_f32", Op::Gather { axis: 1 }, args)?.canary());
    let args = vec![Arg::Input(data(DType::F32, &[3, 4, 11], 32)?), Arg::Input(i32s(&[3], &[10, -11, 5])?)];
    cases.push(Case::single(FAMILY, "gather_last_axis_i32_indices_f32", Op::Gather { axis: -1 }, args)?);
    let args = vec![Arg::Input(data(DType::F32, &[6, 7], 33)?), Arg::Constant(longs_shaped(&[], &[-2])?)];
    cases.push(Case::single(FAMILY, "gather_scalar_index_f32", Op::Gather { axis: 0 }, args)?);
    let args = vec![Arg::Input(data(DType::I64, &[4, 5, 3], 34)?), Arg::Input(longs(&[-5, 4, 0, 1])?)];
    cases.push(Case::single(FAMILY, "gather_axis1_i64", Op::Gather { axis: 1 }, args)?);
    let args = vec![Arg::Input(data(DType::Bool, &[9, 4], 35)?), Arg::Constant(longs_shaped(&[2, 2], &[8, -9, 0, 3])?)];
    cases.push(Case::single(FAMILY, "gather_axis0_bool", Op::Gather { axis: 0 }, args)?);
    let indices = ints(&[40], 36, -67, 67);
    let args = vec![Arg::Input(data(DType::F32, &[67, 65], 37)?), Arg::Input(indices)];
    cases.push(Case::single(FAMILY, "gather_axis0_odd_f32", Op::Gather { axis: 0 }, args)?);
    Ok(())
}

/// GatherND with batch_dims 0 and 1, tuples of 1 to 3 indices, every dtype.
fn gather_nds(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    let x = || data(DType::F32, &[4, 5, 6], 40);
    let nd = |b| Op::GatherNd { batch_dims: b };
    let indices = longs_shaped(&[3, 2], &[-1, 0, 2, -5, 0, 4])?;
    cases
        .push(Case::single(FAMILY, "gathernd_b0_m2_f32", nd(0), vec![Arg::Input(x()?), Arg::Input(indices)])?.canary());
    let indices = longs_shaped(&[2, 2, 1], &[3, -4, 0, -1])?;
    cases.push(Case::single(FAMILY, "gathernd_b0_m1_f32", nd(0), vec![Arg::Input(x()?), Arg::Constant(indices)])?);
    let indices = longs_shaped(&[5, 3], &[0, 0, 0, -1, -1, -1, 2, 3, 4, -3, 1, -6, 1, -2, 5])?;
    cases.push(Case::single(FAMILY, "gathernd_b0_m3_f32", nd(0), vec![Arg::Input(x()?), Arg::Input(indices)])?);
    let indices = longs_shaped(&[4, 2, 1], &[-1, 2, 0, 4, 3, -5, 1, 1])?;
    cases
        .push(Case::single(FAMILY, "gathernd_b1_m1_f32", nd(1), vec![Arg::Input(x()?), Arg::Input(indices)])?.canary());
    let indices =
        longs_shaped(&[4, 3, 2], &[0, 0, -1, -1, 2, 3, 4, 5, -5, -6, 1, 1, 3, 2, 0, 5, 4, 0, -2, -3, 2, 2, 1, 0])?;
    cases.push(Case::single(FAMILY, "gathernd_b1_m2_f32", nd(1), vec![Arg::Input(x()?), Arg::Input(indices)])?);
    let indices = longs_shaped(&[4, 2], &[1, 0, -1, 5, 2, -2, 0, 3])?;
    let args = vec![Arg::Input(data(DType::I64, &[4, 3, 6], 41)?), Arg::Constant(indices)];
    cases.push(Case::single(FAMILY, "gathernd_b1_m2_flat_i64", nd(1), args)?);
    let indices = i32s(&[3, 2], &[1, 1, -2, 0, 0, -1])?;
    let args = vec![Arg::Input(data(DType::Bool, &[2, 3, 7], 42)?), Arg::Input(indices)];
    cases.push(Case::single(FAMILY, "gathernd_b0_m2_i32_indices_bool", nd(0), args)?);
    Ok(())
}

/// Concat of three inputs along each axis, every dtype, a constant input and an empty
/// input.
fn concats(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    let runs: [(DType, i64, [&[usize]; 3]); 6] = [
        (DType::F32, 0, [&[2, 3, 4], &[5, 3, 4], &[1, 3, 4]]),
        (DType::F32, 1, [&[2, 3, 5], &[2, 1, 5], &[2, 4, 5]]),
        (DType::F32, 2, [&[3, 2, 3], &[3, 2, 7], &[3, 2, 1]]),
        (DType::F32, -1, [&[13, 17], &[13, 5], &[13, 11]]),
        (DType::I64, 1, [&[4, 2, 3], &[4, 5, 3], &[4, 1, 3]]),
        (DType::Bool, 0, [&[3, 5], &[1, 5], &[2, 5]]),
    ];
    for (seed, (dtype, axis, shapes)) in (50..).zip(runs) {
        let args =
            shapes.iter().zip(seed * 3..).map(|(s, k)| data(dtype, s, k).map(Arg::Input)).collect::<Result<_, _>>()?;
        let name = format!("concat_axis{axis}_{}", suffix(dtype)).replace('-', "neg");
        let case = Case::single(FAMILY, name, Op::Concat { axis }, args)?;
        cases.push(if seed == 50 { case.canary() } else { case });
    }
    let args = vec![
        Arg::Input(data(DType::F32, &[2, 3, 3], 60)?),
        Arg::Constant(data(DType::F32, &[2, 4, 3], 61)?),
        Arg::Input(data(DType::F32, &[2, 0, 3], 62)?),
        Arg::Input(data(DType::F32, &[2, 1, 3], 63)?),
    ];
    cases.push(Case::single(FAMILY, "concat_constant_and_empty_f32", Op::Concat { axis: 1 }, args)?);
    let args = vec![Arg::Input(data(DType::F32, &[0, 4], 64)?), Arg::Input(data(DType::F32, &[3, 4], 65)?)];
    cases.push(Case::single(FAMILY, "concat_one_nonempty_f32", Op::Concat { axis: 0 }, args)?);
    Ok(())
}

/// Expand with broadcasting on either side, every dtype, and one output of more than
/// 65,535 × 64 elements (the executor spreads its workgroups over two dimensions).
fn expands(cases: &mut Vec<Case>) -> Result<(), GraphError> {
    let runs: [(DType, &[usize], &[i64]); 7] = [
        (DType::F32, &[3, 1, 5], &[2, 3, 4, 5]),
        (DType::F32, &[1], &[7, 9]),
        (DType::F32, &[4, 1], &[3, 1, 1]),
        (DType::F32, &[2, 1, 3, 1], &[1, 5, 1, 7]),
        (DType::I64, &[5, 1], &[5, 6]),
        (DType::Bool, &[1, 3], &[4, 1]),
        (DType::F32, &[3, 4], &[3, 4]),
    ];
    for (seed, (dtype, shape, target)) in (70..).zip(runs) {
        let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
        let to: Vec<String> = target.iter().map(ToString::to_string).collect();
        let name = format!("expand_{}_{}_to_{}", suffix(dtype), dims.join("x"), to.join("x"));
        let args = vec![Arg::Input(data(dtype, shape, seed)?), Arg::Constant(longs(target)?)];
        let case = Case::single(FAMILY, name, Op::Expand, args)?;
        cases.push(if seed == 70 { case.canary() } else { case });
    }
    let args = vec![Arg::Input(data(DType::F32, &[1, 2053], 80)?), Arg::Constant(longs(&[2100, 1, 1])?)];
    cases.push(Case::single(FAMILY, "expand_large_f32", Op::Expand, args)?);
    Ok(())
}
