//! Conformance of the llama kernels on wgpu: each kernel run alone on given inputs
//! ([`embed`], [`rms_norm`], …, the same signatures as their CPU twins plus the device),
//! and [`cases`]: random inputs and edge cases (±0, ±inf, NaN, subnormals, huge and tiny
//! values, blocks of zeros, poisoned rows, K = 1536, several tokens) compared bit for bit
//! with the CPU functions, plus whole sessions of a small random model against
//! [`CpuSession`]. The GPU test suite (`host-gpu/tests/gpu.rs`) runs every case.

use std::sync::Arc;

use super::dispatch::{self, Bindings, LlmKernel, Op, Rows};
use super::{GpuLlama, GpuMatrix, GpuSession, acts_layout, matmul_launch};
use crate::conformance::{SPECIALS, Stream};
use crate::gpu::GpuContext;
use crate::llm::kernels::{self as cpu, AttentionShape};
use crate::llm::quant::{self, BLOCK, QActs, QKind, QMatrix};
use crate::llm::{CpuSession, Layer, Llama, LlamaConfig, LlmError, Session, argmax};
use crate::numerics::{canonical, reciprocal, rsqrt};

/// A check's failure, as a message.
type Check = Result<(), String>;

/// What a case runs: the GPU side and the comparison with the CPU.
type CheckFn = Box<dyn Fn(&Arc<GpuContext>) -> Check + Send + Sync>;

/// One conformance case of a llama kernel (or of a whole session).
pub struct LlmCase {
    /// The kernel (`rms_norm`, `qmatmul`, …, or `session`).
    pub kernel: &'static str,
    /// The case within the kernel.
    pub name: &'static str,
    check: CheckFn,
}

impl std::fmt::Debug for LlmCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmCase").field("kernel", &self.kernel).field("name", &self.name).finish_non_exhaustive()
    }
}

impl LlmCase {
    /// `llm/<kernel>/<name>`.
    pub fn id(&self) -> String {
        format!("llm/{}/{}", self.kernel, self.name)
    }

    /// Runs the case on `ctx` and compares with the CPU.
    ///
    /// # Errors
    /// A message naming the first difference, or the GPU's failure.
    pub fn check(&self, ctx: &Arc<GpuContext>) -> Check {
        (self.check)(ctx)
    }
}

fn case(
    kernel: &'static str,
    name: &'static str,
    check: impl Fn(&Arc<GpuContext>) -> Check + Send + Sync + 'static,
) -> LlmCase {
    LlmCase { kernel, name, check: Box::new(check) }
}

// ---------------------------------------------------------------------------------------
// Running one kernel
// ---------------------------------------------------------------------------------------

/// A step's counters and the buffers of one test launch.
struct Rig<'a> {
    ctx: &'a GpuContext,
    step: wgpu::Buffer,
    tokens: u32,
}

fn gpu_err(e: impl std::fmt::Display) -> String {
    format!("GPU: {e}")
}

fn u32_of(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{n} does not fit in u32"))
}

