//! Criterion benchmarks of the CPU reference kernels on the shapes of the real models
//! (MiniLM seq 128 MatMuls, the orientation CNN's convolutions and pools), each at 1 and
//! 2 rayon threads. Throughput is in multiply-adds (MatMul, Conv) or input elements
//! (Pool, elementwise), so criterion's "elem/s" reads as MAC/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmnn_host_gpu::Tensor;
use wasmnn_host_gpu::ir::{ConvAttrs, Op, PoolAttrs, PoolKind, UnaryOp};
use wasmnn_host_gpu::ops::eval;

/// A tensor of deterministic pseudo-random values in [-1, 1).
fn tensor(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // 16 random bits, scaled exactly into [-1, 1).
            (state >> 48) as f32 * (1.0 / 32768.0) - 1.0
        })
        .collect();
    Tensor::from_f32(shape.to_vec(), data).expect("bench tensor")
}

/// Times `op` on `inputs` at 1 and 2 threads under `group/name/t{threads}`.
fn bench_op(c: &mut Criterion, group: &str, name: &str, work: u64, op: &Op, inputs: &[Tensor]) {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(work));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
        g.bench_function(format!("{name}/t{threads}"), |b| {
            pool.install(|| b.iter(|| black_box(eval(op, black_box(&refs)).expect("bench op"))));
        });
    }
    g.finish();
}

fn matmul(c: &mut Criterion) {
    let cases: [(&str, &[usize], &[usize]); 5] = [
        ("minilm_qkv_128x384x384", &[1, 128, 384], &[384, 384]),
        ("minilm_ffn_up_128x384x1536", &[1, 128, 384], &[384, 1536]),
        ("minilm_ffn_down_128x1536x384", &[1, 128, 1536], &[1536, 384]),
        ("minilm_scores_12x128x32x128", &[1, 12, 128, 32], &[1, 12, 32, 128]),
        ("minilm_context_12x128x128x32", &[1, 12, 128, 128], &[1, 12, 128, 32]),
    ];
    for (name, a, b) in cases {
        let (ra, rb) = (a.len(), b.len());
        let batch: usize = a[..ra - 2].iter().product();
        let macs = batch * a[ra - 2] * a[ra - 1] * b[rb - 1];
        bench_op(c, "cpu/matmul", name, macs as u64, &Op::MatMul, &[tensor(a, 1), tensor(b, 2)]);
    }
}

/// A conv case: name, input shape, output channels, kernel, stride, pad, group.
type ConvCase = (&'static str, [usize; 4], usize, usize, usize, usize, usize);

fn conv(c: &mut Criterion) {
    let cases: [ConvCase; 8] = [
        ("stem_3x224_3x3s2", [1, 3, 224, 224], 16, 3, 2, 1, 1),
        ("dw_16x112_3x3s1", [1, 16, 112, 112], 16, 3, 1, 1, 16),
        ("dw_64x56_3x3s2", [1, 64, 56, 56], 64, 3, 2, 1, 64),
        ("dw_256x14_5x5s1", [1, 256, 14, 14], 256, 5, 1, 2, 256),
        ("pw_16x112_to32", [1, 16, 112, 112], 32, 1, 1, 0, 1),
        ("pw_64x56_to64", [1, 64, 56, 56], 64, 1, 1, 0, 1),
        ("pw_256x14_to256", [1, 256, 14, 14], 256, 1, 1, 0, 1),
        ("pw_512x7_to512", [1, 512, 7, 7], 512, 1, 1, 0, 1),
    ];
    for (name, x, m, k, s, p, group) in cases {
        let attrs = ConvAttrs { kernel: [k, k], strides: [s, s], pads: [p; 4], dilations: [1, 1], group };
        let out = (x[2] + 2 * p - k) / s + 1;
        let macs = m * (x[1] / group) * k * k * out * out;
        let inputs = [tensor(&x, 3), tensor(&[m, x[1] / group, k, k], 4), tensor(&[m], 5)];
        bench_op(c, "cpu/conv", name, macs as u64, &Op::Conv(attrs), &inputs);
    }
}

fn pool(c: &mut Criterion) {
    let global =
        PoolAttrs { kind: PoolKind::GlobalAverage, kernel: [1, 1], strides: [1, 1], pads: [0; 4], ceil_mode: false };
    let max = PoolAttrs { kind: PoolKind::Max, kernel: [3, 3], strides: [2, 2], pads: [1; 4], ceil_mode: false };
    bench_op(c, "cpu/pool", "global_avg_512x7", 512 * 49, &Op::Pool(global), &[tensor(&[1, 512, 7, 7], 6)]);
    bench_op(c, "cpu/pool", "max_16x112_3x3s2", 16 * 112 * 112, &Op::Pool(max), &[tensor(&[1, 16, 112, 112], 7)]);
}

fn elementwise(c: &mut Criterion) {
    let x = tensor(&[1, 128, 28, 28], 8);
    let n = x.len() as u64;
    bench_op(c, "cpu/elementwise", "hardswish_128x28", n, &Op::Unary(UnaryOp::HardSwish), std::slice::from_ref(&x));
    bench_op(c, "cpu/elementwise", "erf_128x28", n, &Op::Unary(UnaryOp::Erf), std::slice::from_ref(&x));
    let params: Vec<Tensor> = (0..4).map(|i| tensor(&[128], 9 + i)).collect();
    let var = Tensor::from_f32(vec![128], params[3].as_f32().expect("f32").iter().map(|v| v + 2.0).collect());
    let bn = [x, params[0].clone(), params[1].clone(), params[2].clone(), var.expect("var")];
    bench_op(c, "cpu/elementwise", "batchnorm_128x28", n, &Op::BatchNorm { epsilon: 1e-5 }, &bn);
}

criterion_group!(benches, matmul, conv, pool, elementwise);
criterion_main!(benches);
