use half::f16;
use proptest::prelude::*;

use super::test_writer::{Writer, f16_bytes, q4_block, q8_block, string};
use super::*;

/// A small valid file with every metadata type and every tensor type.
fn sample() -> Writer {
    let mut w = Writer::new();
    let mut strings = 8u32.to_le_bytes().to_vec();
    strings.extend(2u64.to_le_bytes());
    strings.extend(string("a"));
    strings.extend(string("bé"));
    let mut nested = 9u32.to_le_bytes().to_vec();
    nested.extend(1u64.to_le_bytes());
    nested.extend(4u32.to_le_bytes());
    nested.extend(2u64.to_le_bytes());
    nested.extend(7u32.to_le_bytes());
    nested.extend(8u32.to_le_bytes());
    w.key("general.architecture", 8, &string("llama"))
        .key("u8", 0, &[200])
        .key("i8", 1, &[0xff])
        .key("u16", 2, &500u16.to_le_bytes())
        .key("i16", 3, &(-500i16).to_le_bytes())
        .key("llama.block_count", 4, &30u32.to_le_bytes())
        .key("i32", 5, &(-7i32).to_le_bytes())
        .key("llama.rope.freq_base", 6, &100000f32.to_le_bytes())
        .key("bool", 7, &[1])
        .key("u64", 10, &u64::MAX.to_le_bytes())
        .key("i64", 11, &(-9i64).to_le_bytes())
        .key("f64", 12, &0.5f64.to_le_bytes())
        .key("tokenizer.ggml.tokens", 9, &strings)
        .key("nested", 9, &nested);
    let f32_data: Vec<u8> = [1.0f32, -2.5, 0.0, f32::INFINITY].iter().flat_map(|x| x.to_le_bytes()).collect();
    let f16_data: Vec<u8> = [0.5f32, -1.0].iter().flat_map(|&x| f16_bytes(x)).collect();
    w.tensor("norm.weight", &[4], 0, f32_data)
        .tensor("half", &[2, 1], 1, f16_data)
        .tensor("token_embd.weight", &[32, 2], 8, [q8_block(), q8_block()].concat())
        .tensor("blk.0.attn_q.weight", &[32], 3, q4_block());
    w
}

#[test]
fn a_valid_file_reads_back_whole() {
    let gguf = Gguf::parse(sample().bytes()).unwrap();
    assert_eq!(gguf.version, 3);
    assert_eq!(gguf.get("general.architecture").and_then(MetaValue::as_str), Some("llama"));
    assert_eq!(gguf.get("llama.block_count").and_then(MetaValue::as_u64), Some(30));
    assert_eq!(gguf.get("llama.rope.freq_base").and_then(MetaValue::as_f32), Some(100000.0));
    assert_eq!(gguf.get("i8"), Some(&MetaValue::I8(-1)));
    assert_eq!(gguf.get("i8").and_then(MetaValue::as_u64), None, "negative");
    assert_eq!(gguf.get("u64").and_then(MetaValue::as_u64), Some(u64::MAX));
    assert_eq!(gguf.get("bool"), Some(&MetaValue::Bool(true)));
    assert_eq!(gguf.get("f64"), Some(&MetaValue::F64(0.5)));
    let tokens: Vec<&str> = gguf
        .get("tokenizer.ggml.tokens")
        .and_then(MetaValue::as_array)
        .unwrap()
        .iter()
        .flat_map(MetaValue::as_str)
        .collect();
    assert_eq!(tokens, ["a", "bé"]);
    let nested = MetaValue::Array(vec![MetaValue::Array(vec![MetaValue::U32(7), MetaValue::U32(8)])]);
    assert_eq!(gguf.get("nested"), Some(&nested));
    assert_eq!(gguf.metadata().len(), 14);
    assert_eq!(gguf.metadata()[0].0, "general.architecture", "file order");

    let names: Vec<&str> = gguf.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["norm.weight", "half", "token_embd.weight", "blk.0.attn_q.weight"]);
    let embd = gguf.tensor("token_embd.weight").unwrap();
    assert_eq!((embd.ggml_type, embd.elements(), embd.size, embd.offset), (GgmlType::Q8_0, 64, 68, 64));
    assert_eq!(gguf.tensor_bytes(embd), [q8_block(), q8_block()].concat());
    let norm = gguf.tensor("norm.weight").unwrap();
    assert_eq!(dequantize(norm.ggml_type, gguf.tensor_bytes(norm)), [1.0, -2.5, 0.0, f32::INFINITY]);
    let half = gguf.tensor("half").unwrap();
    assert_eq!(dequantize(half.ggml_type, gguf.tensor_bytes(half)), [0.5, -1.0]);
    assert!(gguf.tensor("missing").is_none() && gguf.get("missing").is_none());
}

