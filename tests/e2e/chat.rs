//! The OpenAI-compatible endpoints on a real node with the real `chat` and `embeddings`
//! handlers (SmolLM2 and MiniLM on the CPU): completions plain and streamed with receipts
//! that verify, seeded sampling, embeddings in both encodings, the model list, every kind
//! of bad request answered in OpenAI's error shape, and `wasmnn chat` in a terminal
//! session of two turns.

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::ChatStream;
use wasmnn_runtime::node::unsplice_created;
use wasmnn_runtime::receipt::SignedReceipt;
use wasmnn_runtime::streamed::{FinishedReply, StreamedReply};

use crate::invoke::publish_example;
use crate::node::{Node, Response};
use crate::support::{assert_success, wasmnn_with};

/// A CPU node serving the `chat` and `embeddings` examples.
fn openai_node(dir: &Path) -> Node {
    let node = Node::start(&dir.join("node"), &["--backend", "cpu"]);
    let key = dir.join("publisher.key");
    publish_example(&node, "chat", &key);
    publish_example(&node, "embeddings", &key);
    node
}

/// `wasmnn verify RECEIPT --from NODE` on the CPU, with a function cache of its own.
fn verify(dir: &Path, receipt: &Path, node: &Node) -> std::process::Output {
    let args = ["--backend", "cpu", "verify", receipt.to_str().unwrap(), "--from", &node.url];
    wasmnn_with(&args, None, &[("WASMNN_VERIFY_DATA", &dir.join("verify-cache"))])
}

fn post(node: &Node, path: &str, body: &Value) -> Response {
    node.request("POST", path, &[("Content-Type", "application/json")], &serde_json::to_vec(body).unwrap())
}

/// The `capital of France` question, greedy, at most 8 tokens. (Behind the model's own
/// default system message, SmolLM2-135M's greedy answer is "L'Étoile, la Mar…".)
fn france(extra: Value) -> Value {
    let mut request = json!({
        "model": "chat",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "temperature": 0,
        "max_tokens": 8,
    });
    for (name, value) in extra.as_object().unwrap() {
        request[name] = value.clone();
    }
    request
}

/// Streams `request` through the client library: the events must be chunks, `[DONE]`,
/// then the receipt, which covers the request and the chunks (`wasmnn_runtime::streamed`).
fn stream(node: &Node, request: &Value) -> FinishedReply {
    let body = serde_json::to_vec(request).unwrap();
    let ChatStream { mut events, manifest } = node.client().chat_stream(&body).expect("a stream");
    let mut reply = StreamedReply::new(1 << 24);
    while let Some(event) = events.next_event().expect("a well-formed stream") {
        reply.push(&event).expect("a well-formed event");
    }
    let finished = reply.finish().expect("a receipt at the end");
    let seed = request["seed"].as_u64().unwrap_or(0);
    finished.check(&body, seed, Some(&manifest.expect("a wasmnn-manifest header"))).expect("the receipt matches");
    finished
}

#[test]
fn chat_completions_plain_and_streamed_with_receipts_that_verify() {
    let dir = tempfile::tempdir().unwrap();
    let node = openai_node(dir.path());

    // Plain: OpenAI's shape, the receipt over the guest's output (the body without `created`).
    let request = france(json!({"seed": 3}));
    let response = post(&node, "/v1/chat/completions", &request);
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let plain = response.json();
    assert_eq!((plain["object"].as_str(), plain["model"].as_str()), (Some("chat.completion"), Some("chat")));
    assert!(plain["id"].as_str().unwrap().starts_with("chatcmpl-"), "{plain}");
    assert!(plain["created"].as_u64().unwrap() > 1_700_000_000, "{plain}");
    let message = &plain["choices"][0]["message"];
    assert_eq!(message["role"], "assistant");
    let content = message["content"].as_str().unwrap();
    assert!(content.contains("Paris"), "the greedy answer names Paris: {content:?}");
    let usage = &plain["usage"];
    let (prompt, completion) = (usage["prompt_tokens"].as_u64().unwrap(), usage["completion_tokens"].as_u64().unwrap());
    assert!(prompt > 10 && (1..=8).contains(&completion), "{usage}");
    assert_eq!(usage["total_tokens"].as_u64(), Some(prompt + completion));
    let receipt = SignedReceipt::from_header(response.header("wasmnn-receipt").unwrap()).unwrap();
    assert_eq!(response.header("wasmnn-receipt-id"), Some(receipt.id().prefixed().as_str()));
    let raw = unsplice_created(&response.body).unwrap();
    assert_eq!(receipt.receipt().output, Sha256Digest::of_bytes(&raw));
    assert_eq!(receipt.receipt().input, Sha256Digest::of_bytes(&serde_json::to_vec(&request).unwrap()));

    // Streamed with usage: role, content…, finish, usage, [DONE], receipt; the same text.
    let streamed =
        stream(&node, &france(json!({"seed": 3, "stream": true, "stream_options": {"include_usage": true}})));
    let chunks = &streamed.chunks;
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"].as_str().is_some()));
    let created = &chunks[0]["created"];
    assert!(chunks.iter().all(|c| &c["created"] == created), "one created for the whole stream");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], plain["choices"][0]["finish_reason"]);
    let last = &chunks[chunks.len() - 1];
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], plain["usage"]);
    assert_eq!(streamed.content(), content, "streamed and plain give the same text");

    // The node recorded the streamed call; `wasmnn verify` re-runs it and agrees.
    let id = streamed.receipt.id();
    let recorded = node.request("GET", &format!("/v1/receipts/{}/output", id.prefixed()), &[], b"");
    assert_eq!(recorded.body, streamed.output);
    let file = dir.path().join("streamed.json");
    std::fs::write(&file, streamed.receipt.to_json()).unwrap();
    let output = verify(dir.path(), &file, &node);
    assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("match"), "{output:?}");
}

