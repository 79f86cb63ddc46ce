#![expect(clippy::disallowed_methods, reason = "f64 std functions are the independent reference")]

use proptest::prelude::*;

use super::kernels::{AttentionShape, attention, rms_norm, rope, swiglu};
use super::quant::{BLOCK, INV_127, QActs, QKind, QMatrix, qmatmul, round_small, row_dot};
use crate::numerics::{CANONICAL_NAN, canonical};

/// A deterministic stream of values in [-scale, scale).
fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / 16_777_216.0 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Random ggml blocks of `kind`: f16 scales from `scales` (bits), random integers.
fn blocks(kind: QKind, rows: usize, k: usize, seed: u64, scales: &[u16]) -> Vec<u8> {
    let mut state = seed | 1;
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let mut bytes = Vec::new();
    for b in 0..rows * k / BLOCK {
        bytes.extend(scales[b % scales.len()].to_le_bytes());
        if kind == QKind::Q4_1 {
            bytes.extend(scales[(b + 1) % scales.len()].to_le_bytes());
        }
        bytes.extend((0..kind.quant_bytes()).map(|_| next() as u8));
    }
    bytes
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// f16 bits of ordinary scales, and of edge cases: ±0, subnormal, max, ±inf, NaN.
const ORDINARY: [u16; 4] = [0x2E66, 0x1A00, 0xA3D7, 0x3C00];
const EDGES: [u16; 9] = [0x0000, 0x8000, 0x0001, 0x03FF, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x2E66];

#[test]
fn activations_quantize_as_specified() {
    let mut x = vec![0.0f32; 4 * BLOCK];
    // Block 0: all zero. Block 1: a ramp from -62.5 to 61.5.
    for (i, v) in x[BLOCK..2 * BLOCK].iter_mut().enumerate() {
        *v = i as f32 * 4.0 - 62.5;
    }
    x[2 * BLOCK] = f32::from_bits(1); // subnormal: flushed, so block 2 is zero too
    x[3 * BLOCK] = 1.0e-3;
    x[3 * BLOCK + 1] = -2.0e-3;
    let acts = QActs::quantize(&x, 2 * BLOCK);
    assert_eq!(acts.rows(), 2);
    assert_eq!(acts.d[0], 0.0);
    assert!(acts.q[..BLOCK].iter().all(|&q| q == 0));
    assert_eq!(acts.d[1], crate::numerics::mul(62.5, INV_127));
    assert_eq!((acts.q[BLOCK], acts.q[BLOCK + 31]), (-127, 125));
    assert_eq!(acts.d[2], 0.0);
    assert_eq!((acts.q[3 * BLOCK], acts.q[3 * BLOCK + 1]), (64, -127));
    assert_eq!(acts.s[3], 64 - 127);
    assert_eq!(acts.poisoned, [false, false]);
    for poison in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut y = x.clone();
        y[2 * BLOCK + 5] = poison;
        assert_eq!(QActs::quantize(&y, 2 * BLOCK).poisoned, [false, true]);
    }
}

#[test]
fn small_values_round_ties_to_even() {
    // Equal as numbers: the sign of a zero result differs (−0.4 gives +0, not −0), which
    // the conversion to i8 that follows erases.
    let check = |x: f32| assert_eq!(round_small(x), x.round_ties_even(), "{x}");
    // Every half-integer up to 200 and its neighbours, then a sweep over the bits.
    for k in -400i32..=400 {
        let half = k as f32 * 0.5;
        for x in [half, half.next_up(), half.next_down()] {
            check(x);
        }
    }
    for bits in (0..0x4350_0000u32).step_by(997) {
        check(f32::from_bits(bits));
        check(-f32::from_bits(bits));
    }
}

