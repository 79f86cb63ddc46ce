//! The referee: given the first leaf where a node's and a challenger's traces differ,
//! re-executes that single op on the CPU reference from the agreed input tensors (fetched
//! from the node, each checked against the node's committed trace) and says who was right.
//!
//! What an op read is found from the agreed leaves before it (the challenger's own trace,
//! equal to the node's up to the difference): for a graph op, the inputs of its compute and
//! the outputs of the nodes it reads in the graph specialized to those inputs' shapes; for
//! an LLM op, the leaves of the same step it reads, and for attention the rotated keys and
//! the values of every step of the context so far (the KV cache is never a leaf of its own).

use std::sync::Arc;

use serde_json::Value;
use wasmnn_host_gpu::llm::trace::{SlotArg, SlotInput, eval_slot, inputs_of, slot_shape};
use wasmnn_host_gpu::trace::{Hash, LayerOp, LlmSlot, f32_digest, tensor_digest};
use wasmnn_host_gpu::{Tensor, ops};

use super::bisect::{Difference, LeafOpening};
use super::verdict::{InputLeaf, OpEvidence, Reason, Winner};
use crate::function::Function;
use crate::invoke::Runtime;
use crate::nn::LoadedGraph;

/// Fetches the tensors of agreed leaves from the node (checking each against its
/// committed trace), in the order asked.
pub type FetchTensors<'a> = dyn FnMut(&[u64]) -> Result<Vec<Tensor>, String> + 'a;

/// What the referee decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Who was right.
    pub winner: Winner,
    /// How.
    pub reason: Reason,
    /// A sentence naming the op.
    pub detail: String,
    /// The op's re-execution, when one ran.
    pub op: Option<OpEvidence>,
}

/// Why the referee could not decide.
#[derive(Debug, thiserror::Error)]
pub enum RefereeError {
    /// The node did not hand over the inputs.
    #[error("the node did not supply the op's inputs: {0}")]
    Fetch(String),
    /// A leaf descriptor or tensor does not describe an op the referee can run.
    #[error("cannot re-execute leaf {leaf}: {message}")]
    Op {
        /// The leaf.
        leaf: u64,
        /// Why.
        message: String,
    },
}

/// Decides the dispute over `diff` (side a = the node, side b = the challenger, whose
/// leaves are `agreed`: equal to the node's before `diff.index`).
///
/// # Errors
/// [`RefereeError`] when the inputs cannot be had or the op cannot run.
pub fn decide(
    runtime: &Runtime,
    function: &Function,
    agreed: &[LeafOpening],
    diff: &Difference,
    fetch: &mut FetchTensors<'_>,
) -> Result<Finding, RefereeError> {
    let (Some(node), Some(challenger)) = (&diff.a, &diff.b) else {
        return Ok(guest(diff.index, "one trace has more leaves than the other"));
    };
    if node.descriptor != challenger.descriptor {
        return Ok(guest(diff.index, "the traces ran different ops here"));
    }
    let descriptor = parse(diff.index, &challenger.descriptor)?;
    let op_error = |message: String| RefereeError::Op { leaf: diff.index, message };
    let (inputs, recomputed) = match descriptor["k"].as_str() {
        Some("op") => graph_op(runtime, function, agreed, diff.index, &descriptor, fetch)?,
        Some("llm") => llm_op(runtime, function, agreed, diff.index, &descriptor, fetch)?,
        Some("in") => return Ok(guest(diff.index, "the handler gave the model different inputs")),
        Some("end") => return Ok(guest(diff.index, "the handler's output, fuel or op count differs")),
        other => return Err(op_error(format!("unknown leaf kind {other:?}"))),
    };
    let winner = match (recomputed == node.tensor, recomputed == challenger.tensor) {
        (false, true) => Winner::Challenger,
        (true, false) => Winner::Node,
        _ => Winner::Neither,
    };
    Ok(Finding {
        winner,
        reason: Reason::OpRecomputed,
        detail: format!("leaf {} = {}", diff.index, describe(&descriptor)),
        op: Some(OpEvidence { inputs, recomputed }),
    })
}

/// A divergence on the wasm side: the challenger's traced re-run (the CPU reference)
/// is the referee's answer.
fn guest(leaf: u64, what: &str) -> Finding {
    Finding {
        winner: Winner::Challenger,
        reason: Reason::GuestRecomputed,
        detail: format!("leaf {leaf}: {what}"),
        op: None,
    }
}

/// A short human name of a leaf: `MatMul /encoder/…/MatMul (node 12, compute 0)` or
/// `blk.7 attention (step at 5, compute 3)`.
pub fn describe(descriptor: &Value) -> String {
    let c = descriptor["c"].as_u64().unwrap_or_default();
    match descriptor["k"].as_str() {
        Some("op") => format!(
            "{} {} (node {}, compute {c})",
            descriptor["op"].as_str().unwrap_or("?"),
            descriptor["name"].as_str().unwrap_or("?"),
            descriptor["node"]
        ),
        Some("llm") => {
            let layer = descriptor["layer"].as_u64().map(|l| format!("blk.{l} ")).unwrap_or_default();
            let op = descriptor["op"].as_str().unwrap_or("?");
            format!("{layer}{op} (positions {}+{}, compute {c})", descriptor["start"], descriptor["n"])
        }
        Some("in") => format!("input {} (compute {c})", descriptor["name"].as_str().unwrap_or("?")),
        _ => "the end of the call".to_owned(),
    }
}

