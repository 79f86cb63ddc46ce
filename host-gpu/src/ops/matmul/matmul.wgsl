// MatMul (numpy rules). The output is a stack of `m × n` matrices; `params` describes how
// each stack item finds its operands:
//
//   params[1] = m, params[2] = n, params[3] = k, params[4] = rank of the batch dims,
//   then per batch dim d (outermost first), from params[5 + 3d]:
//     the output's size along d, and the element strides of `a` and `b` along d
//     (0 where that operand is broadcast).
//
// A rank-1 `a` or `b` arrives promoted (`[1, K]`, `[K, 1]`): the output layout is the
// same. Numerics (ops/matmul/mod.rs), for every output element: acc = +0, then
// acc = nn_add(acc, nn_mul(a[i, kk], b[kk, j])) for kk ascending, stored canonical. Every
// product and sum is flushed, which gives the CPU's bits even where its kernel skips
// flushes it has proven to be no-ops.
//
// Two entry points compute exactly that: `matmul`, one invocation per output element, and
// `matmul_tiled`, one workgroup per TILE × TILE block of outputs (4 × 4 per invocation),
// which stages slices of `a` and `b` in workgroup memory. Tiling changes where the operands
// are read from, never the order of any output's sum: each accumulator still sees
// kk = 0, 1, ..., k-1, one slice after the other.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> a: array<u32>;
@group(1) @binding(2) var<storage, read> b: array<u32>;
@group(1) @binding(3) var<storage, read_write> y: array<u32>;

// Where one stack item's operands start.
struct Item {
    a: u32,
    b: u32,
}

// The offsets of stack item `index` in `a` and `b`, innermost batch dim first.
fn item_offsets(index: u32) -> Item {
    var item = index;
    var at = Item(0u, 0u);
    for (var d = params[4]; d > 0u; d--) {
        let base = 2u + 3u * d;
        let size = params[base];
        let outer = item / size;
        let coord = item - outer * size;
        at.a += coord * params[base + 1u];
        at.b += coord * params[base + 2u];
        item = outer;
    }
    return at;
}

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
    let mn = m * n;
    let item = i / mn;
    let within = i - item * mn;
    let row = within / n;
    let col = within - row * n;
    let at = item_offsets(item);
    var a_at = at.a + row * k;
    var b_at = at.b + col;
    var acc: f32 = 0.0;
    for (var kk = 0u; kk < k; kk++) {
        acc = nn_add(acc, nn_mul(nn_load(a[a_at]), nn_load(b[b_at])));
        a_at += 1u;
        b_at += n;
    }
    y[i] = nn_store(acc);
}

// Rows and columns of the output block of one workgroup (ops/matmul/gpu.rs: TILE).
const TILE: u32 = 32u;
// Depth of the slices of `a` and `b` staged at a time.
const SLICE: u32 = 8u;
// Outputs per invocation along each side of the block (8 × 8 invocations of 4 × 4).
const PER: u32 = 4u;

// The staged slices, as flushed bits (no float store or load touches them): `a_tile[kk][r]`
// is a[row0 + r, k0 + kk], `b_tile[kk][c]` is b[k0 + kk, col0 + c]; 0 outside the matrices
// (such values only reach outputs that are not stored).
var<workgroup> a_tile: array<array<u32, TILE>, SLICE>;
var<workgroup> b_tile: array<array<u32, TILE>, SLICE>;

@compute @workgroup_size(64)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Everything up to the barriers depends only on the workgroup (uniform control flow).
    let block = wid.x + wid.y * nwg.x;
    if (block >= params[0] / NN_WORKGROUP) {
        return;
    }
    let m = params[1];
    let n = params[2];
    let k = params[3];
    let blocks_m = (m + TILE - 1u) / TILE;
    let blocks_n = (n + TILE - 1u) / TILE;
    let per_item = blocks_m * blocks_n;
    let item = block / per_item;
    let within = block - item * per_item;
    let row0 = within / blocks_n * TILE;
    let col0 = (within % blocks_n) * TILE;
    let at = item_offsets(item);
    // This invocation's outputs: rows row0 + tr + 8·r, columns col0 + tc + 8·c.
    let tr = lid / 8u;
    let tc = lid % 8u;

    var acc: array<f32, 16>;
    for (var j = 0u; j < PER * PER; j++) {
        acc[j] = 0.0;
    }
    for (var k0 = 0u; k0 < k; k0 += SLICE) {
        // Stage the slices: 4 values of each per invocation.
        for (var q = 0u; q < PER; q++) {
            let e = lid + q * NN_WORKGROUP;
            // a: element e is row e / SLICE, depth e % SLICE (reads along k).
            let ar = e / SLICE;
            let ak = e % SLICE;
            var av = 0u;
            if ((row0 + ar < m) & (k0 + ak < k)) {
                av = nn_flush_bits(a[at.a + (row0 + ar) * k + k0 + ak] ^ nn_numerics.zero);
            }
            a_tile[ak][ar] = av;
            // b: element e is depth e / TILE, column e % TILE (reads along n).
            let bk = e / TILE;
            let bc = e % TILE;
            var bv = 0u;
            if ((k0 + bk < k) & (col0 + bc < n)) {
                bv = nn_flush_bits(b[at.b + (k0 + bk) * n + col0 + bc] ^ nn_numerics.zero);
            }
            b_tile[bk][bc] = bv;
        }
        workgroupBarrier();
        // Only the depths that exist: a padded one would add a term to every sum.
        let depth = min(SLICE, k - k0);
        for (var kk = 0u; kk < depth; kk++) {
            var x: array<f32, 4>;
            var w: array<f32, 4>;
            for (var r = 0u; r < PER; r++) {
                x[r] = bitcast<f32>(a_tile[kk][tr + 8u * r]);
                w[r] = bitcast<f32>(b_tile[kk][tc + 8u * r]);
            }
            for (var r = 0u; r < PER; r++) {
                for (var c = 0u; c < PER; c++) {
                    acc[r * PER + c] = nn_add(acc[r * PER + c], nn_mul(x[r], w[c]));
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < PER; r++) {
        let row = row0 + tr + 8u * r;
        for (var c = 0u; c < PER; c++) {
            let col = col0 + tc + 8u * c;
            if ((row < m) & (col < n)) {
                y[item * m * n + row * n + col] = nn_store(acc[r * PER + c]);
            }
        }
    }
}
