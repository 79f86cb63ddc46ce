// Embedding lookup (llm/quant.rs `QMatrix::dequantize_row`): row `ids[t]` of a Q8_0 or Q4_1
// matrix dequantized, one invocation per output element (t, c), c < k:
//   Q8_0: y = canonical(d ⊗ f32(q)),    Q4_1: y = canonical(d ⊗ f32(q) ⊕ m),
// with d (and m) the scale (and minimum) of the element's block and q its integer: for Q8_0
// the i8 at byte c of the row's quants, for Q4_1 (16 bytes a block) element j < 16 of a block
// is the low nibble of byte j and element j >= 16 the high nibble of byte j - 16.
// params[2] = k (the row width), params[3] = 1 for Q4_1, 0 for Q8_0 (then `mins` is the scales
// again and never read). `quants` holds the matrix's bytes packed little-endian into words.
// Blocks are stored in row groups of 8 (quant.rs `QMatrix`): block j of row r is at
// ((r / 8)·kb + j)·8 + r % 8.

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> ids: array<u32>;
@group(1) @binding(3) var<storage, read> scales: array<u32>;
@group(1) @binding(4) var<storage, read> mins: array<u32>;
@group(1) @binding(5) var<storage, read> quants: array<u32>;
@group(1) @binding(6) var<storage, read_write> y: array<u32>;

// Byte `i` of the packed quants.
fn quant_byte(i: u32) -> u32 {
    return (quants[i >> 2u] >> ((i & 3u) * 8u)) & 0xFFu;
}

@compute @workgroup_size(64)
fn embed(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= llm_count()) {
        return;
    }
    let k = params[2];
    let t = i / k;
    let c = i - t * k;
    let row = ids[t];
    let block = ((row >> 3u) * (k >> 5u) + (c >> 5u)) * 8u + (row & 7u);
    let j = c & 31u;
    let d = nn_load(scales[block]);
    var v: f32;
    if (params[3] == 1u) {
        let byte = quant_byte(block * 16u + (j & 15u));
        let q = select(byte & 15u, byte >> 4u, j >= 16u);
        v = nn_add(nn_mul(d, f32(q)), nn_load(mins[block]));
    } else {
        // Sign-extend the byte (q in -128..=127; its conversion is exact).
        let q = bitcast<i32>(quant_byte(block * 32u + j) << 24u) >> 24u;
        v = nn_mul(d, f32(q));
    }
    y[i] = nn_store(v);
}
