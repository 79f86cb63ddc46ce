//! The traced tensors of an LLM step as a referee sees them: their order
//! ([`step_slots`]), their shapes ([`slot_shape`]), which ones each op reads
//! ([`inputs_of`]), and the re-execution of one op from those ([`eval_slot`]) with the
//! very functions [`CpuSession`](super::CpuSession)'s step runs.
//!
//! A step over positions `start..start + n` shows, in order: the ids (I64 `[n]`), the
//! embedding `[n, dim]`, per block `attn_norm` `[n, dim]`, `q` `[n, dim]`, `k` and `v`
//! `[n, kv_dim]` (before rotary embedding), `rope_q` `[n, dim]`, `rope_k` `[n, kv_dim]`
//! (what enters the KV cache), `attention`, `o`, `attn_residual` (the stream after the
//! add), `ffn_norm` `[n, dim]`, `gate`, `up`, `swiglu` `[n, ffn]`, `down`,
//! `ffn_residual` `[n, dim]`; then `final_norm` `[1, dim]` (of the last position) and
//! `head` `[1, vocab]`. The quantization of activations is part of each product, not an
//! op. The KV cache is never a leaf: attention reads the `rope_k` and `v` leaves of every
//! step of the context so far ([`SlotInput::History`]).

use super::cpu::{attention_shape, embed, final_norm, products, rotate};
use super::kernels::{add_residual, attention, rms_norm, swiglu};
use super::quant::QMatrix;
use super::{Llama, LlmError, check_step, checked_ids};
use crate::tensor::Tensor;
use crate::trace::{LayerOp, LeafTensor, LlmSlot, Tap, TapPoint};

/// What one slot reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotInput {
    /// That slot's leaf of this same step.
    Step(LlmSlot),
    /// That slot's leaves of every step of this context so far, this step included,
    /// concatenated in position order (the KV cache): `(start + n)` rows.
    History(LlmSlot),
}

