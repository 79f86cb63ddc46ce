// KV cache append (llm/cpu.rs `cache.v.extend_from_slice`): row t of `x` (width words) is
// copied, bits unchanged, to row start + t of the cache, one invocation per word.
// params[0] = width.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> x: array<u32>;
@group(1) @binding(3) var<storage, read_write> cache: array<u32>;

@compute @workgroup_size(64)
fn kv_append(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    cache[step[1] * params[0] + i] = x[i];
}
