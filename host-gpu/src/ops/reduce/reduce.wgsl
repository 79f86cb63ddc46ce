// Reductions (`ops/reduce/mod.rs`), one invocation per output element. The input's axes
// come merged into runs (adjacent axes that are all kept or all reduced), which keeps the
// row-major order of each set. Output o is decomposed over the kept runs into its base
// offset, then its reduced elements are visited in row-major order of the reduced runs by
// an odometer (the last run fastest), each folded in turn:
//   Sum: acc = +0, acc = add(acc, x);  Mean: canonical(mul(Sum, reciprocal(count)));
//   Max: acc = -inf, acc = max(acc, x);  Min: acc = +inf, acc = min(acc, x)  (NaN wins).
// Integer inputs (i32, and i64 held as i32) fold with wrapping i32 `+`, `max`, `min`.
//
// KIND: 0 Sum, 1 Mean, 2 Max, 3 Min. INTEGER: 1 for i32 words, 0 for f32 bits.
// params[1] = elements per output (the reduced count), params[2] = the bits of
// reciprocal(count) (Mean; computed by the CPU's `numerics::reciprocal`),
// params[3] = kept runs, params[4] = reduced runs, then at KEPT_SIZE, KEPT_STRIDE,
// RED_SIZE, RED_STRIDE one word per run (MAX_RUNS each).

override KIND: u32 = 0u;
override INTEGER: u32 = 0u;

const MAX_RUNS: u32 = 8u;
const KEPT_SIZE: u32 = 5u;
const KEPT_STRIDE: u32 = 13u;
const RED_SIZE: u32 = 21u;
const RED_STRIDE: u32 = 29u;

@group(1) @binding(0) var<storage, read> params: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read_write> y: array<u32>;

// Position in the reduced runs: the index along each run and the offset it adds.
struct Odometer {
    index: array<u32, 8>,
    offset: u32,
}

// Steps to the next reduced element in row-major order (the last run fastest).
fn advance(o: ptr<function, Odometer>) {
    var d = params[4];
    loop {
        if (d == 0u) {
            break;
        }
        d -= 1u;
        let size = params[RED_SIZE + d];
        let stride = params[RED_STRIDE + d];
        (*o).index[d] += 1u;
        (*o).offset += stride;
        if ((*o).index[d] < size) {
            break;
        }
        (*o).offset -= size * stride;
        (*o).index[d] = 0u;
    }
}

// The f32 reduction of the elements at base + the odometer's offsets, as stored bits.
fn reduce_f32(base: u32) -> u32 {
    var acc: f32 = 0.0;
    if (KIND == 2u) {
        acc = nn_f(NN_NEG_INF);
    } else if (KIND == 3u) {
        acc = nn_f(NN_INF);
    }
    var o: Odometer;
    for (var k = 0u; k < params[1]; k++) {
        let v = nn_load(x[base + o.offset]);
        switch KIND {
            case 2u: { acc = nn_max(acc, v); }
            case 3u: { acc = nn_min(acc, v); }
            default: { acc = nn_add(acc, v); }
        }
        advance(&o);
    }
    if (KIND == 1u) {
        acc = nn_mul(acc, nn_f(params[2]));
    }
    return nn_store(acc);
}

// The i32 reduction (wrapping sum, max, min) of the elements at base + the odometer's offsets.
fn reduce_i32(base: u32) -> u32 {
    var acc: i32 = 0;
    if (KIND == 2u) {
        acc = -2147483647 - 1;
    } else if (KIND == 3u) {
        acc = 0x7FFFFFFF;
    }
    var o: Odometer;
    for (var k = 0u; k < params[1]; k++) {
        let v = bitcast<i32>(x[base + o.offset]);
        switch KIND {
            case 2u: { acc = max(acc, v); }
            case 3u: { acc = min(acc, v); }
            default: { acc = acc + v; }
        }
        advance(&o);
    }
    return bitcast<u32>(acc);
}

@compute @workgroup_size(64)
fn reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = nn_index(wid, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    var rest = i;
    var base = 0u;
    for (var d = params[3]; d > 0u; d--) {
        let size = params[KEPT_SIZE + d - 1u];
        let q = rest / size;
        base += (rest - q * size) * params[KEPT_STRIDE + d - 1u];
        rest = q;
    }
    if (INTEGER != 0u) {
        y[i] = reduce_i32(base);
    } else {
        y[i] = reduce_f32(base);
    }
}