#[test]
fn quantized_blocks_dequantize_to_their_defined_values() {
    let q8 = dequantize(GgmlType::Q8_0, &q8_block());
    let expected: Vec<f32> = (-16..16).map(|q| 0.25 * q as f32).collect();
    assert_eq!(q8, expected);
    let q4 = dequantize(GgmlType::Q4_1, &q4_block());
    let low = (0..16).map(|q| 0.5 * q as f32 - 2.0);
    let high = (0..16).map(|i| 0.5 * (15 - i) as f32 - 2.0);
    assert_eq!(q4, low.chain(high).collect::<Vec<_>>());
    // d × q + m rounds twice (no fused multiply-add): 3 × (1 + 2^-10) + 2^-23·… differs
    // from the fused result here.
    let (d, m) = (f16::from_f32(1.0 + 1.0 / 1024.0), -3.0f32);
    let mut block = d.to_le_bytes().to_vec();
    block.extend(f16_bytes(m));
    block.extend([0x03; 16]);
    let unfused = d.to_f32() * 3.0 + m;
    assert_eq!(dequantize(GgmlType::Q4_1, &block)[0].to_bits(), unfused.to_bits());
    assert_eq!(GgmlType::from_id(2), None, "Q4_0 is not supported");
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample().bytes();
    for len in 0..bytes.len() {
        let result = Gguf::parse(bytes[..len].to_vec());
        assert!(result.is_err(), "a file cut to {len} bytes parsed");
    }
}

fn error_of(bytes: Vec<u8>) -> GgufError {
    Gguf::parse(bytes).unwrap_err()
}

#[test]
fn header_errors_are_precise() {
    assert_eq!(error_of(b"GGML".to_vec()), GgufError::BadMagic);
    let mut w = sample();
    w.version = 1;
    assert_eq!(error_of(w.bytes()), GgufError::UnsupportedVersion(1));
    let mut bytes = sample().bytes();
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(error_of(bytes), GgufError::TooMany { count: u64::MAX, .. }));
    let mut bytes = sample().bytes();
    bytes[16..24].copy_from_slice(&60_000u64.to_le_bytes());
    assert!(matches!(error_of(bytes), GgufError::Truncated { .. }), "within the limit, but not in the file");
    let mut bytes = sample().bytes();
    bytes[8..16].copy_from_slice(&(MAX_ENTRIES + 1).to_le_bytes());
    assert!(matches!(error_of(bytes), GgufError::TooMany { .. }));
}

