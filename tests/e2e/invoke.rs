//! Invocation over HTTP on real nodes: outputs with signed receipts, recorded inputs and
//! outputs that survive a restart, and every kind of bad call answered with a JSON error
//! and no receipt while the node keeps serving.

use std::path::Path;
use std::time::Duration;

use wasmnn_registry::Sha256Digest;
use wasmnn_runtime::receipt::SignedReceipt;

use crate::node::{Node, Response};
use crate::support::{assert_success, examples_dir, fixture, wasmnn};

/// Publishes the example handler `name` (debug build) with a fresh key; returns its digest.
pub fn publish_example(node: &Node, name: &str, key_file: &Path) -> Sha256Digest {
    if !key_file.exists() {
        assert_success(&wasmnn(&["keygen", "--out", key_file.to_str().unwrap()]));
    }
    let dir = examples_dir().join(name);
    let args = ["publish", dir.to_str().unwrap(), "--registry", &node.url, "--key", key_file.to_str().unwrap()];
    let output = wasmnn(&[&args[..], &["--debug"]].concat());
    assert_success(&output);
    Sha256Digest::parse_prefixed(String::from_utf8_lossy(&output.stdout).trim()).expect("a digest")
}

/// The receipt of a successful call, checked against the call: signature, id header,
/// input and output digests.
pub fn checked_receipt(response: &Response, input: &[u8]) -> SignedReceipt {
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let receipt = SignedReceipt::from_header(response.header("wasmnn-receipt").expect("receipt header"))
        .expect("the receipt verifies");
    assert_eq!(response.header("wasmnn-receipt-id"), Some(receipt.id().prefixed().as_str()));
    assert_eq!(receipt.receipt().input, Sha256Digest::of_bytes(input));
    assert_eq!(receipt.receipt().output, Sha256Digest::of_bytes(&response.body));
    receipt
}

fn invoke(node: &Node, query: &str, input: &[u8]) -> Response {
    node.request("POST", query, &[], input)
}

#[test]
fn calls_answer_with_a_signed_receipt_and_their_records_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let key = dir.path().join("publisher.key");
    let mut node = Node::start(&data, &["--backend", "cpu"]);
    let orientation = publish_example(&node, "orientation", &key);
    publish_example(&node, "probe", &key);

    let image = std::fs::read(fixture("orientation/image_1.png")).unwrap();
    let response = invoke(&node, "/v1/functions/orientation/invoke", &image);
    let receipt = checked_receipt(&response, &image);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(answer["angle"], 90, "{answer}");
    let health = node.client().health().unwrap();
    let stated = receipt.receipt();
    assert_eq!((stated.manifest, stated.seed, stated.backend.as_str()), (orientation, 0, "cpu"));
    assert_eq!(stated.node, health.node_key);
    assert!(stated.fuel > 0 && stated.ops > 0);
    let by_digest =
        invoke(&node, &format!("/v1/functions/orientation/invoke?digest={}", orientation.prefixed()), &image);
    assert_eq!(by_digest.body, response.body);
    let pinned = invoke(&node, "/v1/functions/orientation/invoke?version=0.1.0", &image);
    assert_eq!(checked_receipt(&pinned, &image).receipt().output, stated.output);

    let entropy = |seed: u64| invoke(&node, &format!("/v1/functions/probe/invoke?seed={seed}"), b"entropy").body;
    assert_eq!(entropy(5), entropy(5), "same seed, same bytes");
    assert_ne!(entropy(5), entropy(6), "the seed reaches the guest");

    let id = receipt.id().prefixed();
    let recorded = |node: &Node| {
        let receipt = node.request("GET", &format!("/v1/receipts/{id}"), &[], b"");
        let input = node.request("GET", &format!("/v1/receipts/{id}/input"), &[], b"");
        let output = node.request("GET", &format!("/v1/receipts/{id}/output"), &[], b"");
        (receipt.body, input.body, output.body)
    };
    let before = recorded(&node);
    assert_eq!(before, (receipt.to_json(), image.clone(), response.body.clone()));
    node.kill();
    let node = Node::start(&data, &["--backend", "cpu"]);
    assert_eq!(recorded(&node), before, "receipts, inputs and outputs survive a restart");
    assert_eq!(node.client().health().unwrap().node_key, health.node_key, "the node key is kept");
}