impl<'a> Rig<'a> {
    /// A step of `tokens` tokens from position `start`.
    fn new(ctx: &'a GpuContext, tokens: usize, start: usize) -> Result<Rig<'a>, String> {
        let tokens = u32_of(tokens)?;
        let step =
            dispatch::upload(ctx, "test step", &dispatch::step_words(tokens, u32_of(start)?)).map_err(gpu_err)?;
        Ok(Rig { ctx, step, tokens })
    }

    fn buffer(&self, words: &[u32]) -> Result<wgpu::Buffer, String> {
        dispatch::upload(self.ctx, "test data", words).map_err(gpu_err)
    }

    fn floats(&self, values: &[f32]) -> Result<wgpu::Buffer, String> {
        self.buffer(&bits(values))
    }

    fn op(
        &self,
        kernel: &'static LlmKernel,
        size: (usize, Rows),
        params: &[u32],
        inputs: &[&wgpu::Buffer],
        output: &wgpu::Buffer,
    ) -> Result<Op, String> {
        let bindings = Bindings { step: &self.step, inputs, output };
        Op::new(self.ctx, kernel, (u32_of(size.0)?, size.1), params, bindings, self.tokens).map_err(gpu_err)
    }

    /// Runs `ops` and reads back the first `words` words of `output`.
    fn run(&self, ops: &[&Op], output: &wgpu::Buffer, words: usize) -> Result<Vec<u32>, String> {
        let staging = dispatch::staging(self.ctx, "test readback", output.size());
        dispatch::submit(self.ctx, ops, self.tokens, &[dispatch::Readback::whole(ops.len(), output, &staging)]);
        dispatch::wait(self.ctx).map_err(gpu_err)?;
        dispatch::read(self.ctx, &staging, words).map_err(gpu_err)
    }
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().map(|&w| f32::from_bits(w)).collect()
}

/// `embed.wgsl`: rows `ids` of `m`, dequantized (the CPU's [`QMatrix::dequantize_row`]).
///
/// # Errors
/// The GPU's failure.
pub fn embed(ctx: &GpuContext, m: &QMatrix, ids: &[u32]) -> Result<Vec<f32>, String> {
    let rig = Rig::new(ctx, ids.len(), 0)?;
    let gm = GpuMatrix::upload(ctx, "test matrix", m, m.rows, m.k).map_err(gpu_err)?;
    let ids_buffer = rig.buffer(ids)?;
    let out = dispatch::zeroed(ctx, "test out", ids.len() * m.k).map_err(gpu_err)?;
    let params = [u32_of(m.k)?, u32::from(m.kind == QKind::Q4_1)];
    let op = rig.op(
        &dispatch::EMBED,
        (m.k, Rows::Tokens),
        &params,
        &[&ids_buffer, &gm.scales, gm.mins_binding(), &gm.quants],
        &out,
    )?;
    Ok(floats(&rig.run(&[&op], &out, ids.len() * m.k)?))
}

/// `rms_norm.wgsl`: every row of `x` (rows of `w.len()`), or only the last one.
///
/// # Errors
/// The GPU's failure.
pub fn rms_norm(ctx: &GpuContext, x: &[f32], w: &[f32], eps: f32, last_only: bool) -> Result<Vec<f32>, String> {
    let n = w.len();
    let rows = x.len() / n;
    let rig = Rig::new(ctx, rows, 0)?;
    let (xb, wb) = (rig.floats(x)?, rig.floats(w)?);
    let out_rows = if last_only { 1 } else { rows };
    let out = dispatch::zeroed(ctx, "test out", out_rows * n).map_err(gpu_err)?;
    let (rows_of, first) =
        if last_only { (Rows::One, dispatch::SLOT_LAST) } else { (Rows::Tokens, dispatch::SLOT_ZERO) };
    let params = [u32_of(n)?, reciprocal(n as f32).to_bits(), eps.to_bits(), first];
    let op = rig.op(&dispatch::RMS_NORM, (1, rows_of), &params, &[&xb, &wb], &out)?;
    Ok(floats(&rig.run(&[&op], &out, out_rows * n)?))
}

/// The device layout of quantized activations, as [`QActs`] (a row is poisoned when any
/// of its blocks is flagged).
fn acts_from_words(words: &[u32], rows: usize, k: usize) -> QActs {
    let blocks = rows * k / BLOCK;
    let (_, meta) = acts_layout(rows, k);
    let kb = k / BLOCK;
    let field = |b: usize, i: usize| words[meta + 4 * b + i];
    QActs {
        k,
        q: words[..8 * blocks].iter().flat_map(|w| w.to_le_bytes()).map(|b| b as i8).collect(),
        d: (0..blocks).map(|b| f32::from_bits(field(b, 0))).collect(),
        s: (0..blocks).map(|b| field(b, 1) as i32).collect(),
        poisoned: (0..rows).map(|r| (r * kb..(r + 1) * kb).any(|b| field(b, 2) != 0)).collect(),
    }
}

/// [`QActs`] in the device layout; a poisoned row gets one flagged block.
fn acts_to_words(acts: &QActs) -> Vec<u32> {
    let rows = acts.rows();
    let kb = acts.k / BLOCK;
    let (words, meta) = acts_layout(rows, acts.k);
    let mut out = vec![0u32; words];
    for (w, chunk) in out.iter_mut().zip(acts.q.chunks_exact(4)) {
        *w = u32::from_le_bytes([chunk[0] as u8, chunk[1] as u8, chunk[2] as u8, chunk[3] as u8]);
    }
    for (b, (&d, &s)) in acts.d.iter().zip(&acts.s).enumerate() {
        out[meta + 4 * b] = d.to_bits();
        out[meta + 4 * b + 1] = s as u32;
    }
    for (r, &poisoned) in acts.poisoned.iter().enumerate() {
        if poisoned {
            out[meta + 4 * (r * kb + r % kb) + 2] = 1;
        }
    }
    out
}

/// `quantize.wgsl`: `x` (rows of `k`) quantized per block.
///
/// # Errors
/// The GPU's failure.
pub fn quantize(ctx: &GpuContext, x: &[f32], k: usize) -> Result<QActs, String> {
    let rows = x.len() / k;
    let rig = Rig::new(ctx, rows, 0)?;
    let xb = rig.floats(x)?;
    let (words, meta) = acts_layout(rows, k);
    let out = dispatch::zeroed(ctx, "test acts", words).map_err(gpu_err)?;
    let op = rig.op(&dispatch::QUANTIZE, (k / BLOCK, Rows::Tokens), &[u32_of(meta)?], &[&xb], &out)?;
    Ok(acts_from_words(&rig.run(&[&op], &out, words)?, rows, k))
}

/// `qmatmul.wgsl`: `acts · wᵀ` (the CPU's [`quant::qmatmul`]).
///
/// # Errors
/// The GPU's failure.
pub fn qmatmul(ctx: &GpuContext, acts: &QActs, w: &QMatrix) -> Result<Vec<f32>, String> {
    let rows = acts.rows();
    let rig = Rig::new(ctx, rows, 0)?;
    let gm = GpuMatrix::upload(ctx, "test matrix", w, w.rows, w.k).map_err(gpu_err)?;
    let ab = rig.buffer(&acts_to_words(acts))?;
    let (_, meta) = acts_layout(rows, acts.k);
    let out = dispatch::zeroed(ctx, "test out", rows * w.rows).map_err(gpu_err)?;
    let (kernel, per_row, params) = matmul_launch(&gm, meta).map_err(gpu_err)?;
    let inputs = [&ab, &gm.scales, gm.mins_binding(), &gm.quants];
    let op = rig.op(kernel, (per_row, Rows::Tokens), &params, &inputs, &out)?;
    Ok(floats(&rig.run(&[&op], &out, rows * w.rows)?))
}

/// `rope.wgsl`: the rows of `x` rotated from position `start`. With `into` (a cache of
/// rows of `width`), the rows are written at rows `start..` of a copy of it, which is
/// returned.
///
/// # Errors
/// The GPU's failure.
pub fn rope(
    ctx: &GpuContext,
    x: &[f32],
    (width, head_dim, start): (usize, usize, usize),
    (cos, sin): (&[f32], &[f32]),
    into: Option<&[f32]>,
) -> Result<Vec<f32>, String> {
    let rows = x.len() / width;
    let rig = Rig::new(ctx, rows, start)?;
    let (xb, cb, sb) = (rig.floats(x)?, rig.floats(cos)?, rig.floats(sin)?);
    let (out, words, first) = match into {
        Some(cache) => (rig.floats(cache)?, cache.len(), dispatch::SLOT_START),
        None => (dispatch::zeroed(ctx, "test out", x.len()).map_err(gpu_err)?, x.len(), dispatch::SLOT_ZERO),
    };
    let params = [u32_of(width)?, u32_of(head_dim)?, first];
    let op = rig.op(&dispatch::ROPE, (width / 2, Rows::Tokens), &params, &[&xb, &cb, &sb], &out)?;
    Ok(floats(&rig.run(&[&op], &out, words)?))
}

/// `kv_append.wgsl`: `cache` (rows of `width`) with `x`'s rows written from row `start`.
///
/// # Errors
/// The GPU's failure.
pub fn kv_append(ctx: &GpuContext, cache: &[f32], x: &[f32], width: usize, start: usize) -> Result<Vec<f32>, String> {
    let rig = Rig::new(ctx, x.len() / width, start)?;
    let (xb, out) = (rig.floats(x)?, rig.floats(cache)?);
    let op = rig.op(&dispatch::KV_APPEND, (width, Rows::Tokens), &[], &[&xb], &out)?;
    Ok(floats(&rig.run(&[&op], &out, cache.len())?))
}

/// `attention_weights.wgsl` then `attention_mix.wgsl` (the CPU's [`cpu::attention`]).
///
/// # Errors
/// The GPU's failure.
pub fn attention(
    ctx: &GpuContext,
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    shape: AttentionShape,
) -> Result<Vec<f32>, String> {
    let AttentionShape { heads, kv_heads, head_dim, start, scale } = shape;
    let width = heads * head_dim;
    let rows = q.len() / width;
    let context = start + rows;
    let rig = Rig::new(ctx, rows, start)?;
    let (qb, kb, vb) = (rig.floats(q)?, rig.floats(k_cache)?, rig.floats(v_cache)?);
    let weights = dispatch::zeroed(ctx, "test weights", rows * heads * context).map_err(gpu_err)?;
    let out = dispatch::zeroed(ctx, "test out", q.len()).map_err(gpu_err)?;
    let (hd, group, kv) = (u32_of(head_dim)?, u32_of(heads / kv_heads)?, u32_of(kv_heads * head_dim)?);
    let scores = rig.op(
        &dispatch::ATTENTION_WEIGHTS,
        (heads, Rows::Tokens),
        &[hd, group, kv, u32_of(width)?, scale.to_bits(), u32_of(context)?],
        &[&qb, &kb],
        &weights,
    )?;
    let mix = rig.op(
        &dispatch::ATTENTION_MIX,
        (width, Rows::Tokens),
        &[hd, group, kv, u32_of(context)?],
        &[&weights, &vb],
        &out,
    )?;
    Ok(floats(&rig.run(&[&scores, &mix], &out, q.len())?))
}

/// `swiglu.wgsl`, on rows of `width`.
///
/// # Errors
/// The GPU's failure.
pub fn swiglu(ctx: &GpuContext, gate: &[f32], up: &[f32], width: usize) -> Result<Vec<f32>, String> {
    let rig = Rig::new(ctx, gate.len() / width, 0)?;
    let (gb, ub) = (rig.floats(gate)?, rig.floats(up)?);
    let out = dispatch::zeroed(ctx, "test out", gate.len()).map_err(gpu_err)?;
    let op = rig.op(&dispatch::SWIGLU, (width, Rows::Tokens), &[], &[&gb, &ub], &out)?;
    Ok(floats(&rig.run(&[&op], &out, gate.len())?))
}

/// `residual.wgsl`: `x ⊕ y`, on rows of `width`.
///
/// # Errors
/// The GPU's failure.
pub fn add_residual(ctx: &GpuContext, x: &[f32], y: &[f32], width: usize) -> Result<Vec<f32>, String> {
    let rig = Rig::new(ctx, x.len() / width, 0)?;
    let (yb, out) = (rig.floats(y)?, rig.floats(x)?);
    let op = rig.op(&dispatch::RESIDUAL, (width, Rows::Tokens), &[], &[&yb], &out)?;
    Ok(floats(&rig.run(&[&op], &out, x.len())?))
}

// ---------------------------------------------------------------------------------------
// Comparisons and data
// ---------------------------------------------------------------------------------------

/// Where two float vectors first differ in their bits.
fn same_bits(what: &str, expected: &[f32], got: &[f32]) -> Check {
    if expected.len() != got.len() {
        return Err(format!("{what}: expected {} values, got {}", expected.len(), got.len()));
    }
    let differing = expected.iter().zip(got).filter(|(e, g)| e.to_bits() != g.to_bits()).count();
    match expected.iter().zip(got).position(|(e, g)| e.to_bits() != g.to_bits()) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what}: {differing} value(s) differ; first at {i}: expected {:e} ({:#010x}), got {:e} ({:#010x})",
            expected[i],
            expected[i].to_bits(),
            got[i],
            got[i].to_bits()
        )),
    }
}

