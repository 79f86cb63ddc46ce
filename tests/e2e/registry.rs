//! The registry end to end: real `wasmnn serve` nodes on loopback with real redb files,
//! the real CLI publishing the example handlers with their real models, and hostile or
//! interrupted requests that must change nothing.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::{PostOutcome, RegistryClient};
use wasmnn_registry::keys::SecretKey;
use wasmnn_registry::manifest::{BlobRef, SignedManifest, YankStatement};
use wasmnn_registry::store::{Policy, Store};

use crate::node::{Node, read_log, stored_files};
use crate::support::{assert_success, examples_dir, noise, test_manifest, wasmnn};

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn blob_ref(bytes: &[u8]) -> BlobRef {
    BlobRef { digest: Sha256Digest::of_bytes(bytes), size: bytes.len() as u64 }
}

fn signed(name: &str, version: &str, component: &[u8], key: &SecretKey) -> SignedManifest {
    test_manifest(name, version, blob_ref(component), key).sign(key).expect("signs")
}

/// Publishes through the client the way `wasmnn publish` does.
fn publish(client: &RegistryClient, signed: &SignedManifest, component: &[u8]) {
    if let PostOutcome::Missing(missing) = client.post_manifest(signed).expect("post") {
        assert_eq!(missing, vec![Sha256Digest::of_bytes(component)]);
        let digest = Sha256Digest::of_bytes(component);
        client.put_blob(&digest, component.len() as u64, component, |_| {}).expect("upload");
        let outcome = client.post_manifest(signed).expect("post again");
        assert_eq!(outcome, PostOutcome::Published { created: true, digest: signed.digest() });
    }
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn example_handlers_publish_to_one_node_and_pull_byte_identical_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("publisher.key");
    assert_success(&wasmnn(&["keygen", "--out", key_file.to_str().unwrap()]));
    let a = Node::start(&dir.path().join("a"), &[]);
    let b = Node::start(&dir.path().join("b"), &[]);
    let offline = dir.path().join("offline");

    for name in ["orientation", "embeddings"] {
        let crate_dir = examples_dir().join(name);
        let publish = [
            "publish",
            crate_dir.to_str().unwrap(),
            "--registry",
            &a.url,
            "--key",
            key_file.to_str().unwrap(),
            "--debug",
        ];
        let first = wasmnn(&publish);
        assert_success(&first);
        let digest = Sha256Digest::parse_prefixed(&stdout_of(&first)).expect("publish prints the digest");

        let again = wasmnn(&publish);
        assert_success(&again);
        assert_eq!(stdout_of(&again), digest.prefixed());
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(stderr.contains("nothing uploaded"), "publishing again uploads nothing: {stderr}");

        for target in [["--to", b.url.as_str()], ["--data", offline.to_str().unwrap()]] {
            let pulled = wasmnn(&["pull", name, "--from", &a.url, target[0], target[1]]);
            assert_success(&pulled);
            assert_eq!(stdout_of(&pulled), digest.prefixed(), "pulled by digest");
        }
        let again = wasmnn(&["pull", name, "--from", &a.url, "--to", &b.url]);
        assert_success(&again);
        assert!(String::from_utf8_lossy(&again.stderr).contains("nothing"), "pulling again moves nothing");

        let manifest_path = format!("/v1/manifests/{}", digest.prefixed());
        let from_a = a.request("GET", &manifest_path, &[], b"");
        let from_b = b.request("GET", &manifest_path, &[], b"");
        assert_eq!((from_a.status, &from_a.body), (200, &from_b.body), "identical signed manifests");
        let signed = SignedManifest::from_json(&from_b.body).expect("B serves a verifying manifest");
        assert_eq!(signed.digest(), digest);
        assert_eq!(b.client().resolve(name, None).unwrap().0, digest);
        for blob in signed.manifest().blobs() {
            let (mut bytes_a, mut bytes_b) = (Vec::new(), Vec::new());
            a.client().get_blob(&blob.digest, &mut bytes_a, |_| {}).unwrap();
            b.client().get_blob(&blob.digest, &mut bytes_b, |_| {}).unwrap();
            assert!(bytes_a == bytes_b && bytes_a.len() as u64 == blob.size, "blob {:?} identical", blob.digest);
        }
    }
    let (health_a, health_b) = (a.client().health().unwrap(), b.client().health().unwrap());
    assert_eq!((health_a.functions, health_a.blobs), (2, 4), "two components and two models");
    assert_eq!((health_b.functions, health_b.blobs), (health_a.functions, health_a.blobs));
    let listing = wasmnn(&["functions", &b.url]);
    assert_success(&listing);
    let listing = stdout_of(&listing);
    assert!(listing.contains("orientation") && listing.contains("embeddings"), "{listing}");
    drop((a, b));
    let store = Store::open(&offline, Policy::default()).unwrap();
    assert_eq!(store.functions().unwrap().len(), 2, "pulled into a data dir too");
}