fn parse(leaf: u64, descriptor: &str) -> Result<Value, RefereeError> {
    serde_json::from_str(descriptor).map_err(|e| RefereeError::Op { leaf, message: format!("bad descriptor: {e}") })
}

fn field(leaf: u64, descriptor: &Value, name: &str) -> Result<u64, RefereeError> {
    descriptor[name].as_u64().ok_or_else(|| RefereeError::Op { leaf, message: format!("descriptor without {name:?}") })
}

/// The agreed leaves with their parsed descriptors, before `end`.
fn parsed(agreed: &[LeafOpening], end: u64) -> Vec<(u64, Value, &LeafOpening)> {
    agreed
        .iter()
        .take(end as usize)
        .enumerate()
        .filter_map(|(i, o)| serde_json::from_str(&o.descriptor).ok().map(|v| (i as u64, v, o)))
        .collect()
}

/// The loaded model the descriptor names (a model of the disputed function).
fn model_of(
    runtime: &Runtime,
    function: &Function,
    leaf: u64,
    descriptor: &Value,
) -> Result<Arc<LoadedGraph>, RefereeError> {
    let op_error = |message: String| RefereeError::Op { leaf, message };
    let digest = descriptor["model"].as_str().ok_or_else(|| op_error("descriptor without a model".into()))?;
    let file = function
        .models()
        .values()
        .find(|m| m.sha256.prefixed() == digest)
        .ok_or_else(|| op_error(format!("the function declares no model {digest}")))?;
    runtime.loaded_graph(file).map_err(op_error)
}

/// Fetches leaves and checks each against the agreed digest.
fn fetch_checked(
    fetch: &mut FetchTensors<'_>,
    agreed: &[LeafOpening],
    leaves: &[u64],
) -> Result<(Vec<Tensor>, Vec<InputLeaf>), RefereeError> {
    let tensors = fetch(leaves).map_err(RefereeError::Fetch)?;
    if tensors.len() != leaves.len() {
        return Err(RefereeError::Fetch(format!("asked for {} tensors, got {}", leaves.len(), tensors.len())));
    }
    let mut evidence = Vec::with_capacity(leaves.len());
    for (&leaf, tensor) in leaves.iter().zip(&tensors) {
        let digest = tensor_digest(tensor);
        if agreed.get(leaf as usize).map(|o| o.tensor) != Some(digest) {
            return Err(RefereeError::Fetch(format!("leaf {leaf}'s tensor is not the agreed one")));
        }
        evidence.push(InputLeaf { leaf, tensor: digest });
    }
    Ok((tensors, evidence))
}

/// Re-executes node `J` of compute `C` of a graph.
fn graph_op(
    runtime: &Runtime,
    function: &Function,
    agreed: &[LeafOpening],
    index: u64,
    descriptor: &Value,
    fetch: &mut FetchTensors<'_>,
) -> Result<(Vec<InputLeaf>, Hash), RefereeError> {
    let op_error = |message: String| RefereeError::Op { leaf: index, message };
    let (compute, node) = (field(index, descriptor, "c")?, field(index, descriptor, "node")? as usize);
    let leaves = parsed(agreed, index);
    let same_compute = |v: &Value, kind: &str| v["k"] == kind && v["c"].as_u64() == Some(compute);
    let input_leaves: Vec<(u64, String)> = leaves
        .iter()
        .filter(|(_, v, _)| same_compute(v, "in"))
        .map(|(i, v, _)| (*i, v["name"].as_str().unwrap_or_default().to_owned()))
        .collect();
    let first_op = input_leaves.last().map(|(i, _)| i + 1).ok_or_else(|| op_error("no input leaves".into()))?;
    if first_op + node as u64 != index {
        return Err(op_error(format!("node {node} is not leaf {index} of its compute")));
    }
    let loaded = model_of(runtime, function, index, descriptor)?;
    let input_indices: Vec<u64> = input_leaves.iter().map(|(i, _)| *i).collect();
    let (input_tensors, mut evidence) = fetch_checked(fetch, agreed, &input_indices)?;
    let named: Vec<(String, Tensor)> =
        input_leaves.iter().map(|(_, name)| name.clone()).zip(input_tensors.iter().cloned()).collect();
    let graph = loaded.specialized(&named).map_err(|e| op_error(format!("{e:?}")))?;
    let target = graph.nodes().get(node).ok_or_else(|| op_error(format!("the graph has no node {node}")))?;
    if descriptor["op"].as_str() != Some(target.op.kind_name()) || descriptor["name"].as_str() != Some(&target.name) {
        return Err(op_error(format!("node {node} of the graph is not the op the trace names")));
    }
    // Producers: which node writes each value.
    let producer = |id| graph.nodes().iter().position(|n| n.output == id);
    let mut wanted = Vec::new();
    for &id in &target.inputs {
        if graph.constant(id).is_none() && !graph.inputs().contains(&id) {
            let p = producer(id).ok_or_else(|| op_error("an input of the op has no producer".into()))?;
            wanted.push(first_op + p as u64);
        }
    }
    let (produced, produced_evidence) = fetch_checked(fetch, agreed, &wanted)?;
    let mut produced = produced.iter();
    let mut args: Vec<&Tensor> = Vec::with_capacity(target.inputs.len());
    for &id in &target.inputs {
        if let Some(constant) = graph.constant(id) {
            args.push(constant);
        } else if let Some(k) = graph.inputs().iter().position(|&input| input == id) {
            args.push(&input_tensors[k]);
        } else {
            args.push(produced.next().ok_or_else(|| op_error("fewer producers than inputs".into()))?);
        }
    }
    let out = ops::eval(&target.op, &args).map_err(|e| op_error(format!("the op fails on the agreed inputs: {e}")))?;
    evidence.extend(produced_evidence);
    Ok((evidence, tensor_digest(&out)))
}

