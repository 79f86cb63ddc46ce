// Quantized matrix product (llm/quant.rs `qmatmul`): activations quantized per block
// (quantize.wgsl's layout) times Q4_1 or Q8_0 weight rows, one invocation per output
// (t, r): row r of the weights against activation row t. Per block j, in ascending order:
//   P = Σ qw_i · qx_i (integers, exact: dot4I8Packed in any order),
//   Q4_1: v = (dw ⊗ dx) ⊗ f32(P) ⊕ (mw ⊗ dx) ⊗ f32(sx),   Q8_0: v = (dw ⊗ dx) ⊗ f32(P),
//   acc = acc ⊕ v  (from +0);
// y = canonical(acc), or the canonical NaN when a block of row t is flagged (NaN/±inf).
// |P| <= 127·127·32 and |sx| <= 127·32 are below 2^24: their conversions are exact.
// Weights: `scales` / `mins` one f32 per block (row-major), `quants` the bytes packed
// little-endian into words: Q8_0 32 i8 a block (8 words); Q4_1 16 bytes a block (4 words),
// byte j holding element j in its low nibble and element j + 16 in its high one, so word w
// gives elements 4w..4w+3 (low nibbles) and 16+4w.. (high nibbles): activation words w and
// 4 + w. For Q8_0 `mins` is the scales again and never read.
// Invocation i: r = i / T, t = i % T (the invocations of one weight row are adjacent);
// the output is [T, rows] row-major.
// params[0] = rows (outputs per token), params[2] = kb (blocks per row), params[3..=5] = the
// word offsets of dx, sx and the flags in `acts`.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> acts: array<u32>;
@group(1) @binding(3) var<storage, read> scales: array<u32>;
@group(1) @binding(4) var<storage, read> mins: array<u32>;
@group(1) @binding(5) var<storage, read> quants: array<u32>;
@group(1) @binding(6) var<storage, read_write> y: array<u32>;

const Q4_1: u32 = 1u;
const Q8_0: u32 = 0u;

// One output of a matrix of kind `kind` (a constant argument: each entry point's loop has no
// branch on it left after inlining).
fn qdot(i: u32, kind: u32) {
    let rows = params[0];
    let tokens = step[params[1]];
    let r = i / tokens;
    let t = i - r * tokens;
    let kb = params[2];
    let dx_at = params[3];
    let sx_at = params[4];
    let flag_at = params[5];
    var acc: f32 = 0.0;
    var poisoned = 0u;
    for (var j = 0u; j < kb; j++) {
        let wb = r * kb + j;
        let ab = t * kb + j;
        var p = 0i;
        if (kind == Q4_1) {
            for (var w = 0u; w < 4u; w++) {
                let q = quants[wb * 4u + w];
                p += dot4I8Packed(q & 0x0F0F0F0Fu, acts[ab * 8u + w]);
                p += dot4I8Packed((q >> 4u) & 0x0F0F0F0Fu, acts[ab * 8u + 4u + w]);
            }
        } else {
            for (var w = 0u; w < 8u; w++) {
                p += dot4I8Packed(quants[wb * 8u + w], acts[ab * 8u + w]);
            }
        }
        let dx = nn_load(acts[dx_at + ab]);
        var v = nn_mul(nn_mul(nn_load(scales[wb]), dx), f32(p));
        if (kind == Q4_1) {
            let sx = f32(bitcast<i32>(acts[sx_at + ab]));
            v = nn_add(v, nn_mul(nn_mul(nn_load(mins[wb]), dx), sx));
        }
        acc = nn_add(acc, v);
        poisoned |= acts[flag_at + ab];
    }
    y[t * rows + r] = select(nn_store(acc), NN_CANONICAL_NAN, poisoned != 0u);
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
