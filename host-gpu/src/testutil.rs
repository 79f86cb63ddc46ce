//! Shared helpers for the unit tests of op families.

use proptest::prelude::*;

use crate::tensor::Tensor;

/// Special f32 values every float kernel is tested on (shared with the conformance cases).
pub(crate) use crate::conformance::SPECIALS;

/// Mostly ordinary values, with a share of special ones (±0, ±inf, NaN, subnormals, huge).
pub(crate) fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -10.0f32..10.0,
        1 => -1.0e6f32..1.0e6,
        1 => proptest::sample::select(SPECIALS.to_vec()),
    ]
}

/// A vector of `n` values from [`any_f32`].
pub(crate) fn f32_vec(n: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec(any_f32(), n)
}

/// Runs `f` inside a rayon pool of `threads` threads.
pub(crate) fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool").install(f)
}

/// Asserts `f` gives bit-identical tensors on 1, 2 and 7 threads.
pub(crate) fn assert_thread_invariant(f: impl Fn() -> Tensor + Sync) {
    let one = with_threads(1, &f);
    for threads in [2, 7] {
        let other = with_threads(threads, &f);
        assert!(one.bits_eq(&other), "result differs between 1 and {threads} threads");
    }
}

/// The f32 elements of a tensor.
pub(crate) fn f32s(t: &Tensor) -> Vec<f32> {
    t.as_f32().expect("f32 tensor").to_vec()
}

/// Asserts two f32 slices are identical bit for bit, naming the first difference.
pub(crate) fn assert_bits(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(
            a.to_bits(),
            e.to_bits(),
            "element {i}: got {a:e} ({:#010x}), expected {e:e} ({:#010x})",
            a.to_bits(),
            e.to_bits()
        );
    }
}