#[test]
fn the_seed_decides_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let node = openai_node(dir.path());
    let sample = |seed: u64| {
        let request = json!({
            "model": "chat",
            "messages": [{"role": "user", "content": "Write one sentence about the sea."}],
            "temperature": 1.0,
            "top_p": 0.95,
            "max_tokens": 12,
            "seed": seed,
        });
        let response = post(&node, "/v1/chat/completions", &request);
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        unsplice_created(&response.body).unwrap()
    };
    let first = sample(1);
    assert_eq!(sample(1), first, "the same request and seed give the same bytes");
    let others = [sample(2), sample(3)];
    assert!(others.iter().any(|other| *other != first), "three seeds at temperature 1 gave one answer");
}

#[test]
fn embeddings_and_the_model_list_speak_openai() {
    let dir = tempfile::tempdir().unwrap();
    let node = openai_node(dir.path());

    let models = node.request("GET", "/v1/models", &[], b"").json();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["chat", "embeddings"]);
    let chat = node.request("GET", "/v1/models/chat", &[], b"").json();
    assert_eq!(
        (chat["object"].as_str(), chat["owned_by"].as_str().map(|o| o.starts_with("ed25519:"))),
        (Some("model"), Some(true))
    );
    assert_eq!(node.request("GET", "/v1/models/nope", &[], b"").error_code(), "model_not_found");

    let input = json!(["A cat sits on the mat.", "Stock markets fell sharply today."]);
    let floats = post(&node, "/v1/embeddings", &json!({"model": "embeddings", "input": input}));
    assert_eq!(floats.status, 200, "{}", String::from_utf8_lossy(&floats.body));
    let receipt = SignedReceipt::from_header(floats.header("wasmnn-receipt").unwrap()).unwrap();
    assert_eq!(receipt.receipt().output, Sha256Digest::of_bytes(&floats.body));
    let packed =
        post(&node, "/v1/embeddings", &json!({"model": "embeddings", "input": input, "encoding_format": "base64"}));
    let (floats, packed) = (floats.json(), packed.json());
    assert_eq!(floats["usage"], packed["usage"]);
    for (f, p) in floats["data"].as_array().unwrap().iter().zip(packed["data"].as_array().unwrap()) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(p["embedding"].as_str().unwrap()).unwrap();
        let decoded: Vec<u32> =
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()).to_bits()).collect();
        let numbers: Vec<u32> =
            f["embedding"].as_array().unwrap().iter().map(|x| (x.as_f64().unwrap() as f32).to_bits()).collect();
        assert_eq!(decoded.len(), 384);
        assert_eq!(decoded, numbers, "base64 holds the same floats, bit for bit");
    }
}