/// An argument of [`eval_slot`], as a peer supplied it.
#[derive(Debug, Clone, Copy)]
pub enum SlotArg<'a> {
    /// Token ids (the step's input leaf).
    Ids(&'a [i64]),
    /// Row-major f32 values of an op's leaf (or of a history of leaves).
    F32(&'a [f32]),
}

/// The slots of a step of a model with `layers` blocks, in the order the tap sees them:
/// the input, the embedding, each block's 15 ops ([`LayerOp::ALL`]), the final norm and
/// the head (`1 + Llama::ops_per_step` in all).
pub fn step_slots(layers: usize) -> impl Iterator<Item = LlmSlot> {
    let blocks = (0..layers).flat_map(|layer| LayerOp::ALL.into_iter().map(move |op| LlmSlot::Layer { layer, op }));
    [LlmSlot::Input, LlmSlot::Embed].into_iter().chain(blocks).chain([LlmSlot::FinalNorm, LlmSlot::Head])
}

/// The index of `slot` in [`step_slots`] for a model of `layers` blocks (`None` for a
/// block it does not have).
pub fn slot_index(slot: LlmSlot, layers: usize) -> Option<usize> {
    let per_block = LayerOp::ALL.len();
    match slot {
        LlmSlot::Input => Some(0),
        LlmSlot::Embed => Some(1),
        LlmSlot::Layer { layer, op } if layer < layers => {
            LayerOp::ALL.iter().position(|&o| o == op).map(|j| 2 + layer * per_block + j)
        }
        LlmSlot::Layer { .. } => None,
        LlmSlot::FinalNorm => Some(2 + layers * per_block),
        LlmSlot::Head => Some(3 + layers * per_block),
    }
}

/// The start of a traced step over positions `position..`: checks `tokens`
/// ([`check_step`]), shows them to `tap` as the step's input leaf (I64 `[n]`) and returns
/// the ids the tap left, as vocabulary indices: what the step reads, on every executor.
///
/// # Errors
/// As [`check_step`], for the ids given or for those the tap left.
pub(crate) fn show_input(
    tokens: &[i64],
    vocab: usize,
    position: usize,
    limit: usize,
    tap: &mut dyn Tap,
) -> Result<Vec<u32>, LlmError> {
    check_step(tokens, vocab, position, limit)?;
    let mut input =
        Tensor::from_i64(vec![tokens.len()], tokens.to_vec()).map_err(|e| LlmError::Model(e.to_string()))?;
    tap.leaf(TapPoint::Llm { slot: LlmSlot::Input, start: position, n: tokens.len() }, LeafTensor::Tensor(&mut input));
    let tokens = input.as_i64().map_err(|e| LlmError::Model(format!("the step's token ids: {e}")))?;
    check_step(tokens, vocab, position, limit)
}

/// The residual stream entering block `layer`: the embedding, or the previous block's
/// `ffn_residual` (for `layer == layers`, what the final norm reads).
fn stream_before(layer: usize) -> LlmSlot {
    match layer.checked_sub(1) {
        None => LlmSlot::Embed,
        Some(previous) => LlmSlot::Layer { layer: previous, op: LayerOp::FfnResidual },
    }
}

/// What `slot` reads, in the order [`eval_slot`] takes them, for a model of `layers`
/// blocks. Empty for [`LlmSlot::Input`], which is not an op. The final norm reads the
/// last block's `ffn_residual` (the embedding without blocks) and uses its last row.
pub fn inputs_of(slot: LlmSlot, layers: usize) -> Vec<SlotInput> {
    use SlotInput::{History, Step};
    match slot {
        LlmSlot::Input => Vec::new(),
        LlmSlot::Embed => vec![Step(LlmSlot::Input)],
        LlmSlot::FinalNorm => vec![Step(stream_before(layers))],
        LlmSlot::Head => vec![Step(LlmSlot::FinalNorm)],
        LlmSlot::Layer { layer, op } => {
            let at = |op| LlmSlot::Layer { layer, op };
            match op {
                LayerOp::AttnNorm => vec![Step(stream_before(layer))],
                LayerOp::Q | LayerOp::K | LayerOp::V => vec![Step(at(LayerOp::AttnNorm))],
                LayerOp::RopeQ => vec![Step(at(LayerOp::Q))],
                LayerOp::RopeK => vec![Step(at(LayerOp::K))],
                LayerOp::Attention => {
                    vec![Step(at(LayerOp::RopeQ)), History(at(LayerOp::RopeK)), History(at(LayerOp::V))]
                }
                LayerOp::O => vec![Step(at(LayerOp::Attention))],
                LayerOp::AttnResidual => vec![Step(stream_before(layer)), Step(at(LayerOp::O))],
                LayerOp::FfnNorm => vec![Step(at(LayerOp::AttnResidual))],
                LayerOp::Gate | LayerOp::Up => vec![Step(at(LayerOp::FfnNorm))],
                LayerOp::Swiglu => vec![Step(at(LayerOp::Gate)), Step(at(LayerOp::Up))],
                LayerOp::Down => vec![Step(at(LayerOp::Swiglu))],
                LayerOp::FfnResidual => vec![Step(at(LayerOp::AttnResidual)), Step(at(LayerOp::Down))],
            }
        }
    }
}

/// The shape of `slot`'s leaf in a step of `n` tokens, `[rows, width]`. The input's is
/// `[n, 1]` (the leaf itself is the 1-D I64 `[n]`).
pub fn slot_shape(model: &Llama, slot: LlmSlot, n: usize) -> [usize; 2] {
    let c = &model.config;
    match slot {
        LlmSlot::Input => [n, 1],
        LlmSlot::Embed => [n, c.dim],
        LlmSlot::FinalNorm => [1, c.dim],
        LlmSlot::Head => [1, c.vocab],
        LlmSlot::Layer { op, .. } => match op {
            LayerOp::K | LayerOp::V | LayerOp::RopeK => [n, c.kv_dim()],
            LayerOp::Gate | LayerOp::Up | LayerOp::Swiglu => [n, c.ffn],
            _ => [n, c.dim],
        },
    }
}

/// `name` or `name of block l`, for messages.
fn label(slot: LlmSlot) -> String {
    match slot.layer() {
        Some(layer) => format!("{} of block {layer}", slot.name()),
        None => slot.name().to_owned(),
    }
}

/// Re-executes the op of `slot` in the step over positions `start..start + n` from its
/// inputs (`args`, as [`inputs_of`] lists them) with the functions the CPU step runs:
/// the value its leaf must hold, row-major, [`slot_shape`].
///
/// The arguments come from a peer and are all checked: their number, kind (ids for the
/// step's input, f32 otherwise) and lengths (a [`SlotInput::History`] holds
/// `(start + n)` rows), and the ids against the vocabulary.
///
/// # Errors
/// [`LlmError::Model`] for an argument that does not fit, for [`LlmSlot::Input`] (not an
/// op), a block the model does not have, or positions past the model's tables;
/// [`LlmError::BadToken`] for an id outside the vocabulary.
pub fn eval_slot(
    model: &Llama,
    slot: LlmSlot,
    start: usize,
    n: usize,
    args: &[SlotArg<'_>],
) -> Result<Vec<f32>, LlmError> {
    let bad = |message: String| LlmError::Model(format!("{}: {message}", label(slot)));
    let layers = model.layers.len();
    if slot.layer().is_some_and(|layer| layer >= layers) {
        return Err(bad(format!("the model has {layers} blocks")));
    }
    if n == 0 {
        return Err(bad("a step has at least one token".into()));
    }
    let end = start
        .checked_add(n)
        .filter(|&end| end <= model.max_context)
        .ok_or_else(|| bad(format!("positions {start}..{start}+{n} exceed the {} of the model", model.max_context)))?;
    let inputs = inputs_of(slot, layers);
    if inputs.is_empty() {
        return Err(bad("the step's input is not an op".into()));
    }
    if args.len() != inputs.len() {
        return Err(bad(format!("{} arguments given, {} expected", args.len(), inputs.len())));
    }
    let mut ids: Vec<u32> = Vec::new();
    let mut xs: Vec<&[f32]> = Vec::with_capacity(args.len());
    for (&input, &arg) in inputs.iter().zip(args) {
        let (source, rows) = match input {
            SlotInput::Step(source) => (source, slot_shape(model, source, n)[0]),
            SlotInput::History(source) => (source, end),
        };
        let expected = rows * slot_shape(model, source, n)[1];
        let what = match input {
            SlotInput::Step(_) => label(source),
            SlotInput::History(_) => format!("the history of {}", label(source)),
        };
        match (source, arg) {
            (LlmSlot::Input, SlotArg::Ids(tokens)) if tokens.len() == expected => {
                ids = checked_ids(tokens, model.config.vocab)?;
            }
            (LlmSlot::Input, SlotArg::Ids(tokens)) => {
                return Err(bad(format!("{what} has {} ids, expected {expected}", tokens.len())));
            }
            (LlmSlot::Input, SlotArg::F32(_)) => return Err(bad(format!("{what} must be token ids"))),
            (_, SlotArg::Ids(_)) => return Err(bad(format!("{what} must be f32 values"))),
            (_, SlotArg::F32(values)) if values.len() == expected => xs.push(values),
            (_, SlotArg::F32(values)) => {
                return Err(bad(format!("{what} has {} values, expected {expected}", values.len())));
            }
        }
    }
    let c = &model.config;
    let (dim, kv_dim, ffn, eps) = (c.dim, c.kv_dim(), c.ffn, c.rms_epsilon);
    let one = |w: &QMatrix| {
        let [y] = products(xs[0], dim, [w]);
        y
    };
    Ok(match slot {
        LlmSlot::Input => return Err(bad("the step's input is not an op".into())),
        LlmSlot::Embed => embed(model, &ids),
        LlmSlot::FinalNorm => final_norm(model, xs[0]),
        LlmSlot::Head => one(model.head()),
        LlmSlot::Layer { layer, op } => {
            let w = &model.layers[layer];
            match op {
                LayerOp::AttnNorm => rms_norm(xs[0], &w.attn_norm, eps),
                LayerOp::FfnNorm => rms_norm(xs[0], &w.ffn_norm, eps),
                LayerOp::Q => one(&w.q),
                LayerOp::K => one(&w.k),
                LayerOp::V => one(&w.v),
                LayerOp::O => one(&w.o),
                LayerOp::Gate => one(&w.gate),
                LayerOp::Up => one(&w.up),
                LayerOp::Down => {
                    let [y] = products(xs[0], ffn, [&w.down]);
                    y
                }
                LayerOp::RopeQ | LayerOp::RopeK => {
                    let width = if op == LayerOp::RopeQ { dim } else { kv_dim };
                    let mut y = xs[0].to_vec();
                    rotate(model, &mut y, width, start);
                    y
                }
                LayerOp::Attention => attention(xs[0], xs[1], xs[2], attention_shape(model, start)),
                LayerOp::AttnResidual | LayerOp::FfnResidual => {
                    let mut y = xs[0].to_vec();
                    add_residual(&mut y, xs[1]);
                    y
                }
                LayerOp::Swiglu => swiglu(xs[0], xs[1]),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{slot_index, step_slots};
    use crate::trace::{LayerOp, LlmSlot};

    #[test]
    fn slot_index_is_the_position_in_step_slots() {
        for layers in [0, 1, 3] {
            for (i, slot) in step_slots(layers).enumerate() {
                assert_eq!(slot_index(slot, layers), Some(i), "{slot:?}");
            }
            assert_eq!(slot_index(LlmSlot::Layer { layer: layers, op: LayerOp::Q }, layers), None);
        }
    }
}
