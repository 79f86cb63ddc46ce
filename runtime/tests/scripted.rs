//! Handler components written in the component text format, each doing one scripted thing
//! (emit these lines, return this, fail so, spin): [`Runtime::invoke_streaming`] on them,
//! and the node's OpenAI-compatible routes, in process (a node on loopback spoken to over
//! plain HTTP/1.1).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on purpose")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmnn_registry::Sha256Digest;
use wasmnn_registry::handler::LimitDefaults;
use wasmnn_registry::keys::SecretKey;
use wasmnn_registry::manifest::{BlobRef, Manifest};
use wasmnn_registry::store::{Policy, Publish, Store};
use wasmnn_runtime::node::openai::{CHAT_INPUT, EMBEDDINGS_INPUT, unsplice_created};
use wasmnn_runtime::node::{NodeConfig, NodeState};
use wasmnn_runtime::receipt::SignedReceipt;
use wasmnn_runtime::{Backend, Function, InvokeError, Limits, ResolvedBackend, Runtime};

/// What a scripted handler does: emit `emits`, then spin forever or answer `result`.
struct Script {
    emits: &'static [&'static str],
    result: Result<&'static str, &'static str>,
    spin: bool,
}

const GUEST_ERROR: &str = r#"{"error":{"message":"messages is empty","type":"invalid_request_error","param":"messages","code":"invalid_value"}}"#;

/// The published functions: name, input content type, script.
const FUNCTIONS: &[(&str, &str, Script)] = &[
    (
        "streamer",
        CHAT_INPUT,
        Script {
            emits: &["{\"id\":\"c\",\"n\":1}\n", "{\"id\":\"c\",\"n\":2}\n"],
            result: Ok("{\"id\":\"c\",\"n\":3}\n"),
            spin: false,
        },
    ),
    (
        "plain",
        CHAT_INPUT,
        Script { emits: &[], result: Ok("{\"id\":\"p\",\"object\":\"chat.completion\"}"), spin: false },
    ),
    ("liner", CHAT_INPUT, Script { emits: &[], result: Ok("{\"id\":\"l\",\"n\":1}\n"), spin: false }),
    ("refuses", CHAT_INPUT, Script { emits: &[], result: Err(GUEST_ERROR), spin: false }),
    ("breaks", CHAT_INPUT, Script { emits: &["{\"id\":\"b\"}\n"], result: Err("plain failure"), spin: false }),
    ("spinner", CHAT_INPUT, Script { emits: &["{\"id\":\"s\"}\n"], result: Ok(""), spin: true }),
    ("embedder", EMBEDDINGS_INPUT, Script { emits: &[], result: Ok("{\"object\":\"list\",\"data\":[]}"), spin: false }),
    ("bytes", "application/octet-stream", Script { emits: &[], result: Ok("x"), spin: false }),
];

/// The node's publisher and signing key.
fn key() -> SecretKey {
    SecretKey::from_seed([7; 32])
}

/// `bytes` as a WAT string.
fn wat_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A handler component following `script`.
fn component(script: &Script) -> Vec<u8> {
    let mut data = String::new();
    let mut body = String::new();
    let mut offset = 1024;
    for chunk in script.emits {
        data.push_str(&format!("(data (i32.const {offset}) \"{}\")\n", wat_string(chunk.as_bytes())));
        body.push_str(&format!("(call $emit (i32.const {offset}) (i32.const {}))\n", chunk.len()));
        offset += chunk.len() + 8;
    }
    if script.spin {
        body.push_str("(loop $forever (br $forever))\n");
    }
    let (tag, result) = match script.result {
        Ok(bytes) => (0, bytes),
        Err(message) => (1, message),
    };
    data.push_str(&format!("(data (i32.const {offset}) \"{}\")\n", wat_string(result.as_bytes())));
    body.push_str(&format!(
        "(i32.store8 (i32.const 512) (i32.const {tag}))
         (i32.store (i32.const 516) (i32.const {offset}))
         (i32.store (i32.const 520) (i32.const {}))
         (i32.const 512)",
        result.len()
    ));
    let text = format!(
        r#"(component
  (import "emit" (func $emit (param "chunk" (list u8))))
  (core module $Memory (memory (export "memory") 1))
  (core instance $memory_instance (instantiate $Memory))
  (alias core export $memory_instance "memory" (core memory $memory))
  (core func $emit_lowered (canon lower (func $emit) (memory $memory)))
  (core module $Main
    (import "env" "memory" (memory 1))
    (import "env" "emit" (func $emit (param i32 i32)))
    (global $heap (mut i32) (i32.const 32768))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (global.get $heap))
      (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get 3)) (i32.const 7)) (i32.const -8)))
      (local.get $at))
    {data}
    (func (export "handle") (param i32 i32) (result i32)
      {body}))
  (core instance $env (export "memory" (memory $memory)) (export "emit" (func $emit_lowered)))
  (core instance $main (instantiate $Main (with "env" (instance $env))))
  (alias core export $main "handle" (core func $handle))
  (alias core export $main "realloc" (core func $realloc))
  (func (export "handle") (param "input" (list u8)) (result (result (list u8) (error string)))
    (canon lift (core func $handle) (memory $memory) (realloc $realloc))))"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("the test component does not parse: {e}\n{text}"))
}

