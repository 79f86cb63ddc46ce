//! Token sampling: the normative algorithm (notes/chat-plan.md section 3).
//!
//! Every node must pick the same token from the same logits and seed, so this is the
//! specification, not just an implementation. Inputs: the model's f32 logits ℓ over the
//! vocabulary (V = 49152 ids), the token ids so far (prompt ‖ completion), the completion's
//! length, the [`SamplingParams`], and a ChaCha20 stream seeded with 32 bytes of WASI random
//! (which the host derives from the call's seed). Each step works on a copy of ℓ:
//!
//! 1. **Repetition penalty** r (default 1): for each *distinct* id among the last
//!    [`PENALTY_WINDOW`] ids of prompt ‖ completion, in f32, `ℓ = ℓ > 0 ? ℓ / r : ℓ · r`.
//! 2. **Frequency and presence penalties** f, p (default 0): for each id with c > 0
//!    occurrences in the completion, in f32, `ℓ = ℓ − (c · f + p)`.
//! 3. **Greedy** if T = 0 or top_k = 1: the id of the largest ℓ, the lowest id on ties,
//!    never a NaN over a number. Greedy steps draw nothing from the stream.
//! 4. **Weights:** m = the largest finite ℓ; `w_i = exp((f64(ℓ_i) − f64(m)) / T)` with
//!    `libm::exp`, 0 where ℓ_i is not finite.
//! 5. **Order:** σ = the ids by ℓ descending under `f32::total_cmp` (+∞ first, +0 before
//!    −0), every NaN (of either sign) ranked as −∞ but below every number, −∞ included; then
//!    by id ascending (among NaNs too). A total order, whose first id is step 3's argmax.
//! 6. **Top-k:** the candidates K are σ's first k ids if k > 0, else all ids.
//! 7. **Top-p** (if top_p < 1): S = Σ_{i∈K} w_i summed in ascending id order; c_j = the
//!    prefix sums of w over K in σ order; K becomes σ's first j* + 1 ids of K, j* = the least
//!    j with c_j ≥ top_p · S (K unchanged if there is none). K keeps at least one id.
//! 8. **Draw:** x = the stream's next u64, u = (x >> 11) · 2⁻⁵³ ∈ [0, 1); target = u · Σ_{i∈K} w_i
//!    (summed in ascending id order); walking K in ascending id order with a running sum of
//!    w, the first id whose running sum exceeds target, else K's last id. If every weight in
//!    K is 0 (its logits are all ±∞ or NaN), the pick is K's first id in σ order instead (x
//!    is still drawn).
//!
//! All f64 operations are IEEE (wasm's and every native target's), `libm::exp` is the same
//! code everywhere, and nothing iterates a hash map, so the pick is bit-reproducible.

use std::cmp::Ordering;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// How many of the latest ids the repetition penalty looks at (llama.cpp's `penalty_last_n`).
pub const PENALTY_WINDOW: usize = 64;

/// The sampling parameters of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// T in [0, 2]; 0 is greedy.
    pub temperature: f64,
    /// Nucleus mass in [0, 1]; 1 is off.
    pub top_p: f64,
    /// Keep the k most likely ids; 0 is off, 1 is greedy.
    pub top_k: usize,
    /// r in (0, 10], a normal f32 (so `ℓ / r` is finite); 1 is off.
    pub repetition_penalty: f32,
    /// f in [−2, 2], subtracted once per occurrence in the completion.
    pub frequency_penalty: f32,
    /// p in [−2, 2], subtracted once from every id the completion has.
    pub presence_penalty: f32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
        }
    }
}

impl SamplingParams {
    /// Whether every step takes the argmax (T = 0 or top_k = 1).
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == 1
    }
}

/// A seeded sampler.
pub struct Sampler {
    /// The parameters.
    params: SamplingParams,
    /// The random stream (used by non-greedy steps only).
    rng: ChaCha20Rng,
}

