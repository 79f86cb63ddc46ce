//! Sentence embeddings from MiniLM's token states: sentence-transformers' mean pooling
//! over the attention mask, then L2 normalization.
//!
//! For each sentence, in f64 and in a fixed order (tokens in order, then dimensions in
//! order): `sum[d] = Σ_t h[t][d]·mask[t]`, `mean = sum / max(Σ_t mask[t], 1e-9)`,
//! `embedding = mean / max(‖mean‖₂, 1e-12)`, rounded to f32 at the end. That is the
//! reference computation of the fixtures (`mean_pool_normalize` in the project's
//! scripts/make_fixtures.py); f64 arithmetic in wasm is IEEE, so the result is the same on
//! every machine.

/// Pools `hidden` (row-major f32 `[rows, seq_len, dim]`) over `attention_mask` (row-major
/// `[rows, seq_len]`) into `rows` L2-normalized embeddings of `dim` values.
///
/// # Panics
/// If the lengths do not match `rows`, `seq_len` and `dim`.
pub fn mean_pool_normalize(hidden: &[f32], attention_mask: &[i64], seq_len: usize, dim: usize) -> Vec<Vec<f32>> {
    assert_eq!(attention_mask.len() % seq_len.max(1), 0, "mask length");
    let rows = attention_mask.len().checked_div(seq_len).unwrap_or(0);
    assert_eq!(hidden.len(), rows * seq_len * dim, "hidden state length");
    (0..rows)
        .map(|row| {
            let mut sum = vec![0f64; dim];
            let mut count = 0f64;
            for t in 0..seq_len {
                let weight = attention_mask[row * seq_len + t] as f64;
                count += weight;
                let state = &hidden[(row * seq_len + t) * dim..(row * seq_len + t + 1) * dim];
                for (s, &h) in sum.iter_mut().zip(state) {
                    *s += f64::from(h) * weight;
                }
            }
            let count = count.max(1e-9);
            let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
            let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt().max(1e-12);
            mean.iter().map(|m| (m / norm) as f32).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_npy<T: npyz::Deserialize>(name: &str) -> (Vec<u64>, Vec<T>) {
        let path = format!("{}/../../fixtures/minilm/{name}.npy", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let npy = npyz::NpyFile::new(&bytes[..]).expect("an .npy file");
        let shape = npy.shape().to_vec();
        (shape, npy.into_vec::<T>().expect("data"))
    }

    /// The reference embeddings from the reference hidden states: the largest difference
    /// in units in the last place of f32.
    #[test]
    fn matches_the_reference_pooling() {
        for prefix in ["0", "1", "2", "3", "batch"] {
            let (shape, hidden) = read_npy::<f32>(&format!("{prefix}_last_hidden_state"));
            let (_, mask) = read_npy::<i64>(&format!("{prefix}_attention_mask"));
            let (_, reference) = read_npy::<f32>(&format!("{prefix}_embedding"));
            let (seq_len, dim) = (shape[1] as usize, shape[2] as usize);
            let ours: Vec<f32> = mean_pool_normalize(&hidden, &mask, seq_len, dim).concat();
            assert_eq!(ours.len(), reference.len());
            let max_ulps =
                ours.iter().zip(&reference).map(|(a, b)| (a.to_bits() as i64 - b.to_bits() as i64).abs()).max();
            eprintln!("{prefix}: at most {max_ulps:?} ulp from the reference embedding");
            assert!(max_ulps <= Some(1), "{prefix}: {max_ulps:?} ulps");
        }
    }

    #[test]
    fn padding_is_ignored_and_the_result_has_unit_length() {
        let hidden = [3.0, 4.0, 100.0, 100.0];
        let embeddings = mean_pool_normalize(&hidden, &[1, 0], 2, 2);
        assert_eq!(embeddings, [vec![0.6, 0.8]]);
        assert_eq!(mean_pool_normalize(&[0.0, 0.0], &[0], 1, 2), [vec![0.0, 0.0]]);
    }
}
