use half::f16;
use proptest::prelude::*;

use super::*;

fn round_trip(tensor: &Tensor) -> Tensor {
    let mut bytes = Vec::new();
    write_npy_to(&mut bytes, tensor).unwrap();
    read_npy_from(bytes.as_slice()).unwrap()
}

/// A version 1.0 file with the given header text and data bytes.
fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn read_err(bytes: &[u8]) -> NpyError {
    read_npy_from(bytes).unwrap_err()
}

#[test]
fn round_trips_every_dtype() {
    let special = [0.0f32, -0.0, 1.5, f32::INFINITY, f32::NEG_INFINITY, f32::from_bits(0x7FC0_1234), 1e-45];
    let tensors = [
        Tensor::from_f32(vec![7], special.to_vec()).unwrap(),
        Tensor::new(vec![2, 2], TensorData::F16(vec![f16::ONE, f16::NEG_ZERO, f16::INFINITY, f16::from_bits(0x7E01)]))
            .unwrap(),
        Tensor::new(vec![3], TensorData::I8(vec![i8::MIN, 0, i8::MAX])).unwrap(),
        Tensor::new(vec![1, 3], TensorData::U8(vec![0, 128, 255])).unwrap(),
        Tensor::new(vec![2], TensorData::I32(vec![i32::MIN, i32::MAX])).unwrap(),
        Tensor::from_i64(vec![], vec![i64::MIN]).unwrap(),
        Tensor::new(vec![2, 1], TensorData::Bool(vec![true, false])).unwrap(),
        Tensor::zeros(DType::F32, vec![0, 3]).unwrap(),
    ];
    for tensor in &tensors {
        let back = round_trip(tensor);
        assert!(back.bits_eq(tensor), "{tensor:?} came back as {back:?}");
        assert_eq!(back.dtype(), tensor.dtype());
    }
}

#[test]
fn writes_the_header_numpy_expects() {
    let mut bytes = Vec::new();
    write_npy_to(&mut bytes, &Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap()).unwrap();
    let text = String::from_utf8_lossy(&bytes[10..]);
    assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, ), }"), "{text}");
    assert_eq!(bytes.len(), 128 + 6 * 4, "numpy pads the header to a multiple of 64 bytes");
}

#[test]
fn reads_files_written_by_numpy() {
    let f32s = read_npy_from(include_bytes!("../../tests/data/numpy_f32_2x3.npy").as_slice()).unwrap();
    assert_eq!(f32s.shape(), &[2, 3]);
    let bits: Vec<u32> = f32s.as_f32().unwrap().iter().map(|x| x.to_bits()).collect();
    let expected = [0.0f32, -0.0, 1.5, f32::INFINITY, f32::NEG_INFINITY, 3.25e-3];
    assert_eq!(bits, expected.iter().map(|x| x.to_bits()).collect::<Vec<_>>());

    let scalar = read_npy_from(include_bytes!("../../tests/data/numpy_i64_scalar.npy").as_slice()).unwrap();
    assert_eq!(scalar.shape(), &[] as &[usize]);
    assert_eq!(scalar.as_i64().unwrap(), &[-7]);

    let bools = read_npy_from(include_bytes!("../../tests/data/numpy_bool_4.npy").as_slice()).unwrap();
    assert_eq!(bools.as_bool().unwrap(), &[true, false, false, true]);
}

#[test]
fn refuses_fortran_order() {
    let err = read_err(include_bytes!("../../tests/data/numpy_f32_fortran.npy"));
    assert!(matches!(err, NpyError::FortranOrder(ref shape) if shape == &[2, 3]), "{err}");
}

#[test]
fn refuses_big_endian_and_other_dtypes() {
    let err = read_err(include_bytes!("../../tests/data/numpy_f32_bigendian.npy"));
    assert_eq!(err.to_string(), "unsupported npy dtype (supported: <f4, <f2, |i1, |u1, <i4, <i8, |b1): '>f4'");
    let err = read_err(include_bytes!("../../tests/data/numpy_f64.npy"));
    assert!(matches!(err, NpyError::DType(ref d) if d == "'<f8'"), "{err}");
    let record = npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", &[0; 4]);
    assert!(matches!(read_err(&record), NpyError::DType(_)));
}

