// Softmax along one axis (`ops/softmax/mod.rs`), one invocation per slice, each pass
// sequential in index order along the axis:
//   m = max over the slice, folded from -inf with nn_max (NaN wins);
//   e_i = exp(canonical(x_i - m));  s = Σ e_i from +0;  y_i = canonical(mul(e_i, reciprocal(s))).
// e_i is recomputed in the last pass rather than stored (same bits).
// params[1] = the axis length, params[2] = the product of the axes after it (the stride of
// the axis); slice j starts at (j / inner) * len * inner + j % inner.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn softmax(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let j = nn_index(wid, nwg, lid);
    if (j >= params[0]) {
        return;
    }
    let len = params[1];
    let inner = params[2];
    let outer = j / inner;
    let base = outer * len * inner + (j - outer * inner);
    var m = nn_f(NN_NEG_INF);
    for (var i = 0u; i < len; i++) {
        m = nn_max(m, nn_load(x[base + i * inner]));
    }
    var s: f32 = 0.0;
    for (var i = 0u; i < len; i++) {
        s = nn_add(s, nn_exp(nn_sub(nn_load(x[base + i * inner]), m)));
    }
    let r = nn_reciprocal(s);
    for (var i = 0u; i < len; i++) {
        let at = base + i * inner;
        y[at] = nn_store(nn_mul(nn_exp(nn_sub(nn_load(x[at]), m)), r));
    }
}