impl Sampler {
    /// A sampler whose stream is ChaCha20 keyed with `seed`.
    pub fn new(params: SamplingParams, seed: [u8; 32]) -> Self {
        Self { params, rng: ChaCha20Rng::from_seed(seed) }
    }

    /// The next id, from `logits` and the ids so far (`context` = prompt ‖ completion, the
    /// completion being its last `completion_len` ids).
    pub fn sample(&mut self, logits: &[f32], context: &[u32], completion_len: usize) -> u32 {
        let mut logits = logits.to_vec();
        let split = context.len().saturating_sub(completion_len);
        penalize(&mut logits, &self.params, context, &context[split..]);
        if self.params.is_greedy() {
            return argmax(&logits);
        }
        let u = unit(self.rng.next_u64());
        let candidates = candidates(&logits, &self.params);
        draw(&candidates, u)
    }
}

/// Steps 1 and 2: the penalties, in place.
pub fn penalize(logits: &mut [f32], params: &SamplingParams, context: &[u32], completion: &[u32]) {
    let r = params.repetition_penalty;
    if r != 1.0 {
        let mut recent = context[context.len().saturating_sub(PENALTY_WINDOW)..].to_vec();
        recent.sort_unstable();
        recent.dedup();
        for id in recent {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l > 0.0 { *l / r } else { *l * r };
            }
        }
    }
    let (f, p) = (params.frequency_penalty, params.presence_penalty);
    if f != 0.0 || p != 0.0 {
        let mut sorted = completion.to_vec();
        sorted.sort_unstable();
        for run in sorted.chunk_by(|a, b| a == b) {
            if let Some(l) = logits.get_mut(run[0] as usize) {
                *l -= run.len() as f32 * f + p;
            }
        }
    }
}

/// Step 3: the id of the largest logit, the lowest on ties; a NaN never wins over a number.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] || (logits[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best as u32
}

/// Step 8's u ∈ [0, 1) from a u64: its top 53 bits.
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The candidates K of steps 4–7: ids in ascending order, with their weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    /// The ids, ascending.
    pub ids: Vec<u32>,
    /// `weights[i]` is the weight of `ids[i]`.
    pub weights: Vec<f64>,
    /// K's first id in σ order: the pick if every weight is 0.
    pub first: u32,
}

/// Steps 4–7 (not greedy: T > 0).
pub fn candidates(logits: &[f32], params: &SamplingParams) -> Candidates {
    let by_sigma = |a: &u32, b: &u32| sigma(logits[*a as usize], logits[*b as usize]).then(a.cmp(b));
    let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
    let k = params.top_k;
    if k > 0 && k < ids.len() {
        ids.select_nth_unstable_by(k - 1, by_sigma);
        ids.truncate(k);
        ids.sort_unstable();
    }
    // Step 4, once per candidate: `weight[id]` (0 for the ids top-k dropped).
    let max = logits.iter().copied().filter(|l| l.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    let mut weight = vec![0.0f64; logits.len()];
    for &id in &ids {
        let l = logits[id as usize];
        if l.is_finite() {
            weight[id as usize] = libm::exp((f64::from(l) - f64::from(max)) / params.temperature);
        }
    }
    if params.top_p < 1.0 {
        let total: f64 = ids.iter().map(|&id| weight[id as usize]).sum();
        let threshold = params.top_p * total;
        let mut n = 64;
        loop {
            n = n.min(ids.len());
            let mut order = ids.clone();
            if n < order.len() {
                order.select_nth_unstable_by(n - 1, by_sigma);
            }
            order.truncate(n);
            order.sort_unstable_by(by_sigma);
            let mut sum = 0.0;
            let cut = order.iter().position(|&id| {
                sum += weight[id as usize];
                sum >= threshold
            });
            if let Some(j) = cut {
                order.truncate(j + 1);
                order.sort_unstable();
                ids = order;
                break;
            }
            if n == ids.len() {
                break;
            }
            n *= 8;
        }
    }
    let weights = ids.iter().map(|&id| weight[id as usize]).collect();
    let first = ids.iter().copied().min_by(by_sigma).unwrap_or(0);
    Candidates { ids, weights, first }
}

/// Step 5's order on logits, ids aside: `Less` if `a` comes first in σ (descending under
/// `f32::total_cmp`, a NaN of either sign last).
fn sigma(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => b.total_cmp(&a),
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (true, true) => Ordering::Equal,
    }
}

