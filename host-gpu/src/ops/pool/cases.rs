//! Conformance cases of the pool family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, values};
use crate::ir::{GraphError, Op, PoolAttrs, PoolKind};

const FAMILY: &str = "pool";

/// The pool kinds: max, average without and with padded positions counted.
const KINDS: [(&str, PoolKind); 3] = [
    ("max", PoolKind::Max),
    ("avg", PoolKind::Average { count_include_pad: false }),
    ("avg_pad", PoolKind::Average { count_include_pad: true }),
];

/// A windowed case: name, input shape, kernel, strides, pads (top, left, bottom, right),
/// `ceil_mode`.
type WindowCase = (&'static str, &'static [usize], [usize; 2], [usize; 2], [usize; 4], bool);

/// Every windowed kind over 3×3 stride 2 pad 1 windows (with and without `ceil_mode`),
/// 2×2 stride 2, asymmetric kernels and pads, overlapping stride-1 windows, on values
/// with specials and on uniform values at odd sizes; global average pooling over 7×7
/// (some planes with specials, some without), 1×1 and a wide plane.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    let windows: [WindowCase; 7] = [
        ("3x3_s2_p1", &[1, 3, 15, 17], [3, 3], [2, 2], [1, 1, 1, 1], false),
        ("3x3_s2_p1_ceil", &[2, 3, 14, 16], [3, 3], [2, 2], [1, 1, 1, 1], true),
        ("3x3_s2_ceil", &[1, 4, 14, 9], [3, 3], [2, 2], [0, 0, 0, 0], true),
        ("2x2_s2", &[2, 5, 12, 13], [2, 2], [2, 2], [0, 0, 0, 0], false),
        ("3x2_s1_asym", &[1, 3, 9, 11], [3, 2], [1, 1], [2, 0, 0, 1], false),
        ("2x3_s3_ceil_pad", &[1, 2, 10, 11], [2, 3], [3, 2], [1, 2, 1, 0], true),
        ("5x5_s1_p2", &[1, 8, 13, 13], [5, 5], [1, 1], [2, 2, 2, 2], false),
    ];
    let mut cases = Vec::new();
    for (k, (prefix, kind)) in (0..).zip(KINDS) {
        for (l, (name, shape, kernel, strides, pads, ceil_mode)) in (0..).zip(windows) {
            let op = Op::Pool(PoolAttrs { kind, kernel, strides, pads, ceil_mode });
            let seed = 10 * k + l;
            let how = if l % 2 == 0 { Values::WithSpecials(5.0) } else { Values::Uniform(50.0) };
            let case =
                Case::single(FAMILY, format!("{prefix}_{name}"), op, vec![Arg::Input(values(shape, seed, how))])?;
            cases.push(if name == "3x3_s2_p1" { case.canary() } else { case });
        }
    }
    let global =
        PoolAttrs { kind: PoolKind::GlobalAverage, kernel: [1, 1], strides: [1, 1], pads: [0; 4], ceil_mode: false };
    // (name, input shape, values): a 7x7 plane holds a special at every 7th value, so all
    // its planes do; the uniform case keeps the sums finite.
    let globals: [(&str, &[usize], Values); 5] = [
        ("global_7x7", &[2, 33, 7, 7], Values::Uniform(10.0)),
        ("global_7x7_specials", &[1, 5, 7, 7], Values::WithSpecials(10.0)),
        ("global_1x1", &[1, 70, 1, 1], Values::WithSpecials(10.0)),
        ("global_3x5", &[3, 7, 3, 5], Values::Uniform(1.0)),
        ("global_wide", &[1, 3, 56, 61], Values::Uniform(3.0)),
    ];
    for (i, (name, shape, how)) in (40..).zip(globals) {
        let case = Case::single(FAMILY, name, Op::Pool(global.clone()), vec![Arg::Input(values(shape, i, how))])?;
        cases.push(if name == "global_7x7" { case.canary() } else { case });
    }
    Ok(cases)
}
