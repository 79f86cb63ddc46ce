//! Deterministic case data: pseudo-random values with the special ones mixed in.

use crate::tensor::Tensor;

/// Special f32 values every float kernel meets: ±0, ±inf, NaN, the smallest normals,
/// subnormals (flushed on input), the largest finite values.
pub const SPECIALS: [f32; 12] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    f32::MIN_POSITIVE,
    -f32::MIN_POSITIVE,
    1.0e-40,
    -1.0e-40,
    f32::MAX,
    f32::MIN,
    1.0e30,
];

/// How to draw the values of [`values`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Values {
    /// Uniform in `[-scale, scale)`.
    Uniform(f32),
    /// Uniform in `[-scale, scale)`, with every 7th value a special one.
    WithSpecials(f32),
}

/// A xorshift stream: the same numbers on every machine (the conformance cases' data).
pub(crate) struct Stream(u64);

impl Stream {
    /// A stream from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Stream(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-1, 1), 24 random bits (exact in f32).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 * (1.0 / 8_388_608.0) - 1.0
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// An f32 tensor of `shape` filled from `seed`.
///
/// # Panics
/// Never: the data always matches the shape.
pub fn values(shape: &[usize], seed: u64, how: Values) -> Tensor {
    let n: usize = shape.iter().product();
    let mut stream = Stream::new(seed);
    let data = (0..n)
        .map(|i| match how {
            Values::WithSpecials(_) if i % 7 == 3 => SPECIALS[(stream.next() % SPECIALS.len() as u64) as usize],
            Values::Uniform(scale) | Values::WithSpecials(scale) => stream.unit() * scale,
        })
        .collect();
    match Tensor::from_f32(shape.to_vec(), data) {
        Ok(t) => t,
        Err(_) => unreachable!("data has the shape's element count"),
    }
}

/// An i64 tensor of `shape` with values in `lo..hi` from `seed`.
pub fn ints(shape: &[usize], seed: u64, lo: i64, hi: i64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut stream = Stream::new(seed);
    let span = (hi - lo).max(1) as u64;
    let data = (0..n).map(|_| lo + (stream.next() % span) as i64).collect();
    match Tensor::from_i64(shape.to_vec(), data) {
        Ok(t) => t,
        Err(_) => unreachable!("data has the shape's element count"),
    }
}