/// Step 8 with a given u ∈ [0, 1).
pub fn draw(candidates: &Candidates, u: f64) -> u32 {
    let total: f64 = candidates.weights.iter().sum();
    if total <= 0.0 {
        return candidates.first;
    }
    let target = u * total;
    let mut sum = 0.0;
    for (&id, &w) in candidates.ids.iter().zip(&candidates.weights) {
        sum += w;
        if sum > target {
            return id;
        }
    }
    candidates.ids.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f64, top_p: f64, top_k: usize) -> SamplingParams {
        SamplingParams { temperature, top_p, top_k, ..SamplingParams::default() }
    }

    /// Deterministic pseudo-random logits (a 64-bit LCG), some of them tied.
    fn logits(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) % 2000) as f32 / 100.0 - 10.0
            })
            .collect()
    }

    #[test]
    fn greedy_is_the_argmax_and_needs_no_randomness() {
        for seed in 0..20 {
            let l = logits(49152, seed);
            let expected = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b]).then(b.cmp(&a))).expect("some");
            for p in [params(0.0, 1.0, 0), params(1.0, 1.0, 1), params(0.7, 0.9, 1)] {
                let mut sampler = Sampler::new(p, [seed as u8; 32]);
                assert_eq!(sampler.sample(&l, &[], 0), expected as u32, "{p:?}");
            }
            // top_p → 0 keeps σ's first id only, whatever u is.
            let mut sampler = Sampler::new(params(1.0, 0.0, 0), [seed as u8; 32]);
            assert_eq!(sampler.sample(&l, &[], 0), expected as u32);
        }
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0, f32::NAN]), 1);
    }

    #[test]
    fn a_seed_gives_the_same_draws() {
        let l = vec![0.0f32; 1000];
        let run = |seed: u8| {
            let mut sampler = Sampler::new(params(1.0, 0.95, 0), [seed; 32]);
            (0..32).map(|_| sampler.sample(&l, &[], 0)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn unit_uses_the_top_53_bits() {
        assert_eq!(unit(0), 0.0);
        assert_eq!(unit(u64::MAX), 1.0 - 2f64.powi(-53));
        assert_eq!(unit(1 << 63), 0.5);
        assert_eq!(unit((1 << 11) - 1), 0.0);
    }

    /// Probabilities 1/4 and 3/4: ids 0 then 1 in the walk.
    #[test]
    fn draws_in_ascending_id_order() {
        let l = [0.0, 3f32.ln()];
        let c = candidates(&l, &params(1.0, 1.0, 0));
        assert_eq!(c.ids, [0, 1]);
        assert!((c.weights[0] - 1.0 / 3.0).abs() < 1e-7 && c.weights[1] == 1.0);
        assert_eq!(draw(&c, 0.0), 0);
        assert_eq!(draw(&c, 0.24), 0);
        assert_eq!(draw(&c, 0.26), 1);
        assert_eq!(draw(&c, 0.999), 1);
        // Temperature 0.5 squares the odds: 1/10 and 9/10.
        let c = candidates(&l, &params(0.5, 1.0, 0));
        assert_eq!((draw(&c, 0.09), draw(&c, 0.11)), (0, 1));
        // Empirically, with the seeded stream: about 1/4 of the draws are id 0.
        let mut sampler = Sampler::new(params(1.0, 1.0, 0), [7; 32]);
        let zeros = (0..20000).filter(|_| sampler.sample(&l, &[], 0) == 0).count();
        assert!((4600..5400).contains(&zeros), "{zeros}");
    }

    /// Probabilities 0.1, 0.2, 0.3, 0.4.
    #[test]
    fn top_p_keeps_the_smallest_likely_set() {
        let l = [1f32.ln(), 2f32.ln(), 3f32.ln(), 4f32.ln()];
        let ids = |top_p| candidates(&l, &params(1.0, top_p, 0)).ids;
        assert_eq!(ids(0.3), [3]);
        assert_eq!(ids(0.5), [2, 3]);
        assert_eq!(ids(0.8), [1, 2, 3]);
        assert_eq!(ids(0.95), [0, 1, 2, 3]);
        let c = candidates(&l, &params(1.0, 0.5, 0));
        // Weights 3/4 and 1 of K = {2, 3}: id 2 below 3/7.
        assert_eq!((draw(&c, 0.42), draw(&c, 0.44)), (2, 3));
    }

    #[test]
    fn top_k_keeps_the_k_largest_lowest_ids_first() {
        let l = [0.0, 1.0, 1.0, 0.5, 1.0];
        assert_eq!(candidates(&l, &params(1.0, 1.0, 2)).ids, [1, 2]);
        assert_eq!(candidates(&l, &params(1.0, 1.0, 4)).ids, [1, 2, 3, 4]);
        assert_eq!(candidates(&l, &params(1.0, 1.0, 9)).ids, [0, 1, 2, 3, 4]);
        // On a large vocabulary, top-k then top-p equals a full sort's prefix.
        let l = logits(49152, 3);
        let mut sorted: Vec<u32> = (0..49152).collect();
        sorted.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
        assert!(l.iter().all(|l| !l.is_nan()));
        for (k, top_p) in [(0, 0.5), (1000, 0.9), (100, 1.0), (0, 0.999)] {
            let c = candidates(&l, &params(0.3, top_p, k));
            let kept = if k > 0 { &sorted[..k] } else { &sorted[..] };
            let max = l.iter().copied().fold(f32::MIN, f32::max);
            let w = |id: u32| libm::exp((f64::from(l[id as usize]) - f64::from(max)) / 0.3);
            let mut by_id = kept.to_vec();
            by_id.sort_unstable();
            let total: f64 = by_id.iter().map(|&id| w(id)).sum();
            let mut sum = 0.0;
            let n = kept.iter().position(|&id| {
                sum += w(id);
                top_p < 1.0 && sum >= top_p * total
            });
            let mut expected = kept[..n.map_or(kept.len(), |j| j + 1)].to_vec();
            expected.sort_unstable();
            assert_eq!(c.ids, expected, "k {k} top_p {top_p}");
        }
    }

    #[test]
    fn non_finite_logits_weigh_nothing() {
        let l = [f32::NEG_INFINITY, 0.0, f32::NAN, 0.0];
        let c = candidates(&l, &params(1.0, 1.0, 0));
        assert_eq!(c.weights, [0.0, 1.0, 0.0, 1.0]);
        assert_eq!((draw(&c, 0.0), draw(&c, 0.49), draw(&c, 0.51)), (1, 1, 3));
    }

    #[test]
    fn penalties() {
        let mut l = vec![2.0f32, -2.0, 1.0, 4.0];
        let p = SamplingParams { repetition_penalty: 2.0, ..SamplingParams::default() };
        penalize(&mut l, &p, &[0, 1, 1], &[]);
        assert_eq!(l, [1.0, -4.0, 1.0, 4.0]);
        // Only the last 64 ids count, each once.
        let mut l = vec![2.0f32, 2.0];
        let context: Vec<u32> = std::iter::once(0).chain(std::iter::repeat_n(1, PENALTY_WINDOW)).collect();
        penalize(&mut l, &p, &context, &[]);
        assert_eq!(l, [2.0, 1.0]);
        // Frequency and presence count the completion only.
        let mut l = vec![1.0f32, 1.0, 1.0, 1.0];
        let p = SamplingParams { frequency_penalty: 0.5, presence_penalty: 0.25, ..SamplingParams::default() };
        penalize(&mut l, &p, &[3, 0, 2, 0], &[0, 2, 0]);
        assert_eq!(l, [1.0 - 1.25, 1.0, 1.0 - 0.75, 1.0]);
        // The sampler applies them: greedy picks the unpenalized id.
        let mut sampler = Sampler::new(SamplingParams { temperature: 0.0, ..p }, [0; 32]);
        assert_eq!(sampler.sample(&[1.0, 0.9], &[5, 0], 1), 1);
        assert_eq!(sampler.sample(&[1.0, 0.9], &[0, 5], 1), 0);
    }

    /// σ ranks a NaN below every number (−∞ included), so top_p → 0 or a small top_k never
    /// keeps a NaN id over a number, as greedy never picks one.
    #[test]
    fn nan_ranks_last() {
        let neg_nan = -f32::NAN;
        assert!(neg_nan.is_nan() && neg_nan.is_sign_negative());
        for nan in [f32::NAN, neg_nan] {
            let l = [nan, 1.0];
            for top_p in [0.0, 1e-9] {
                let c = candidates(&l, &params(1.0, top_p, 0));
                assert_eq!(c.first, 1);
                for u in [0.0, 0.5, 0.999] {
                    assert_eq!(draw(&c, u), 1, "top_p {top_p} u {u}");
                }
                let mut sampler = Sampler::new(params(1.0, top_p, 0), [3; 32]);
                assert_eq!(sampler.sample(&l, &[], 0), 1);
            }
            let mut sampler = Sampler::new(params(0.0, 1.0, 0), [3; 32]);
            assert_eq!(sampler.sample(&l, &[], 0), 1);
            // top_k = 2 keeps the numbers, −∞ included, before any NaN.
            let l = [nan, nan, f32::NEG_INFINITY, 1.0];
            assert_eq!(candidates(&l, &params(1.0, 1.0, 2)).ids, [2, 3]);
            assert_eq!(candidates(&l, &params(1.0, 1.0, 3)).ids, [0, 2, 3]);
        }
        // +∞ ranks first (greedy picks it too) but weighs nothing: alone in K, it is the pick.
        let l = [1.0, f32::INFINITY, f32::NAN];
        assert_eq!(argmax(&l), 1);
        let c = candidates(&l, &params(1.0, 0.0, 0));
        assert_eq!((c.ids.as_slice(), c.first, draw(&c, 0.7)), (&[1][..], 1, 1));
        assert_eq!(sigma(0.0, -0.0), Ordering::Less);
    }

    /// Every weight in K is 0: the pick is K's first id in σ order, with any u, no panic.
    #[test]
    fn all_zero_weights_pick_the_first_in_sigma_order() {
        let l = [f32::NAN; 5];
        for (top_p, top_k) in [(1.0, 0), (0.0, 0), (0.5, 3), (1.0, 2)] {
            let c = candidates(&l, &params(0.8, top_p, top_k));
            assert!(c.weights.iter().all(|&w| w == 0.0));
            assert_eq!(c.first, 0, "top_p {top_p} top_k {top_k}");
            for u in [0.0, 0.5, unit(u64::MAX)] {
                assert_eq!(draw(&c, u), 0);
            }
        }
        let mut sampler = Sampler::new(params(1.0, 1.0, 0), [9; 32]);
        assert!((0..8).all(|_| sampler.sample(&l, &[], 0) == 0));
        assert_eq!(argmax(&l), 0);
        // ±∞ and NaN only: +∞ first.
        let l = [f32::NAN, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY];
        let c = candidates(&l, &params(1.0, 1.0, 0));
        assert_eq!((c.first, draw(&c, 0.0), draw(&c, 0.99)), (2, 2, 2));
        // Empty candidates (an empty vocabulary) do not panic either.
        assert_eq!(draw(&Candidates { ids: vec![], weights: vec![], first: 0 }, 0.5), 0);
    }
}
