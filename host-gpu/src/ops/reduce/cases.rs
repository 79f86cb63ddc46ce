//! Conformance cases of the reduce family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, ints, values};
use crate::ir::{GraphError, Op, ReduceKind};
use crate::tensor::Tensor;

const FAMILY: &str = "reduce";

/// Rows of three that meet every special combination: opposite infinities, NaN, signed
/// zeros in both orders, overflow, subnormals (flushed on input) and cancellation.
fn special_rows() -> Result<Tensor, GraphError> {
    let (inf, nan, max, tiny) = (f32::INFINITY, f32::NAN, f32::MAX, f32::MIN_POSITIVE);
    let rows = [
        [inf, -inf, 1.0],
        [-inf, inf, 1.0],
        [1.0, nan, inf],
        [-0.0, -0.0, -0.0],
        [-0.0, 0.0, -0.0],
        [0.0, -0.0, 0.0],
        [max, max, -max],
        [-max, -max, 1.0],
        [1.0e-40, -1.0e-40, -0.0],
        [tiny, -tiny, tiny],
        [1.5, -1.5, -0.0],
        [-inf, -inf, -inf],
        [inf, inf, -0.0],
        [3.0, -2.0, 1.0e-40],
    ];
    let data = rows.concat();
    Tensor::from_f32(vec![rows.len(), 3], data)
        .map_err(|e| GraphError::Input { name: "x".into(), message: e.to_string() })
}

/// Every kind over the last axis, over several contiguous and non-contiguous axes, over
/// all axes and over none of size > 1, with and without keepdims, on values with specials
/// and on uniform values; integer (i64) sums, maxima and minima.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    // (name, shape, axes, keepdims)
    let layouts: [(&str, &[usize], &[i64], bool); 10] = [
        ("last", &[5, 131], &[-1], true),
        ("last_flat", &[3, 7, 67], &[2], false),
        ("first", &[9, 70], &[0], false),
        ("middle", &[4, 13, 6], &[1], true),
        ("inner_pair", &[3, 5, 7, 9], &[1, 2], false),
        ("split_pair", &[4, 6, 5, 3], &[0, -2], true),
        ("all", &[6, 7, 11], &[], false),
        ("three_runs", &[3, 4, 5, 6, 7], &[0, 2, 4], false),
        ("all_keepdims", &[2, 9, 4], &[], true),
        ("unit_axis", &[5, 1, 13], &[1], false),
    ];
    let kinds = [ReduceKind::Sum, ReduceKind::Mean, ReduceKind::Max, ReduceKind::Min];
    let mut cases = Vec::new();
    for (k, kind) in (0..).zip(kinds) {
        let prefix = format!("{kind:?}").to_lowercase();
        for (l, (layout, shape, axes, keepdims)) in (0..).zip(layouts) {
            let op = Op::Reduce { kind, axes: axes.to_vec(), keepdims };
            let seed = 10 * k + l;
            // Specials on the short reductions; on long ones nearly every output would be NaN.
            let how = if shape.iter().product::<usize>() < 400 || layout == "middle" {
                Values::WithSpecials(10.0)
            } else {
                Values::Uniform(10.0)
            };
            let case =
                Case::single(FAMILY, format!("{prefix}_{layout}"), op, vec![Arg::Input(values(shape, seed, how))])?;
            cases.push(if layout == "middle" { case.canary() } else { case });
        }
        let specials = Op::Reduce { kind, axes: vec![-1], keepdims: false };
        let x = values(&[67, 3], 100 + k, Values::WithSpecials(1.0e30));
        cases.push(Case::single(FAMILY, format!("{prefix}_specials"), specials.clone(), vec![Arg::Input(x)])?);
        cases.push(Case::single(
            FAMILY,
            format!("{prefix}_special_rows"),
            specials,
            vec![Arg::Input(special_rows()?)],
        )?);
    }
    let int_layouts: [(&str, &[usize], &[i64], bool); 2] =
        [("i64_last", &[7, 33], &[-1], false), ("i64_split", &[4, 6, 5], &[0, 2], true)];
    for kind in [ReduceKind::Sum, ReduceKind::Max, ReduceKind::Min] {
        let prefix = format!("{kind:?}").to_lowercase();
        for (layout, shape, axes, keepdims) in int_layouts {
            let op = Op::Reduce { kind, axes: axes.to_vec(), keepdims };
            let x = ints(shape, 200, -1_000_000, 1_000_000);
            cases.push(Case::single(FAMILY, format!("{prefix}_{layout}"), op, vec![Arg::Input(x)])?);
        }
    }
    Ok(cases)
}
