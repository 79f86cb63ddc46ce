// Numpy-style broadcast indexing, shared by `binary.wgsl` and `where.wgsl` (the host
// concatenates it in front of each; both declare `params`).
//
// Parameters (from params[1], written by `elementwise/gpu.rs` `broadcast_params`): the rank
// r >= 1 of the output shape after the host dropped its size-1 dims and merged neighbours
// that every input walks contiguously, then the r dims (outermost first), then for each
// input its r element strides (0 along broadcast dims).

// The element offset of output index `i` in each of the first `n` inputs (n <= 3; the
// other components stay 0). The outermost coordinate needs no division: i < the size.
fn bc_offsets(i: u32, n: u32) -> vec3<u32> {
    let rank = params[1];
    var off = vec3<u32>(0u, 0u, 0u);
    var rem = i;
    for (var d = rank - 1u; d > 0u; d--) {
        let dim = params[2u + d];
        let c = rem % dim;
        rem = rem / dim;
        for (var k = 0u; k < n; k++) {
            off[k] += c * params[2u + rank * (k + 1u) + d];
        }
    }
    for (var k = 0u; k < n; k++) {
        off[k] += rem * params[2u + rank * (k + 1u)];
    }
    return off;
}
