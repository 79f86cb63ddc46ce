// MatMul (numpy rules), one invocation per output element. The output is a stack of
// `m × n` matrices; `params` describes how each stack item finds its operands:
//
//   params[1] = m, params[2] = n, params[3] = k, params[4] = rank of the batch dims,
//   then per batch dim d (outermost first), from params[5 + 3d]:
//     the output's size along d, and the element strides of `a` and `b` along d
//     (0 where that operand is broadcast).
//
// A rank-1 `a` or `b` arrives promoted (`[1, K]`, `[K, 1]`): the output layout is the
// same. Numerics (ops/matmul/mod.rs): acc = +0, then acc = nn_add(acc, nn_mul(a, b)) for
// k ascending, stored canonical. Every product and sum is flushed, which gives the CPU's
// bits even where its kernel skips flushes it has proven to be no-ops.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> a: array<u32>;
@group(1) @binding(2) var<storage, read> b: array<u32>;
@group(1) @binding(3) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let m = params[1];
    let n = params[2];
    let k = params[3];
    let rank = params[4];
    let mn = m * n;
    var item = i / mn;
    let within = i - item * mn;
    let row = within / n;
    let col = within - row * n;
    // The operands' offsets of this stack item, innermost batch dim first.
    var a_at = row * k;
    var b_at = col;
    for (var d = rank; d > 0u; d--) {
        let base = 2u + 3u * d;
        let size = params[base];
        let outer = item / size;
        let coord = item - outer * size;
        a_at += coord * params[base + 1u];
        b_at += coord * params[base + 2u];
        item = outer;
    }
    var acc: f32 = 0.0;
    for (var kk = 0u; kk < k; kk++) {
        acc = nn_add(acc, nn_mul(nn_load(a[a_at]), nn_load(b[b_at])));
        a_at += 1u;
        b_at += n;
    }
    y[i] = nn_store(acc);
}
