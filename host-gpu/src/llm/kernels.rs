//! The float ops of a llama step, each the specification of its WGSL twin
//! (`docs/NUMERICS.md`, "Quantized LLM ops"). `⊗`/`⊕`/`⊖` are the flushing
//! [`mul`]/[`add`]/subtraction of [`crate::numerics`]; every sum runs in index order from
//! +0; every output is canonical.

use rayon::prelude::*;

use crate::numerics::{add, canonical, exp, flush, max, mul, reciprocal, rsqrt, sigmoid};

/// RMSNorm of each row of `w.len()` values:
/// `r = rsqrt((Σ x_i ⊗ x_i) ⊗ reciprocal(n) ⊕ ε)`, `y_i = (x_i ⊗ r) ⊗ w_i`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let n = w.len();
    let inv_n = reciprocal(n as f32);
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(n) {
        let mut squares = 0.0f32;
        for &v in row {
            let v = flush(v);
            squares = add(squares, mul(v, v));
        }
        let r = rsqrt(add(mul(squares, inv_n), eps));
        out.extend(row.iter().zip(w).map(|(&v, &wi)| canonical(mul(mul(flush(v), r), wi))));
    }
    out
}

/// Rotary embedding in place, adjacent pairs (ggml's "normal" mode, which llama GGUFs
/// use). `x` holds rows of `width` values (whole heads of `head_dim`); row `t` is at
/// position `start + t`, and pair `(a, b) = (x_2i, x_2i+1)` of each head turns by the
/// table angle `i` of that position: `a' = a ⊗ c ⊖ b ⊗ s`, `b' = a ⊗ s ⊕ b ⊗ c`.
pub fn rope(x: &mut [f32], width: usize, head_dim: usize, start: usize, cos: &[f32], sin: &[f32]) {
    let half = head_dim / 2;
    for (t, row) in x.chunks_exact_mut(width).enumerate() {
        let table = (start + t) * half;
        let (cos, sin) = (&cos[table..table + half], &sin[table..table + half]);
        for head in row.chunks_exact_mut(head_dim) {
            for (i, pair) in head.chunks_exact_mut(2).enumerate() {
                let (a, b) = (flush(pair[0]), flush(pair[1]));
                pair[0] = canonical(flush(mul(a, cos[i]) - mul(b, sin[i])));
                pair[1] = canonical(add(mul(a, sin[i]), mul(b, cos[i])));
            }
        }
    }
}

/// The shape of an attention step.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (query head `h` reads KV head `h / (heads / kv_heads)`).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Position of the first query row.
    pub start: usize,
    /// Score scale (`rsqrt(head_dim)`).
    pub scale: f32,
}

/// Causal grouped-query attention: `q` holds rows of `heads · head_dim` for positions
/// `start..`, the caches rows of `kv_heads · head_dim` for positions `0..` (including the
/// new ones). For query position `p` and head `h`, over `j = 0..=p`:
/// `s_j = (Σ_d q_d ⊗ k_j,d) ⊗ scale`; `m = max_j s_j`; `e_j = exp(s_j ⊖ m)`;
/// `w_j = e_j ⊗ reciprocal(Σ_j e_j)`; `o_d = Σ_j w_j ⊗ v_j,d` (positions ascending).
/// Later positions are skipped, not masked with −inf.
pub fn attention(q: &[f32], k_cache: &[f32], v_cache: &[f32], shape: AttentionShape) -> Vec<f32> {
    let AttentionShape { heads, kv_heads, head_dim, start, scale } = shape;
    let width = heads * head_dim;
    let kv_width = kv_heads * head_dim;
    let group = heads / kv_heads;
    let mut out = vec![0.0f32; q.len()];
    out.par_chunks_mut(head_dim).enumerate().for_each(|(index, o)| {
        let (t, h) = (index / heads, index % heads);
        let positions = start + t + 1;
        let query = &q[t * width + h * head_dim..][..head_dim];
        let kv = (h / group) * head_dim;
        let mut scores = vec![0.0f32; positions];
        // Eight keys at a time: eight independent chains (each still sequential in d),
        // which the CPU overlaps instead of waiting on one chain's latency.
        let mut chunks = scores.chunks_mut(8);
        let mut j0 = 0;
        for chunk in &mut chunks {
            let mut dots = [0.0f32; 8];
            for (d, &a) in query.iter().enumerate() {
                let a = flush(a);
                for (l, dot) in dots[..chunk.len()].iter_mut().enumerate() {
                    *dot = add(*dot, mul(a, flush(k_cache[(j0 + l) * kv_width + kv + d])));
                }
            }
            chunk.copy_from_slice(&dots[..chunk.len()]);
            j0 += 8;
        }
        let mut m = f32::NEG_INFINITY;
        for s in &mut scores {
            *s = mul(*s, scale);
            m = max(m, *s);
        }
        let mut sum = 0.0f32;
        for s in &mut scores {
            *s = exp(flush(*s - m));
            sum = add(sum, *s);
        }
        let inv = reciprocal(sum);
        o.fill(0.0);
        for (j, &e) in scores.iter().enumerate() {
            let w = mul(e, inv);
            let value = &v_cache[j * kv_width + kv..][..head_dim];
            for (acc, &v) in o.iter_mut().zip(value) {
                *acc = add(*acc, mul(w, flush(v)));
            }
        }
        for acc in o {
            *acc = canonical(*acc);
        }
    });
    out
}

/// SwiGLU: `y = (g ⊗ sigmoid(g)) ⊗ u`.
pub fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter().zip(up).map(|(&g, &u)| canonical(mul(mul(flush(g), sigmoid(g)), flush(u)))).collect()
}

/// Residual: `x = x ⊕ y`.
pub fn add_residual(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a = canonical(add(flush(*a), flush(b)));
    }
}