#[test]
fn bad_calls_get_json_errors_and_no_receipt_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let extra =
        ["--backend", "cpu", "--workers", "1", "--queue", "0", "--max-input-mib", "1", "--max-timeout-ms", "50"];
    let node = Node::start(&dir.path().join("node"), &extra);
    publish_example(&node, "probe", &dir.path().join("publisher.key"));
    let calls_before = || node.request("GET", "/healthz", &[], b"").json();
    let expect = |what: &str, response: Response, status: u16, code: &str| {
        assert_eq!((response.status, response.error_code().as_str()), (status, code), "{what}");
        assert!(response.header("wasmnn-receipt").is_none(), "{what}: no receipt");
    };
    let health = calls_before();

    expect("unknown function", invoke(&node, "/v1/functions/nope/invoke", b""), 404, "unknown_function");
    expect("unknown version", invoke(&node, "/v1/functions/probe/invoke?version=9.9.9", b""), 404, "unknown_version");
    let unknown = format!("/v1/functions/probe/invoke?digest={}", Sha256Digest::of_bytes(b"?").prefixed());
    expect("unknown digest", invoke(&node, &unknown, b""), 404, "unknown_manifest");
    expect("bad seed", invoke(&node, "/v1/functions/probe/invoke?seed=-1", b""), 400, "invalid_seed");
    expect("huge seed", invoke(&node, "/v1/functions/probe/invoke?seed=9007199254740992", b""), 400, "invalid_seed");
    expect("bad name", invoke(&node, "/v1/functions/Probe/invoke", b""), 400, "invalid_name");
    let too_big = vec![b'x'; 2 << 20];
    expect("oversized input", invoke(&node, "/v1/functions/probe/invoke", &too_big), 413, "body_too_large");
    expect("handler error", invoke(&node, "/v1/functions/probe/invoke", b"fail"), 422, "handler_error");
    expect("malformed input", invoke(&node, "/v1/functions/probe/invoke", b"no such command"), 422, "handler_error");
    expect("trap", invoke(&node, "/v1/functions/probe/invoke", b"panic"), 422, "handler_panic");
    expect("deadline", invoke(&node, "/v1/functions/probe/invoke", b"spin"), 504, "deadline_exceeded");

    // A call whose body has not arrived yet holds the only slot.
    let mut stalled = node.connect();
    let head =
        "POST /v1/functions/probe/invoke HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 7\r\n\r\necho";
    std::io::Write::write_all(&mut stalled, head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let second = invoke(&node, "/v1/functions/probe/invoke", b"echo hi");
    assert_eq!(second.header("retry-after"), Some("1"));
    expect("queue full", second, 429, "queue_full");
    std::io::Write::write_all(&mut stalled, b" ok").unwrap();
    let first = crate::node::read_response(stalled);
    checked_receipt(&first, b"echo ok");

    let calls = calls_before();
    assert_eq!(calls["calls"].as_u64(), health["calls"].as_u64().map(|n| n + 1), "only the stalled call was recorded");
    let ok = invoke(&node, "/v1/functions/probe/invoke", b"echo still here");
    checked_receipt(&ok, b"echo still here");
    assert_eq!(ok.body, b"still here");

    let metrics = node.request("GET", "/metrics", &[], b"");
    let text = String::from_utf8(metrics.body).unwrap();
    for line in [
        r#"wasmnn_calls_total{function="probe",status="ok"} 2"#,
        r#"wasmnn_calls_total{function="probe",status="handler_error"} 2"#,
        r#"wasmnn_calls_total{function="probe",status="deadline_exceeded"} 1"#,
        r#"wasmnn_calls_total{function="probe",status="queue_full"} 1"#,
        r#"wasmnn_calls_total{function="-",status="unknown_function"} 1"#,
        r#"wasmnn_call_duration_seconds_count{function="probe"} "#,
        r#"wasmnn_executor_calls_total{backend="cpu"} 2"#,
        r#"wasmnn_backend{backend="cpu"} 1"#,
        r#"wasmnn_function_cache_lookups_total{result="miss"} 1"#,
        "wasmnn_queue_depth 0",
        "wasmnn_calls_in_flight 0",
    ] {
        assert!(text.contains(line), "/metrics lacks {line:?}:\n{text}");
    }
}

