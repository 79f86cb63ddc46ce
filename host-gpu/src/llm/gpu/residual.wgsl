// Residual (llm/kernels.rs `add_residual`), in place on the output binding `x`, one
// invocation per element, both operands flushed on load:
//   x = canonical(x ⊕ y).
// params[0] = the width (dim).

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> y: array<u32>;
@group(1) @binding(3) var<storage, read_write> x: array<u32>;

@compute @workgroup_size(64)
fn residual(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    x[i] = nn_store(nn_add(nn_load(x[i]), nn_load(y[i])));
}
