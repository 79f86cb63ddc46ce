// Conv with bias: inputs `x`, `w`, `bias`; the kernel body is `conv.wgsl`.

@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read> w: array<u32>;
@group(1) @binding(3) var<storage, read> bias: array<u32>;
@group(1) @binding(4) var<storage, read_write> y: array<u32>;

// The bias of output channel `m`, added after every tap.
fn with_bias(acc: f32, m: u32) -> f32 {
    return nn_add(acc, nn_load(bias[m]));
}