#[test]
fn the_demo_serves_the_example_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::demo(&dir.path().join("demo"), false);
    let names: Vec<String> = node.client().functions().unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["chat", "complete", "echo", "embeddings", "orientation"]);
    let image = std::fs::read(fixture("orientation/image_1.png")).unwrap();
    let turned = invoke(&node, "/v1/functions/orientation/invoke", &image);
    checked_receipt(&turned, &image);
    let sentences = br#"{"input": ["The cat sat on the mat.", "A feline rested on the rug."]}"#;
    let embedded = invoke(&node, "/v1/functions/embeddings/invoke", sentences);
    checked_receipt(&embedded, sentences);
    let json: serde_json::Value = serde_json::from_slice(&embedded.body).unwrap();
    assert_eq!(json["data"].as_array().map(Vec::len), Some(2), "{json}");
    // "The capital of France is" → " Paris.\n\n", as the numpy reference continues it.
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("smollm2/reference.json")).unwrap()).unwrap();
    let case = &reference["cases"][0];
    let request = serde_json::json!({"tokens": case["tokens"], "max_tokens": 4}).to_string();
    let completed = invoke(&node, "/v1/functions/complete/invoke", request.as_bytes());
    checked_receipt(&completed, request.as_bytes());
    let json: serde_json::Value = serde_json::from_slice(&completed.body).unwrap();
    assert_eq!(json["tokens"].as_array().unwrap()[..], case["q8"]["greedy"].as_array().unwrap()[..4], "{json}");
    let echoed = invoke(&node, "/v1/functions/echo/invoke", b"hello, wasmnn");
    assert_eq!(checked_receipt(&echoed, b"hello, wasmnn").receipt().output, Sha256Digest::of_bytes(b"hello, wasmnn"));
    // The demo's OpenAI-compatible chat, as its curl line asks (but greedy and short).
    let question = r#"{"model": "chat", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is the capital of France?"}], "max_tokens": 8, "temperature": 0}"#;
    let answered = node.request("POST", "/v1/chat/completions", &[], question.as_bytes());
    assert_eq!(answered.status, 200, "{}", String::from_utf8_lossy(&answered.body));
    let content = answered.json()["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned();
    assert!(content.contains("Paris"), "{content:?}");
}

#[test]
fn sigterm_lets_calls_in_flight_finish_and_record_their_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let mut node = Node::start(&data, &["--backend", "cpu"]);
    publish_example(&node, "probe", &dir.path().join("publisher.key"));
    let mut in_flight = node.connect();
    let head =
        "POST /v1/functions/probe/invoke HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 9\r\n\r\necho";
    std::io::Write::write_all(&mut in_flight, head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stopping = std::thread::scope(|scope| {
        let stopped = scope.spawn(|| node.terminate());
        std::thread::sleep(Duration::from_millis(300));
        std::io::Write::write_all(&mut in_flight, b" done").unwrap();
        let answer = crate::node::read_response(in_flight);
        (answer, stopped.join().unwrap())
    });
    let (answer, exited_cleanly) = stopping;
    let receipt = checked_receipt(&answer, b"echo done");
    assert!(exited_cleanly, "the node exits with success after SIGTERM");
    let node = Node::start(&data, &["--backend", "cpu"]);
    let recorded = node.request("GET", &format!("/v1/receipts/{}", receipt.id().prefixed()), &[], b"");
    assert_eq!(recorded.body, receipt.to_json(), "the receipt was written before the node stopped");
}

#[test]
fn call_records_follow_the_retention_flags() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"), &["--backend", "cpu", "--retention-mib", "0"]);
    publish_example(&node, "probe", &dir.path().join("publisher.key"));
    let response = invoke(&node, "/v1/functions/probe/invoke", b"echo kept?");
    let receipt = checked_receipt(&response, b"echo kept?");
    let recorded = node.request("GET", &format!("/v1/receipts/{}", receipt.id().prefixed()), &[], b"");
    assert_eq!((recorded.status, recorded.error_code().as_str()), (404, "unknown_receipt"), "nothing is retained");
}
