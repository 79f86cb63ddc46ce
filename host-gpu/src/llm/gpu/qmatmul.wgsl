// Quantized matrix product (llm/quant.rs `qmatmul`): activations quantized per block
// (quantize.wgsl's layout) times Q4_1 or Q8_0 weight rows. Output (t, r) is weight row r
// against activation row t; per block j, in ascending order:
//   P = Σ qw_i · qx_i (integers, exact: dot4I8Packed, in any order),
//   Q4_1: v = (dw ⊗ dx) ⊗ f32(P) ⊕ (mw ⊗ dx) ⊗ f32(sx),   Q8_0: v = (dw ⊗ dx) ⊗ f32(P),
//   acc = acc ⊕ v  (from +0);
// y = canonical(acc), or the canonical NaN when a block of row t is flagged (NaN/±inf).
// |P| <= 127·127·32 and |sx| <= 127·32 are below 2^24: their conversions are exact.
//
// One invocation computes four outputs, rows 4g..4g+3 of token t (i = g·T + t), each with
// its own accumulator in its own block order: this shares the activation loads, which is
// what a software rasterizer spends its time on. Rows past the last one recompute the last
// row and are not stored.
//
// Data (all read as vec4<u32>, 16 bytes per load): `quants` the weight bytes packed
// little-endian, Q4_1 one vec4 per block (16 bytes: byte j holds element j in its low nibble
// and element j + 16 in its high one, so word w gives elements 4w..4w+3 and 16+4w..16+4w+3:
// activation words w and 4 + w), Q8_0 two vec4 per block (32 i8); `scales` / `mins` one f32
// per block (for Q8_0 `mins` is the scales again, never read). Blocks are stored in row
// groups of 8 (quant.rs `QMatrix`): block j of row r is at ((r / 8)·kb + j)·8 + r % 8, so
// the blocks of one row are 8 apart; `acts` two vec4
// of qx per block, then from vec4 params[3] one vec4 per block: (dx bits, sx, flag, 0).
// params[0] = ceil(rows / 4), params[2] = kb (blocks per row), params[3] = where the
// activation blocks' (dx, sx, flag) start, params[4] = rows. The output is [T, rows].

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> acts: array<vec4<u32>>;
@group(1) @binding(3) var<storage, read> scales: array<u32>;
@group(1) @binding(4) var<storage, read> mins: array<u32>;
@group(1) @binding(5) var<storage, read> quants: array<vec4<u32>>;
@group(1) @binding(6) var<storage, read_write> y: array<u32>;

const Q4_1: u32 = 1u;
const Q8_0: u32 = 0u;

// Σ of the four dot4I8Packed of matching words.
fn dot16(w: vec4<u32>, x: vec4<u32>) -> i32 {
    return dot4I8Packed(w.x, x.x) + dot4I8Packed(w.y, x.y) + dot4I8Packed(w.z, x.z) + dot4I8Packed(w.w, x.w);
}

// v of weight block `wb` against the activation block (a0, a1) with scale dx and sum sx.
fn block_value(kind: u32, wb: u32, a0: vec4<u32>, a1: vec4<u32>, dx: f32, sx: f32) -> f32 {
    var p: i32;
    if (kind == Q4_1) {
        let q = quants[wb];
        p = dot16(q & vec4(0x0F0F0F0Fu), a0) + dot16((q >> vec4(4u)) & vec4(0x0F0F0F0Fu), a1);
    } else {
        p = dot16(quants[2u * wb], a0) + dot16(quants[2u * wb + 1u], a1);
    }
    var v = nn_mul(nn_mul(nn_load(scales[wb]), dx), f32(p));
    if (kind == Q4_1) {
        v = nn_add(v, nn_mul(nn_mul(nn_load(mins[wb]), dx), sx));
    }
    return v;
}

// Index of block 0 of weight row r (rows of kb blocks, stored in groups of 8).
fn first_block(r: u32, kb: u32) -> u32 {
    return (r >> 3u) * kb * 8u + (r & 7u);
}

// Outputs (t, 4g..4g+3) for invocation i, weights of kind `kind` (a constant argument).
fn qdot(i: u32, kind: u32) {
    let tokens = step[params[1]];
    let g = i / tokens;
    let t = i - g * tokens;
    let kb = params[2];
    let meta_at = params[3];
    let rows = params[4];
    let r = 4u * g;
    let last = rows - 1u;
    let w0 = first_block(min(r, last), kb);
    let w1 = first_block(min(r + 1u, last), kb);
    let w2 = first_block(min(r + 2u, last), kb);
    let w3 = first_block(min(r + 3u, last), kb);
    var acc0: f32 = 0.0;
    var acc1: f32 = 0.0;
    var acc2: f32 = 0.0;
    var acc3: f32 = 0.0;
    var poisoned = 0u;
    for (var j = 0u; j < kb; j++) {
        let ab = t * kb + j;
        let a0 = acts[2u * ab];
        let a1 = acts[2u * ab + 1u];
        let m = acts[meta_at + ab];
        let dx = nn_load(m.x);
        let sx = f32(bitcast<i32>(m.y));
        poisoned |= m.z;
        acc0 = nn_add(acc0, block_value(kind, w0 + 8u * j, a0, a1, dx, sx));
        acc1 = nn_add(acc1, block_value(kind, w1 + 8u * j, a0, a1, dx, sx));
        acc2 = nn_add(acc2, block_value(kind, w2 + 8u * j, a0, a1, dx, sx));
        acc3 = nn_add(acc3, block_value(kind, w3 + 8u * j, a0, a1, dx, sx));
    }
    let out = t * rows + r;
    let nan = poisoned != 0u;
    y[out] = select(nn_store(acc0), NN_CANONICAL_NAN, nan);
    if (r + 1u < rows) {
        y[out + 1u] = select(nn_store(acc1), NN_CANONICAL_NAN, nan);
    }
    if (r + 2u < rows) {
        y[out + 2u] = select(nn_store(acc2), NN_CANONICAL_NAN, nan);
    }
    if (r + 3u < rows) {
        y[out + 3u] = select(nn_store(acc3), NN_CANONICAL_NAN, nan);
    }
}

@compute @workgroup_size(64)
fn qmatmul_q4_1(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    qdot(i, Q4_1);
}

@compute @workgroup_size(64)
fn qmatmul_q8_0(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    qdot(i, Q8_0);
}
