//! Conformance cases of the conv family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, values};
use crate::ir::{ConvAttrs, GraphError, Op};

const FAMILY: &str = "conv";

/// One conv case: input `x`, weights `w` (`[M, C/group, kH, kW]`, the kernel size taken
/// from them) and, with `bias`, one bias value per output channel, drawn from `seed`.
struct Conv<'a> {
    name: &'a str,
    x: [usize; 4],
    w: [usize; 4],
    strides: [usize; 2],
    /// Top, left, bottom, right.
    pads: [usize; 4],
    dilations: [usize; 2],
    group: usize,
    bias: bool,
    values: Values,
}

impl Conv<'_> {
    /// A 3×3-tap case without padding, stride, dilation, groups or bias: the fields to
    /// change are set by the caller.
    fn new(name: &str, x: [usize; 4], w: [usize; 4]) -> Conv<'_> {
        Conv {
            name,
            x,
            w,
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
            bias: false,
            values: Values::Uniform(2.0),
        }
    }

    fn case(&self, seed: u64) -> Result<Case, GraphError> {
        let attrs = ConvAttrs {
            kernel: [self.w[2], self.w[3]],
            strides: self.strides,
            pads: self.pads,
            dilations: self.dilations,
            group: self.group,
        };
        let mut args =
            vec![Arg::Input(values(&self.x, seed, self.values)), Arg::Input(values(&self.w, seed + 1, self.values))];
        if self.bias {
            args.push(Arg::Input(values(&[self.w[0]], seed + 2, self.values)));
        }
        Case::single(FAMILY, self.name, Op::Conv(attrs), args)
    }
}

/// 3×3 convs padded 1 at strides 1 and 2, depthwise 5×5 and with a channel multiplier,
/// pointwise, asymmetric pads, dilation 2, two groups, with and without bias, batch 2,
/// special values in `x` and `w` (where skipping padded taps matters: `0 · inf` would be
/// NaN), products straddling the subnormal range, odd spatial sizes throughout.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    let specials = Values::WithSpecials(3.0);
    // Products up to 4e-38 around the smallest normal (1.2e-38): some must be flushed.
    let tiny = Values::Uniform(2.0e-19);
    let convs = [
        Conv { pads: [1; 4], bias: true, ..Conv::new("k3_pad1_s1_bias", [1, 3, 9, 11], [4, 3, 3, 3]) },
        Conv { pads: [1; 4], ..Conv::new("k3_pad1_s1", [1, 3, 9, 11], [4, 3, 3, 3]) },
        Conv { pads: [1; 4], strides: [2, 2], ..Conv::new("k3_pad1_s2", [1, 3, 9, 11], [5, 3, 3, 3]) },
        Conv {
            pads: [1; 4],
            strides: [2, 2],
            bias: true,
            ..Conv::new("k3_pad1_s2_bias", [1, 4, 10, 13], [5, 4, 3, 3])
        },
        Conv { pads: [2; 4], group: 6, bias: true, ..Conv::new("depthwise_5x5_bias", [1, 6, 13, 10], [6, 1, 5, 5]) },
        Conv { pads: [2; 4], group: 5, ..Conv::new("depthwise_5x5", [1, 5, 11, 9], [5, 1, 5, 5]) },
        Conv {
            pads: [1; 4],
            strides: [2, 2],
            group: 3,
            bias: true,
            ..Conv::new("depthwise_multiplier_2_s2", [1, 3, 9, 8], [6, 1, 3, 3])
        },
        Conv { bias: true, ..Conv::new("pointwise_1x1_bias", [1, 16, 7, 9], [8, 16, 1, 1]) },
        Conv { ..Conv::new("pointwise_1x1", [1, 12, 5, 7], [6, 12, 1, 1]) },
        Conv { strides: [2, 2], ..Conv::new("pointwise_1x1_s2", [1, 6, 9, 7], [4, 6, 1, 1]) },
        Conv { pads: [2, 0, 1, 3], bias: true, ..Conv::new("asymmetric_pads", [1, 2, 7, 8], [3, 2, 3, 3]) },
        Conv {
            pads: [0, 1, 2, 0],
            strides: [2, 1],
            ..Conv::new("asymmetric_pads_stride_2x1", [1, 3, 9, 7], [2, 3, 3, 2])
        },
        Conv { pads: [2; 4], dilations: [2, 2], ..Conv::new("dilation_2", [1, 3, 12, 11], [4, 3, 3, 3]) },
        Conv {
            pads: [1, 2, 0, 1],
            dilations: [2, 3],
            strides: [1, 2],
            bias: true,
            ..Conv::new("dilation_2x3_stride_1x2", [1, 2, 11, 13], [3, 2, 3, 3])
        },
        Conv { pads: [1; 4], group: 2, bias: true, ..Conv::new("groups_2_bias", [1, 4, 9, 9], [6, 2, 3, 3]) },
        Conv { group: 2, ..Conv::new("groups_2", [1, 6, 7, 5], [4, 3, 3, 3]) },
        Conv { pads: [1; 4], bias: true, ..Conv::new("batch_2", [2, 3, 10, 7], [4, 3, 3, 3]) },
        Conv { pads: [1; 4], group: 4, ..Conv::new("batch_2_depthwise", [2, 4, 7, 9], [4, 1, 3, 3]) },
        Conv { pads: [1; 4], ..Conv::new("wide_288_taps", [1, 32, 17, 19], [16, 32, 3, 3]) },
        Conv { pads: [0, 1, 0, 1], ..Conv::new("kernel_1x3", [1, 3, 5, 9], [2, 3, 1, 3]) },
        Conv { pads: [1; 4], bias: true, values: specials, ..Conv::new("specials_k3", [1, 3, 9, 11], [4, 3, 3, 3]) },
        Conv {
            pads: [2; 4],
            group: 4,
            bias: true,
            values: specials,
            ..Conv::new("specials_depthwise", [1, 4, 9, 7], [4, 1, 5, 5])
        },
        Conv {
            pads: [1; 4],
            bias: true,
            values: tiny,
            ..Conv::new("tiny_subnormal_products", [1, 3, 7, 9], [4, 3, 3, 3])
        },
    ];
    let canaries = ["k3_pad1_s1_bias", "depthwise_5x5_bias", "specials_k3"];
    (1..)
        .step_by(3)
        .zip(&convs)
        .map(|(seed, conv)| {
            let case = conv.case(seed)?;
            Ok(if canaries.contains(&conv.name) { case.canary() } else { case })
        })
        .collect()
}
