// Range on i32 words (i64 narrowed at upload): element i is start + i * delta, start and
// delta read from their scalar inputs (constants or run-time values). The element count
// is fixed when the node is lowered. Every element lies between start and limit, both
// i32 on the GPU, so the wrapping u32 arithmetic below gives the exact value.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> start: array<u32>;
@group(1) @binding(2) var<storage, read> delta: array<u32>;
@group(1) @binding(3) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn range(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    y[i] = start[0] + i * delta[0];
}
