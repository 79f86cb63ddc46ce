//! Digests of traced tensors and of trace leaves (`docs/TRACES.md`, `TRACE_VERSION` 1).
//!
//! - tensor digest `T = SHA256("wasmnn-tensor-v1\0" ‖ dtype u8 ‖ rank u32le ‖ dims u64le… ‖
//!   data)`, the data little-endian in element order (bool as one byte 0/1);
//! - descriptor digest `d = SHA256(canonical JSON)`;
//! - leaf hash `SHA256(0x00 ‖ d ‖ T)`.

use sha2::{Digest, Sha256};

use crate::tensor::{DType, Tensor, TensorData};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Version of the trace format (digests, leaves, tree), independent of the spec version.
pub const TRACE_VERSION: u32 = 1;

/// Domain prefix of a tensor digest.
const TENSOR_DOMAIN: &[u8] = b"wasmnn-tensor-v1\0";

/// Bytes fed to the hasher at a time when converting elements to little-endian.
const CHUNK_BYTES: usize = 4096;

/// The digest's code for a dtype (F32 1, F16 2, I8 3, U8 4, I32 5, I64 6, Bool 7).
fn dtype_code(dtype: DType) -> u8 {
    match dtype {
        DType::F32 => 1,
        DType::F16 => 2,
        DType::I8 => 3,
        DType::U8 => 4,
        DType::I32 => 5,
        DType::I64 => 6,
        DType::Bool => 7,
    }
}

/// A hasher that has absorbed the domain, dtype and shape of a tensor digest.
fn header(dtype: DType, shape: &[usize]) -> Sha256 {
    let mut h = Sha256::new();
    h.update(TENSOR_DOMAIN);
    h.update([dtype_code(dtype)]);
    // A rank or dimension beyond u32/u64 cannot exist in memory; saturate rather than panic.
    h.update(u32::try_from(shape.len()).unwrap_or(u32::MAX).to_le_bytes());
    for &d in shape {
        h.update(u64::try_from(d).unwrap_or(u64::MAX).to_le_bytes());
    }
    h
}

/// Feeds `items` to `h`, each as its `N` little-endian bytes, through a stack buffer.
fn update_le<T: Copy, const N: usize>(h: &mut Sha256, items: &[T], to_le: impl Fn(T) -> [u8; N]) {
    let mut buf = [0u8; CHUNK_BYTES];
    for chunk in items.chunks(CHUNK_BYTES / N) {
        let mut at = 0;
        for &x in chunk {
            buf[at..at + N].copy_from_slice(&to_le(x));
            at += N;
        }
        h.update(&buf[..at]);
    }
}

/// The digest of a tensor: `SHA256("wasmnn-tensor-v1\0" ‖ dtype ‖ rank u32le ‖ dims u64le ‖
/// data)`, data little-endian in element order.
pub fn tensor_digest(t: &Tensor) -> Hash {
    let mut h = header(t.dtype(), t.shape());
    match t.data() {
        TensorData::F32(v) => update_le(&mut h, v, |x: f32| x.to_bits().to_le_bytes()),
        TensorData::F16(v) => update_le(&mut h, v, |x: half::f16| x.to_bits().to_le_bytes()),
        TensorData::I8(v) => update_le(&mut h, v, |x: i8| x.to_le_bytes()),
        TensorData::U8(v) => h.update(v),
        TensorData::I32(v) => update_le(&mut h, v, |x: i32| x.to_le_bytes()),
        TensorData::I64(v) => update_le(&mut h, v, |x: i64| x.to_le_bytes()),
        TensorData::Bool(v) => update_le(&mut h, v, |x: bool| [u8::from(x)]),
    }
    h.finalize().into()
}

/// The digest [`tensor_digest`] gives an F32 tensor of this shape and these elements,
/// without building the tensor (LLM activations are plain slices).
///
/// The caller passes `data.len()` equal to the product of `shape`; the digest covers
/// exactly the `shape` and `data` given.
pub fn f32_digest(shape: &[usize], data: &[f32]) -> Hash {
    let mut h = header(DType::F32, shape);
    update_le(&mut h, data, |x: f32| x.to_bits().to_le_bytes());
    h.finalize().into()
}

/// The digest of a leaf descriptor: `SHA256` of its canonical JSON bytes.
pub fn descriptor_digest(json: &[u8]) -> Hash {
    Sha256::digest(json).into()
}

