// SwiGLU (llm/kernels.rs `swiglu`), one invocation per element, g and u flushed on load:
//   y = canonical((g ⊗ sigmoid(g)) ⊗ u).
// params[0] = the width (ffn).

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> gate: array<u32>;
@group(1) @binding(3) var<storage, read> up: array<u32>;
@group(1) @binding(4) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn swiglu(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    let g = nn_load(gate[i]);
    y[i] = nn_store(nn_mul(nn_mul(g, nn_sigmoid(g)), nn_load(up[i])));
}
