//! Conformance cases of the norm family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, values};
use crate::ir::{GraphError, Op};
use crate::tensor::Tensor;

const FAMILY: &str = "norm";

/// An f32 tensor from its data (`name` is for the error).
fn tensor(name: &str, shape: &[usize], data: Vec<f32>) -> Result<Tensor, GraphError> {
    Tensor::from_f32(shape.to_vec(), data).map_err(|e| GraphError::Input { name: name.into(), message: e.to_string() })
}

/// Non-negative variances: `|uniform|` in `[0, scale)`, with a few exact zeros.
fn variances(channels: usize, seed: u64, scale: f32) -> Result<Tensor, GraphError> {
    let v = values(&[channels], seed, Values::Uniform(scale));
    let v = v.as_f32().map_err(|e| GraphError::Input { name: "var".into(), message: e.to_string() })?;
    let data = v.iter().enumerate().map(|(i, x)| if i % 5 == 2 { 0.0 } else { x.abs() }).collect();
    tensor("var", &[channels], data)
}

/// `[x, scale, bias, mean, var]` of a BatchNorm over `shape` (channels on axis 1).
fn batch_norm_args(shape: &[usize], seed: u64, x: Values, specials_in_params: bool) -> Result<Vec<Arg>, GraphError> {
    let c = shape[1];
    let param = |s: u64, scale: f32| {
        let how = if specials_in_params { Values::WithSpecials(scale) } else { Values::Uniform(scale) };
        values(&[c], seed + s, how)
    };
    let var = if specials_in_params {
        values(&[c], seed + 4, Values::WithSpecials(2.0))
    } else {
        variances(c, seed + 4, 3.0)?
    };
    Ok(vec![
        Arg::Input(values(shape, seed, x)),
        Arg::Input(param(1, 2.0)),
        Arg::Input(param(2, 1.0)),
        Arg::Input(param(3, 1.0)),
        Arg::Input(var),
    ])
}

/// Special values that are not NaN or infinite.
const FINITE_SPECIALS: [f32; 7] = [0.0, -0.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1.0e-40, -1.0e-40, 1.0e30];

/// A LayerNorm input of `shape` whose values are uniform except for a few rows that get
/// non-NaN specials (±0, subnormals, the smallest normals, 1e30), so that most rows stay
/// finite while the flushes are exercised.
fn layer_norm_input(shape: &[usize], n: usize, seed: u64, scale: f32) -> Result<Tensor, GraphError> {
    let v = values(shape, seed, Values::Uniform(scale));
    let mut data = v.as_f32().map_err(|e| GraphError::Input { name: "x".into(), message: e.to_string() })?.to_vec();
    for (row, chunk) in data.chunks_mut(n).enumerate().filter(|(row, _)| row % 3 == 1) {
        for (i, x) in chunk.iter_mut().enumerate().filter(|(i, _)| i % 4 == row % 4) {
            *x = FINITE_SPECIALS[(row + i) % FINITE_SPECIALS.len()];
        }
    }
    tensor("x", shape, data)
}

/// A BatchNorm case: name, input shape, epsilon, seed, input values, whether the
/// parameters hold specials.
type BatchNormCase = (&'static str, &'static [usize], f32, u64, Values, bool);

/// A LayerNorm case: name, input shape, axis, the first normalized axis, whether there is a
/// bias, seed, scale of the input values.
type LayerNormCase = (&'static str, &'static [usize], i64, usize, bool, u64, f32);

/// BatchNorm over NCHW, rank 2 and rank 3 inputs, with specials in the input and in the
/// parameters (negative and NaN variances included), and one large case that needs a 2-D
/// dispatch; LayerNorm over one and several trailing axes, with and without bias, on
/// tiny values (subnormal squares), rows with specials and rows of NaN/inf.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    let mut cases = Vec::new();
    let batch_norms: [BatchNormCase; 6] = [
        ("batch_norm_small", &[2, 3, 5, 7], 1e-5, 1, Values::WithSpecials(4.0), false),
        ("batch_norm_rank2", &[67, 5], 1e-3, 2, Values::WithSpecials(8.0), false),
        ("batch_norm_rank3", &[3, 11, 13], 1e-5, 3, Values::Uniform(100.0), false),
        ("batch_norm_param_specials", &[2, 24, 3, 5], 1e-5, 4, Values::WithSpecials(4.0), true),
        ("batch_norm_zero_eps", &[1, 10, 9, 7], 0.0, 5, Values::WithSpecials(1.0), false),
        // 4.2M elements: more than 65,535 workgroups of 64, so a 2-D dispatch.
        ("batch_norm_large", &[1, 16, 513, 515], 1e-5, 6, Values::WithSpecials(3.0), false),
    ];
    for (name, shape, epsilon, seed, x, specials) in batch_norms {
        let case = Case::single(FAMILY, name, Op::BatchNorm { epsilon }, batch_norm_args(shape, seed, x, specials)?)?;
        cases.push(if name == "batch_norm_small" { case.canary() } else { case });
    }
    let ln = |axis: i64, epsilon: f32| Op::LayerNorm { axis, epsilon };
    let layer_norms: [LayerNormCase; 7] = [
        ("layer_norm_small", &[4, 37], -1, 1, true, 11, 3.0),
        ("layer_norm_rows", &[3, 7, 131], -1, 2, true, 12, 10.0),
        ("layer_norm_no_bias", &[5, 6, 70], 2, 2, false, 13, 2.0),
        ("layer_norm_two_axes", &[3, 6, 11], 1, 1, true, 14, 1.0),
        ("layer_norm_two_axes_no_bias", &[2, 9, 13], -2, 1, false, 15, 50.0),
        ("layer_norm_all_axes", &[5, 17], 0, 0, true, 16, 1.0),
        ("layer_norm_tiny", &[6, 65], -1, 1, false, 17, 1.0e-20),
    ];
    for (name, shape, axis, first, bias, seed, scale) in layer_norms {
        let n: usize = shape[first..].iter().product();
        let mut args = vec![
            Arg::Input(layer_norm_input(shape, n, seed, scale)?),
            Arg::Input(values(&shape[first..], seed + 1, Values::Uniform(2.0))),
        ];
        if bias {
            args.push(Arg::Input(values(&shape[first..], seed + 2, Values::Uniform(1.0))));
        }
        let case = Case::single(FAMILY, name, ln(axis, 1e-5), args)?;
        cases.push(if name == "layer_norm_small" { case.canary() } else { case });
    }
    // Every 7th value special, rows of 5: most rows hold NaN or ±inf, some none.
    let specials = vec![
        Arg::Input(values(&[40, 5], 21, Values::WithSpecials(5.0))),
        Arg::Input(values(&[5], 22, Values::WithSpecials(2.0))),
        Arg::Input(values(&[5], 23, Values::Uniform(1.0))),
    ];
    cases.push(Case::single(FAMILY, "layer_norm_specials", ln(-1, 1e-5), specials)?);
    Ok(cases)
}
