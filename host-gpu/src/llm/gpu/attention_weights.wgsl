// Causal grouped-query attention, part 1 (llm/kernels.rs `attention`): the weights w_j of
// query row t (position p = start + t) and head h over the positions j = 0..=p of the KV
// cache, one invocation per (t, h); query head h reads KV head h / group. Three passes,
// each sequential in j ascending, through this invocation's own row of `w`:
//   s_j = (Σ_d q_d ⊗ k_j,d) ⊗ scale  (d ascending from +0, q and k flushed on load),
//   m = max_j s_j  (nn_max folded from -inf: NaN wins);
//   e_j = exp(s_j ⊖ m),  sum = Σ_j e_j  (from +0);
//   w_j = e_j ⊗ reciprocal(sum).
// Later positions are skipped, not masked. attention_mix.wgsl then sums w_j ⊗ v_j.
// `w` row (t, h) starts at (t · heads + h) · params[7] (the context capacity); the values
// between passes are stored as their bits (never subnormal: every one is a flushed result).
// params[0] = heads, params[2] = head_dim, params[3] = group (heads / kv_heads),
// params[4] = kv width (kv_heads · head_dim), params[5] = query width (heads · head_dim),
// params[6] = the bits of scale (the CPU's rsqrt(head_dim)), params[7] = context capacity.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> q: array<u32>;
@group(1) @binding(3) var<storage, read> k_cache: array<u32>;
@group(1) @binding(4) var<storage, read_write> w: array<u32>;

@compute @workgroup_size(64)
fn attention_weights(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    let heads = params[0];
    let head_dim = params[2];
    let kv_width = params[4];
    let scale = nn_f(params[6]);
    let t = i / heads;
    let h = i - t * heads;
    let positions = step[1] + t + 1u;
    let query = t * params[5] + h * head_dim;
    let kv = (h / params[3]) * head_dim;
    let row = i * params[7];
    var m = nn_f(NN_NEG_INF);
    for (var j = 0u; j < positions; j++) {
        let key = j * kv_width + kv;
        var dot: f32 = 0.0;
        for (var d = 0u; d < head_dim; d++) {
            dot = nn_add(dot, nn_mul(nn_load(q[query + d]), nn_load(k_cache[key + d])));
        }
        let s = nn_mul(dot, scale);
        m = nn_max(m, s);
        w[row + j] = nn_bits(s);
    }
    var sum: f32 = 0.0;
    for (var j = 0u; j < positions; j++) {
        let e = nn_exp(nn_sub(nn_load(w[row + j]), m));
        sum = nn_add(sum, e);
        w[row + j] = nn_bits(e);
    }
    let inv = nn_reciprocal(sum);
    for (var j = 0u; j < positions; j++) {
        w[row + j] = nn_bits(nn_mul(nn_load(w[row + j]), inv));
    }
}