/// Publishes `name` running `script` into `store`.
fn publish(store: &Store, name: &str, input: &str, script: &Script) {
    let bytes = component(script);
    let digest = Sha256Digest::of_bytes(&bytes);
    let manifest = Manifest {
        schema: 1,
        spec_version: wasmnn_host_gpu::SPEC_VERSION,
        name: name.to_owned(),
        version: "1.0.0".parse().unwrap(),
        description: "a scripted test function".to_owned(),
        input: input.to_owned(),
        output: "application/json".to_owned(),
        component: BlobRef { digest, size: bytes.len() as u64 },
        models: Vec::new(),
        limits: LimitDefaults { fuel: Some((1 << 53) - 1), memory_mib: Some(16), timeout_ms: Some(30_000) },
        publisher: key().public(),
    };
    let signed = manifest.sign(&key()).unwrap();
    // The first post names the missing component; the second publishes.
    assert!(matches!(store.publish(&signed).unwrap(), Publish::Missing(_)));
    store.put_blob(&digest, bytes.len() as u64, bytes.as_slice()).unwrap();
    assert!(matches!(store.publish(&signed).unwrap(), Publish::Published { created: true }));
}

/// The address of this test process's node (started on first use).
fn node() -> SocketAddr {
    static NODE: OnceLock<SocketAddr> = OnceLock::new();
    *NODE.get_or_init(|| {
        let data = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let store = Store::open(data.path(), Policy::default()).unwrap();
        for (name, input, script) in FUNCTIONS {
            publish(&store, name, input, script);
        }
        let runtime = Runtime::new(ResolvedBackend::Cpu, Backend::Cpu, None).unwrap();
        let config = NodeConfig { workers: 2, ..NodeConfig::default() };
        let state = Arc::new(NodeState::new(store, runtime, key(), config));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            tokio.block_on(async {
                let listener = wasmnn_runtime::node::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
                sender.send(listener.local_addr().unwrap()).unwrap();
                wasmnn_runtime::node::serve(listener, state, std::future::pending()).await.unwrap();
            });
        });
        receiver.recv().unwrap()
    })
}

/// The script of the function `name` of [`FUNCTIONS`].
fn script(name: &str) -> &'static Script {
    FUNCTIONS.iter().find(|(n, ..)| *n == name).map(|(_, _, script)| script).expect("a scripted function")
}

/// `script` as a function on a fresh CPU runtime.
fn function(script: &Script) -> (Runtime, Function) {
    let runtime = Runtime::new(ResolvedBackend::Cpu, Backend::Cpu, None).unwrap();
    let component = runtime.prepare(&component(script)).unwrap();
    let function = Function::new("scripted", component, HashMap::new(), LimitDefaults::default());
    (runtime, function)
}

