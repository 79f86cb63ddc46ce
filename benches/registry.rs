//! Registry throughput on loopback with the real MiniLM model blob (22 MB) and a 98 MB
//! blob (the size of the LLM issue's GGUF): publishing each to a fresh node (post the
//! signed manifest, stream the blob through the digest check to disk with fsync, post
//! again) and pulling it (the node hashes the file before sending, the client hashes what
//! it receives). For scale, the same bytes hashed once in memory:
//! sha256 is the floor of every path, since each byte is hashed at least once.

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::{PostOutcome, RegistryClient};
use wasmnn_registry::keys::SecretKey;
use wasmnn_registry::manifest::{BlobRef, SignedManifest};
use wasmnn_registry::store::{Policy, Store};
use wasmnn_runtime::node::{self, NodeConfig, NodeState};

/// A node served from a thread of this process, stopped when dropped.
struct InProcessNode {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcessNode {
    fn start(data: &Path) -> Self {
        let store = Store::open(data, Policy::default()).expect("store");
        let wasm = support::cpu_runtime(&data.join("compiled"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (address_tx, address_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
            runtime.block_on(async move {
                let listener = node::bind("127.0.0.1:0".parse().expect("address")).await.expect("bind");
                address_tx.send(listener.local_addr().expect("address")).expect("send address");
                let shutdown = async move {
                    let _ = stopped.await;
                };
                let state = NodeState::new(store, wasm, SecretKey::from_seed([6; 32]), NodeConfig::default());
                node::serve(listener, Arc::new(state), shutdown).await.expect("serve");
            });
        });
        let address = address_rx.recv().expect("the node starts");
        InProcessNode { url: format!("http://{address}"), stop: Some(stop), thread: Some(thread) }
    }

    fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.url).expect("client")
    }
}

impl Drop for InProcessNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn model_manifest(model: &[u8], key: &SecretKey) -> SignedManifest {
    let blob = BlobRef { digest: Sha256Digest::of_bytes(model), size: model.len() as u64 };
    support::test_manifest("minilm-blob", "1.0.0", blob, key).sign(key).expect("signs")
}

/// Publishes `signed` with `blob` as its one missing blob.
fn publish(client: &RegistryClient, signed: &SignedManifest, blob: &[u8]) {
    let PostOutcome::Missing(missing) = client.post_manifest(signed).expect("post") else {
        panic!("a fresh node lacks the blob");
    };
    client.put_blob(&missing[0], blob.len() as u64, blob, |_| {}).expect("upload");
    client.post_manifest(signed).expect("post again");
}

fn registry(c: &mut Criterion) {
    let minilm = std::fs::read(support::model_path("minilm")).expect("minilm");
    // The size of the SmolLM2-135M Q4_1 GGUF of the LLM issue.
    let large = support::noise(98_000_000, 0x9E37_79B9_7F4A_7C15);
    let key = SecretKey::from_seed([5; 32]);
    let mut group = c.benchmark_group("registry");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (label, blob) in [("minilm-22MB", &minilm), ("noise-98MB", &large)] {
        let signed = model_manifest(blob, &key);
        let digest = signed.manifest().component.digest;
        group.throughput(Throughput::Bytes(blob.len() as u64));
        group.bench_function(format!("sha256-in-memory/{label}"), |b| b.iter(|| Sha256Digest::of_bytes(blob)));
        group.bench_function(format!("publish/{label}"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let dir = tempfile::tempdir().expect("data dir");
                    let node = InProcessNode::start(dir.path());
                    let client = node.client();
                    let start = Instant::now();
                    publish(&client, &signed, blob);
                    total += start.elapsed();
                }
                total
            });
        });
        let dir = tempfile::tempdir().expect("data dir");
        let node = InProcessNode::start(dir.path());
        publish(&node.client(), &signed, blob);
        group.bench_function(format!("pull/{label}"), |b| {
            let client = node.client();
            b.iter(|| client.get_blob(&digest, std::io::sink(), |_| {}).expect("download"));
        });
    }
    group.finish();
}

criterion_group!(benches, registry);
criterion_main!(benches);