#[test]
fn refuses_malformed_headers() {
    let cases: [(&str, Vec<u8>); 8] = [
        ("empty", Vec::new()),
        ("bad magic", b"\x93NUMPZ\x01\x00\x10\x00{}".to_vec()),
        ("unknown version", b"\x93NUMPY\x09\x00\x10\x00{}".to_vec()),
        ("truncated text", b"\x93NUMPY\x01\x00\x40\x00{'descr'".to_vec()),
        ("not a dict", npy_bytes("[1, 2, 3]", &[])),
        ("no shape", npy_bytes("{'descr': '<f4', 'fortran_order': False, }", &[])),
        ("shape not a tuple", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': 3, }", &[])),
        ("negative dim", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", &[])),
    ];
    for (what, bytes) in cases {
        let err = read_err(&bytes);
        assert!(matches!(err, NpyError::Header(_)), "{what}: {err}");
    }
    let two_shapes = npy_bytes("{'descr': '<f4', 'shape': (1,), 'fortran_order': False, \"shape\": (1,)}", &[0; 4]);
    assert!(matches!(read_err(&two_shapes), NpyError::Header(_)));
}

#[test]
fn refuses_huge_header_length_before_reading_it() {
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let err = read_err(&bytes);
    assert_eq!(err.to_string(), "bad npy header: header is longer than 65536 bytes: 4294967295");
}

#[test]
fn refuses_overflowing_shapes_before_allocating() {
    for shape in ["(1099511627776, 1099511627776)", "(0, 4294967296, 4294967296)"] {
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let err = read_err(&npy_bytes(&header, &[]));
        assert!(matches!(err, NpyError::TooLarge(_)), "{shape}: {err}");
    }
}

#[test]
fn refuses_truncated_and_trailing_data() {
    let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (1000000000,), }";
    let err = read_err(&npy_bytes(header, &[1, 0, 0, 0, 2, 0]));
    assert!(matches!(err, NpyError::Truncated { expected: 1_000_000_000, actual: 1 }), "{err}");

    let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }";
    let err = read_err(&npy_bytes(header, &[1, 0, 0, 0, 9]));
    assert!(matches!(err, NpyError::TrailingData(1)), "{err}");
}

#[test]
fn refuses_invalid_bools() {
    let header = "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }";
    let err = read_err(&npy_bytes(header, &[1, 2]));
    assert!(matches!(err, NpyError::Data(_)), "{err}");
}

#[test]
fn reads_and_writes_files_by_path() {
    let dir = std::env::temp_dir().join(format!("wasmnn-npy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.npy");
    let tensor = Tensor::new(vec![2], TensorData::I32(vec![-1, 1])).unwrap();
    write_npy(&path, &tensor).unwrap();
    assert!(read_npy(&path).unwrap().bits_eq(&tensor));
    assert!(matches!(read_npy(&dir.join("missing.npy")), Err(NpyError::Io(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_file_names_are_safe_and_distinct() {
    let names = output_file_names(&["logits", "a/b", "a_b", "A_B", "", "..", ".hidden", "x:y\\z", "héllo"]);
    assert_eq!(
        names,
        ["logits.npy", "a_b.npy", "a_b-2.npy", "A_B-3.npy", "_.npy", "_..npy", "_hidden.npy", "x_y_z.npy", "h_llo.npy"]
    );
    let long = "n".repeat(1000);
    assert_eq!(output_file_names(&[&long])[0].len(), MAX_STEM_LEN + 4);
}

proptest! {
    #[test]
    fn f32_round_trip_keeps_bits(bits in proptest::collection::vec(any::<u32>(), 0..64)) {
        let values: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        let tensor = Tensor::from_f32(vec![values.len()], values).unwrap();
        prop_assert!(round_trip(&tensor).bits_eq(&tensor));
    }
}