#[test]
fn metadata_errors_are_precise() {
    let with = |type_id: u32, value: &[u8]| {
        let mut w = Writer::new();
        w.key("k", type_id, value);
        error_of(w.bytes())
    };
    assert_eq!(with(13, &[]), GgufError::UnknownValueType { key: "k".into(), type_id: 13 });
    assert!(matches!(with(7, &[2]), GgufError::BadMetadata { .. }), "bool 2");
    let mut huge = 0u32.to_le_bytes().to_vec();
    huge.extend(u64::MAX.to_le_bytes());
    assert!(matches!(with(9, &huge), GgufError::TooMany { .. }), "array of 2^64 - 1 u8");
    let mut long = 8u32.to_le_bytes().to_vec();
    long.extend(1_000_000u64.to_le_bytes());
    assert!(matches!(with(9, &long), GgufError::Truncated { .. }), "a million strings in a few bytes");
    let mut string_len = u64::MAX.to_le_bytes().to_vec();
    string_len.extend(b"abc");
    assert!(matches!(with(8, &string_len), GgufError::Truncated { .. }));
    assert!(matches!(with(8, &[2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]), GgufError::InvalidUtf8 { .. }));
    let mut deep = Vec::new();
    for _ in 0..=MAX_ARRAY_DEPTH {
        deep.extend(9u32.to_le_bytes());
        deep.extend(1u64.to_le_bytes());
    }
    deep.extend(0u32.to_le_bytes());
    deep.extend(0u64.to_le_bytes());
    assert_eq!(with(9, &deep), GgufError::NestingTooDeep { key: "k".into() });
    let mut w = Writer::new();
    w.key("k", 0, &[1]).key("k", 0, &[2]);
    assert_eq!(error_of(w.bytes()), GgufError::DuplicateKey("k".into()));
    let mut w = Writer::new();
    w.key("general.alignment", 4, &24u32.to_le_bytes());
    assert!(matches!(error_of(w.bytes()), GgufError::BadMetadata { .. }), "alignment not a power of two");
}

#[test]
fn tensor_errors_are_precise() {
    let with = |dims: &[u64], type_id: u32, data: Vec<u8>| {
        let mut w = Writer::new();
        w.tensor("t", dims, type_id, data);
        error_of(w.bytes())
    };
    let err = with(&[32], 2, vec![0; 18]);
    assert_eq!(err, GgufError::UnsupportedType { tensor: "t".into(), type_id: 2 });
    assert!(err.to_string().contains("Q4_0"), "{err}");
    assert!(matches!(with(&[4, 0], 0, vec![]), GgufError::BadShape { .. }), "zero dimension");
    assert!(matches!(with(&[1, 1, 1, 1, 1], 0, vec![0; 4]), GgufError::BadShape { .. }), "five dimensions");
    assert!(matches!(with(&[], 0, vec![]), GgufError::BadShape { .. }), "no dimension");
    assert!(matches!(with(&[u64::MAX, 2], 0, vec![]), GgufError::BadShape { .. }), "element count overflows");
    assert!(matches!(with(&[1 << 62], 0, vec![]), GgufError::BadShape { .. }), "byte size overflows");
    assert!(matches!(with(&[16], 3, vec![0; 10]), GgufError::BadShape { .. }), "half a Q4_1 block");
    assert!(matches!(with(&[64], 0, vec![0; 4]), GgufError::BadPlacement { .. }), "past the end");

    let mut w = Writer::new();
    w.tensor("a", &[8], 0, vec![0; 32]).tensor("b", &[8], 0, vec![0; 32]);
    assert!(matches!(Gguf::parse(w.bytes_with_offsets(&[0, 16])), Err(GgufError::BadPlacement { .. })), "overlap");
    assert!(matches!(Gguf::parse(w.bytes_with_offsets(&[0, 40])), Err(GgufError::BadPlacement { .. })), "unaligned");
    assert!(Gguf::parse(w.bytes_with_offsets(&[32, 0])).is_ok(), "order in the table is free");
    let mut w = Writer::new();
    w.tensor("a", &[1], 0, vec![0; 4]).tensor("a", &[1], 0, vec![0; 4]);
    assert_eq!(error_of(w.bytes()), GgufError::DuplicateTensor("a".into()));
}

proptest! {
    #[test]
    fn mutated_files_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = sample().bytes();
        let len = bytes.len();
        for (at, value) in edits {
            bytes[at % len] = value;
        }
        if let Ok(gguf) = Gguf::parse(bytes) {
            for tensor in gguf.tensors() {
                let data = gguf.tensor_bytes(tensor);
                prop_assert_eq!(data.len() as u64, tensor.size);
                prop_assert_eq!(dequantize(tensor.ggml_type, data).len() as u64, tensor.elements());
            }
        }
    }
}
