//! Random conformance (proptest) of the GPU executor against the CPU reference: shapes
//! of odd sizes, not multiples of the workgroup, K below 80 or from 1024 to 1100, broadcasting, conv
//! geometries; values with ±0, ±inf, NaN, subnormals and huge magnitudes mixed in.
//! Bit-for-bit comparison. libtest-mimic, like the `gpu` suite: ignored without an
//! adapter, failing without one when `WASMNN_REQUIRE_GPU=1`.

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use wasmnn_host_gpu::conformance::{Arg, Case, Values, values};
use wasmnn_host_gpu::gpu::GpuContext;
use wasmnn_host_gpu::ir::{BinaryOp, ConvAttrs, Op, UnaryOp};

/// Random cases per trial (each runs on both executors).
const CASES: u32 = 24;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let required = std::env::var("WASMNN_REQUIRE_GPU").is_ok_and(|v| v == "1");
    type Check = fn(&Arc<GpuContext>) -> Result<(), Failed>;
    let checks: [(&str, Check); 5] = [
        ("random/unary", unary),
        ("random/binary_broadcast", binary),
        ("random/matmul", matmul),
        ("random/conv", conv),
        ("random/softmax_layernorm", rows),
    ];
    let trials = match GpuContext::new() {
        Ok(ctx) => {
            let ctx = Arc::new(ctx);
            checks
                .into_iter()
                .map(|(name, check)| {
                    let ctx = Arc::clone(&ctx);
                    Trial::test(name, move || check(&ctx))
                })
                .collect()
        }
        Err(e) if required => {
            vec![Trial::test("random/adapter", move || Err(format!("WASMNN_REQUIRE_GPU=1 but {e}").into()))]
        }
        Err(_) => checks.iter().map(|(name, _)| Trial::test(*name, || Ok(())).with_ignored_flag(true)).collect(),
    };
    libtest_mimic::run(&args, trials).exit_code()
}

/// Runs `strategy`'s cases through `build` and both executors.
fn run<S: Strategy>(ctx: &Arc<GpuContext>, strategy: S, build: impl Fn(S::Value) -> Option<Case>) -> Result<(), Failed>
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    runner
        .run(&strategy, |value| {
            let Some(case) = build(value) else { return Ok(()) };
            case.check(ctx).map_err(|e| TestCaseError::fail(format!("{}: {e}", case.name)))
        })
        .map_err(|e| Failed::from(e.to_string()))
}

/// Float values of `shape`: a seed and a scale drawn by proptest, specials mixed in.
fn input(shape: &[usize], seed: u64, scale: f32) -> Arg {
    Arg::Input(values(shape, seed, Values::WithSpecials(scale)))
}

fn unary(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let ops = vec![
        UnaryOp::Erf,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::HardSwish,
        UnaryOp::Sqrt,
        UnaryOp::Reciprocal,
    ];
    let strategy = (proptest::sample::select(ops), 1usize..5000, any::<u64>(), 0.5f32..200.0);
    run(ctx, strategy, |(op, n, seed, scale)| {
        Case::single("random", format!("{op:?}[{n}]"), Op::Unary(op), vec![input(&[n], seed, scale)]).ok()
    })
}

/// A shape of rank 1–4 and a second shape broadcastable to it.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    proptest::collection::vec(1usize..9, 1..5).prop_flat_map(|a| {
        let rank = a.len();
        (Just(a), proptest::collection::vec(any::<bool>(), rank), 0..rank).prop_map(|(a, ones, drop)| {
            let b: Vec<usize> = a.iter().zip(ones).map(|(&d, one)| if one { 1 } else { d }).skip(drop).collect();
            (a, b)
        })
    })
}

fn binary(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let ops =
        vec![BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Less];
    let strategy = (proptest::sample::select(ops), broadcast_pair(), any::<bool>(), any::<u64>());
    run(ctx, strategy, |(op, (a, b), swap, seed)| {
        let (x, y) = if swap { (b, a) } else { (a, b) };
        let name = format!("{op:?}{x:?}x{y:?}");
        Case::single("random", name, Op::Binary(op), vec![input(&x, seed, 8.0), input(&y, seed ^ 1, 8.0)]).ok()
    })
}

fn matmul(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let k = prop_oneof![1usize..80, 1024usize..1100];
    let strategy = (1usize..40, k, 1usize..40, 1usize..3, any::<u64>());
    run(ctx, strategy, |(m, k, n, batch, seed)| {
        let args = vec![input(&[batch, m, k], seed, 2.0), input(&[k, n], seed ^ 7, 2.0)];
        Case::single("random", format!("matmul {batch}x{m}x{k}x{n}"), Op::MatMul, args).ok()
    })
}

fn conv(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let geometry = (1usize..5, 1usize..12, 1usize..12, 1usize..4, 1usize..3, 0usize..3, 1usize..3, any::<bool>());
    let strategy = (geometry, 1usize..3, any::<bool>(), any::<u64>());
    run(ctx, strategy, |((c, h, w, k, stride, pad, dilation, depthwise), per_group, bias, seed)| {
        let group = if depthwise { c } else { 1 };
        let m = group * per_group;
        let attrs = ConvAttrs {
            kernel: [k, k],
            strides: [stride, stride],
            pads: [pad, pad, pad.saturating_sub(1), pad],
            dilations: [dilation, dilation],
            group,
        };
        let mut args = vec![input(&[1, c, h, w], seed, 4.0), input(&[m, c / group, k, k], seed ^ 3, 1.0)];
        if bias {
            args.push(input(&[m], seed ^ 5, 1.0));
        }
        // Geometries whose output would be empty are rejected by the op; skip them.
        Case::single("random", format!("conv {attrs:?} on [1,{c},{h},{w}] to {m}"), Op::Conv(attrs), args).ok()
    })
}

fn rows(ctx: &Arc<GpuContext>) -> Result<(), Failed> {
    let strategy = (1usize..9, 1usize..700, any::<bool>(), any::<u64>());
    run(ctx, strategy, |(rows, n, layer_norm, seed)| {
        if layer_norm {
            let op = Op::LayerNorm { axis: -1, epsilon: 1e-5 };
            let args = vec![input(&[rows, n], seed, 20.0), input(&[n], seed ^ 9, 2.0), input(&[n], seed ^ 11, 2.0)];
            Case::single("random", format!("layernorm {rows}x{n}"), op, args).ok()
        } else {
            let op = Op::Softmax { axis: -1 };
            Case::single("random", format!("softmax {rows}x{n}"), op, vec![input(&[rows, n], seed, 30.0)]).ok()
        }
    })
}
