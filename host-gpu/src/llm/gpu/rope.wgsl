// Rotary embedding (llm/kernels.rs `rope`), adjacent pairs, one invocation per pair: row t
// of `x` (width values, whole heads of head_dim) is at position start + t, and pair i of a
// head, (a, b) = (x_2i, x_2i+1) flushed, turns by the table angle i of that position
// (c, s = cos[p·half + i], sin[p·half + i], half = head_dim / 2):
//   a' = canonical(a ⊗ c ⊖ b ⊗ s),   b' = canonical(a ⊗ s ⊕ b ⊗ c).
// (The CPU's `flush(mul(a, c) - mul(b, s))` is nn_sub: x - y and x + (-y) are the same IEEE
// operation.) Row t is written at row step[params[4]] + t of `y`: at t for the queries, at
// start + t to append the keys to the KV cache.
// params[0] = width / 2, params[2] = width, params[3] = head_dim, params[4] = the index in
// `step` of the first output row.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> x: array<u32>;
@group(1) @binding(3) var<storage, read> cos_table: array<u32>;
@group(1) @binding(4) var<storage, read> sin_table: array<u32>;
@group(1) @binding(5) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn rope(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    let pairs = params[0];
    let width = params[2];
    let half = params[3] >> 1u;
    let t = i / pairs;
    let p = i - t * pairs;
    let angle = (step[1] + t) * half + p % half;
    let c = nn_load(cos_table[angle]);
    let s = nn_load(sin_table[angle]);
    let src = t * width + 2u * p;
    let a = nn_load(x[src]);
    let b = nn_load(x[src + 1u]);
    let dst = (step[params[4]] + t) * width + 2u * p;
    y[dst] = nn_store(nn_sub(nn_mul(a, c), nn_mul(b, s)));
    y[dst + 1u] = nn_store(nn_add(nn_mul(a, s), nn_mul(b, c)));
}
