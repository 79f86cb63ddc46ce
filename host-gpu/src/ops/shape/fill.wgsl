// Shape: the output words are known when the node is lowered (the input shape is
// concrete) and come in the params: element i is params[1 + i] (i64 dims as i32 words).

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn fill(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    y[i] = params[1u + i];
}
