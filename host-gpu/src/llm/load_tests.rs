//! Loader tests of the llama engine: a tiny but complete llama GGUF is built, loaded and
//! run on the CPU; every way a model is refused gives its own error; and hostile files
//! (truncated, with mutated bytes, with mutated hyperparameters) give errors, never panics
//! or huge allocations, and when they do load their steps do not panic either.

use std::sync::Arc;

use proptest::prelude::*;

use super::{CpuSession, Llama, LlmError, Session};
use crate::gguf::test_writer::{Writer, f16_bytes, string};

/// GGUF metadata value type ids.
mod value {
    /// `uint8`.
    pub const U8: u32 = 0;
    /// `uint16`.
    pub const U16: u32 = 2;
    /// `uint32`.
    pub const U32: u32 = 4;
    /// `int32`.
    pub const I32: u32 = 5;
    /// `float32`.
    pub const F32: u32 = 6;
    /// `string`.
    pub const STRING: u32 = 8;
    /// `uint64`.
    pub const U64: u32 = 10;
    /// `int64`.
    pub const I64: u32 = 11;
}

/// ggml tensor type ids.
mod ggml {
    /// 32-bit float.
    pub const F32: u32 = 0;
    /// 16-bit float.
    pub const F16: u32 = 1;
    /// 4-bit blocks with a scale and a minimum.
    pub const Q4_1: u32 = 3;
    /// 8-bit blocks with a scale.
    pub const Q8_0: u32 = 8;
}

/// Transformer blocks of the tiny model.
const LAYERS: usize = 2;
/// Its width.
const DIM: usize = 64;
/// Its query heads (head width 32).
const HEADS: usize = 2;
/// Its key/value heads.
const KV_HEADS: usize = 1;
/// Its feed-forward width.
const FFN: usize = 96;
/// Its vocabulary.
const VOCAB: usize = 40;
/// The context it declares (`llama.context_length`).
const TRAINED_CONTEXT: u32 = 128;
/// The context the tests load with: the rotary tables cover this many positions.
const CONTEXT: usize = 16;

/// The hyperparameters a [`Tiny`] model is built with.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Transformer blocks.
    layers: usize,
    /// Width (a multiple of 32).
    dim: usize,
    /// Query heads (dividing `dim` into even head widths).
    heads: usize,
    /// Key/value heads (dividing `heads`).
    kv_heads: usize,
    /// Feed-forward width (a multiple of 32).
    ffn: usize,
    /// Vocabulary.
    vocab: usize,
}

/// The tiny model's shape.
const TINY: Shape = Shape { layers: LAYERS, dim: DIM, heads: HEADS, kv_heads: KV_HEADS, ffn: FFN, vocab: VOCAB };

/// The hyperparameter keys holding counts, which the mutation tests rewrite.
const COUNT_KEYS: [&str; 7] = [
    "llama.block_count",
    "llama.embedding_length",
    "llama.feed_forward_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.context_length",
    "llama.rope.dimension_count",
];

/// A deterministic pseudo-random stream (splitmix64) for the weights.
struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Q4_1 blocks of a `[k, rows]` matrix: scales in [0.01, 0.03], minimums centring the
    /// weights on 0, random nibbles.
    fn q4_1(&mut self, k: usize, rows: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..rows * k / 32 {
            let d = 0.01 + 0.02 * self.unit();
            out.extend(f16_bytes(d));
            out.extend(f16_bytes(-7.5 * d));
            out.extend((0..16).map(|_| self.next() as u8));
        }
        out
    }

    /// Q8_0 blocks of a `[k, rows]` matrix: scales in [0.004, 0.008], random integers.
    fn q8_0(&mut self, k: usize, rows: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..rows * k / 32 {
            out.extend(f16_bytes(0.004 + 0.004 * self.unit()));
            out.extend((0..32).map(|_| self.next() as u8));
        }
        out
    }

    /// An F32 norm weight of `n` values in [0.9, 1.1).
    fn norm(&mut self, n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| (0.9 + 0.2 * self.unit()).to_le_bytes()).collect()
    }
}

