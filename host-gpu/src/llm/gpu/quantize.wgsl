// Activation quantization (llm/quant.rs `QActs::quantize`), one invocation per block of 32
// values x_i (flushed on load); block b covers x[32b .. 32b + 32), rows being whole blocks:
//   amax = max |x_i| on the bits; a block holding NaN or ±inf gets flag 1 and q = d = s = 0
//   (the matmul turns every output of its row into the canonical NaN); else
//   dx = amax ⊗ C (C = 0x3C010204, the f32 nearest 1/127), id = dx == 0 ? 0 : reciprocal(dx),
//   q_i = clamp(round_ties_even(x_i ⊗ id), -127, 127), s = Σ q_i (integer, exact).
// round_ties_even is the prelude's nn_round_small (|x_i ⊗ id| <= 128 here), whose zero sign
// does not matter once converted to an integer.
// The output `acts` holds, for B blocks of capacity: words [0, 8B) the q_i as i8 packed four
// to a word (little-endian, element order), then from word params[2] (= 8B) four words per
// block: the dx bits, s (i32), the flag, 0 (so that qmatmul.wgsl reads each with one vec4
// load).

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> step: array<u32>;
@group(1) @binding(2) var<storage, read> x: array<u32>;
@group(1) @binding(3) var<storage, read_write> acts: array<u32>;

// The f32 nearest 1/127 (llm/quant.rs INV_127).
const INV_127: u32 = 0x3C010204u;

@compute @workgroup_size(64)
fn quantize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = nn_index(wid, nwg, lid);
    if (b >= llm_count()) {
        return;
    }
    let base = b * 32u;
    var amax = 0u;
    var finite = true;
    for (var i = 0u; i < 32u; i++) {
        let bits = nn_flush_bits(x[base + i] ^ nn_numerics.zero) & NN_ABS;
        finite = finite & (bits < NN_INF);
        amax = max(amax, bits);
    }
    var dx_bits = 0u;
    var sum = 0i;
    if (finite) {
        let dx = nn_mul(nn_f(amax), nn_f(INV_127));
        dx_bits = nn_bits(dx);
        let id = bitcast<f32>(select(nn_bits(nn_reciprocal(dx)), 0u, dx_bits == 0u));
        for (var w = 0u; w < 8u; w++) {
            var word = 0u;
            for (var l = 0u; l < 4u; l++) {
                let r = nn_round_small(nn_mul(nn_load(x[base + w * 4u + l]), id));
                let q = clamp(i32(r), -127, 127);
                sum += q;
                word |= (bitcast<u32>(q) & 0xFFu) << (l * 8u);
            }
            acts[b * 8u + w] = word;
        }
    } else {
        for (var w = 0u; w < 8u; w++) {
            acts[b * 8u + w] = 0u;
        }
    }
    let at = params[2] + 4u * b;
    acts[at] = dx_bits;
    acts[at + 1u] = bitcast<u32>(sum);
    acts[at + 2u] = select(1u, 0u, finite);
    acts[at + 3u] = 0u;
}
