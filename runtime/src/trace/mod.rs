//! Op traces of a call (`docs/TRACES.md`): on demand, a call records one *leaf* per traced
//! tensor, in execution order across every `compute` of the call, and a final leaf that
//! binds the call's output, fuel and op count. The leaves' Merkle root is what a node
//! commits to ([`commit`]) and what two peers bisect when they disagree
//! ([`crate::dispute`]).
//!
//! A leaf is a canonical JSON *descriptor* (what the tensor is: which compute, which
//! execution context, which model, which node or LLM op) and the digest of the tensor
//! (shape, dtype, bytes). Traced runs use the runtime's own executor (wgpu or the CPU
//! reference) on the graph specialized to the compute's input shapes, without conv fusion
//! on the CPU, so every op's output exists; LLM steps trace on the LLM session of that
//! executor. The bits are those of any backend.

pub mod commit;
#[cfg(feature = "fault-injection")]
pub mod fault;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use wasmnn_host_gpu::Tensor;
use wasmnn_host_gpu::trace::{LeafTensor, MerkleTree, Tap, TapPoint, f32_digest, tensor_digest};
use wasmnn_registry::Sha256Digest;

use crate::dispute::bisect::LeafOpening;

/// What a traced call should record besides the leaf digests.
#[derive(Debug, Clone, Default)]
pub struct TraceRequest {
    /// Leaves whose tensors to keep (the inputs of an op under dispute).
    pub capture: BTreeSet<u64>,
}

/// The trace of one call: every leaf in order and the captured tensors.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The leaves, the end leaf last.
    pub leaves: Vec<LeafOpening>,
    /// The tensors of the leaves asked for in [`TraceRequest::capture`].
    pub captured: BTreeMap<u64, Tensor>,
}

impl Trace {
    /// The Merkle tree over the leaves.
    pub fn tree(&self) -> MerkleTree {
        MerkleTree::new(self.leaves.iter().map(LeafOpening::leaf_hash).collect())
    }
}

/// Records the leaves of a call while it runs (held in the call's wasi-nn state).
#[derive(Debug, Default)]
pub(crate) struct Tracer {
    leaves: Vec<LeafOpening>,
    /// Successful computes so far: the `c` of the next compute's leaves.
    computes: u64,
    capture: BTreeSet<u64>,
    captured: BTreeMap<u64, Tensor>,
    /// The leaf a test build perturbs.
    #[cfg(feature = "fault-injection")]
    fault: Option<fault::OpFault>,
}

/// What one compute's leaves are about.
pub(crate) struct ComputeScope<'a> {
    /// The execution context's index in the call.
    pub context: u64,
    /// The model's digest.
    pub model: &'a Sha256Digest,
}

impl Tracer {
    /// A tracer for one call.
    pub fn new(request: TraceRequest) -> Tracer {
        Tracer { capture: request.capture, ..Tracer::default() }
    }

    /// A tracer that perturbs one op's output (test builds only).
    #[cfg(feature = "fault-injection")]
    pub fn with_fault(request: TraceRequest, fault: fault::OpFault) -> Tracer {
        Tracer { fault: Some(fault), ..Tracer::new(request) }
    }

    /// Runs one compute with a tap that records its leaves. When `run` fails the compute's
    /// leaves are dropped (a failed compute is not part of the trace, and does not count).
    pub fn compute<T, E>(
        &mut self,
        scope: ComputeScope<'_>,
        run: impl FnOnce(&mut dyn Tap) -> Result<T, E>,
    ) -> Result<T, E> {
        let first = self.leaves.len();
        let model = scope.model.prefixed();
        let compute = self.computes;
        let result = run(&mut ComputeTap { tracer: self, compute, context: scope.context, model: &model });
        match &result {
            Ok(_) => self.computes += 1,
            Err(_) => {
                self.leaves.truncate(first);
                self.captured.retain(|&leaf, _| leaf < first as u64);
            }
        }
        result
    }

    /// Ends the trace with the leaf that binds the call's result.
    pub fn finish(mut self, output: &Sha256Digest, fuel: u64, ops: u64) -> Trace {
        let descriptor = json!({"k": "end", "output": output.prefixed(), "fuel": fuel, "ops": ops}).to_string();
        self.leaves.push(LeafOpening { descriptor, tensor: [0; 32] });
        Trace { leaves: self.leaves, captured: self.captured }
    }
}

/// The tap of one compute.
struct ComputeTap<'a> {
    tracer: &'a mut Tracer,
    compute: u64,
    context: u64,
    model: &'a str,
}

impl ComputeTap<'_> {
    fn descriptor(&self, at: TapPoint<'_>) -> String {
        let (c, ctx, model) = (self.compute, self.context, self.model);
        let value = match at {
            TapPoint::Input { index, name } => {
                json!({"k": "in", "c": c, "ctx": ctx, "model": model, "index": index, "name": name})
            }
            TapPoint::Node { node, name, op } => {
                json!({"k": "op", "c": c, "ctx": ctx, "model": model, "node": node, "name": name, "op": op})
            }
            TapPoint::Llm { slot, start, n } => json!({
                "k": "llm", "c": c, "ctx": ctx, "model": model, "start": start, "n": n,
                "layer": slot.layer(), "op": slot.name(),
            }),
        };
        // serde_json's maps are sorted and printed without whitespace: one spelling.
        value.to_string()
    }
}

impl Tap for ComputeTap<'_> {
    #[cfg_attr(not(feature = "fault-injection"), expect(unused_mut, reason = "a test build perturbs the tensor"))]
    fn leaf(&mut self, at: TapPoint<'_>, mut tensor: LeafTensor<'_>) {
        let index = self.tracer.leaves.len() as u64;
        let descriptor = self.descriptor(at);
        #[cfg(feature = "fault-injection")]
        if self.tracer.fault.is_some_and(|f| f.leaf == index) {
            fault::perturb(&mut tensor);
        }
        let digest = match &tensor {
            LeafTensor::Tensor(t) => tensor_digest(t),
            LeafTensor::F32 { shape, data } => f32_digest(shape, data),
        };
        if self.tracer.capture.contains(&index) {
            let owned = match tensor {
                LeafTensor::Tensor(t) => Some(t.clone()),
                LeafTensor::F32 { shape, data } => Tensor::from_f32(shape.to_vec(), data.to_vec()).ok(),
            };
            if let Some(owned) = owned {
                self.tracer.captured.insert(index, owned);
            }
        }
        self.tracer.leaves.push(LeafOpening { descriptor, tensor: digest });
    }
}