fn same_acts(expected: &QActs, got: &QActs) -> Check {
    if expected.q != got.q {
        let i = expected.q.iter().zip(&got.q).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!("qx differ first at {i}: expected {:?}, got {:?}", expected.q.get(i), got.q.get(i)));
    }
    same_bits("dx", &expected.d, &got.d)?;
    if expected.s != got.s {
        return Err(format!("sx differ: expected {:?}, got {:?}", expected.s, got.s));
    }
    if expected.poisoned != got.poisoned {
        return Err(format!("poisoned rows differ: expected {:?}, got {:?}", expected.poisoned, got.poisoned));
    }
    Ok(())
}

/// The random data of the cases: the conformance suite's stream.
type Rng = Stream;

/// What the cases draw from a [`Rng`] besides plain numbers.
trait Draws {
    /// `n` values uniform in [-scale, scale).
    fn floats(&mut self, n: usize, scale: f32) -> Vec<f32>;
    /// [`Draws::floats`] with every 7th value one of [`SPECIALS`].
    fn with_specials(&mut self, n: usize, scale: f32) -> Vec<f32>;
    /// Canonical weights around `center` (as norms are after loading).
    fn weights(&mut self, n: usize, center: f32, spread: f32) -> Vec<f32>;
    /// A random quantized matrix: scales about `scale` in magnitude (Q4_1 minimums about
    /// −8·scale), integers uniform.
    fn matrix(&mut self, kind: QKind, rows: usize, k: usize, scale: f32) -> QMatrix;
}