#[test]
fn invoke_streaming_tells_the_listener_of_each_chunk_in_order() {
    let (runtime, function) = function(script("streamer"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let listener = Box::new(move |chunk: &[u8]| record.lock().unwrap().push(chunk.to_vec()));
    let limits = function.default_limits();
    let outcome = runtime.invoke_streaming(&function, b"{}", 0, &limits, None, Some(listener)).unwrap();
    assert_eq!(*seen.lock().unwrap(), outcome.emitted);
    assert_eq!(outcome.emitted, [b"{\"id\":\"c\",\"n\":1}\n".to_vec(), b"{\"id\":\"c\",\"n\":2}\n".to_vec()]);
    assert_eq!(outcome.output, b"{\"id\":\"c\",\"n\":3}\n");
    // Without a listener the outcome is the same.
    let plain = runtime.invoke(&function, b"{}", 0, &limits, None).unwrap();
    assert_eq!((plain.emitted, plain.output, plain.fuel), (outcome.emitted, outcome.output, outcome.fuel));
}

#[test]
fn the_listener_hears_a_chunk_while_the_call_runs() {
    // The spinner never returns: the listener cancels it on hearing its first chunk.
    let (runtime, function) = function(script("spinner"));
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&heard);
    let listener = Box::new(move |chunk: &[u8]| {
        record.lock().unwrap().push(chunk.to_vec());
        flag.store(true, Ordering::Relaxed);
    });
    let limits = Limits { timeout: Duration::from_secs(30), fuel: 1 << 53, ..function.default_limits() };
    let started = Instant::now();
    let result = runtime.invoke_streaming(&function, b"{}", 0, &limits, Some(cancel), Some(listener));
    assert_eq!(result, Err(InvokeError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(*heard.lock().unwrap(), [b"{\"id\":\"s\"}\n".to_vec()]);
}

/// A response: status, lower-case headers, body (chunked encoding undone).
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// Sends a request and returns the connection, positioned after the response headers.
fn send(method: &str, path: &str, body: &[u8]) -> (u16, Vec<(String, String)>, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(node()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(&[head.as_bytes(), body].concat()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    (status, headers, reader)
}

/// Reads one chunk of a chunked body (`None` at its end).
fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut size = String::new();
    reader.read_line(&mut size).unwrap();
    let size = usize::from_str_radix(size.trim(), 16).unwrap();
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).unwrap();
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

fn request(method: &str, path: &str, body: &[u8]) -> Response {
    let (status, headers, mut reader) = send(method, path, body);
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    let mut body = Vec::new();
    if chunked {
        while let Some(chunk) = read_chunk(&mut reader) {
            body.extend_from_slice(&chunk);
        }
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    Response { status, headers, body }
}

fn post(path: &str, body: &str) -> Response {
    request("POST", path, body.as_bytes())
}

/// The receipt of a non-streamed answer, checked against the request and the raw output.
fn receipt_of(response: &Response, input: &str, output: &[u8]) -> SignedReceipt {
    let receipt = SignedReceipt::from_header(response.header("wasmnn-receipt").unwrap()).unwrap();
    assert_eq!(response.header("wasmnn-receipt-id").unwrap(), receipt.id().prefixed());
    assert_eq!(receipt.receipt().input, Sha256Digest::of_bytes(input.as_bytes()));
    assert_eq!(receipt.receipt().output, Sha256Digest::of_bytes(output));
    receipt
}

/// The recorded output of receipt `id`.
fn recorded_output(id: &Sha256Digest) -> Vec<u8> {
    request("GET", &format!("/v1/receipts/{}/output", id.prefixed()), b"").body
}

/// The `data:` payloads of an event stream and the receipt event's data.
fn events(text: &str) -> (Vec<&str>, Option<serde_json::Value>) {
    assert!(text.ends_with("\n\n"), "{text:?}");
    let mut data = Vec::new();
    let mut receipt = None;
    for event in text.trim_end_matches('\n').split("\n\n") {
        if let Some(json) = event.strip_prefix("event: wasmnn-receipt\ndata: ") {
            receipt = Some(serde_json::from_str(json).unwrap());
        } else {
            data.push(event.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data event: {event:?}")));
        }
    }
    (data, receipt)
}

fn error_of(response: &Response) -> (u16, String, serde_json::Value) {
    let json = response.json();
    let error = &json["error"];
    assert!(error.get("param").is_some(), "OpenAI errors always carry param: {json}");
    assert!(error["message"].is_string() && error["type"].is_string(), "{json}");
    (response.status, error["code"].as_str().unwrap().to_owned(), error["param"].clone())
}

#[test]
fn a_whole_chat_answer_has_created_spliced_in_and_a_receipt_of_the_raw_output() {
    let input = r#"{"model":"plain","seed":42,"messages":[]}"#;
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let response = post("/v1/chat/completions", input);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let json = response.json();
    let created = json["created"].as_u64().unwrap();
    assert!(created >= before && created <= before + 60, "{json}");
    assert!(response.text().starts_with(&format!("{{\"created\":{created},\"id\":\"p\"")));
    let raw = unsplice_created(&response.body).unwrap();
    assert_eq!(raw, br#"{"id":"p","object":"chat.completion"}"#);
    let receipt = receipt_of(&response, input, &raw);
    assert_eq!(receipt.receipt().seed, 42);
    assert_eq!(recorded_output(&receipt.id()), raw);
}

#[test]
fn a_stream_sends_each_line_then_the_returned_line_done_and_the_receipt() {
    let input = r#"{"model":"streamer","stream":true}"#;
    let response = post("/v1/chat/completions", input);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    let manifest = response.header("wasmnn-manifest").unwrap().to_owned();
    let text = response.text();
    let (data, receipt) = events(&text);
    assert_eq!(data.len(), 4, "{text}");
    assert_eq!(data[3], "[DONE]");
    let created: Vec<u64> = data[..3]
        .iter()
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap()["created"].as_u64().unwrap())
        .collect();
    assert!(created.iter().all(|c| *c == created[0] && *c > 0), "{text}");
    let rebuilt: Vec<u8> =
        data[..3].iter().flat_map(|d| [unsplice_created(d.as_bytes()).unwrap().as_slice(), b"\n"].concat()).collect();
    assert_eq!(rebuilt, b"{\"id\":\"c\",\"n\":1}\n{\"id\":\"c\",\"n\":2}\n{\"id\":\"c\",\"n\":3}\n");
    let receipt_event = receipt.unwrap();
    let receipt = SignedReceipt::from_json(receipt_event["receipt"].to_string().as_bytes()).unwrap();
    assert_eq!(receipt_event["id"], receipt.id().prefixed());
    assert_eq!(receipt.receipt().manifest.prefixed(), manifest);
    assert_eq!(receipt.receipt().input, Sha256Digest::of_bytes(input.as_bytes()));
    assert_eq!(receipt.receipt().output, Sha256Digest::of_bytes(&rebuilt));
    assert_eq!(receipt.receipt().seed, 0);
    assert_eq!(recorded_output(&receipt.id()), rebuilt);
}

#[test]
fn a_stream_that_emits_nothing_answers_all_at_once() {
    let response = post("/v1/chat/completions", r#"{"model":"liner","stream":true}"#);
    assert_eq!(response.status, 200);
    assert!(response.header("wasmnn-manifest").unwrap().starts_with("sha256:"));
    let text = response.text();
    let (data, receipt) = events(&text);
    assert_eq!(data.len(), 2, "{text}");
    assert_eq!(unsplice_created(data[0].as_bytes()).unwrap(), br#"{"id":"l","n":1}"#[..]);
    assert!(receipt.is_some());
}

#[test]
fn output_that_events_cannot_rebuild_is_not_streamed() {
    // `plain` returns an object without its line end: a client could not rebuild the output
    // its receipt covers from events.
    let response = post("/v1/chat/completions", r#"{"model":"plain","stream":true}"#);
    assert_eq!(response.status, 422, "{}", response.text());
    assert_eq!(response.json()["error"]["code"], "invalid_stream_output");
}

#[test]
fn a_failure_after_the_first_chunk_ends_the_stream_with_an_error_event() {
    let response = post("/v1/chat/completions", r#"{"model":"breaks","stream":true}"#);
    assert_eq!(response.status, 200);
    let text = response.text();
    let (data, receipt) = events(&text);
    assert_eq!(data.len(), 2, "{text}");
    assert_eq!(unsplice_created(data[0].as_bytes()).unwrap(), br#"{"id":"b"}"#[..]);
    let error: serde_json::Value = serde_json::from_str(data[1]).unwrap();
    assert_eq!(error["error"]["code"], "handler_error", "{text}");
    assert_eq!(error["error"]["param"], serde_json::Value::Null);
    assert!(receipt.is_none(), "{text}");
}

#[test]
fn a_guest_openai_error_is_answered_verbatim_before_any_chunk() {
    for stream in [false, true] {
        let response = post("/v1/chat/completions", &format!(r#"{{"model":"refuses","stream":{stream}}}"#));
        assert_eq!(response.status, 400);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.text(), GUEST_ERROR);
        assert!(response.header("wasmnn-receipt").is_none());
    }
}

#[test]
fn chunks_go_out_as_they_are_emitted_and_a_disconnect_cancels_the_call() {
    let started = Instant::now();
    let (status, headers, mut reader) = send("POST", "/v1/chat/completions", br#"{"model":"spinner","stream":true}"#);
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(n, v)| n == "content-type" && v == "text/event-stream"));
    let first = read_chunk(&mut reader).unwrap();
    assert!(String::from_utf8(first).unwrap().starts_with("data: {\"created\":"));
    // The call spins for up to 30 s; its first chunk came long before that.
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = request("GET", "/metrics", b"").text();
        if metrics.contains(r#"wasmnn_calls_total{function="spinner",status="cancelled"} 1"#)
            && metrics.contains("wasmnn_calls_in_flight 0")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the call was not cancelled:\n{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_requests_and_unknown_models_get_openai_errors() {
    let cases: &[(&str, &str, u16, &str, serde_json::Value)] = &[
        ("/v1/chat/completions", "[]", 400, "invalid_json", serde_json::Value::Null),
        ("/v1/chat/completions", "{\"messages\":[]}", 400, "missing_required_parameter", "model".into()),
        ("/v1/chat/completions", r#"{"model":"plain","seed":-1}"#, 400, "invalid_value", "seed".into()),
        ("/v1/chat/completions", r#"{"model":"nope"}"#, 404, "model_not_found", "model".into()),
        ("/v1/chat/completions", r#"{"model":"Not A Name"}"#, 404, "model_not_found", "model".into()),
        ("/v1/chat/completions", r#"{"model":"bytes"}"#, 404, "model_not_found", "model".into()),
        ("/v1/chat/completions", r#"{"model":"embedder"}"#, 404, "model_not_found", "model".into()),
        ("/v1/embeddings", r#"{"model":"plain"}"#, 404, "model_not_found", "model".into()),
    ];
    for (path, body, status, code, param) in cases {
        let response = post(path, body);
        assert_eq!(error_of(&response), (*status, (*code).to_owned(), param.clone()), "{path} {body}");
    }
    // The node still answers.
    assert_eq!(post("/v1/chat/completions", r#"{"model":"plain"}"#).status, 200);
}

#[test]
fn embeddings_are_answered_as_written_with_a_receipt() {
    let input = r#"{"model":"embedder","input":"hello"}"#;
    let response = post("/v1/embeddings", input);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.body, br#"{"object":"list","data":[]}"#);
    receipt_of(&response, input, &response.body);
}

#[test]
fn models_lists_the_chat_and_embeddings_functions() {
    let list = request("GET", "/v1/models", b"").json();
    assert_eq!(list["object"], "list");
    let owner = key().public().to_string();
    let mut ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["breaks", "embedder", "liner", "plain", "refuses", "spinner", "streamer"]);
    let one = request("GET", "/v1/models/plain", b"");
    assert_eq!(one.status, 200);
    assert_eq!(one.json(), serde_json::json!({"id": "plain", "object": "model", "created": 0, "owned_by": owner}));
    for missing in ["bytes", "nope"] {
        let response = request("GET", &format!("/v1/models/{missing}"), b"");
        assert_eq!(error_of(&response), (404, "model_not_found".to_owned(), "model".into()));
    }
}

#[test]
fn invoke_still_answers_raw_output_and_plain_errors() {
    let response = post("/v1/functions/bytes/invoke", "anything");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"x");
    receipt_of(&response, "anything", b"x");
    let response = post("/v1/functions/plain/invoke", "{}");
    assert_eq!(response.body, br#"{"id":"p","object":"chat.completion"}"#);
    let response = post("/v1/functions/refuses/invoke", "{}");
    assert_eq!(response.status, 422);
    let json = response.json();
    assert_eq!(json["error"]["code"], "handler_error");
    assert!(json["error"].get("param").is_none(), "{json}");
}
