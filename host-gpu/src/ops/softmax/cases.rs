//! Conformance cases of the softmax family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, values};
use crate::ir::{GraphError, Op};

const FAMILY: &str = "softmax";

/// Softmax along the last axis (contiguous slices) and along inner axes (strided slices),
/// on moderate values, on wide values (exp underflow and a dominating maximum) and with
/// specials (NaN, ±inf, ±0, subnormals), at sizes that are not multiples of 64.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    // (name, shape, axis, seed, values)
    let table: [(&str, &[usize], i64, u64, Values); 9] = [
        ("last_small", &[4, 9], -1, 1, Values::Uniform(3.0)),
        ("last_specials", &[37, 5], -1, 2, Values::WithSpecials(10.0)),
        ("last_rows", &[3, 7, 131], -1, 3, Values::Uniform(10.0)),
        ("last_wide", &[2, 3, 1000], -1, 4, Values::Uniform(120.0)),
        ("axis1_small", &[2, 5, 3], 1, 5, Values::WithSpecials(4.0)),
        ("axis1_strided", &[3, 17, 11, 7], 1, 6, Values::Uniform(20.0)),
        ("axis1_specials", &[5, 6, 13], 1, 7, Values::WithSpecials(50.0)),
        ("axis0", &[19, 67], 0, 8, Values::Uniform(5.0)),
        ("length1", &[70, 1], -1, 9, Values::WithSpecials(5.0)),
    ];
    let mut cases = Vec::new();
    for (name, shape, axis, seed, how) in table {
        let case = Case::single(FAMILY, name, Op::Softmax { axis }, vec![Arg::Input(values(shape, seed, how))])?;
        cases.push(if matches!(name, "last_small" | "axis1_small") { case.canary() } else { case });
    }
    Ok(cases)
}