/// A llama model's metadata and tensors, editable by name before it is written.
struct Tiny {
    /// Metadata in file order: key, value type id, encoded value.
    metadata: Vec<(String, u32, Vec<u8>)>,
    /// Tensors in file order: name, dims (GGUF order), ggml type id, data.
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

impl Tiny {
    /// The tiny model ([`TINY`]).
    fn new() -> Tiny {
        Tiny::with_shape(TINY)
    }

    /// A model of `shape`: Q4_1 projections, a Q8_0 embedding tied to the output, F32
    /// norms near 1, context [`TRAINED_CONTEXT`].
    fn with_shape(shape: Shape) -> Tiny {
        let Shape { layers, dim, heads, kv_heads, ffn, vocab } = shape;
        let kv_dim = kv_heads * dim / heads;
        let mut tiny = Tiny { metadata: Vec::new(), tensors: Vec::new() };
        tiny.set("general.architecture", value::STRING, string("llama"))
            .set_u32("llama.block_count", layers as u32)
            .set_u32("llama.context_length", TRAINED_CONTEXT)
            .set_u32("llama.embedding_length", dim as u32)
            .set_u32("llama.feed_forward_length", ffn as u32)
            .set_u32("llama.attention.head_count", heads as u32)
            .set_u32("llama.attention.head_count_kv", kv_heads as u32)
            .set_u32("llama.rope.dimension_count", (dim / heads) as u32)
            .set_f32("llama.rope.freq_base", 10000.0)
            .set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
        let mut rng = Rng(7);
        tiny.set_tensor("token_embd.weight", &[dim, vocab], ggml::Q8_0, rng.q8_0(dim, vocab));
        for i in 0..layers {
            let name = |t: &str| format!("blk.{i}.{t}.weight");
            tiny.set_tensor(&name("attn_norm"), &[dim], ggml::F32, rng.norm(dim));
            for (t, k, rows) in [("attn_q", dim, dim), ("attn_k", dim, kv_dim), ("attn_v", dim, kv_dim)] {
                tiny.set_tensor(&name(t), &[k, rows], ggml::Q4_1, rng.q4_1(k, rows));
            }
            tiny.set_tensor(&name("attn_output"), &[dim, dim], ggml::Q4_1, rng.q4_1(dim, dim));
            tiny.set_tensor(&name("ffn_norm"), &[dim], ggml::F32, rng.norm(dim));
            for (t, k, rows) in [("ffn_gate", dim, ffn), ("ffn_up", dim, ffn), ("ffn_down", ffn, dim)] {
                tiny.set_tensor(&name(t), &[k, rows], ggml::Q4_1, rng.q4_1(k, rows));
            }
        }
        tiny.set_tensor("output_norm.weight", &[dim], ggml::F32, rng.norm(dim));
        tiny
    }

    /// Sets metadata `key` (in place if present, else appended) to an encoded value.
    fn set(&mut self, key: &str, type_id: u32, value: Vec<u8>) -> &mut Self {
        match self.metadata.iter_mut().find(|(k, _, _)| k == key) {
            Some(entry) => *entry = (key.to_owned(), type_id, value),
            None => self.metadata.push((key.to_owned(), type_id, value)),
        }
        self
    }

    /// Sets metadata `key` to a `uint32`.
    fn set_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.set(key, value::U32, v.to_le_bytes().to_vec())
    }

