// `Where(cond, x, y)` with three-way broadcasting, one invocation per output element:
// copies the 32-bit word of x or y (any dtype), as `eval_where` copies values.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> cond: array<u32>;
@group(1) @binding(2) var<storage, read> x: array<u32>;
@group(1) @binding(3) var<storage, read> y: array<u32>;
@group(1) @binding(4) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn pick(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let off = bc_offsets(i, 3u);
    out[i] = select(y[off.z], x[off.y], cond[off.x] != 0u);
}
