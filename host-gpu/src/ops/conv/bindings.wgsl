// Conv without bias: inputs `x`, `w`; the kernel body is `conv.wgsl`.

@group(1) @binding(1) var<storage, read> x: array<u32>;
@group(1) @binding(2) var<storage, read> w: array<u32>;
@group(1) @binding(3) var<storage, read_write> y: array<u32>;

// Without a bias the sum is the result.
fn with_bias(acc: f32, m: u32) -> f32 {
    return acc;
}