/// The hash of a trace leaf: `SHA256(0x00 ‖ descriptor digest ‖ tensor digest)`.
pub fn leaf_hash(descriptor: &Hash, tensor: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(descriptor);
    h.update(tensor);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn t(shape: Vec<usize>, data: TensorData) -> Tensor {
        Tensor::new(shape, data).unwrap()
    }

    // Golden vectors computed independently with Python's hashlib over the byte strings
    // described in the module doc (see the comment on each).
    const GOLDEN_F32: &str = "672134a8d9f43052b9ae2354de7fbe389df42bb8982e37b58843a065d7ec748f";
    const GOLDEN_F16: &str = "503b1ec66df6a41261d0d6ac2bf2643caf9fa591c9b7148306bcf9491f672ace";
    const GOLDEN_I8: &str = "b85723b44c1ef3af6703743ca40819377e2422cfe8b32d45f536296d60c9075a";
    const GOLDEN_U8: &str = "2d3fc5b3e88521063dd85282bac3d0c8121f397ccacdc88ed37e952fdb151d35";
    const GOLDEN_I32: &str = "fa7dfc40f6d4fa4be8bb96aa90390c5297a6dc886207d9ce3ac18757884b726e";
    const GOLDEN_I64: &str = "9ff9fac413d22a189622b39c2d1fa5be99dabd7eeb3c9745baffd647ccfe2f52";
    const GOLDEN_BOOL: &str = "29040266e120ea7894d349d7d2e5a618d26c0c1214795ca0a502fd96880a1ec1";
    const GOLDEN_SCALAR: &str = "b0e7674bfd3d300f14c0b27844bd11d13effb0abf24d0738a4dbd2bff064c10c";
    const GOLDEN_EMPTY: &str = "cd7ba9842c35f2a4144df698235e000d91c78fe5ce08faba31c2e5c7caac90c5";
    const GOLDEN_EMPTY_I64: &str = "e998dd8f2abd7970e831c54a87b919872fff26fab92281c2cbe56a83a9c4a579";
    const GOLDEN_DESCRIPTOR: &str = "e7df595329e2e0d9517659e119dedf45a15782060ab36e20a00169db7cf97d51";
    const GOLDEN_LEAF: &str = "be9069cb128f6688b835a35b32ddd5e9c2ba9dc60c46716d451de0160864aac0";

    #[test]
    fn golden_every_dtype() {
        let cases: Vec<(Tensor, &str)> = vec![
            // f32 [2,2] = [1.0, -2.5, 0.0, NaN(0x7fc00000)]
            (t(vec![2, 2], TensorData::F32(vec![1.0, -2.5, 0.0, f32::from_bits(0x7fc0_0000)])), GOLDEN_F32),
            // f16 [3] = [1.0, -0.5, 65504]
            (
                t(vec![3], TensorData::F16(vec![f16::from_f32(1.0), f16::from_f32(-0.5), f16::from_f32(65504.0)])),
                GOLDEN_F16,
            ),
            // i8 [4] = [-128, -1, 0, 127]
            (t(vec![4], TensorData::I8(vec![-128, -1, 0, 127])), GOLDEN_I8),
            // u8 [1,3] = [0, 128, 255]
            (t(vec![1, 3], TensorData::U8(vec![0, 128, 255])), GOLDEN_U8),
            // i32 [2] = [-1, 305419896]
            (t(vec![2], TensorData::I32(vec![-1, 0x1234_5678])), GOLDEN_I32),
            // i64 [2,1] = [-2, 81985529216486895]
            (t(vec![2, 1], TensorData::I64(vec![-2, 0x0123_4567_89ab_cdef])), GOLDEN_I64),
            // bool [3] = [true, false, true]
            (t(vec![3], TensorData::Bool(vec![true, false, true])), GOLDEN_BOOL),
        ];
        for (tensor, want) in cases {
            assert_eq!(hex(&tensor_digest(&tensor)), want, "{:?}", tensor.dtype());
        }
    }

    #[test]
    fn golden_scalar_and_empty() {
        // f32 scalar 3.5: rank 0, no dims.
        assert_eq!(hex(&tensor_digest(&Tensor::scalar_f32(3.5))), GOLDEN_SCALAR);
        // f32 shape [0], no data.
        assert_eq!(hex(&tensor_digest(&t(vec![0], TensorData::F32(vec![])))), GOLDEN_EMPTY);
        // i64 shape [2, 0]: dims still bound.
        assert_eq!(hex(&tensor_digest(&t(vec![2, 0], TensorData::I64(vec![])))), GOLDEN_EMPTY_I64);
    }

    #[test]
    fn golden_descriptor_and_leaf() {
        let d = descriptor_digest(br#"{"k":"end"}"#);
        assert_eq!(hex(&d), GOLDEN_DESCRIPTOR);
        assert_eq!(hex(&leaf_hash(&d, &[0u8; 32])), GOLDEN_LEAF);
    }

    #[test]
    fn f32_digest_matches_tensor_digest() {
        for len in [0usize, 1, 7, 1023, 1024, 1025, 5000] {
            let data: Vec<f32> = (0..len).map(|i| (i as f32) * 0.37 - 11.0).collect();
            let tensor = Tensor::from_f32(vec![len], data.clone()).unwrap();
            assert_eq!(f32_digest(&[len], &data), tensor_digest(&tensor), "len {len}");
        }
        let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let tensor = Tensor::from_f32(vec![2, 3, 4], data.clone()).unwrap();
        assert_eq!(f32_digest(&[2, 3, 4], &data), tensor_digest(&tensor));
        assert_eq!(f32_digest(&[], &[3.5]), tensor_digest(&Tensor::scalar_f32(3.5)));
        // The shape is bound: same bytes, different shape, different digest.
        assert_ne!(f32_digest(&[4, 6], &data), f32_digest(&[24], &data));
    }

    #[test]
    fn large_tensors_cross_chunk_boundaries() {
        // 3000 i64 elements span several 4096-byte chunks; compare with a one-shot hash.
        let v: Vec<i64> = (0..3000).map(|i| i * 7919 - 1_000_000).collect();
        let mut want = Sha256::new();
        want.update(TENSOR_DOMAIN);
        want.update([6u8]);
        want.update(1u32.to_le_bytes());
        want.update(3000u64.to_le_bytes());
        for x in &v {
            want.update(x.to_le_bytes());
        }
        let want: Hash = want.finalize().into();
        assert_eq!(tensor_digest(&Tensor::from_i64(vec![3000], v).unwrap()), want);
    }
}