    /// Sets metadata `key` to a `float32`.
    fn set_f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.set(key, value::F32, v.to_le_bytes().to_vec())
    }

    /// Removes metadata `key`, which must be present.
    fn remove(&mut self, key: &str) -> &mut Self {
        let before = self.metadata.len();
        self.metadata.retain(|(k, _, _)| k != key);
        assert_eq!(self.metadata.len() + 1, before, "no metadata {key}");
        self
    }

    /// Sets tensor `name` (in place if present, else appended).
    fn set_tensor(&mut self, name: &str, dims: &[usize], type_id: u32, data: Vec<u8>) -> &mut Self {
        let entry = (name.to_owned(), dims.iter().map(|&d| d as u64).collect(), type_id, data);
        match self.tensors.iter_mut().find(|(n, _, _, _)| n == name) {
            Some(slot) => *slot = entry,
            None => self.tensors.push(entry),
        }
        self
    }

    /// Removes tensor `name`, which must be present.
    fn remove_tensor(&mut self, name: &str) -> &mut Self {
        let before = self.tensors.len();
        self.tensors.retain(|(n, _, _, _)| n != name);
        assert_eq!(self.tensors.len() + 1, before, "no tensor {name}");
        self
    }

    /// The GGUF writer holding this model.
    fn writer(&self) -> Writer {
        let mut w = Writer::new();
        for (key, type_id, value) in &self.metadata {
            w.key(key, *type_id, value);
        }
        for (name, dims, type_id, data) in &self.tensors {
            w.tensor(name, dims, *type_id, data.clone());
        }
        w
    }

    /// The GGUF file.
    fn bytes(&self) -> Vec<u8> {
        self.writer().bytes()
    }
}

/// Loads a file with sessions of up to [`CONTEXT`] tokens.
fn load(bytes: Vec<u8>) -> Result<Llama, LlmError> {
    Llama::from_gguf_bytes(bytes, CONTEXT)
}

/// The message of the [`LlmError::Model`] that loading `tiny` must give.
fn model_error(tiny: &Tiny) -> String {
    match load(tiny.bytes()) {
        Err(LlmError::Model(message)) => message,
        Err(other) => panic!("expected a model error, got {other}"),
        Ok(_) => panic!("the model loaded"),
    }
}

/// Asserts that loading `tiny` is refused with a model error whose message contains every
/// one of `parts`.
#[track_caller]
fn assert_refused(tiny: &Tiny, parts: &[&str]) {
    let message = model_error(tiny);
    for part in parts {
        assert!(message.contains(part), "{message:?} does not mention {part:?}");
    }
}

/// Runs a prompt of 3 tokens then 4 single-token steps (ids taken modulo the
/// vocabulary); returns each step's logits.
fn run(model: Llama) -> Vec<Vec<f32>> {
    let vocab = model.config.vocab as i64;
    let mut session = CpuSession::new(Arc::new(model), CONTEXT);
    let mut steps = vec![session.forward(&[1 % vocab, 5 % vocab, 39 % vocab], &|| false).expect("prompt step")];
    for token in [0, 17, 38, 2] {
        steps.push(session.forward(&[token % vocab], &|| false).expect("decode step"));
    }
    assert_eq!(session.position(), 7);
    steps
}

/// Asserts every step gave `vocab` finite logits, not all equal (when there are several).
#[track_caller]
fn assert_sane(steps: &[Vec<f32>], vocab: usize) {
    for (i, logits) in steps.iter().enumerate() {
        assert_eq!(logits.len(), vocab, "step {i}");
        assert!(logits.iter().all(|v| v.is_finite()), "step {i}: {logits:?}");
        assert!(vocab == 1 || logits.iter().any(|&v| v != logits[0]), "step {i}: constant logits {logits:?}");
    }
}

/// Bytes the loaded model holds on the heap (weights and rotary tables).
fn footprint(model: &Llama) -> usize {
    let matrices = model
        .layers
        .iter()
        .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down])
        .chain([&model.embedding])
        .chain(&model.output);
    let matrix_bytes: usize = matrices.map(|m| 4 * (m.scales.len() + m.mins.len()) + m.quants.len()).sum();
    let norms: usize =
        model.layers.iter().map(|l| l.attn_norm.len() + l.ffn_norm.len()).sum::<usize>() + model.output_norm.len();
    matrix_bytes + 4 * (norms + model.rope_cos.len() + model.rope_sin.len())
}

