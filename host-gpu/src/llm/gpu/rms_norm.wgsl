// RMSNorm (llm/kernels.rs `rms_norm`), one invocation per row of n values, the sum
// sequential in index order from +0:
//   r = rsqrt((Σ x_i ⊗ x_i) ⊗ inv_n ⊕ eps),  y_i = canonical((x_i ⊗ r) ⊗ w_i),
// x_i flushed on load. Output row `t` normalizes input row `step[params[5]] + t` (the
// step's rows from 0, or only its last row for the output head).
// params[2] = n, params[3] = the bits of reciprocal(n) (the CPU's `numerics::reciprocal`),
// params[4] = the bits of epsilon, params[5] = the index in `step` of the first input row.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> x: array<u32>;
@group(1) @binding(3) var<storage, read> w: array<u32>;
@group(1) @binding(4) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn rms_norm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = nn_index(wid, nwg, lid);
    if (row >= llm_count()) {
        return;
    }
    let n = params[2];
    let inv_n = nn_f(params[3]);
    let eps = nn_f(params[4]);
    let base = (step[params[5]] + row) * n;
    var squares: f32 = 0.0;
    for (var i = 0u; i < n; i++) {
        let v = nn_load(x[base + i]);
        squares = nn_add(squares, nn_mul(v, v));
    }
    let r = nn_rsqrt(nn_add(nn_mul(squares, inv_n), eps));
    let out = row * n;
    for (var i = 0u; i < n; i++) {
        y[out + i] = nn_store(nn_mul(nn_mul(nn_load(x[base + i]), r), nn_load(w[i])));
    }
}