impl Draws for Rng {
    /// `n` values uniform in [-scale, scale).
    fn floats(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * scale).collect()
    }

    /// [`Draws::floats`] with every 7th value one of [`SPECIALS`].
    fn with_specials(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| if i % 7 == 3 { SPECIALS[self.below(SPECIALS.len())] } else { self.unit() * scale }).collect()
    }

    /// Canonical weights around `center` (as norms are after loading).
    fn weights(&mut self, n: usize, center: f32, spread: f32) -> Vec<f32> {
        (0..n).map(|_| canonical(center + self.unit() * spread)).collect()
    }

    /// A random quantized matrix: scales about `scale` in magnitude (Q4_1 minimums about
    /// −8·scale), integers uniform.
    fn matrix(&mut self, kind: QKind, rows: usize, k: usize, scale: f32) -> QMatrix {
        let mut bytes = Vec::new();
        for _ in 0..rows * (k / BLOCK) {
            let d = half::f16::from_f32(
                scale * (0.5 + 0.5 * self.unit().abs()) * if self.next() & 1 == 0 { 1.0 } else { -1.0 },
            );
            bytes.extend(d.to_le_bytes());
            if kind == QKind::Q4_1 {
                let m = half::f16::from_f32(-8.0 * scale * (0.5 + 0.5 * self.unit()));
                bytes.extend(m.to_le_bytes());
            }
            bytes.extend((0..kind.quant_bytes()).map(|_| self.next() as u8));
        }
        QMatrix::from_blocks(kind, rows, k, &bytes)
    }
}

/// f16 bit patterns of special scales: ±0, ±inf, NaN, the largest finite, the smallest
/// subnormal, a large negative.
const F16_SPECIALS: [u16; 8] = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7BFF, 0x0001, 0xF000];

