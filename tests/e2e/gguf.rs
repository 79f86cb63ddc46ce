//! The GGUF reader on the real SmolLM2-135M-Instruct file, against an independent reading
//! of it (`fixtures/smollm2/gguf.json`, written by `scripts/make_gguf_fixture.py` with the
//! `gguf` package maintained in llama.cpp's repository).

use serde_json::Value;
use wasmnn_host_gpu::gguf::{GgmlType, Gguf, MetaValue, dequantize};

use crate::support::{fixture, model_path};

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("smollm2/gguf.json")).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// A metadata value as the fixture writes it.
fn as_json(value: &MetaValue) -> Value {
    match value {
        MetaValue::String(s) => Value::from(s.as_str()),
        MetaValue::F32(x) => Value::from(f64::from(*x)),
        other => Value::from(other.as_u64().expect("an integer")),
    }
}

#[test]
fn smollm2_reads_like_the_reference_reader() {
    let bytes = std::fs::read(model_path("smollm2")).expect("readable");
    let gguf = Gguf::parse(bytes).expect("a valid GGUF");
    let reference = reference();

    let metadata = reference["metadata"].as_object().expect("metadata");
    for (key, expected) in metadata.iter().filter(|(key, _)| !key.starts_with("tokenizer.ggml.tokens")) {
        if let Some(count) = key.strip_suffix(".len") {
            let items = gguf.get(count).and_then(MetaValue::as_array).unwrap_or_else(|| panic!("{count}"));
            assert_eq!(Value::from(items.len()), *expected, "{key}");
            continue;
        }
        let value = gguf.get(key).unwrap_or_else(|| panic!("metadata {key} missing"));
        assert_eq!(as_json(value), *expected, "{key}");
    }
    let tokens = gguf.get("tokenizer.ggml.tokens").and_then(MetaValue::as_array).expect("tokens");
    assert_eq!(Value::from(tokens.len()), metadata["tokenizer.ggml.tokens.len"]);
    let first: Vec<Value> = tokens[..5].iter().map(as_json).collect();
    assert_eq!(Value::from(first), metadata["tokenizer.ggml.tokens.first"]);

    let expected_tensors = reference["tensors"].as_array().expect("tensors");
    assert_eq!(gguf.tensors().len(), expected_tensors.len());
    let mut data_start = None;
    for (tensor, expected) in gguf.tensors().iter().zip(expected_tensors) {
        assert_eq!(tensor.name, expected["name"].as_str().expect("name"));
        assert_eq!(Value::from(tensor.dims.clone()), expected["dims"], "{}", tensor.name);
        assert_eq!(format!("{:?}", tensor.ggml_type), expected["type"].as_str().expect("type"), "{}", tensor.name);
        // The reference gives offsets from the start of the file, ours count from the
        // data section: the difference is the same for every tensor.
        let start = expected["offset"].as_u64().expect("offset") - tensor.offset;
        assert_eq!(*data_start.get_or_insert(start), start, "{}", tensor.name);
    }
    let count = |t: GgmlType| gguf.tensors().iter().filter(|x| x.ggml_type == t).count();
    assert_eq!((count(GgmlType::Q4_1), count(GgmlType::F32), count(GgmlType::Q8_0)), (210, 61, 1));

    for row in reference["rows"].as_array().expect("rows") {
        let name = row["tensor"].as_str().expect("tensor");
        let index = row["row"].as_u64().expect("row");
        let tensor = gguf.tensor(name).expect("tensor present");
        let row_bytes = tensor.dims[0] / tensor.ggml_type.block_elements() * tensor.ggml_type.block_bytes();
        let start = (index * row_bytes) as usize;
        let bytes = &gguf.tensor_bytes(tensor)[start..start + row_bytes as usize];
        let values: Vec<u64> = dequantize(tensor.ggml_type, bytes).iter().map(|v| u64::from(v.to_bits())).collect();
        let expected: Vec<u64> =
            row["bits"].as_array().expect("bits").iter().map(|b| b.as_u64().expect("bit")).collect();
        assert_eq!(values[..expected.len()], expected[..], "{name} row {index}: bit for bit");
    }
}