/// Loads a hostile file; if it loads, checks it holds no more memory than its size
/// allows and runs a step of two tokens and then one of a third (as far as its context
/// allows), which must not panic (NaN logits are fine).
fn load_and_step(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let len = bytes.len();
    let Ok(model) = load(bytes) else { return Ok(()) };
    // Q4_1 blocks of 20 bytes become 24 (f32 scale and minimum), rows are padded to
    // groups of 8, and the rotary tables hold at most CONTEXT × 128 angles each.
    let held = footprint(&model);
    prop_assert!(
        held <= 8 * 24 * len / 20 + 2 * 4 * CONTEXT * 128,
        "the model holds {held} bytes from a {len}-byte file"
    );
    let vocab = model.config.vocab as i64;
    let mut session = CpuSession::new(Arc::new(model), CONTEXT);
    let prompt = [0, vocab - 1];
    for tokens in [&prompt[..prompt.len().min(session.context_limit())], &[vocab / 2]] {
        if session.position() + tokens.len() > session.context_limit() {
            break;
        }
        let logits = session.forward(tokens, &|| false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(logits.len() as i64, vocab);
    }
    Ok(())
}

#[test]
fn the_tiny_model_loads_and_runs() {
    let model = load(Tiny::new().bytes()).expect("the tiny model loads");
    let c = &model.config;
    assert_eq!((c.layers, c.dim, c.ffn, c.heads, c.kv_heads, c.head_dim), (LAYERS, DIM, FFN, HEADS, KV_HEADS, 32));
    assert_eq!((c.vocab, c.context_length, c.rope_base, c.rms_epsilon), (VOCAB, 128, 10000.0, 1e-5));
    assert_eq!(model.max_context, CONTEXT, "capped by the caller");
    assert!(model.output.is_none(), "tied head");
    let steps = run(model);
    assert_sane(&steps, VOCAB);
    assert_ne!(steps[1], steps[2], "different tokens, different logits");
    let again = run(load(Tiny::new().bytes()).expect("loads again"));
    assert_eq!(
        steps.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>(),
        again.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "deterministic"
    );
}

#[test]
fn a_q4_1_embedding_and_an_output_head_load_and_run() {
    let tied = run(load(Tiny::new().bytes()).expect("tied"));
    let mut rng = Rng(99);
    let mut tiny = Tiny::new();
    tiny.set_tensor("token_embd.weight", &[DIM, VOCAB], ggml::Q4_1, rng.q4_1(DIM, VOCAB));
    let model = load(tiny.bytes()).expect("Q4_1 embedding");
    assert!(model.output.is_none());
    let q4_embedding = run(model);
    assert_sane(&q4_embedding, VOCAB);
    assert_ne!(q4_embedding, tied);

    for (kind, data) in [(ggml::Q8_0, rng.q8_0(DIM, VOCAB)), (ggml::Q4_1, rng.q4_1(DIM, VOCAB))] {
        let mut tiny = Tiny::new();
        tiny.set_tensor("output.weight", &[DIM, VOCAB], kind, data);
        let model = load(tiny.bytes()).expect("explicit output head");
        assert_eq!(model.output.as_ref().map(|m| m.rows), Some(VOCAB));
        let with_head = run(model);
        assert_sane(&with_head, VOCAB);
        assert_eq!(with_head.len(), tied.len());
        assert_ne!(with_head.last(), tied.last(), "the head is used");
    }
    // Without the optional rotary width the model loads too.
    let mut tiny = Tiny::new();
    tiny.remove("llama.rope.dimension_count");
    assert_eq!(run(load(tiny.bytes()).expect("no rope.dimension_count")), tied);
}

#[test]
fn a_wrong_or_missing_architecture_is_refused() {
    let mut tiny = Tiny::new();
    tiny.set("general.architecture", value::STRING, string("gpt2"));
    assert_refused(&tiny, &["\"gpt2\"", "not supported"]);
    tiny.remove("general.architecture");
    assert_refused(&tiny, &["general.architecture is missing"]);
    tiny.set_u32("general.architecture", 1);
    assert_refused(&tiny, &["general.architecture is missing"]);
}

#[test]
fn missing_or_mistyped_hyperparameters_are_refused() {
    for key in COUNT_KEYS.into_iter().filter(|k| !k.contains("rope")) {
        let mut tiny = Tiny::new();
        tiny.remove(key);
        assert_refused(&tiny, &[key, "missing"]);
        tiny.set_f32(key, 64.0);
        assert_refused(&tiny, &[key, "not an unsigned integer"]);
        tiny.set(key, value::I32, (-64i32).to_le_bytes().to_vec());
        assert_refused(&tiny, &[key, "not an unsigned integer"]);
    }
    for key in ["llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"] {
        let mut tiny = Tiny::new();
        tiny.remove(key);
        assert_refused(&tiny, &[key, "missing or not a float"]);
        tiny.set_u32(key, 1);
        assert_refused(&tiny, &[key, "missing or not a float"]);
    }
}

#[test]
fn zero_and_huge_counts_are_refused() {
    for key in ["llama.block_count", "llama.embedding_length", "llama.feed_forward_length", "llama.context_length"] {
        for v in [0, 1 << 30, u64::MAX] {
            let mut tiny = Tiny::new();
            tiny.set(key, value::U64, v.to_le_bytes().to_vec());
            assert_refused(&tiny, &[key, &format!("= {v} is outside 1..=")]);
        }
    }
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.block_count", 513);
    assert_refused(&tiny, &["llama.block_count = 513 is outside 1..=512"]);
    tiny.set_u32("llama.block_count", 512);
    assert_refused(&tiny, &["tensor blk.2.attn_norm.weight is missing"]);
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.attention.head_count", 0);
    assert_refused(&tiny, &["llama.attention.head_count = 0"]);
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.attention.head_count_kv", 3);
    assert_refused(&tiny, &["llama.attention.head_count_kv = 3 is outside 1..=2"]);
}

#[test]
fn heads_must_divide_the_width() {
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.attention.head_count", 3);
    assert_refused(&tiny, &["embedding length 64 is not a multiple of the 3 heads"]);
    tiny.set_u32("llama.attention.head_count", 128);
    assert_refused(&tiny, &["embedding length 64 is not a multiple of the 128 heads"]);
}

#[test]
fn kv_heads_must_divide_the_heads() {
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.attention.head_count", 4).set_u32("llama.attention.head_count_kv", 3);
    assert_refused(&tiny, &["4 heads cannot be grouped over 3 KV heads"]);
}

#[test]
fn head_widths_must_be_even_and_bounded() {
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.attention.head_count", 64);
    assert_refused(&tiny, &["head width 1 must be even"]);
    tiny.set_u32("llama.embedding_length", 1024).set_u32("llama.attention.head_count", 2);
    assert_refused(&tiny, &["head width 512 must be even and at most 256"]);
}

#[test]
fn widths_must_be_whole_quantization_blocks() {
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.embedding_length", 48);
    assert_refused(&tiny, &["widths 48 and 96 must be multiples of 32"]);
    let mut tiny = Tiny::new();
    tiny.set_u32("llama.feed_forward_length", 80);
    assert_refused(&tiny, &["widths 64 and 80 must be multiples of 32"]);
}

#[test]
fn the_rotary_width_must_be_the_head_width() {
    for rot in [16, 64, 0] {
        let mut tiny = Tiny::new();
        tiny.set_u32("llama.rope.dimension_count", rot);
        assert_refused(&tiny, &[&format!("rotary embedding over {rot} of 32 head dims")]);
    }
}

#[test]
fn epsilon_and_rope_base_must_be_positive_numbers() {
    for key in ["llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base"] {
        for v in [f32::NAN, -1e-5, 0.0, f32::INFINITY] {
            let mut tiny = Tiny::new();
            tiny.set_f32(key, v);
            assert_refused(&tiny, &[key, &format!("= {v} must be a positive number")]);
        }
    }
}

#[test]
fn missing_tensors_are_refused() {
    for name in ["token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight", "blk.1.ffn_down.weight"] {
        let mut tiny = Tiny::new();
        tiny.remove_tensor(name);
        assert_refused(&tiny, &[&format!("tensor {name} is missing")]);
    }
}

#[test]
fn misshapen_tensors_are_refused() {
    let mut rng = Rng(3);
    let mut tiny = Tiny::new();
    tiny.set_tensor("blk.0.attn_k.weight", &[DIM, DIM], ggml::Q4_1, rng.q4_1(DIM, DIM));
    assert_refused(&tiny, &["tensor blk.0.attn_k.weight has dims [64, 64], expected [64, 32]"]);
    let mut tiny = Tiny::new();
    tiny.set_tensor("blk.1.ffn_down.weight", &[DIM, FFN], ggml::Q4_1, rng.q4_1(DIM, FFN));
    assert_refused(&tiny, &["tensor blk.1.ffn_down.weight has dims [64, 96], expected [96, 64]"]);
    let mut tiny = Tiny::new();
    tiny.set_tensor("blk.0.ffn_norm.weight", &[2 * DIM], ggml::F32, rng.norm(2 * DIM));
    assert_refused(&tiny, &["tensor blk.0.ffn_norm.weight has dims [128], expected [64]"]);
    let mut tiny = Tiny::new();
    tiny.set_tensor("token_embd.weight", &[DIM, VOCAB / 2, 2], ggml::Q8_0, rng.q8_0(DIM, VOCAB));
    assert_refused(&tiny, &["tensor token_embd.weight has dims [64, 20, 2], expected 2"]);
    let mut tiny = Tiny::new();
    tiny.set_tensor("output.weight", &[DIM, VOCAB - 8], ggml::Q8_0, rng.q8_0(DIM, VOCAB - 8));
    assert_refused(&tiny, &["tensor output.weight has dims [64, 32], expected [64, 40]"]);
}

#[test]
fn unsupported_tensor_types_are_refused() {
    let mut tiny = Tiny::new();
    let f16_data: Vec<u8> = (0..DIM * DIM).flat_map(|_| f16_bytes(0.01)).collect();
    tiny.set_tensor("blk.0.attn_q.weight", &[DIM, DIM], ggml::F16, f16_data);
    assert_refused(&tiny, &["tensor blk.0.attn_q.weight has type F16", "Q4_1 and Q8_0"]);
    let mut tiny = Tiny::new();
    let f32_data: Vec<u8> = (0..DIM * VOCAB).flat_map(|_| 0.01f32.to_le_bytes()).collect();
    tiny.set_tensor("token_embd.weight", &[DIM, VOCAB], ggml::F32, f32_data);
    assert_refused(&tiny, &["tensor token_embd.weight has type F32", "Q4_1 and Q8_0"]);
    let mut tiny = Tiny::new();
    tiny.set_tensor("output_norm.weight", &[DIM], ggml::Q8_0, Rng(5).q8_0(DIM, 1));
    assert_refused(&tiny, &["tensor output_norm.weight has type Q8_0, expected F32"]);
}

#[test]
fn a_zero_context_is_refused() {
    match Llama::from_gguf_bytes(Tiny::new().bytes(), 0) {
        Err(LlmError::Model(message)) => assert!(message.contains("at least 1 token"), "{message}"),
        other => panic!("expected a model error, got {:?}", other.err()),
    }
}

#[test]
fn a_malformed_file_is_a_gguf_error() {
    let mut bytes = Tiny::new().bytes();
    bytes[0] = b'X';
    assert!(matches!(load(bytes), Err(LlmError::Gguf(crate::gguf::GgufError::BadMagic))));
}

/// Cutting the file anywhere loses (at least) the end of the last tensor's data, so every
/// proper prefix must be refused by the GGUF reader. The test tries every cut when the
/// file is small enough, else the first and last 64 and every 97th.
#[test]
fn every_truncation_is_an_error() {
    let bytes = Tiny::new().bytes();
    let len = bytes.len();
    let cuts: Vec<usize> = if len <= 100_000 {
        (0..len).collect()
    } else {
        (0..64).chain((64..len - 64).step_by(97)).chain(len - 64..len).collect()
    };
    for cut in cuts {
        match load(bytes[..cut].to_vec()) {
            Err(LlmError::Gguf(_)) => {}
            Err(other) => panic!("a file cut to {cut} of {len} bytes gave a model error: {other}"),
            Ok(_) => panic!("a file cut to {cut} of {len} bytes loaded"),
        }
    }
}

/// An integer hyperparameter value for the mutation tests: edge values, small values and
/// any u64.
fn count_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![0, 1, 2, 3, 31, 32, 33, 64, 512, 513, 1 << 24, (1 << 24) + 1, u64::from(u32::MAX)]),
        Just(u64::MAX),
        0u64..1024,
        any::<u64>(),
    ]
}

