// Causal grouped-query attention, part 2 (llm/kernels.rs `attention`): one invocation per
// output element (t, h, d), query row t at position p = start + t:
//   o = canonical(Σ_j w_j ⊗ v_j,d)  for j = 0..=p ascending, from +0,
// with w_j the weights of (t, h) from attention_weights.wgsl and v_j,d (flushed on load) the
// value of KV head h / group at position j.
// params[0] = heads · head_dim, params[2] = head_dim, params[3] = group,
// params[4] = kv width, params[5] = context capacity (the stride of the rows of `w`).

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> w: array<u32>;
@group(1) @binding(3) var<storage, read> v_cache: array<u32>;
@group(1) @binding(4) var<storage, read_write> o: array<u32>;

@compute @workgroup_size(64)
fn attention_mix(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    let width = params[0];
    let head_dim = params[2];
    let kv_width = params[4];
    let t = i / width;
    let c = i - t * width;
    let h = c / head_dim;
    let d = c - h * head_dim;
    let positions = step[1] + t + 1u;
    // Row (t, h) of the weights: t · heads + h, with heads = width / head_dim.
    let row = (t * (width / head_dim) + h) * params[5];
    let value = (h / params[3]) * head_dim + d;
    var acc: f32 = 0.0;
    for (var j = 0u; j < positions; j++) {
        acc = nn_add(acc, nn_mul(nn_load(w[row + j]), nn_load(v_cache[j * kv_width + value])));
    }
    o[i] = nn_store(acc);
}