/// `m` with the scales (and minimums) of some blocks replaced by [`F16_SPECIALS`].
fn with_special_scales(m: &QMatrix, rng: &mut Rng) -> QMatrix {
    let mut out = m.clone();
    let blocks = out.scales.len();
    for (i, &special) in F16_SPECIALS.iter().enumerate() {
        let value = canonical(half::f16::from_bits(special).to_f32());
        let b = (i * 7 + rng.below(5)) % blocks;
        out.scales[b] = value;
        if out.kind == QKind::Q4_1 {
            out.mins[(b + 3) % blocks] = value;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

/// Every llama kernel case and the session cases.
pub fn cases() -> Vec<LlmCase> {
    let mut cases = Vec::new();
    cases.extend(embed_cases());
    cases.extend(rms_norm_cases());
    cases.extend(quantize_cases());
    cases.extend(qmatmul_cases());
    cases.extend(rope_cases());
    cases.extend(attention_cases());
    cases.extend(elementwise_cases());
    cases.extend(session_cases());
    cases
}

fn check_embed(ctx: &GpuContext, m: &QMatrix, ids: &[u32]) -> Check {
    let expected: Vec<f32> = ids.iter().flat_map(|&id| m.dequantize_row(id as usize)).collect();
    same_bits("embedding rows", &expected, &embed(ctx, m, ids)?)
}

fn embed_cases() -> Vec<LlmCase> {
    vec![
        case("embed", "q8_0", |ctx| {
            let m = Rng::new(1).matrix(QKind::Q8_0, 40, 96, 0.01);
            check_embed(ctx, &m, &[3, 0, 39, 3, 17])
        }),
        case("embed", "q4_1", |ctx| {
            let m = Rng::new(2).matrix(QKind::Q4_1, 40, 64, 0.02);
            check_embed(ctx, &m, &[1, 2, 39])
        }),
        case("embed", "special_scales", |ctx| {
            let mut rng = Rng::new(3);
            for kind in [QKind::Q8_0, QKind::Q4_1] {
                let m = with_special_scales(&rng.matrix(kind, 6, 64, 1000.0), &mut rng);
                check_embed(ctx, &m, &[0, 1, 2, 3, 4, 5])?;
            }
            Ok(())
        }),
    ]
}

fn check_rms_norm(ctx: &GpuContext, x: &[f32], w: &[f32], last_only: bool) -> Check {
    let eps = 1.0e-5;
    let input = if last_only { &x[x.len() - w.len()..] } else { x };
    same_bits("rms_norm", &cpu::rms_norm(input, w, eps), &rms_norm(ctx, x, w, eps, last_only)?)
}

fn rms_norm_cases() -> Vec<LlmCase> {
    vec![
        case("rms_norm", "random", |ctx| {
            let mut rng = Rng::new(10);
            check_rms_norm(ctx, &rng.floats(3 * 576, 4.0), &rng.weights(576, 1.0, 0.5), false)
        }),
        case("rms_norm", "specials", |ctx| {
            let mut rng = Rng::new(11);
            let mut x = rng.with_specials(6 * 64, 2.0);
            // A row whose squares overflow, a row whose squares flush to zero, a row of
            // zeros of both signs.
            x[3 * 64..4 * 64].iter_mut().for_each(|v| *v *= 1.0e30);
            x[4 * 64..5 * 64].iter_mut().for_each(|v| *v = rng.unit() * 1.0e-30);
            x[5 * 64..].iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { 0.0 } else { -0.0 });
            let mut w = rng.weights(64, 0.0, 3.0);
            w[0] = 0.0;
            w[1] = -0.0;
            check_rms_norm(ctx, &x, &w, false)
        }),
        // Only the last row is normalized; the NaN in the first does not reach it.
        case("rms_norm", "last_row", |ctx| {
            let mut rng = Rng::new(12);
            let mut x = rng.floats(5 * 96, 3.0);
            x[7] = f32::NAN;
            check_rms_norm(ctx, &x, &rng.weights(96, 1.0, 0.5), true)
        }),
    ]
}

fn check_quantize(ctx: &GpuContext, x: &[f32], k: usize) -> Check {
    same_acts(&QActs::quantize(x, k), &quantize(ctx, x, k)?)
}

/// Blocks (32 values each) of edge cases for the activation quantization.
fn edge_blocks(rng: &mut Rng) -> Vec<f32> {
    let mut blocks: Vec<Vec<f32>> = vec![
        vec![0.0; 32],
        vec![-0.0; 32],
        rng.floats(32, 1.0),
        // Ties: amax 127 gives dx = 1 and id = 1, so these round half to even.
        (0..32).map(|i| if i == 0 { 127.0 } else { (i as f32 - 16.0) + 0.5 }).collect(),
        (0..32).map(|i| if i % 2 == 0 { 1.0e-40 } else { -1.0e-41 }).collect(),
        (0..32).map(|_| rng.unit() * 1.0e-37).collect(),
        (0..32)
            .map(|i| {
                if i == 5 {
                    f32::MAX
                } else if i == 6 {
                    f32::MIN
                } else {
                    rng.unit() * 1.0e38
                }
            })
            .collect(),
        (0..32).map(|i| if i % 3 == 0 { 1.0e-40 } else { rng.unit() * 5.0 }).collect(),
    ];
    for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut block = rng.floats(32, 2.0);
        block[rng.below(32)] = special;
        blocks.push(block);
    }
    blocks.concat()
}

fn quantize_cases() -> Vec<LlmCase> {
    vec![
        case("quantize", "random_k1536", |ctx| check_quantize(ctx, &Rng::new(20).floats(3 * 1536, 3.0), 1536)),
        case("quantize", "with_specials", |ctx| check_quantize(ctx, &Rng::new(21).with_specials(4 * 576, 10.0), 576)),
        // 11 edge blocks and one random: rows of two blocks, so poisoned blocks share a
        // row with clean ones.
        case("quantize", "edge_blocks", |ctx| {
            let mut rng = Rng::new(22);
            let mut x = edge_blocks(&mut rng);
            x.extend(rng.floats(32, 1.0));
            check_quantize(ctx, &x, 64)
        }),
    ]
}

fn check_qmatmul(ctx: &GpuContext, x: &[f32], w: &QMatrix) -> Check {
    let acts = QActs::quantize(x, w.k);
    same_bits("qmatmul", &quant::qmatmul(&acts, w), &qmatmul(ctx, &acts, w)?)
}

fn qmatmul_cases() -> Vec<LlmCase> {
    vec![
        case("qmatmul", "q4_1_k576_t3", |ctx| {
            let mut rng = Rng::new(30);
            let w = rng.matrix(QKind::Q4_1, 70, 576, 0.02);
            check_qmatmul(ctx, &rng.floats(3 * 576, 2.0), &w)
        }),
        case("qmatmul", "q8_0_k1536_t2", |ctx| {
            let mut rng = Rng::new(31);
            let w = rng.matrix(QKind::Q8_0, 45, 1536, 0.005);
            check_qmatmul(ctx, &rng.floats(2 * 1536, 2.0), &w)
        }),
        case("qmatmul", "q4_1_k1536_t5", |ctx| {
            let mut rng = Rng::new(32);
            let w = rng.matrix(QKind::Q4_1, 33, 1536, 0.01);
            check_qmatmul(ctx, &rng.floats(5 * 1536, 1.0), &w)
        }),
        case("qmatmul", "q8_0_many_rows", |ctx| {
            let mut rng = Rng::new(33);
            let w = rng.matrix(QKind::Q8_0, 1000, 576, 0.01);
            check_qmatmul(ctx, &rng.floats(576, 1.0), &w)
        }),
        // Rows: clean, poisoned (NaN, then inf, in one block), all zeros, huge values,
        // subnormals; weights with special scales and minimums.
        case("qmatmul", "edge_rows_and_scales", |ctx| {
            let mut rng = Rng::new(34);
            let k = 128;
            let mut x = rng.floats(6 * k, 3.0);
            x[k + 40] = f32::NAN;
            x[2 * k + 100] = f32::NEG_INFINITY;
            x[3 * k..4 * k].iter_mut().for_each(|v| *v = 0.0);
            x[4 * k..5 * k].iter_mut().for_each(|v| *v *= 1.0e38);
            x[4 * k] = f32::MAX;
            x[5 * k..6 * k].iter_mut().for_each(|v| *v *= 1.0e-39);
            for kind in [QKind::Q4_1, QKind::Q8_0] {
                let w = with_special_scales(&rng.matrix(kind, 20, k, 0.05), &mut rng);
                check_qmatmul(ctx, &x, &w)?;
                // Huge scales: products that overflow to infinity.
                check_qmatmul(ctx, &x, &rng.matrix(kind, 9, k, 60000.0))?;
            }
            Ok(())
        }),
    ]
}

/// Rotary tables for `positions` positions of `half` angles: values in [-1, 1] with
/// exact 0, −0, 1 and −1 mixed in.
fn tables(rng: &mut Rng, positions: usize, half: usize) -> (Vec<f32>, Vec<f32>) {
    let special = [0.0, -0.0, 1.0, -1.0];
    let mut table = |_: usize| -> Vec<f32> {
        (0..positions * half).map(|i| if i % 5 == 2 { special[rng.below(4)] } else { rng.unit() }).collect()
    };
    (table(0), table(1))
}

fn check_rope(
    ctx: &GpuContext,
    x: &[f32],
    (width, head_dim, start): (usize, usize, usize),
    into: Option<&[f32]>,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let rows = x.len() / width;
    let (cos, sin) = tables(&mut rng, start + rows, head_dim / 2);
    let mut expected = x.to_vec();
    cpu::rope(&mut expected, width, head_dim, start, &cos, &sin);
    let got = rope(ctx, x, (width, head_dim, start), (&cos, &sin), into)?;
    match into {
        None => same_bits("rope", &expected, &got),
        Some(cache) => {
            let mut cache = cache.to_vec();
            cache[start * width..(start + rows) * width].copy_from_slice(&expected);
            same_bits("rope into the cache", &cache, &got)
        }
    }
}

fn rope_cases() -> Vec<LlmCase> {
    vec![
        case("rope", "queries", |ctx| check_rope(ctx, &Rng::new(40).floats(3 * 576, 4.0), (576, 64, 5), None, 1)),
        case("rope", "specials", |ctx| {
            check_rope(ctx, &Rng::new(41).with_specials(4 * 32, 1.0e30), (32, 8, 0), None, 2)
        }),
        case("rope", "keys_into_cache", |ctx| {
            let mut rng = Rng::new(42);
            let cache = rng.floats(16 * 192, 1.0);
            check_rope(ctx, &rng.with_specials(2 * 192, 3.0), (192, 64, 7), Some(&cache), 3)
        }),
        case("kv_append", "rows", |ctx| {
            let mut rng = Rng::new(43);
            let (width, start) = (192, 3);
            let cache = rng.floats(8 * width, 1.0);
            let x = rng.with_specials(2 * width, 1.0);
            let mut expected = cache.clone();
            expected[start * width..(start + 2) * width].copy_from_slice(&x);
            same_bits("kv_append", &expected, &kv_append(ctx, &cache, &x, width, start)?)
        }),
    ]
}

/// Data for one attention operand: the generator, the element count.
type AttentionData<'a> = &'a dyn Fn(&mut Rng, usize) -> Vec<f32>;

fn check_attention(
    ctx: &GpuContext,
    (heads, kv_heads, head_dim): (usize, usize, usize),
    (start, rows): (usize, usize),
    [q, k, v]: [AttentionData<'_>; 3],
) -> Check {
    let mut rng = Rng::new((heads * 1000 + start * 10 + rows) as u64);
    let shape = AttentionShape { heads, kv_heads, head_dim, start, scale: rsqrt(head_dim as f32) };
    let q = q(&mut rng, rows * heads * head_dim);
    let k = k(&mut rng, (start + rows) * kv_heads * head_dim);
    let v = v(&mut rng, (start + rows) * kv_heads * head_dim);
    same_bits("attention", &cpu::attention(&q, &k, &v, shape), &attention(ctx, &q, &k, &v, shape)?)
}

/// Finite values with ±0, subnormals, tiny and large ones mixed in.
fn finite_edges(rng: &mut Rng, n: usize) -> Vec<f32> {
    let edges = [0.0, -0.0, 1.0e-40, -1.0e-39, f32::MIN_POSITIVE, 1.0e-20, 40.0, -40.0];
    (0..n).map(|i| if i % 5 == 1 { edges[rng.below(edges.len())] } else { rng.unit() * 2.0 }).collect()
}

fn attention_cases() -> Vec<LlmCase> {
    vec![
        case("attention", "gqa_prefill", |ctx| {
            let data: AttentionData<'_> = &|r, n| r.floats(n, 1.5);
            check_attention(ctx, (9, 3, 64), (4, 3), [data; 3])
        }),
        case("attention", "gqa_decode_long", |ctx| {
            let data: AttentionData<'_> = &|r, n| r.floats(n, 1.0);
            check_attention(ctx, (9, 3, 64), (200, 1), [data; 3])
        }),
        case("attention", "mha_tiny_heads", |ctx| {
            let data: AttentionData<'_> = &|r, n| r.floats(n, 4.0);
            check_attention(ctx, (2, 2, 2), (0, 5), [data; 3])
        }),
        // Scores far apart: most weights underflow to zero.
        case("attention", "large_scores", |ctx| {
            let data: AttentionData<'_> = &|r, n| r.floats(n, 30.0);
            check_attention(ctx, (4, 2, 16), (5, 3), [data; 3])
        }),
        // Scores that overflow: ±inf, then inf − inf = NaN.
        case("attention", "overflowing_scores", |ctx| {
            let data: AttentionData<'_> = &|r, n| r.floats(n, 3.0e19);
            check_attention(ctx, (4, 1, 16), (3, 2), [data; 3])
        }),
        // Queries and keys with zeros, subnormals and extremes; values with NaN and ±inf
        // (they reach only their own columns); one key with a NaN (its head's rows).
        case("attention", "specials", |ctx| {
            let key: AttentionData<'_> = &|r, n| {
                let mut k = finite_edges(r, n);
                k[8 + 3] = f32::NAN;
                k
            };
            check_attention(ctx, (4, 2, 8), (2, 3), [&finite_edges, key, &|r, n| r.with_specials(n, 3.0)])
        }),
        case("attention", "equal_scores", |ctx| {
            let zeros: AttentionData<'_> = &|_, n| vec![0.0; n];
            check_attention(ctx, (4, 2, 16), (6, 2), [&|r, n| r.floats(n, 1.0), zeros, &|r, n| r.floats(n, 1.0)])
        }),
    ]
}

fn elementwise_cases() -> Vec<LlmCase> {
    vec![
        case("swiglu", "random", |ctx| {
            let mut rng = Rng::new(50);
            let (g, u) = (rng.floats(2 * 1536, 8.0), rng.floats(2 * 1536, 4.0));
            same_bits("swiglu", &cpu::swiglu(&g, &u), &swiglu(ctx, &g, &u, 1536)?)
        }),
        case("swiglu", "specials", |ctx| {
            let mut rng = Rng::new(51);
            let (g, u) = (rng.with_specials(3 * 96, 120.0), rng.with_specials(3 * 96, 1.0e30));
            same_bits("swiglu", &cpu::swiglu(&g, &u), &swiglu(ctx, &g, &u, 96)?)
        }),
        case("residual", "specials", |ctx| {
            let mut rng = Rng::new(52);
            let (x, y) = (rng.with_specials(4 * 64, 1.0e38), rng.with_specials(4 * 64, 1.0e38));
            let mut expected = x.clone();
            cpu::add_residual(&mut expected, &y);
            same_bits("residual", &expected, &add_residual(ctx, &x, &y, 64)?)
        }),
        case("residual", "cancellation", |ctx| {
            let mut rng = Rng::new(53);
            let x = rng.floats(2 * 576, 2.0);
            let y: Vec<f32> = x.iter().enumerate().map(|(i, &v)| if i % 2 == 0 { -v } else { v * 1.0e-8 }).collect();
            let mut expected = x.clone();
            cpu::add_residual(&mut expected, &y);
            same_bits("residual", &expected, &add_residual(ctx, &x, &y, 576)?)
        }),
    ]
}

// ---------------------------------------------------------------------------------------
// Whole sessions of a small random model
// ---------------------------------------------------------------------------------------

/// A small random llama: 9 blocks (more than one submission's worth), grouped-query
/// attention, mixed Q4_1 / Q8_0 matrices, the head tied or not.
pub fn tiny_model(seed: u64, tied: bool, embedding: QKind) -> Llama {
    let mut rng = Rng::new(seed);
    let config = LlamaConfig {
        layers: 9,
        dim: 64,
        ffn: 96,
        heads: 4,
        kv_heads: 2,
        head_dim: 16,
        rope_base: 10000.0,
        rms_epsilon: 1.0e-5,
        context_length: 24,
        vocab: 40,
    };
    let (dim, kv, ffn) = (config.dim, config.kv_dim(), config.ffn);
    let max_context = config.context_length;
    let half = config.head_dim / 2;
    let mut rope_cos = Vec::new();
    let mut rope_sin = Vec::new();
    for p in 0..max_context {
        for i in 0..half {
            let angle = p as f64 * libm::pow(10000.0, -2.0 * i as f64 / config.head_dim as f64);
            rope_cos.push(canonical(libm::cos(angle) as f32));
            rope_sin.push(canonical(libm::sin(angle) as f32));
        }
    }
    let mut layers = Vec::new();
    for i in 0..config.layers {
        let mut matrix = |j: usize, rows: usize, k: usize| {
            let (kind, scale) = if (i + j).is_multiple_of(3) { (QKind::Q8_0, 0.003) } else { (QKind::Q4_1, 0.02) };
            rng.matrix(kind, rows, k, scale)
        };
        let (q, k, v, o) = (matrix(0, dim, dim), matrix(1, kv, dim), matrix(2, kv, dim), matrix(3, dim, dim));
        let (gate, up, down) = (matrix(4, ffn, dim), matrix(5, ffn, dim), matrix(6, dim, ffn));
        let (attn_norm, ffn_norm) = (rng.weights(dim, 1.0, 0.3), rng.weights(dim, 1.0, 0.3));
        layers.push(Layer { attn_norm, q, k, v, o, ffn_norm, gate, up, down });
    }
    let scale = if embedding == QKind::Q8_0 { 0.01 } else { 0.1 };
    Llama {
        embedding: rng.matrix(embedding, config.vocab, dim, scale),
        output: if tied { None } else { Some(rng.matrix(QKind::Q4_1, config.vocab, dim, 0.05)) },
        output_norm: rng.weights(dim, 1.0, 0.3),
        layers,
        max_context,
        rope_cos,
        rope_sin,
        config,
    }
}

/// A prompt and `steps` greedy steps on both executors: the same bits at every step.
fn check_generation(ctx: &Arc<GpuContext>, model: Llama, chunk: usize, prompt: &[i64], steps: usize) -> Check {
    let model = Arc::new(model);
    let gpu_model = Arc::new(GpuLlama::new(Arc::clone(ctx), Arc::clone(&model)).map_err(gpu_err)?);
    let mut gpu = GpuSession::with_chunk(gpu_model, 20, chunk).map_err(gpu_err)?;
    let mut cpu = CpuSession::new(model, 20);
    let mut input = prompt.to_vec();
    for step in 0..=steps {
        let want = cpu.forward(&input, &|| false).map_err(|e| format!("CPU step {step}: {e}"))?;
        let got = gpu.forward(&input, &|| false).map_err(|e| format!("GPU step {step}: {e}"))?;
        same_bits(&format!("logits of step {step}"), &want, &got)?;
        if gpu.position() != cpu.position() {
            return Err(format!("positions differ after step {step}"));
        }
        input = vec![argmax(&want)];
    }
    Ok(())
}

fn session_cases() -> Vec<LlmCase> {
    vec![
        case("session", "chunked_prefill_and_decode", |ctx| {
            check_generation(ctx, tiny_model(60, false, QKind::Q8_0), 3, &[5, 17, 3, 39, 0, 22, 8], 5)
        }),
        case("session", "tied_q4_1_embedding", |ctx| {
            check_generation(ctx, tiny_model(61, true, QKind::Q4_1), 32, &[1, 2, 3, 4], 4)
        }),
        case("session", "cancel_and_bad_input", check_cancel_and_bad_input),
    ]
}

/// Bad input changes nothing; a stop between blocks leaves the session where it was, on
/// the prompt and on a decode step; afterwards the logits still equal the CPU's.
fn check_cancel_and_bad_input(ctx: &Arc<GpuContext>) -> Check {
    let model = Arc::new(tiny_model(62, false, QKind::Q8_0));
    let gpu_model = Arc::new(GpuLlama::new(Arc::clone(ctx), Arc::clone(&model)).map_err(gpu_err)?);
    let mut gpu = GpuSession::with_chunk(gpu_model, 8, 4).map_err(gpu_err)?;
    let mut cpu = CpuSession::new(model, 8);
    let expect = |what: &str, ok: bool| if ok { Ok(()) } else { Err(format!("{what}: unexpected result")) };
    expect("no tokens", matches!(gpu.forward(&[], &|| false), Err(LlmError::NoTokens)))?;
    expect(
        "bad token",
        matches!(gpu.forward(&[1, 40], &|| false), Err(LlmError::BadToken { token: 40, index: 1, .. })),
    )?;
    expect("negative token", matches!(gpu.forward(&[-1], &|| false), Err(LlmError::BadToken { .. })))?;
    expect("context full", matches!(gpu.forward(&[1; 9], &|| false), Err(LlmError::ContextFull { limit: 8, .. })))?;
    // Stops at the third block (of the second chunk): nothing advances.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let stop = || calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 >= 12;
    expect("cancelled prefill", matches!(gpu.forward(&[7, 8, 9, 10, 11, 12], &stop), Err(LlmError::Cancelled)))?;
    expect("position after a cancel", gpu.position() == 0)?;
    let prompt = [3, 1, 4, 1, 5];
    let want = cpu.forward(&prompt, &|| false).map_err(|e| e.to_string())?;
    same_bits("prefill after a cancel", &want, &gpu.forward(&prompt, &|| false).map_err(gpu_err)?)?;
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let stop = || calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 1;
    expect("cancelled decode", matches!(gpu.forward(&[9], &stop), Err(LlmError::Cancelled)))?;
    expect("position after a cancelled decode", gpu.position() == 5)?;
    let want = cpu.forward(&[2, 6], &|| false).map_err(|e| e.to_string())?;
    same_bits("decode after a cancel", &want, &gpu.forward(&[2, 6], &|| false).map_err(gpu_err)?)?;
    expect(
        "context full later",
        matches!(gpu.forward(&[1, 2], &|| false), Err(LlmError::ContextFull { position: 7, .. })),
    )?;
    let want = cpu.forward(&[33], &|| false).map_err(|e| e.to_string())?;
    same_bits("last position", &want, &gpu.forward(&[33], &|| false).map_err(gpu_err)?)
}