/// Re-executes one op of an LLM step.
fn llm_op(
    runtime: &Runtime,
    function: &Function,
    agreed: &[LeafOpening],
    index: u64,
    descriptor: &Value,
    fetch: &mut FetchTensors<'_>,
) -> Result<(Vec<InputLeaf>, Hash), RefereeError> {
    let op_error = |message: String| RefereeError::Op { leaf: index, message };
    let (compute, context) = (field(index, descriptor, "c")?, field(index, descriptor, "ctx")?);
    let (start, n) = (field(index, descriptor, "start")? as usize, field(index, descriptor, "n")? as usize);
    let slot = slot_of(descriptor).ok_or_else(|| op_error("not an LLM op".into()))?;
    let loaded = model_of(runtime, function, index, descriptor)?;
    let model = loaded.llama().ok_or_else(|| op_error("the model is not an LLM".into()))?;
    let leaves = parsed(agreed, index);
    let find = |wanted: LlmSlot, c: Option<u64>| -> Vec<u64> {
        leaves
            .iter()
            .filter(|(_, v, _)| {
                v["k"] == "llm"
                    && v["ctx"].as_u64() == Some(context)
                    && c.is_none_or(|c| v["c"].as_u64() == Some(c))
                    && slot_of(v) == Some(wanted)
            })
            .map(|(i, ..)| *i)
            .collect()
    };
    let mut groups = Vec::new();
    for input in inputs_of(slot, model.layers.len()) {
        let found = match input {
            SlotInput::Step(s) => find(s, Some(compute)),
            // Every step of this context so far, this one included: its leaf of the
            // wanted slot comes before this op in the trace.
            SlotInput::History(s) => find(s, None),
        };
        if found.is_empty() {
            return Err(op_error(format!("no agreed leaf for input {input:?}")));
        }
        groups.push((input, found));
    }
    let all: Vec<u64> = groups.iter().flat_map(|(_, leaves)| leaves.iter().copied()).collect();
    let (tensors, evidence) = fetch_checked(fetch, agreed, &all)?;
    let mut tensors = tensors.into_iter();
    let mut owned: Vec<ArgData> = Vec::new();
    for (input, leaves) in &groups {
        let part: Vec<Tensor> = tensors.by_ref().take(leaves.len()).collect();
        owned.push(match input {
            SlotInput::Step(LlmSlot::Input) => {
                ArgData::Ids(part[0].to_i64_vec().map_err(|e| op_error(format!("token ids: {e}")))?)
            }
            _ => {
                let mut data = Vec::new();
                for t in &part {
                    data.extend_from_slice(t.as_f32().map_err(|e| op_error(format!("activation: {e}")))?);
                }
                ArgData::F32(data)
            }
        });
    }
    let args: Vec<SlotArg<'_>> = owned
        .iter()
        .map(|a| match a {
            ArgData::Ids(ids) => SlotArg::Ids(ids),
            ArgData::F32(data) => SlotArg::F32(data),
        })
        .collect();
    let out = eval_slot(model, slot, start, n, &args).map_err(|e| op_error(e.to_string()))?;
    Ok((evidence, f32_digest(&slot_shape(model, slot, n), &out)))
}

enum ArgData {
    Ids(Vec<i64>),
    F32(Vec<f32>),
}

/// The LLM slot a descriptor names.
fn slot_of(descriptor: &Value) -> Option<LlmSlot> {
    let op = descriptor["op"].as_str()?;
    match descriptor["layer"].as_u64() {
        Some(layer) => Some(LlmSlot::Layer { layer: layer as usize, op: LayerOp::from_name(op)? }),
        None => match op {
            "input" => Some(LlmSlot::Input),
            "embed" => Some(LlmSlot::Embed),
            "final_norm" => Some(LlmSlot::FinalNorm),
            "head" => Some(LlmSlot::Head),
            _ => None,
        },
    }
}
