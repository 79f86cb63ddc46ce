// Gather and GatherND: one invocation per output element, a word of the data copied
// unchanged (f32 bits, i32, bool 0/1). Indices are i32 words (i64 narrowed at upload);
// negative ones count from the end of their axis, as on the CPU. An index still out of
// range makes the CPU fail; here it cannot stop the run, so the element is written as the
// word 0 (constant indices are checked when the node is lowered, with the CPU's error).

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read> indices: array<u32>;
@group(1) @binding(3) var<storage, read_write> y: array<u32>;

// The position an index word names on an axis of `dim` (< 2^31) elements, negative
// counting from the end; `dim` itself when it is out of range.
fn wrap_index(word: u32, dim: u32) -> u32 {
    let v = bitcast<i32>(word);
    let w = select(v, v + i32(dim), v < 0);
    return select(dim, u32(w), (w >= 0) && (u32(w) < dim));
}

// Gather. Params: size of the indexed axis, number of indices, elements per block (the
// product of the data dims after the axis). Output: (outer, index, inner) row-major.
@compute @workgroup_size(64)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let dim = params[1];
    let count = params[2];
    let inner = params[3];
    let t = i / inner;
    let at = wrap_index(indices[t % count], dim);
    if (at < dim) {
        y[i] = x[((t / count) * dim + at) * inner + i % inner];
    } else {
        y[i] = 0u;
    }
}

// GatherND. Params: tuple length m, elements per gathered slice, tuples per batch,
// elements per batch of the data, then the m data dims the tuple indexes. Output: (tuple,
// element of its slice) row-major; tuple t belongs to batch t / (tuples per batch).
@compute @workgroup_size(64)
fn gather_nd(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let m = params[1];
    let slice = params[2];
    let t = i / slice;
    var at = 0u;
    var valid = true;
    for (var j = 0u; j < m; j++) {
        let dim = params[5u + j];
        let index = wrap_index(indices[t * m + j], dim);
        valid = valid && (index < dim);
        at = at * dim + index;
    }
    if (valid) {
        y[i] = x[(t / params[3]) * params[4] + at * slice + i % slice];
    } else {
        y[i] = 0u;
    }
}
