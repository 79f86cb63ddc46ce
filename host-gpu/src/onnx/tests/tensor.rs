//! `TensorProto` conversion: every supported type in both encodings, and hostile protos.

use half::f16;

use super::{f32_tensor, i64_tensor};
use crate::onnx::OnnxError;
use crate::onnx::proto::{DATA_LOCATION_EXTERNAL, TensorProto, data_type};
use crate::onnx::tensor::to_tensor;
use crate::tensor::TensorData;

fn raw(data_type: i32, dims: &[i64], raw_data: Vec<u8>) -> TensorProto {
    TensorProto { name: "t".to_owned(), dims: dims.to_vec(), data_type, raw_data, ..Default::default() }
}

fn typed_i32(data_type: i32, dims: &[i64], int32_data: &[i32]) -> TensorProto {
    TensorProto {
        name: "t".to_owned(),
        dims: dims.to_vec(),
        data_type,
        int32_data: int32_data.to_vec(),
        ..Default::default()
    }
}

fn data(proto: TensorProto) -> TensorData {
    to_tensor(proto).unwrap().into_parts().1
}

/// The message of a [`OnnxError::Tensor`] naming tensor `t`.
fn error(proto: TensorProto) -> String {
    match to_tensor(proto) {
        Err(OnnxError::Tensor { name, message }) if name == "t" => message,
        other => panic!("expected a tensor error, got {other:?}"),
    }
}

#[test]
fn reads_raw_data_of_every_type() {
    let f = [1.5f32, -0.0, f32::INFINITY];
    let t = to_tensor(f32_tensor("w", &[3, 1], &f)).unwrap();
    assert_eq!(t.shape(), &[3, 1]);
    assert_eq!(t.as_f32().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>(), f.map(f32::to_bits));
    let h = [f16::from_f32(0.5), f16::NEG_INFINITY];
    let halves = raw(data_type::FLOAT16, &[2], h.iter().flat_map(|v| v.to_le_bytes()).collect());
    assert!(data(halves) == TensorData::F16(h.to_vec()));
    assert!(data(raw(data_type::INT8, &[2], vec![0xff, 7])) == TensorData::I8(vec![-1, 7]));
    assert!(data(raw(data_type::UINT8, &[2], vec![0xff, 7])) == TensorData::U8(vec![255, 7]));
    assert!(data(raw(data_type::INT32, &[1], (-5i32).to_le_bytes().to_vec())) == TensorData::I32(vec![-5]));
    assert!(data(raw(data_type::INT64, &[1], i64::MIN.to_le_bytes().to_vec())) == TensorData::I64(vec![i64::MIN]));
    assert!(data(raw(data_type::BOOL, &[3], vec![0, 1, 2])) == TensorData::Bool(vec![false, true, true]));
    assert!(data(raw(data_type::FLOAT, &[0, 4], Vec::new())) == TensorData::F32(Vec::new()));
}

#[test]
fn reads_typed_fields_of_every_type() {
    let floats = TensorProto { float_data: vec![2.0, 3.0], ..raw(data_type::FLOAT, &[2], Vec::new()) };
    assert!(data(floats) == TensorData::F32(vec![2.0, 3.0]));
    assert!(data(i64_tensor("t", &[], &[42])) == TensorData::I64(vec![42]));
    assert!(data(typed_i32(data_type::INT32, &[2], &[-1, 9])) == TensorData::I32(vec![-1, 9]));
    assert!(data(typed_i32(data_type::INT8, &[2], &[-128, 127])) == TensorData::I8(vec![-128, 127]));
    assert!(data(typed_i32(data_type::UINT8, &[1], &[255])) == TensorData::U8(vec![255]));
    assert!(data(typed_i32(data_type::BOOL, &[2], &[0, 1])) == TensorData::Bool(vec![false, true]));
    let half_bits = i32::from(f16::from_f32(-2.0).to_bits());
    assert!(data(typed_i32(data_type::FLOAT16, &[1], &[half_bits])) == TensorData::F16(vec![f16::from_f32(-2.0)]));
}

#[test]
fn rejects_raw_data_of_the_wrong_size() {
    let message = error(raw(data_type::FLOAT, &[2, 3], vec![0; 20]));
    assert_eq!(message, "raw data holds 20 bytes, the dims need 6 f32 elements");
}

#[test]
fn rejects_typed_data_of_the_wrong_length() {
    assert_eq!(error(typed_i32(data_type::INT32, &[3], &[1, 2])), "int32_data holds 2 elements, the dims need 3");
    assert!(error(raw(data_type::INT64, &[1], Vec::new())).contains("int64_data holds 0 elements"));
}

#[test]
fn rejects_negative_dims() {
    assert_eq!(error(raw(data_type::FLOAT, &[2, -1], Vec::new())), "negative dimension: [2, -1]");
}

#[test]
fn rejects_huge_dims_without_allocating() {
    let overflow = error(raw(data_type::FLOAT, &[1 << 40, 1 << 40], vec![0; 4]));
    assert!(overflow.starts_with("element count overflows"), "{overflow}");
    // 2^60 elements fit in usize but would need 4 EiB: the payload check fails first.
    let mismatch = error(raw(data_type::FLOAT, &[1 << 40, 1 << 20], vec![0; 4]));
    assert!(mismatch.starts_with("raw data holds 4 bytes"), "{mismatch}");
    let bytes = error(raw(data_type::INT64, &[1 << 62, 4], vec![0; 8]));
    assert!(bytes.starts_with("element count overflows"), "{bytes}");
    let typed = error(typed_i32(data_type::INT32, &[1 << 40, 1 << 20], &[1]));
    assert!(typed.starts_with("int32_data holds 1 elements"), "{typed}");
}

#[test]
fn rejects_out_of_range_typed_values() {
    assert_eq!(error(typed_i32(data_type::INT8, &[1], &[128])), "int32_data value out of range for i8: 128");
    assert!(error(typed_i32(data_type::FLOAT16, &[1], &[70000])).contains("out of range for f16"));
}

#[test]
fn rejects_external_data_and_unsupported_types() {
    let external = TensorProto { data_location: DATA_LOCATION_EXTERNAL, ..raw(data_type::FLOAT, &[1], Vec::new()) };
    assert!(error(external).starts_with("external data is not supported"));
    assert_eq!(error(raw(11, &[1], vec![0; 8])), "unsupported element type: double (onnx data type 11)");
    assert_eq!(error(raw(8, &[1], Vec::new())), "unsupported element type: string (onnx data type 8)");
}
