//! Whole models on the CPU reference executor against ONNX Runtime fixtures
//! (`scripts/make_fixtures.py`), and determinism across runs, thread counts and
//! specialization.

use std::path::Path;

use wasmnn_host_gpu::{CpuExecutor, Graph, Tensor};

use crate::support::{fixture, load_model, read_npy, with_threads};

fn run(graph: &Graph, inputs: &[(&str, &Tensor)]) -> Vec<Tensor> {
    let inputs = inputs.iter().map(|(n, t)| ((*n).to_owned(), (*t).clone())).collect();
    CpuExecutor.run(graph, inputs).expect("model runs").into_iter().map(|(_, t)| t).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

#[test]
fn orientation_matches_onnx_runtime() {
    let graph = load_model("orientation");
    for k in 0..4 {
        let input = read_npy(&fixture(&format!("orientation/input_{k}.npy")));
        let expected = read_npy(&fixture(&format!("orientation/output_{k}.npy")));
        let out = run(&graph, &[("x", &input)]);
        let (got, want) = (out[0].as_f32().unwrap(), expected.as_f32().unwrap());
        assert_eq!(argmax(got), argmax(want), "case {k}: class differs: {got:?} vs {want:?}");
        let diff = max_abs_diff(got, want);
        assert!(diff <= 1e-4, "case {k}: max abs diff {diff:e} > 1e-4");
    }
}

#[test]
fn orientation_is_bit_identical_across_threads_runs_and_specialization() {
    let graph = load_model("orientation");
    let input = read_npy(&fixture("orientation/input_1.npy"));
    let reference = with_threads(1, || run(&graph, &[("x", &input)]));
    for threads in [1, 2, 7] {
        let again = with_threads(threads, || run(&graph, &[("x", &input)]));
        assert!(again[0].bits_eq(&reference[0]), "{threads} threads differ");
    }
    let special = graph.specialize(&[("x", input.shape().to_vec())]).expect("specializes");
    assert!(run(&special, &[("x", &input)])[0].bits_eq(&reference[0]), "specialized graph differs");
}

/// Mean over valid positions, then L2 normalization (sentence-transformers pooling), in f64.
fn sentence_embedding(hidden: &[f32], mask: &[i64], dim: usize) -> Vec<f64> {
    let mut sum = vec![0.0f64; dim];
    let mut count = 0.0;
    for (pos, &m) in mask.iter().enumerate() {
        if m != 0 {
            count += 1.0;
            for (s, &h) in sum.iter_mut().zip(&hidden[pos * dim..(pos + 1) * dim]) {
                *s += f64::from(h);
            }
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
    let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
    mean.iter().map(|x| x / norm).collect()
}

fn minilm_case(graph: &Graph, dir: &Path, prefix: &str) {
    let [ids, mask, types, hidden, embedding] =
        ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state", "embedding"]
            .map(|n| read_npy(&dir.join(format!("{prefix}_{n}.npy"))));
    let out = run(graph, &[("input_ids", &ids), ("attention_mask", &mask), ("token_type_ids", &types)]);
    assert_eq!(out[0].shape(), hidden.shape(), "{prefix}: output shape");
    let (batch, seq, dim) = (hidden.shape()[0], hidden.shape()[1], hidden.shape()[2]);
    let (got, want) = (out[0].as_f32().unwrap(), hidden.as_f32().unwrap());
    let mask = mask.as_i64().unwrap();
    let want_embeddings = embedding.as_f32().unwrap();
    for b in 0..batch {
        let rows = b * seq * dim..(b + 1) * seq * dim;
        let row_mask = &mask[b * seq..(b + 1) * seq];
        let valid: Vec<usize> = (0..seq).filter(|&p| row_mask[p] != 0).collect();
        let diff = valid
            .iter()
            .map(|&p| {
                max_abs_diff(
                    &got[rows.start + p * dim..rows.start + (p + 1) * dim],
                    &want[rows.start + p * dim..rows.start + (p + 1) * dim],
                )
            })
            .fold(0.0, f32::max);
        assert!(diff <= 2e-3, "{prefix}[{b}]: last_hidden_state max abs diff {diff:e} > 2e-3");
        let ours = sentence_embedding(&got[rows], row_mask, dim);
        let theirs = &want_embeddings[b * dim..(b + 1) * dim];
        let dot: f64 = ours.iter().zip(theirs).map(|(a, b)| a * f64::from(*b)).sum();
        let norm = theirs.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / norm;
        assert!(cosine >= 0.9999, "{prefix}[{b}]: embedding cosine {cosine} < 0.9999");
    }
}

#[test]
fn minilm_matches_onnx_runtime() {
    let graph = load_model("minilm");
    let dir = fixture("minilm");
    for prefix in ["0", "1", "2", "3", "batch"] {
        minilm_case(&graph, &dir, prefix);
    }
}

#[test]
fn minilm_is_bit_identical_across_threads_and_specialization() {
    let graph = load_model("minilm");
    let dir = fixture("minilm");
    let [ids, mask, types] =
        ["input_ids", "attention_mask", "token_type_ids"].map(|n| read_npy(&dir.join(format!("batch_{n}.npy"))));
    let inputs = [("input_ids", &ids), ("attention_mask", &mask), ("token_type_ids", &types)];
    let reference = with_threads(1, || run(&graph, &inputs));
    for threads in [2, 7] {
        let again = with_threads(threads, || run(&graph, &inputs));
        assert!(again[0].bits_eq(&reference[0]), "{threads} threads differ");
    }
    let shapes: Vec<(&str, Vec<usize>)> = inputs.iter().map(|(n, t)| (*n, t.shape().to_vec())).collect();
    let special = graph.specialize(&shapes).expect("specializes");
    assert!(special.nodes().len() < graph.nodes().len(), "shape subgraphs fold away");
    assert!(run(&special, &inputs)[0].bits_eq(&reference[0]), "specialized graph differs");
}