#[test]
fn quantized_products_follow_the_plain_loop() {
    for kind in [QKind::Q4_1, QKind::Q8_0] {
        for (rows, k, n) in [(8, 32, 1), (13, 64, 3), (40, 1536, 2), (67, 576, 1)] {
            for scales in [&ORDINARY[..], &EDGES[..]] {
                let w = QMatrix::from_blocks(kind, rows, k, &blocks(kind, rows, k, 7 + rows as u64, scales));
                let mut x = values(k as u64, n * k, 3.0);
                x[1] = f32::from_bits(0x0000_0100);
                x[k / 2] = -0.0;
                if n > 1 {
                    x[k + 3] = f32::NAN;
                }
                let acts = QActs::quantize(&x, k);
                let got = qmatmul(&acts, &w);
                for t in 0..n {
                    for r in 0..rows {
                        let want = if acts.poisoned[t] { CANONICAL_NAN } else { canonical(row_dot(&w, r, &acts, t)) };
                        assert_eq!(got[t * rows + r].to_bits(), want.to_bits(), "{kind:?} {rows}x{k} t={t} r={r}");
                    }
                }
            }
        }
    }
}

#[test]
fn quantized_products_are_close_to_the_exact_product() {
    let (rows, k) = (24, 256);
    for kind in [QKind::Q4_1, QKind::Q8_0] {
        let w = QMatrix::from_blocks(kind, rows, k, &blocks(kind, rows, k, 3, &ORDINARY));
        let x = values(11, k, 2.0);
        let acts = QActs::quantize(&x, k);
        let got = qmatmul(&acts, &w);
        for (r, &g) in got.iter().enumerate() {
            let wr = w.dequantize_row(r);
            let exact: f64 = wr.iter().zip(&x).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            // Each activation moves by at most dx/2 = amax/254.
            let bound: f64 = wr.iter().map(|&a| f64::from(a).abs()).sum::<f64>() * 2.0 / 254.0 + 1e-4;
            assert!((f64::from(g) - exact).abs() <= bound, "{kind:?} row {r}: {g} vs {exact} (bound {bound})");
        }
    }
}

proptest! {
    #[test]
    fn products_match_the_plain_loop_for_any_input(seed in any::<u64>(), rows in 1usize..20, kb in 1usize..6, n in 1usize..3, q4 in any::<bool>()) {
        let kind = if q4 { QKind::Q4_1 } else { QKind::Q8_0 };
        let k = kb * BLOCK;
        let scales: Vec<u16> = values(seed, 8, 1.0).iter().map(|v| v.to_bits() as u16).collect();
        let w = QMatrix::from_blocks(kind, rows, k, &blocks(kind, rows, k, seed, &scales));
        let x: Vec<f32> = values(seed ^ 5, n * k, 1.0).iter().map(|v| f32::from_bits(v.to_bits().rotate_left((seed % 32) as u32))).collect();
        let acts = QActs::quantize(&x, k);
        let got = qmatmul(&acts, &w);
        for t in 0..n {
            for r in 0..rows {
                let want = if acts.poisoned[t] { CANONICAL_NAN } else { canonical(row_dot(&w, r, &acts, t)) };
                prop_assert_eq!(got[t * rows + r].to_bits(), want.to_bits());
            }
        }
    }
}

#[test]
fn rms_norm_is_close_to_f64() {
    let x = values(5, 3 * 576, 4.0);
    let w = values(6, 576, 1.5);
    let got = rms_norm(&x, &w, 1e-5);
    for (row, out) in x.chunks(576).zip(got.chunks(576)) {
        let ms = row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / 576.0;
        let r = 1.0 / (ms + 1e-5).sqrt();
        for ((&v, &wi), &o) in row.iter().zip(&w).zip(out) {
            let want = f64::from(v) * r * f64::from(wi);
            assert!((f64::from(o) - want).abs() <= 1e-5 * want.abs().max(1e-3), "{o} vs {want}");
        }
    }
    assert!(rms_norm(&[f32::NAN; 32], &[1.0; 32], 1e-5).iter().all(|v| v.to_bits() == CANONICAL_NAN.to_bits()));
}

