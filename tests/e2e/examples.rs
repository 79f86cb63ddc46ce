//! The example handlers on real inputs, as components in the runtime on the CPU executor:
//! `orientation` finds the rotation of rendered text pages at all four angles and agrees
//! with ONNX Runtime's scores; `embeddings` agrees with the ONNX Runtime + reference
//! tokenizer pipeline and ranks a paraphrase above unrelated sentences. Expectations come
//! from `fixtures/manifest.json` (made by scripts/make_fixtures.py).

use serde_json::Value;
use wasmnn_registry::handler::HandlerConfig;
use wasmnn_registry::models::ModelCache;
use wasmnn_runtime::{Function, Outcome, Runtime, resolve_models};

use crate::support::{example_component, examples_dir, fixture, read_npy, shared_runtime};

fn runtime() -> &'static Runtime {
    shared_runtime()
}

/// An example handler with its declared models (fetched into the model cache if needed).
fn example(name: &str) -> Function {
    let dir = examples_dir().join(name);
    let config = HandlerConfig::read_dir(&dir).expect("wasmnn.toml");
    let cache = ModelCache::from_env().expect("model cache");
    let models = resolve_models(&config, &dir, &cache, &|_, _| {}).expect("models resolve");
    let component = runtime().prepare(&example_component(name)).expect("component compiles");
    Function::new(config.function.name, component, models, config.limits)
}

fn invoke(function: &Function, input: &[u8]) -> Outcome {
    let limits = function.default_limits();
    runtime().invoke(function, input, 0, &limits, None).unwrap_or_else(|e| panic!("{}: {e}", function.name()))
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixture("manifest.json")).expect("fixtures/manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

fn json(outcome: &Outcome) -> Value {
    serde_json::from_slice(&outcome.output).expect("the handler returns JSON")
}

#[test]
fn orientation_finds_all_four_rotations_like_onnx_runtime() {
    let function = example("orientation");
    let manifest = manifest();
    let cases = manifest["orientation"]["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let image = std::fs::read(fixture(case["image"].as_str().expect("image"))).expect("image file");
        let outcome = invoke(&function, &image);
        let output = json(&outcome);
        let expected: u64 = case["expected_label"].as_str().and_then(|l| l.parse().ok()).expect("label");
        assert_eq!(output["angle"], expected, "{}: {output}", case["image"]);
        let ort = case["ort_probs"].as_array().expect("ort_probs");
        for (label, want) in ["0", "90", "180", "270"].iter().zip(ort) {
            let (got, want) = (output["scores"][label].as_f64().expect("score"), want.as_f64().expect("prob"));
            assert!((got - want).abs() <= 2e-2, "{}: score {label}: {got} vs ONNX Runtime {want}", case["image"]);
        }
        assert!(outcome.ops > 0 && outcome.fuel > 0);
    }
}

#[test]
fn orientation_is_deterministic_and_rejects_non_images() {
    let function = example("orientation");
    let image = std::fs::read(fixture("orientation/image_2.png")).expect("image");
    let (a, b) = (invoke(&function, &image), invoke(&function, &image));
    assert_eq!((a.output, a.fuel, a.ops), (b.output, b.fuel, b.ops));
    let limits = function.default_limits();
    let error = runtime().invoke(&function, b"not an image", 0, &limits, None).expect_err("junk is refused");
    assert_eq!(error.code(), "handler_error", "{error}");
}

/// Embeddings of `sentences`, in order.
fn embed(function: &Function, sentences: &[&str]) -> Vec<Vec<f32>> {
    let input = serde_json::json!({ "input": sentences }).to_string();
    let output = json(&invoke(function, input.as_bytes()));
    let data = output["data"].as_array().expect("data");
    assert_eq!(data.len(), sentences.len());
    data.iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!(item["index"], i);
            let vector: Vec<f32> = item["embedding"]
                .as_array()
                .expect("embedding")
                .iter()
                .map(|x| x.as_f64().expect("float") as f32)
                .collect();
            assert_eq!(vector.len(), 384);
            vector
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn embeddings_match_onnx_runtime_and_rank_paraphrases() {
    let function = example("embeddings");
    let manifest = manifest();
    let cases = manifest["minilm"]["cases"].as_array().expect("cases");
    let sentences: Vec<&str> = cases.iter().map(|c| c["sentence"].as_str().expect("sentence")).collect();
    let ours = embed(&function, &sentences);
    for (case, vector) in cases.iter().zip(&ours) {
        let reference = read_npy(&fixture(case["files"]["embedding"].as_str().expect("file")));
        let reference = reference.as_f32().expect("f32 embedding");
        let similarity = cosine(vector, reference);
        assert!(similarity >= 0.999, "{:?}: cosine {similarity}", case["sentence"]);
    }

    let ranked =
        embed(&function, &["A man is eating food.", "A man is eating a meal.", "The stock market fell sharply today."]);
    let (paraphrase, unrelated) = (cosine(&ranked[0], &ranked[1]), cosine(&ranked[0], &ranked[2]));
    assert!(paraphrase > unrelated + 0.2, "paraphrase {paraphrase} vs unrelated {unrelated}");

    let single = serde_json::json!({ "input": "A man is eating food." }).to_string();
    let single = json(&invoke(&function, single.as_bytes()));
    assert_eq!(single["data"].as_array().map(Vec::len), Some(1));
}

/// Calls `complete` and returns its JSON, or the call's error message.
fn complete(function: &Function, request: &Value) -> Result<(Value, Outcome), String> {
    let limits = function.default_limits();
    let input = serde_json::to_vec(request).expect("JSON");
    match runtime().invoke(function, &input, 0, &limits, None) {
        Ok(outcome) => Ok((json(&outcome), outcome)),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn complete_generates_what_the_engine_generates_and_refuses_bad_requests() {
    use wasmnn_host_gpu::llm::CpuSession;

    let function = example("complete");
    let prompt = [504i64, 3575, 282, 4649, 314]; // "The capital of France is"
    let model = crate::llm::smollm2();
    let (_, expected) = crate::llm::generate(&mut CpuSession::new(std::sync::Arc::clone(&model), 64), &prompt, 8);
    let (out, outcome) =
        complete(&function, &serde_json::json!({"tokens": prompt, "max_tokens": 8})).expect("completes");
    assert_eq!(out["tokens"], serde_json::json!(expected));
    assert_eq!(out["finish_reason"], "length");
    assert_eq!(outcome.ops, 8 * model.ops_per_step(), "one step for the prompt, one per further token");
    let (out, _) = complete(&function, &serde_json::json!({"tokens": prompt, "max_tokens": 8, "stop": [expected[1]]}))
        .expect("completes");
    assert_eq!(
        (out["tokens"].clone(), out["finish_reason"].clone()),
        (serde_json::json!(expected[..2]), "stop".into())
    );

    for (request, message) in [
        (
            serde_json::json!({"tokens": [1, 49152], "max_tokens": 2}),
            "token id 49152 at index 1 is outside the vocabulary of 49152 tokens",
        ),
        (
            serde_json::json!({"tokens": vec![1; 2049], "max_tokens": 1}),
            "context length exceeded: 0 tokens are in the context and 2049 more were given, but the limit is 2048",
        ),
        (serde_json::json!({"tokens": [], "max_tokens": 2}), "tokens is empty"),
        (serde_json::json!({"tokens": [1], "max_tokens": 0}), "max_tokens must be in 1..=1024"),
        (serde_json::json!({"tokens": "hello", "max_tokens": 2}), "bad request"),
    ] {
        let error = complete(&function, &request).expect_err("refused");
        assert!(error.contains(message), "{request}: {error}");
    }
}
