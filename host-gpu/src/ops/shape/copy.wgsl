// Strided word copy for Transpose, Slice, Expand and Concat (`shape/gpu.rs` builds the
// walk). One invocation per copied element; the 32-bit word (f32 bits, i32, bool 0/1) is
// moved unchanged and never read as a float, so every bit pattern survives exactly, as in
// the CPU's element copies.
//
// Params from params[1]: rank, source offset, destination offset, then for each axis of
// the walk, outermost first: size, source stride, destination stride. Strides are i32 bit
// patterns: 0 for broadcast axes, negative for reversed slices. u32 arithmetic wraps, so
// `index * stride` with a negative stride as u32 gives the right position.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn copy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    var src = params[2];
    var dst = params[3];
    // Split i into one index per axis, innermost first.
    var rest = i;
    for (var k = params[1]; k > 0u; k--) {
        let at = 4u + 3u * (k - 1u);
        let size = params[at];
        let index = rest % size;
        rest = rest / size;
        src += index * params[at + 1u];
        dst += index * params[at + 2u];
    }
    y[dst] = x[src];
}
