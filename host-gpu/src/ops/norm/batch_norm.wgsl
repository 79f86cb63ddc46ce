// Inference-mode BatchNorm (`ops/norm/mod.rs`), one invocation per element. The channel's
// coefficients are computed in the invocation, in the CPU's order, so every element of a
// channel gets the same bits as the CPU's per-channel table:
//   s = mul(scale, rsqrt(add(var, eps))),  t = canonical(bias - mul(mean, s)),
//   y = canonical(add(mul(x, s), t)).
// params[1] = elements per channel plane (product of the axes after 1), params[2] = channels,
// params[3] = the bits of epsilon.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read> scale: array<u32>;
@group(1) @binding(3) var<storage, read> bias: array<u32>;
@group(1) @binding(4) var<storage, read> mean: array<u32>;
@group(1) @binding(5) var<storage, read> variance: array<u32>;
@group(1) @binding(6) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn batch_norm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let c = (i / params[1]) % params[2];
    let eps = nn_f(params[3]);
    let s = nn_mul(nn_load(scale[c]), nn_rsqrt(nn_add(nn_load(variance[c]), eps)));
    let t = nn_canonical(nn_sub(nn_load(bias[c]), nn_mul(nn_load(mean[c]), s)));
    y[i] = nn_store(nn_add(nn_mul(nn_load(x[i]), s), t));
}