#[test]
fn bad_requests_get_openai_errors_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = openai_node(dir.path());
    let user = json!([{"role": "user", "content": "Hi"}]);
    let long = "lorem ipsum ".repeat(1100);
    // What is sent, and the status, code and param expected.
    type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("not JSON", b"{nope".to_vec(), 400, "invalid_json", None),
        ("not an object", b"[1, 2]".to_vec(), 400, "invalid_json", None),
        ("no model", serde_json::to_vec(&json!({"messages": user})).unwrap(), 400, "missing_required_parameter", Some("model")),
        ("unknown model", serde_json::to_vec(&json!({"model": "gpt-9", "messages": user})).unwrap(), 404, "model_not_found", Some("model")),
        ("not a chat function", serde_json::to_vec(&json!({"model": "embeddings", "messages": user})).unwrap(), 404, "model_not_found", Some("model")),
        ("empty messages", serde_json::to_vec(&json!({"model": "chat", "messages": []})).unwrap(), 400, "invalid_value", Some("messages")),
        ("messages not a list", serde_json::to_vec(&json!({"model": "chat", "messages": "Hi"})).unwrap(), 400, "invalid_type", Some("messages")),
        ("a bad role", serde_json::to_vec(&json!({"model": "chat", "messages": [{"role": "robot", "content": "Hi"}]})).unwrap(), 400, "invalid_value", Some("messages[0].role")),
        ("too many tokens", serde_json::to_vec(&json!({"model": "chat", "messages": user, "max_tokens": 100000})).unwrap(), 400, "invalid_value", Some("max_tokens")),
        ("context overflow", serde_json::to_vec(&json!({"model": "chat", "messages": [{"role": "user", "content": long}], "max_tokens": 100})).unwrap(), 400, "context_length_exceeded", Some("messages")),
        ("n = 2", serde_json::to_vec(&json!({"model": "chat", "messages": user, "n": 2})).unwrap(), 400, "invalid_value", Some("n")),
        ("a bad seed", serde_json::to_vec(&json!({"model": "chat", "messages": user, "seed": -1})).unwrap(), 400, "invalid_value", Some("seed")),
        ("temperature 3", serde_json::to_vec(&json!({"model": "chat", "messages": user, "temperature": 3})).unwrap(), 400, "invalid_value", Some("temperature")),
        ("streamed context overflow", serde_json::to_vec(&json!({"model": "chat", "messages": [{"role": "user", "content": long}], "max_tokens": 100, "stream": true})).unwrap(), 400, "context_length_exceeded", Some("messages")),
    ];
    for (what, body, status, code, param) in cases {
        let response = node.request("POST", "/v1/chat/completions", &[("Content-Type", "application/json")], &body);
        assert_eq!(response.status, status, "{what}: {}", String::from_utf8_lossy(&response.body));
        assert_eq!(response.error_code(), code, "{what}");
        let error = &response.json()["error"];
        assert_eq!(error["param"].as_str(), param, "{what}: {error}");
        assert!(response.header("wasmnn-receipt").is_none(), "{what}: no receipt for a refused call");
    }
    let embeddings = post(&node, "/v1/embeddings", &json!({"model": "embeddings", "input": "x", "dimensions": 12}));
    assert_eq!((embeddings.status, embeddings.error_code().as_str()), (400, "invalid_value"));

    // Still serving: a good chat and /healthz.
    assert_eq!(post(&node, "/v1/chat/completions", &france(json!({"max_tokens": 2}))).status, 200);
    assert_eq!(node.request("GET", "/healthz", &[], b"").status, 200);
}

#[test]
fn wasmnn_chat_keeps_the_conversation_and_its_receipts_verify() {
    let dir = tempfile::tempdir().unwrap();
    let node = openai_node(dir.path());
    let receipts = dir.path().join("receipts");
    let system = "You are a helpful assistant.";
    let args = [
        "chat",
        &node.url,
        "chat",
        "--system",
        system,
        "--temperature",
        "0",
        "--seed",
        "1",
        "--max-tokens",
        "8",
        "--receipt-dir",
        receipts.to_str().unwrap(),
    ];
    let lines = b"What is the capital of France?\nAnd of Italy?\n";
    let output = wasmnn_with(&args, Some(lines), &[]);
    assert_success(&output);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("Paris"), "{stdout}");
    assert_eq!(stderr.matches("receipt sha256:").count(), 2, "{stderr}");

    // Turn 2 sent the whole conversation: the system message, the question, reply 1, the
    // next question.
    let second: Value = serde_json::from_slice(&std::fs::read(receipts.join("2.input.json")).unwrap()).unwrap();
    let messages = second["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{second}");
    assert_eq!(messages[2]["role"], "assistant");
    let reply = messages[2]["content"].as_str().unwrap();
    assert!(!reply.is_empty() && stdout.contains(reply), "reply 1 {reply:?} is in stdout {stdout:?}");

    let receipt = receipts.join("2.json");
    let output = verify(dir.path(), &receipt, &node);
    assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("match"), "{output:?}");
}
