//! Fault injection, compiled only with the `fault-injection` feature (which only the test
//! builds enable, through the root package's dev-dependencies): a node that perturbs one
//! op's output, lies about its Merkle tree or withholds its answers, so that the tests can
//! show the dispute protocol catching each. Never part of a release build.

use serde::{Deserialize, Serialize};
use wasmnn_host_gpu::TensorData;
use wasmnn_host_gpu::trace::LeafTensor;

/// A misbehaviour a test asks a node (or the CLI's local trace) to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Perturb one op's output in every call (and trace) from now on.
    Op(OpFault),
    /// Answer bisection queries at `depth` with a wrong right child.
    Lie {
        /// The depth (0 = the children of the top) whose answers are wrong.
        depth: u32,
    },
    /// Never answer one kind of dispute request (the challenger's timeout decides).
    Withhold {
        /// What is withheld.
        stage: Withheld,
    },
}

/// The requests a withholding node leaves unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    /// `POST /v1/traces`.
    Commit,
    /// The tree's children.
    Nodes,
    /// The input tensors of the op under dispute.
    Tensors,
}

/// Which leaf's tensor to perturb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpFault {
    /// The leaf index in the call's trace.
    pub leaf: u64,
}

/// The op fault `WASMNN_FAULT` names (`{"op":{"leaf":K}}`), read when a runtime starts: how a
/// test makes the CLI's own traced run faulty. Other faults there are ignored (they are the
/// node's, set through `PUT /v1/debug/fault`).
pub fn op_fault_from_env() -> Option<OpFault> {
    let text = std::env::var("WASMNN_FAULT").ok()?;
    match serde_json::from_str::<Fault>(&text) {
        Ok(Fault::Op(fault)) => {
            tracing::warn!(leaf = fault.leaf, "fault injection: every call perturbs this trace leaf");
            Some(fault)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "WASMNN_FAULT is not a fault spec; ignored");
            None
        }
    }
}

/// Changes one element of `tensor` by the smallest step: an f32 or f16 of largest finite
/// magnitude (the first one) by one ulp, an integer by one, a boolean flipped. An empty
/// tensor stays as it is.
pub fn perturb(tensor: &mut LeafTensor<'_>) {
    match tensor {
        LeafTensor::F32 { data, .. } => perturb_f32(data),
        LeafTensor::Tensor(t) => {
            let (shape, mut data) = std::mem::replace(*t, wasmnn_host_gpu::Tensor::scalar_f32(0.0)).into_parts();
            match &mut data {
                TensorData::F32(v) => perturb_f32(v),
                TensorData::F16(v) => {
                    if let Some(x) = v.first_mut() {
                        *x = half::f16::from_bits(x.to_bits() ^ 1);
                    }
                }
                TensorData::I8(v) => v.first_mut().into_iter().for_each(|x| *x = x.wrapping_add(1)),
                TensorData::U8(v) => v.first_mut().into_iter().for_each(|x| *x = x.wrapping_add(1)),
                TensorData::I32(v) => v.first_mut().into_iter().for_each(|x| *x = x.wrapping_add(1)),
                TensorData::I64(v) => v.first_mut().into_iter().for_each(|x| *x = x.wrapping_add(1)),
                TensorData::Bool(v) => v.first_mut().into_iter().for_each(|x| *x = !*x),
            }
            if let Ok(rebuilt) = wasmnn_host_gpu::Tensor::new(shape, data) {
                **t = rebuilt;
            }
        }
    }
}

/// One ulp on the element of largest finite magnitude (the first such).
fn perturb_f32(data: &mut [f32]) {
    let mut best: Option<usize> = None;
    for (i, x) in data.iter().enumerate() {
        if x.is_finite() && best.is_none_or(|b| x.abs() > data[b].abs()) {
            best = Some(i);
        }
    }
    if let Some(x) = best.or((!data.is_empty()).then_some(0)).map(|i| &mut data[i]) {
        *x = f32::from_bits(x.to_bits() ^ 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ulp_on_the_largest_finite_value() {
        let mut data = vec![1.0, -3.0, f32::INFINITY, 3.0];
        perturb(&mut LeafTensor::F32 { shape: [1, 4], data: &mut data });
        assert_eq!(data[1].to_bits(), (-3.0f32).to_bits() ^ 1);
        assert_eq!([data[0], data[2], data[3]], [1.0, f32::INFINITY, 3.0]);
    }

    #[test]
    fn integers_step_and_booleans_flip() {
        let mut t = wasmnn_host_gpu::Tensor::from_i64(vec![2], vec![7, 8]).expect("tensor");
        perturb(&mut LeafTensor::Tensor(&mut t));
        assert_eq!(t.as_i64().expect("i64"), &[8, 8]);
        let spec: Fault = serde_json::from_str(r#"{"op":{"leaf":12}}"#).expect("spec");
        assert_eq!(spec, Fault::Op(OpFault { leaf: 12 }));
    }
}