#[test]
fn rope_turns_pairs_by_the_table_angles() {
    let (half, positions) = (4, 3);
    let angle = |p: usize, i: usize| p as f64 * 0.3f64.powi(i as i32);
    let cos: Vec<f32> = (0..positions * half).map(|j| angle(j / half, j % half).cos() as f32).collect();
    let sin: Vec<f32> = (0..positions * half).map(|j| angle(j / half, j % half).sin() as f32).collect();
    let x = values(9, 2 * 16, 2.0);
    let mut y = x.clone();
    rope(&mut y, 16, 8, 1, &cos, &sin);
    for t in 0..2 {
        for head in 0..2 {
            for i in 0..half {
                let at = t * 16 + head * 8 + 2 * i;
                let (a, b) = (f64::from(x[at]), f64::from(x[at + 1]));
                let theta = angle(1 + t, i);
                assert!((f64::from(y[at]) - (a * theta.cos() - b * theta.sin())).abs() < 1e-5);
                assert!((f64::from(y[at + 1]) - (a * theta.sin() + b * theta.cos())).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn attention_is_causal_grouped_softmax() {
    let (heads, kv_heads, head_dim, positions) = (4, 2, 8, 5);
    let start = 3;
    let q = values(1, (positions - start) * heads * head_dim, 1.5);
    let k = values(2, positions * kv_heads * head_dim, 1.5);
    let v = values(3, positions * kv_heads * head_dim, 1.5);
    let shape = AttentionShape { heads, kv_heads, head_dim, start, scale: 0.25 };
    let got = attention(&q, &k, &v, shape);
    for t in 0..positions - start {
        for h in 0..heads {
            let g = h / 2;
            let query = &q[(t * heads + h) * head_dim..][..head_dim];
            let scores: Vec<f64> = (0..=start + t)
                .map(|j| {
                    let key = &k[(j * kv_heads + g) * head_dim..][..head_dim];
                    query.iter().zip(key).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>() * 0.25
                })
                .collect();
            let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = scores.iter().map(|s| (s - m).exp()).sum();
            for d in 0..head_dim {
                let want: f64 = scores
                    .iter()
                    .enumerate()
                    .map(|(j, s)| (s - m).exp() / total * f64::from(v[(j * kv_heads + g) * head_dim + d]))
                    .sum();
                let o = f64::from(got[(t * heads + h) * head_dim + d]);
                assert!((o - want).abs() < 1e-5, "t={t} h={h} d={d}: {o} vs {want}");
            }
        }
    }
}

#[test]
fn swiglu_specials() {
    let g = [0.0, -0.0, 1.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -100.0];
    let u = [1.0; 7];
    let y = swiglu(&g, &u);
    assert_eq!(bits(&y[..3]), bits(&[0.0, -0.0, crate::numerics::mul(1.0, crate::numerics::sigmoid(1.0))]));
    assert!(
        y[3] == f32::INFINITY && y[4].to_bits() == CANONICAL_NAN.to_bits() && y[5].to_bits() == CANONICAL_NAN.to_bits()
    );
    assert_eq!(y[6].to_bits(), (-0.0f32).to_bits());
}

/// Traced steps: every leaf in order, re-executable op by op from the recorded leaves.
mod traced {
    use std::sync::Arc;

    use crate::llm::gpu::conformance::tiny_model;
    use crate::llm::trace::{SlotArg, SlotInput, eval_slot, inputs_of, slot_shape, step_slots};
    use crate::llm::{CpuSession, Llama, LlmError, QKind, Session};
    use crate::trace::{LayerOp, LeafTensor, LlmSlot, Tap, TapPoint};

    /// The steps of the traced sessions: a prompt of 5 tokens, then 1, then 1.
    const STEPS: [&[i64]; 3] = [&[3, 1, 4, 1, 5], &[9], &[26]];

    /// One recorded leaf.
    #[derive(Debug, Clone)]
    struct Leaf {
        slot: LlmSlot,
        start: usize,
        n: usize,
        shape: Vec<usize>,
        ids: Vec<i64>,
        values: Vec<f32>,
    }

    impl Leaf {
        fn same(&self, other: &Leaf) -> bool {
            self.ids == other.ids && bits(&self.values) == bits(&other.values) && self.shape == other.shape
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Records every leaf as the tap leaves it; leaf `perturb` (counted over the whole
    /// session) is changed first: its first value + 1, or its first id + 1 (mod `vocab`).
    struct Recorder {
        leaves: Vec<Leaf>,
        perturb: Option<usize>,
        vocab: i64,
    }

    impl Tap for Recorder {
        fn leaf(&mut self, at: TapPoint<'_>, tensor: LeafTensor<'_>) {
            let TapPoint::Llm { slot, start, n } = at else { panic!("a graph tap point in an LLM step") };
            let perturb = self.perturb == Some(self.leaves.len());
            let leaf = match tensor {
                LeafTensor::Tensor(t) => {
                    if perturb {
                        let mut ids = t.as_i64().expect("ids").to_vec();
                        ids[0] = (ids[0] + 1) % self.vocab;
                        *t = crate::tensor::Tensor::from_i64(t.shape().to_vec(), ids).expect("ids");
                    }
                    let ids = t.as_i64().expect("the step input is I64").to_vec();
                    Leaf { slot, start, n, shape: t.shape().to_vec(), ids, values: Vec::new() }
                }
                LeafTensor::F32 { shape, data } => {
                    if perturb {
                        data[0] += 1.0;
                    }
                    Leaf { slot, start, n, shape: shape.to_vec(), ids: Vec::new(), values: data.to_vec() }
                }
            };
            self.leaves.push(leaf);
        }
    }

    /// Runs [`STEPS`] traced: the logits and the leaves of each step.
    fn run(model: &Arc<Llama>, perturb: Option<usize>) -> (Vec<Vec<f32>>, Vec<Vec<Leaf>>) {
        let mut session = CpuSession::new(Arc::clone(model), 16);
        let mut recorder = Recorder { leaves: Vec::new(), perturb, vocab: model.config.vocab as i64 };
        let mut logits = Vec::new();
        let mut steps = Vec::new();
        for tokens in STEPS {
            let before = recorder.leaves.len();
            logits.push(session.forward_traced(tokens, &|| false, &mut recorder).expect("traced step"));
            steps.push(recorder.leaves[before..].to_vec());
        }
        (logits, steps)
    }

    /// Re-executes every op leaf of every step from the recorded leaves it reads, except
    /// leaf `skip` (step, index), and compares bits.
    fn check_reexecution(model: &Llama, steps: &[Vec<Leaf>], skip: Option<(usize, usize)>) {
        let layers = model.layers.len();
        let index_of = |slot: LlmSlot| step_slots(layers).position(|s| s == slot).expect("a slot of the step");
        for (s, leaves) in steps.iter().enumerate() {
            for (i, leaf) in leaves.iter().enumerate() {
                if leaf.slot == LlmSlot::Input || skip == Some((s, i)) {
                    continue;
                }
                let histories: Vec<Vec<f32>> = inputs_of(leaf.slot, layers)
                    .iter()
                    .map(|input| match *input {
                        SlotInput::History(slot) => {
                            steps[..=s].iter().flat_map(|step| step[index_of(slot)].values.clone()).collect()
                        }
                        SlotInput::Step(_) => Vec::new(),
                    })
                    .collect();
                let args: Vec<SlotArg<'_>> = inputs_of(leaf.slot, layers)
                    .iter()
                    .zip(&histories)
                    .map(|(input, history)| match *input {
                        SlotInput::Step(LlmSlot::Input) => SlotArg::Ids(&leaves[0].ids),
                        SlotInput::Step(slot) => SlotArg::F32(&leaves[index_of(slot)].values),
                        SlotInput::History(_) => SlotArg::F32(history),
                    })
                    .collect();
                let got = eval_slot(model, leaf.slot, leaf.start, leaf.n, &args).expect("the op re-executes");
                assert_eq!(bits(&got), bits(&leaf.values), "step {s} leaf {i} ({:?})", leaf.slot);
            }
        }
    }

    fn models() -> Vec<Arc<Llama>> {
        vec![Arc::new(tiny_model(11, false, QKind::Q4_1)), Arc::new(tiny_model(12, true, QKind::Q8_0))]
    }

    #[test]
    fn traced_steps_give_the_plain_logits_and_every_leaf_in_order() {
        for model in models() {
            let (logits, steps) = run(&model, None);
            let mut plain = CpuSession::new(Arc::clone(&model), 16);
            let mut start = 0;
            for ((tokens, got), leaves) in STEPS.iter().zip(&logits).zip(&steps) {
                let want = plain.forward(tokens, &|| false).expect("plain step");
                assert_eq!(bits(got), bits(&want), "logits");
                let n = tokens.len();
                assert_eq!(leaves.len() as u64, 1 + model.ops_per_step());
                let slots: Vec<LlmSlot> = leaves.iter().map(|l| l.slot).collect();
                assert_eq!(slots, step_slots(model.layers.len()).collect::<Vec<_>>());
                assert_eq!(leaves[0].ids, *tokens);
                assert_eq!(leaves[0].shape, vec![n]);
                for leaf in &leaves[1..] {
                    assert_eq!((leaf.start, leaf.n), (start, n));
                    let shape = slot_shape(&model, leaf.slot, n);
                    assert_eq!(leaf.shape, shape.to_vec(), "{:?}", leaf.slot);
                    assert_eq!(leaf.values.len(), shape[0] * shape[1]);
                }
                assert_eq!(bits(&leaves[leaves.len() - 1].values), bits(got), "the head leaf is the logits");
                start += n;
            }
            check_reexecution(&model, &steps, None);
        }
    }

    #[test]
    fn eval_slot_rejects_arguments_that_do_not_fit() {
        let model = &models()[0];
        let (dim, kv) = (model.config.dim, model.config.kv_dim());
        let attention = LlmSlot::Layer { layer: 1, op: LayerOp::Attention };
        let (q, k, v) = (vec![0.5; 2 * dim], vec![0.25; 5 * kv], vec![0.125; 5 * kv]);
        let good = [SlotArg::F32(&q), SlotArg::F32(&k), SlotArg::F32(&v)];
        assert!(eval_slot(model, attention, 3, 2, &good).is_ok());
        let short = [SlotArg::F32(&q), SlotArg::F32(&k[kv..]), SlotArg::F32(&v)];
        let ids = [1i64];
        let cases: Vec<(LlmSlot, usize, usize, Vec<SlotArg<'_>>)> = vec![
            (attention, 3, 2, short.to_vec()),
            (attention, 3, 2, good[..2].to_vec()),
            (attention, 3, 2, [&good[..], &[SlotArg::F32(&q)]].concat()),
            (attention, 3, 2, vec![SlotArg::F32(&q), SlotArg::Ids(&ids), SlotArg::F32(&v)]),
            (attention, 2, 2, good.to_vec()),
            (attention, model.max_context, 2, good.to_vec()),
            (LlmSlot::Layer { layer: 9, op: LayerOp::Q }, 0, 2, vec![SlotArg::F32(&q)]),
            (LlmSlot::Layer { layer: 0, op: LayerOp::Q }, 0, 2, vec![SlotArg::F32(&q[1..])]),
            (LlmSlot::Layer { layer: 0, op: LayerOp::Q }, 0, 0, vec![SlotArg::F32(&[])]),
            (LlmSlot::Input, 0, 1, vec![SlotArg::Ids(&ids)]),
            (LlmSlot::Embed, 0, 1, vec![SlotArg::F32(&q[..1])]),
            (LlmSlot::Embed, 0, 2, vec![SlotArg::Ids(&ids)]),
            (LlmSlot::FinalNorm, 0, 2, vec![SlotArg::F32(&q[..dim])]),
            (LlmSlot::Head, 0, 2, vec![SlotArg::F32(&q)]),
        ];
        for (i, (slot, start, n, args)) in cases.iter().enumerate() {
            let result = eval_slot(model, *slot, *start, *n, args);
            assert!(matches!(result, Err(LlmError::Model(_))), "case {i}: {result:?}");
        }
        for bad in [-1i64, model.config.vocab as i64] {
            let result = eval_slot(model, LlmSlot::Embed, 0, 1, &[SlotArg::Ids(&[bad])]);
            assert!(matches!(result, Err(LlmError::BadToken { .. })), "{result:?}");
        }
        assert!(eval_slot(model, LlmSlot::Head, 0, 2, &[SlotArg::F32(&q[..dim])]).is_ok());
    }

    #[test]
    fn a_perturbed_leaf_changes_later_leaves_and_nothing_before() {
        let model = &models()[0];
        let per_step = 1 + model.ops_per_step() as usize;
        let (clean_logits, clean) = run(model, None);
        let head = per_step - 1;
        let layer0 = |op| 2 + LayerOp::ALL.iter().position(|&o| o == op).expect("op");
        let attention0 = layer0(LayerOp::Attention);
        // Perturbations nothing later in the step shows: a product's quantization or a
        // saturated softmax (the tiny model's scores are large) may absorb one.
        let mut absorbed = Vec::new();
        for k in 0..per_step {
            let (logits, steps) = run(model, Some(per_step + k));
            let what = format!("leaf {k} ({:?}) of step 1", clean[1][k].slot);
            assert!(steps[0].iter().zip(&clean[0]).all(|(a, b)| a.same(b)), "{what}: step 0 changed");
            for i in 0..k {
                assert!(steps[1][i].same(&clean[1][i]), "{what}: leaf {i} changed");
            }
            assert!(!steps[1][k].same(&clean[1][k]), "{what} was not perturbed");
            // Everything after it is what the ops make of the perturbed value.
            check_reexecution(model, &steps, Some((1, k)));
            let later_changed = steps[1][k + 1..].iter().zip(&clean[1][k + 1..]).any(|(a, b)| !a.same(b));
            if k < head && !later_changed {
                absorbed.push(k);
            }
            assert_eq!(bits(&logits[0]), bits(&clean_logits[0]));
            let (a, b) = (&steps[2][attention0], &clean[2][attention0]);
            let feeds_cache = [LayerOp::AttnNorm, LayerOp::K, LayerOp::V, LayerOp::RopeK].map(layer0);
            if k < 2 || feeds_cache.contains(&k) {
                assert!(!a.same(b), "{what}: the next step's attention did not see it through the cache");
            }
        }
        assert!(absorbed.len() * 10 < per_step, "perturbations of leaves {absorbed:?} changed nothing later");
    }

    #[test]
    fn a_cancelled_traced_step_leaves_the_session_as_it_was() {
        let model = &models()[0];
        let mut session = CpuSession::new(Arc::clone(model), 16);
        let mut recorder = Recorder { leaves: Vec::new(), perturb: None, vocab: model.config.vocab as i64 };
        session.forward_traced(STEPS[0], &|| false, &mut recorder).expect("step");
        let result = session.forward_traced(STEPS[1], &|| true, &mut recorder);
        assert!(matches!(result, Err(LlmError::Cancelled)), "{result:?}");
        assert_eq!(session.position(), STEPS[0].len());
        let mut plain = CpuSession::new(Arc::clone(model), 16);
        plain.forward(STEPS[0], &|| false).expect("step");
        let want = plain.forward(STEPS[1], &|| false).expect("step");
        let got = session.forward_traced(STEPS[1], &|| false, &mut recorder).expect("step");
        assert_eq!(bits(&got), bits(&want));
        // A tap that makes the ids invalid: refused, nothing changes.
        let bad = Recorder { leaves: Vec::new(), perturb: Some(0), vocab: i64::MAX };
        let mut bad = bad;
        let mut last = CpuSession::new(Arc::clone(model), 16);
        let result = last.forward_traced(&[model.config.vocab as i64 - 1], &|| false, &mut bad);
        assert!(matches!(result, Err(LlmError::BadToken { .. })), "{result:?}");
        assert_eq!(last.position(), 0);
    }
}