/// `v` encoded (truncated to the width) as the integer type `type_id`.
fn encode(type_id: u32, v: u64) -> Vec<u8> {
    match type_id {
        value::U8 => vec![v as u8],
        value::U16 => (v as u16).to_le_bytes().to_vec(),
        value::U32 | value::I32 => (v as u32).to_le_bytes().to_vec(),
        _ => v.to_le_bytes().to_vec(),
    }
}

/// Valid shapes: widths 32 to 128 split into 1 to 8 heads of even width, KV heads
/// dividing the heads, 1 to 3 blocks, feed-forward widths 32 to 96, any vocabulary up to 50.
fn shape() -> impl Strategy<Value = Shape> {
    let divisors = |n: usize, max: usize| (1..=max).filter(move |d| n.is_multiple_of(*d));
    let heads = (1usize..=4).prop_flat_map(move |blocks| {
        let dim = 32 * blocks;
        (Just(dim), prop::sample::select(divisors(dim, 8).filter(|h| (dim / h).is_multiple_of(2)).collect::<Vec<_>>()))
    });
    let kv_heads = heads.prop_flat_map(move |(dim, heads)| {
        (Just(dim), Just(heads), prop::sample::select(divisors(heads, heads).collect::<Vec<_>>()))
    });
    (kv_heads, 1usize..=3, 1usize..=3, 1usize..=50).prop_map(|((dim, heads, kv_heads), layers, ffn_blocks, vocab)| {
        Shape { layers, dim, heads, kv_heads, ffn: 32 * ffn_blocks, vocab }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Models of any valid shape (grouped-query attention, head widths down to 4,
    /// vocabularies not a multiple of the row group) load with that configuration and run
    /// to finite logits.
    #[test]
    fn models_of_any_valid_shape_load_and_run(shape in shape()) {
        let model = load(Tiny::with_shape(shape).bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let c = &model.config;
        prop_assert_eq!(
            (c.layers, c.dim, c.heads, c.kv_heads, c.ffn, c.vocab),
            (shape.layers, shape.dim, shape.heads, shape.kv_heads, shape.ffn, shape.vocab)
        );
        assert_sane(&run(model), shape.vocab);
    }

    /// A few bytes of the file set to random values (half the time inside the header, the
    /// metadata and the tensor table; else anywhere): loading never panics, and a model
    /// that loads runs a step without panicking.
    #[test]
    fn mutated_files_never_panic(
        edits in proptest::collection::vec((any::<bool>(), any::<usize>(), any::<u8>()), 1..=8),
    ) {
        let tiny = Tiny::new();
        let header = tiny.writer().data_start();
        let mut bytes = tiny.bytes();
        let len = bytes.len();
        for (in_header, at, value) in edits {
            bytes[at % if in_header { header } else { len }] = value;
        }
        load_and_step(bytes)?;
    }

    /// The count hyperparameters rewritten to random values (0, huge, off by one) of random
    /// integer types: loading never panics nor allocates more than the file allows, and a
    /// model that loads runs without panicking.
    #[test]
    fn mutated_hyperparameters_never_panic(
        edits in proptest::collection::vec(
            (
                prop::sample::select(COUNT_KEYS.to_vec()),
                prop::sample::select(vec![value::U8, value::U16, value::U32, value::I32, value::U64, value::I64]),
                count_value(),
            ),
            1..=4,
        ),
    ) {
        let mut tiny = Tiny::new();
        for (key, type_id, v) in edits {
            tiny.set(key, type_id, encode(type_id, v));
        }
        load_and_step(tiny.bytes())?;
    }
}