/// What the node's index and files hold, through the API and the data dir.
fn snapshot(node: &Node) -> (serde_json::Value, serde_json::Value, Vec<String>) {
    let functions = node.request("GET", "/v1/functions", &[], b"").json();
    let health = node.request("GET", "/healthz", &[], b"").json();
    (functions, health, stored_files(&node.data))
}

#[test]
fn hostile_and_malformed_requests_are_refused_precisely_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let allow = [alice.public().to_string(), bob.public().to_string()];
    let node = Node::start(
        &dir.path().join("node"),
        &["--allow-publisher", &allow[0], "--allow-publisher", &allow[1], "--quota-mib", "1", "--max-blob-mib", "2"],
    );
    let client = node.client();
    publish(&client, &signed("echo", "0.1.0", b"echo component", &alice), b"echo component");
    let pending_component = noise(100_000, 7);
    let pending = signed("echo", "0.2.0", &pending_component, &alice);
    let outcome = client.post_manifest(&pending).unwrap();
    assert_eq!(outcome, PostOutcome::Missing(vec![Sha256Digest::of_bytes(&pending_component)]));
    let before = snapshot(&node);

    let expect = |what: &str, response: crate::node::Response, status: u16, code: &str| {
        assert_eq!((response.status, response.error_code().as_str()), (status, code), "{what}");
    };
    let blob_path = format!("/v1/blobs/{}", Sha256Digest::of_bytes(&pending_component).prefixed());
    for flip_at in [0, pending_component.len() / 2, pending_component.len() - 1] {
        let mut wrong = pending_component.clone();
        wrong[flip_at] ^= 1;
        expect("wrong bytes", node.request("PUT", &blob_path, &[], &wrong), 400, "digest_mismatch");
    }
    let short = &pending_component[..1000];
    let too_long = [pending_component.as_slice(), b"x"].concat();
    expect("short body", node.request("PUT", &blob_path, &[], short), 403, "blob_not_expected");
    expect("long body", node.request("PUT", &blob_path, &[], &too_long), 403, "blob_not_expected");
    let chunked = [("Transfer-Encoding", "chunked")];
    let response = node.request("PUT", &blob_path, &chunked, b"5\r\nhello\r\n0\r\n\r\n");
    expect("chunked upload", response, 411, "length_required");
    let undeclared = b"nobody declared me";
    let path = format!("/v1/blobs/{}", Sha256Digest::of_bytes(undeclared).prefixed());
    expect("undeclared blob", node.request("PUT", &path, &[], undeclared), 403, "blob_not_expected");

    // A body that breaks off mid-stream.
    let mut stream = node.connect();
    let head = format!("PUT {blob_path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", pending_component.len());
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&pending_component[..50_000]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let cut = crate::node::read_response(stream);
    expect("cut-off upload", cut, 400, "upload_interrupted");

    let json = String::from_utf8(pending.to_json()).unwrap();
    let forged = json.replace("a test function", "a forged function");
    expect("tampered manifest", node.request("POST", "/v1/manifests", &[], forged.as_bytes()), 401, "bad_signature");
    let other = signed("echo", "0.3.0", b"other", &alice);
    let other_signature = serde_json::to_value(other.signature()).unwrap();
    let mut swapped: serde_json::Value = serde_json::from_str(&json).unwrap();
    swapped["signature"] = other_signature;
    let swapped = serde_json::to_vec(&swapped).unwrap();
    expect("another manifest's signature", node.request("POST", "/v1/manifests", &[], &swapped), 401, "bad_signature");
    let mut unsigned: serde_json::Value = serde_json::from_str(&json).unwrap();
    unsigned.as_object_mut().unwrap().remove("signature");
    let unsigned = serde_json::to_vec(&unsigned).unwrap();
    expect("no signature", node.request("POST", "/v1/manifests", &[], &unsigned), 400, "invalid_json");
    let by_bob = signed("echo", "9.0.0", b"bob's echo", &bob).to_json();
    expect("second key, existing name", node.request("POST", "/v1/manifests", &[], &by_bob), 403, "name_taken");
    let changed = signed("echo", "0.1.0", b"echo component, changed", &alice).to_json();
    expect("existing version", node.request("POST", "/v1/manifests", &[], &changed), 409, "version_exists");
    let by_carol = signed("carol", "1.0.0", b"carol's", &carol).to_json();
    expect("not on the allow-list", node.request("POST", "/v1/manifests", &[], &by_carol), 403, "not_allowed");
    let big = test_manifest("big", "1.0.0", BlobRef { digest: Sha256Digest::of_bytes(b"big"), size: 3 << 20 }, &alice);
    let big = big.sign(&alice).unwrap().to_json();
    expect("blob over the limit", node.request("POST", "/v1/manifests", &[], &big), 413, "blob_too_large");
    let heavy =
        test_manifest("heavy", "1.0.0", BlobRef { digest: Sha256Digest::of_bytes(b"h"), size: 1_500_000 }, &alice);
    let heavy = heavy.sign(&alice).unwrap().to_json();
    expect("over quota", node.request("POST", "/v1/manifests", &[], &heavy), 403, "quota_exceeded");
    let huge = vec![b' '; 2 << 20];
    expect("oversized body", node.request("POST", "/v1/manifests", &[], &huge), 413, "body_too_large");
    for junk in [&b"{not json"[..], b"[]", b"", b"\xff\xfe"] {
        expect("malformed JSON", node.request("POST", "/v1/manifests", &[], junk), 400, "invalid_json");
    }
    let mut bad_name = test_manifest("echo", "1.0.0", blob_ref(b"x"), &alice);
    for name in ["Echo", "../echo", "echo/../../x", "", "-echo"] {
        bad_name.name = name.to_owned();
        let body = serde_json::json!({"manifest": bad_name, "signature": pending.signature()});
        let body = serde_json::to_vec(&body).unwrap();
        expect("bad function name", node.request("POST", "/v1/manifests", &[], &body), 400, "invalid_manifest");
    }
    for (path, code) in [
        ("/v1/functions/Echo", "invalid_name"),
        ("/v1/functions/..%2F..%2Fetc%2Fpasswd", "invalid_name"),
        ("/v1/blobs/sha256:..%2F..%2Findex.redb", "invalid_digest"),
        ("/v1/blobs/..%2Findex.redb", "invalid_digest"),
        ("/v1/manifests/sha256:..%2F..%2F..%2Fetc%2Fpasswd", "invalid_digest"),
        ("/v1/manifests/sha256:%00", "invalid_digest"),
    ] {
        expect(path, node.request("GET", path, &[], b""), 400, code);
    }
    let traversal = "/v1/blobs/sha256:..%2F..%2Findex.redb";
    expect("PUT traversal", node.request("PUT", traversal, &[], b"overwrite the index"), 400, "invalid_digest");
    expect("unknown path", node.request("GET", "/v1/nothing", &[], b""), 404, "not_found");
    expect("wrong method", node.request("DELETE", "/v1/functions", &[], b""), 405, "method_not_allowed");
    expect("unknown function", node.request("GET", "/v1/functions/nope", &[], b""), 404, "unknown_function");
    let unknown = format!("/v1/manifests/{}", Sha256Digest::of_bytes(b"?").prefixed());
    expect("unknown manifest", node.request("GET", &unknown, &[], b""), 404, "unknown_manifest");

    assert_eq!(snapshot(&node), before, "nothing changed");
    assert!(!read_log(&node.data).contains("panicked"), "no panics");
    let mut echo = Vec::new();
    client.get_blob(&Sha256Digest::of_bytes(b"echo component"), &mut echo, |_| {}).unwrap();
    assert_eq!(echo, b"echo component", "still serving");
    client
        .put_blob(&Sha256Digest::of_bytes(&pending_component), 100_000, pending_component.as_slice(), |_| {})
        .unwrap();
    assert!(matches!(client.post_manifest(&pending).unwrap(), PostOutcome::Published { created: true, .. }));
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Waits until the node has at least `bytes` of an unfinished upload under `tmp/`.
fn wait_for_partial_upload(data: &Path, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let partial: u64 = std::fs::read_dir(data.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .max()
            .unwrap_or(0);
        if partial >= bytes {
            return;
        }
        assert!(Instant::now() < deadline, "the upload never reached {bytes} bytes on disk");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_node_killed_mid_publish_recovers_and_everything_persists() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let alice = key(1);
    let model = noise(48 << 20, 42);
    let model_digest = Sha256Digest::of_bytes(&model);
    let v1 = signed("big", "1.0.0", b"small component", &alice);
    let v2 = signed("big", "2.0.0", &model, &alice);

    let mut node = Node::start(&data, &[]);
    publish(&node.client(), &v1, b"small component");
    let statement =
        YankStatement { name: "big".into(), version: "1.0.0".parse().unwrap(), yanked: true, timestamp: unix_now() };
    node.client().post_yank(&statement.sign(&alice).unwrap()).unwrap();
    assert!(matches!(node.client().post_manifest(&v2).unwrap(), PostOutcome::Missing(_)));
    let mut stream = node.connect();
    let head = format!(
        "PUT /v1/blobs/{} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        model_digest.prefixed(),
        model.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&model[..24 << 20]).unwrap();
    wait_for_partial_upload(&data, 16 << 20);
    node.kill();
    drop(stream);

    let node = Node::start(&data, &[]);
    let files = stored_files(&data);
    assert_eq!(files, vec![format!("blobs/sha256/{}", Sha256Digest::of_bytes(b"small component").to_hex())]);
    assert_eq!(node.client().blob_size(&model_digest).unwrap(), None, "no partial blob visible");
    let health = node.client().health().unwrap();
    assert_eq!((health.functions, health.blobs, health.quarantined), (1, 1, 0));
    let resolved = node.request("GET", "/v1/functions/big", &[], b"");
    assert_eq!((resolved.status, resolved.error_code().as_str()), (404, "unknown_version"), "v1 is still yanked");

    publish(&node.client(), &v2, &model);
    let mut back = Vec::with_capacity(model.len());
    node.client().get_blob(&model_digest, &mut back, |_| {}).unwrap();
    assert!(back == model, "the retried publish stored the whole blob");
    let mut node = node;
    node.kill();

    let node = Node::start(&data, &[]);
    let client = node.client();
    assert_eq!(client.resolve("big", None).unwrap(), (v2.digest(), v2.clone()));
    assert_eq!(client.manifest(&v1.digest()).unwrap(), v1, "yanked manifests stay fetchable");
    let detail = client.function("big", None).unwrap();
    let yanked: Vec<bool> = detail.function.versions.iter().map(|v| v.yanked).collect();
    assert_eq!(yanked, vec![true, false]);
    let mut back = Vec::new();
    client.get_blob(&model_digest, &mut back, |_| {}).unwrap();
    assert!(back == model);
    assert_eq!(client.post_manifest(&v2).unwrap(), PostOutcome::Published { created: false, digest: v2.digest() });
}

#[test]
fn yank_and_gc_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let alice = key(1);
    let key_file = dir.path().join("alice.key");
    alice.write_new(&key_file, false).unwrap();
    let key_arg = key_file.to_str().unwrap();
    let mut node = Node::start(&data, &[]);
    let client = node.client();
    let (v1, v2) = (signed("echo", "0.1.0", b"one", &alice), signed("echo", "0.2.0", b"two", &alice));
    publish(&client, &v1, b"one");
    publish(&client, &v2, b"two");

    assert_success(&wasmnn(&["yank", "echo@0.2.0", "--registry", &node.url, "--key", key_arg]));
    assert_eq!(client.resolve("echo", None).unwrap().0, v1.digest());
    let listing = wasmnn(&["functions", &node.url]);
    assert!(stdout_of(&listing).contains("yanked"), "{}", stdout_of(&listing));
    assert_success(&wasmnn(&["yank", "echo@0.2.0", "--registry", &node.url, "--key", key_arg, "--undo"]));
    assert_eq!(client.resolve("echo", None).unwrap().0, v2.digest());
    let stranger = dir.path().join("stranger.key");
    key(9).write_new(&stranger, false).unwrap();
    let refused = wasmnn(&["yank", "echo@0.2.0", "--registry", &node.url, "--key", stranger.to_str().unwrap()]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("not_owner"));

    let abandoned = noise(1000, 3);
    assert!(matches!(
        client.post_manifest(&signed("echo", "0.3.0", &abandoned, &alice)).unwrap(),
        PostOutcome::Missing(_)
    ));
    client.put_blob(&Sha256Digest::of_bytes(&abandoned), 1000, abandoned.as_slice(), |_| {}).unwrap();
    let data_arg = data.to_str().unwrap();
    let busy = wasmnn(&["gc", "--data", data_arg]);
    assert!(
        !busy.status.success() && String::from_utf8_lossy(&busy.stderr).contains("in use"),
        "the node holds the index"
    );
    node.kill();
    let kept = wasmnn(&["gc", "--data", data_arg]);
    assert_success(&kept);
    assert_eq!(stdout_of(&kept), "", "a fresh pending manifest keeps its blob");
    let dry = wasmnn(&["gc", "--data", data_arg, "--pending-ttl-secs", "0", "--dry-run"]);
    assert_success(&dry);
    let blob_line = format!("blob {}", Sha256Digest::of_bytes(&abandoned).prefixed());
    assert!(stdout_of(&dry).contains(&blob_line), "{}", stdout_of(&dry));
    assert_eq!(stored_files(&data).len(), 3, "a dry run removes nothing");
    assert_success(&wasmnn(&["gc", "--data", data_arg, "--pending-ttl-secs", "0"]));
    assert_eq!(stored_files(&data).len(), 2, "only the published blobs are left");
    let node = Node::start(&data, &[]);
    assert_eq!(node.client().resolve("echo", None).unwrap().0, v2.digest());
}
