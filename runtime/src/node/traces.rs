//! Op traces over HTTP (docs/HTTP.md "Traces and disputes", docs/TRACES.md): a node
//! commits to the trace of a call a receipt states (`POST /v1/traces`, a traced re-run on a
//! worker), then answers a challenger's bisection queries about it from an in-memory
//! session and hands over the tensors of chosen leaves (a second re-run that captures them).
//!
//! Sessions are kept in memory, at most [`MAX_SESSIONS`] (the least recently used is
//! dropped first), each for at most [`SESSION_TTL`].
//!
//! A test build (`fault-injection`) also serves `PUT /v1/debug/fault`: a node that perturbs
//! one op, lies about its tree or withholds its answers ([`Fault`]).

use std::collections::{BTreeSet, VecDeque};
use std::io::Read as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use wasmnn_host_gpu::trace::{MerkleTree, tensor_digest};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::store::{CallBytes, CallData};

use super::calls::{self, CancelOnDrop, unix_seconds};
use super::error::ApiError;
use super::{NodeState, read_body};
use crate::Outcome;
use crate::dispute::bisect::LeafOpening;
use crate::dispute::wire::{
    ChildrenResponse, CommitRequest, CommitResponse, LeafResponse, MAX_LEAVES_PER_REQUEST, TensorsRequest,
    TensorsResponse, WireTensor,
};
use crate::signed::Signed;
use crate::trace::commit::{SignedCommitment, TraceCommitment};
#[cfg(feature = "fault-injection")]
use crate::trace::fault::{Fault, Withheld};
use crate::trace::{Trace, TraceRequest};

/// The most trace sessions kept.
pub(super) const MAX_SESSIONS: usize = 8;
/// How long a trace session is kept.
pub(super) const SESSION_TTL: Duration = Duration::from_secs(15 * 60);
/// The largest `POST /v1/traces/{trace}/tensors` body (4096 leaf numbers).
const MAX_TENSORS_REQUEST_BYTES: usize = 128 << 10;
/// How long a withholding test node leaves a request unanswered.
#[cfg(feature = "fault-injection")]
const WITHHOLD_FOR: Duration = Duration::from_secs(3600);

/// The trace routes (and, in a test build, `PUT /v1/debug/fault`).
pub(super) fn routes() -> Router<Arc<NodeState>> {
    let routes = Router::new()
        .route("/v1/traces", post(commit))
        .route("/v1/traces/{trace}", get(get_commitment))
        .route("/v1/traces/{trace}/nodes/{depth}/{index}", get(children))
        .route("/v1/traces/{trace}/leaves/{index}", get(leaf))
        .route("/v1/traces/{trace}/tensors", post(tensors));
    #[cfg(feature = "fault-injection")]
    let routes = routes.route("/v1/debug/fault", axum::routing::put(set_fault));
    routes
}

/// One committed trace: what the node answers bisection queries from, and what it needs to
/// re-run the call for tensors.
#[derive(Debug)]
pub(super) struct Session {
    /// The trace id, `sha256:<commitment id>`.
    id: String,
    /// The signed commitment.
    commitment: SignedCommitment,
    /// The leaf openings, in leaf order.
    leaves: Vec<LeafOpening>,
    /// Their Merkle tree.
    tree: MerkleTree,
    /// The function's manifest digest (its loaded form is in the node's function cache).
    manifest: Sha256Digest,
    /// The call's input.
    input: Bytes,
    /// The call's seed.
    seed: u64,
    /// When the session was made.
    created: Instant,
}

impl Session {
    /// The children of `(depth, index)` in the session's tree.
    fn children(&self, depth: &str, index: &str) -> Result<ChildrenResponse, ApiError> {
        let tree_depth = self.tree.depth();
        let position = depth.parse::<u32>().ok().zip(index.parse::<u64>().ok());
        let (left, right) = position.and_then(|(d, i)| self.tree.children(d, i)).ok_or_else(|| {
            out_of_range(format!(
                "no inner node at depth {depth}, index {index}: the tree has depth {tree_depth}, and level d has 2^d nodes"
            ))
        })?;
        Ok(ChildrenResponse { left, right })
    }

    /// The opening and proof of leaf `index`.
    fn leaf(&self, index: &str) -> Result<LeafResponse, ApiError> {
        let n = self.leaves.len();
        let (index, opening) = index
            .parse::<u64>()
            .ok()
            .and_then(|i| Some((i, self.leaves.get(usize::try_from(i).ok()?)?)))
            .ok_or_else(|| out_of_range(format!("no leaf {index}: the trace has {n} leaves")))?;
        Ok(LeafResponse { index, opening: opening.clone(), proof: self.tree.proof(index) })
    }

    /// Checks the leaves a tensors request asks for: at most [`MAX_LEAVES_PER_REQUEST`], each
    /// in the trace and not the end leaf.
    fn check_tensor_leaves(&self, leaves: &[u64]) -> Result<(), ApiError> {
        if leaves.len() > MAX_LEAVES_PER_REQUEST {
            return Err(ApiError::bad_request(
                "too_many_leaves",
                format!("{} leaves asked for; at most {MAX_LEAVES_PER_REQUEST} per request", leaves.len()),
            ));
        }
        let n = self.leaves.len() as u64;
        for &leaf in leaves {
            if leaf >= n {
                return Err(out_of_range(format!("no leaf {leaf}: the trace has {n} leaves")));
            }
            if leaf + 1 == n {
                return Err(ApiError::bad_request(
                    "not_a_tensor",
                    format!("leaf {leaf} is the end leaf, which binds the result and has no tensor"),
                ));
            }
        }
        Ok(())
    }
}

/// The trace sessions of a node: the most recently used last.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    held: Mutex<VecDeque<Arc<Session>>>,
}

impl Sessions {
    /// Keeps `session`, dropping expired ones and the least recently used beyond
    /// [`MAX_SESSIONS`].
    fn insert(&self, session: Session, now: Instant) -> Arc<Session> {
        let session = Arc::new(session);
        let mut held = self.lock();
        prune(&mut held, now);
        held.retain(|s| s.id != session.id);
        held.push_back(Arc::clone(&session));
        while held.len() > MAX_SESSIONS {
            held.pop_front();
        }
        session
    }

    /// The session of trace `id`, now the most recently used.
    fn get(&self, id: &str, now: Instant) -> Option<Arc<Session>> {
        let mut held = self.lock();
        prune(&mut held, now);
        let at = held.iter().position(|s| s.id == id)?;
        let session = held.remove(at)?;
        held.push_back(Arc::clone(&session));
        Some(session)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Session>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops the sessions older than [`SESSION_TTL`].
fn prune(held: &mut VecDeque<Arc<Session>>, now: Instant) {
    held.retain(|s| now.saturating_duration_since(s.created) < SESSION_TTL);
}

/// The session of `trace`, or `404 unknown_trace`.
fn session(node: &NodeState, trace: &str) -> Result<Arc<Session>, ApiError> {
    node.traces.get(trace, Instant::now()).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_trace",
            format!("no trace {trace:?} here (sessions last {} minutes; commit again)", SESSION_TTL.as_secs() / 60),
        )
    })
}

/// `POST /v1/traces`: re-runs the call a receipt states, traced, and commits to its trace.
pub(super) async fn commit(State(node): State<Arc<NodeState>>, body: Body) -> Result<Response, ApiError> {
    #[cfg(feature = "fault-injection")]
    withhold(&node, Withheld::Commit).await;
    // The input travels as base64 next to a receipt of about a kilobyte.
    let limit = node.config.max_input_bytes.div_ceil(3) * 4 + (64 << 10);
    let bytes = read_body(body, limit).await?;
    let request: CommitRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("not a trace request: {e}")))?;
    let signed = request.signed_receipt().map_err(|e| ApiError::bad_request("invalid_receipt", e))?;
    let receipt = signed.receipt().clone();
    if receipt.spec_version != wasmnn_host_gpu::SPEC_VERSION {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "spec_mismatch",
            format!(
                "the receipt is for numerics spec {}, this node implements {}",
                receipt.spec_version,
                wasmnn_host_gpu::SPEC_VERSION
            ),
        ));
    }
    let input = match request.input_bytes().map_err(|e| ApiError::bad_request("invalid_input", e))? {
        Some(input) => {
            if Sha256Digest::of_bytes(&input) != receipt.input {
                return Err(ApiError::bad_request(
                    "input_mismatch",
                    format!("the input's sha256 is not the receipt's input {}", receipt.input.prefixed()),
                ));
            }
            input
        }
        None if receipt.node != node.key.public() => {
            return Err(ApiError::bad_request(
                "input_required",
                "the receipt is another node's: send the call's input (base64) with it",
            ));
        }
        None => retained_input(&node, signed.id(), receipt.input).await?,
    };
    let input = Bytes::from(input);
    let receipt_id = signed.id();
    let session_input = input.clone();
    let session = run_traced(&node, receipt.manifest, input, receipt.seed, BTreeSet::new(), move |node, outcome, trace| {
        if Sha256Digest::of_bytes(&outcome.full_output()) != receipt.output {
            tracing::warn!(receipt = %receipt_id.prefixed(), "the traced re-run's output differs from the receipt's");
        }
        let tree = trace.tree();
        let stated = TraceCommitment::new(&receipt, receipt_id, &tree, node.key.public(), unix_seconds());
        let commitment = Signed::sign(stated, &node.key).map_err(ApiError::internal)?;
        Ok(Session {
            id: commitment.id().prefixed(),
            commitment,
            leaves: trace.leaves,
            tree,
            manifest: receipt.manifest,
            input: session_input,
            seed: receipt.seed,
            created: Instant::now(),
        })
    })
    .await?;
    let session = node.traces.insert(session, Instant::now());
    tracing::info!(
        trace = %session.id, receipt = %receipt_id.prefixed(), leaves = session.leaves.len(), "trace committed"
    );
    let answer = CommitResponse { trace: session.id.clone(), commitment: session.commitment.clone() };
    Ok(Json(answer).into_response())
}

/// `GET /v1/traces/{trace}`: the signed commitment.
pub(super) async fn get_commitment(
    State(node): State<Arc<NodeState>>,
    Path(trace): Path<String>,
) -> Result<Response, ApiError> {
    let session = session(&node, &trace)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], session.commitment.to_json()).into_response())
}

/// `GET /v1/traces/{trace}/nodes/{depth}/{index}`: the children of a node of the tree.
pub(super) async fn children(
    State(node): State<Arc<NodeState>>,
    Path((trace, depth, index)): Path<(String, String, String)>,
) -> Result<Json<ChildrenResponse>, ApiError> {
    #[cfg(feature = "fault-injection")]
    withhold(&node, Withheld::Nodes).await;
    let session = session(&node, &trace)?;
    #[cfg_attr(not(feature = "fault-injection"), expect(unused_mut, reason = "a test build lies"))]
    let mut answer = session.children(&depth, &index)?;
    #[cfg(feature = "fault-injection")]
    if let Some(Fault::Lie { depth: lie }) = node.fault()
        && depth.parse() == Ok(lie)
    {
        answer.right[0] ^= 1;
    }
    Ok(Json(answer))
}

/// `GET /v1/traces/{trace}/leaves/{index}`: a leaf's opening and inclusion proof.
pub(super) async fn leaf(
    State(node): State<Arc<NodeState>>,
    Path((trace, index)): Path<(String, String)>,
) -> Result<Json<LeafResponse>, ApiError> {
    #[cfg(feature = "fault-injection")]
    withhold(&node, Withheld::Nodes).await;
    Ok(Json(session(&node, &trace)?.leaf(&index)?))
}

/// `POST /v1/traces/{trace}/tensors`: the tensors of some leaves, from a traced re-run that
/// captures them (each checked against the committed leaf), with openings and proofs.
pub(super) async fn tensors(
    State(node): State<Arc<NodeState>>,
    Path(trace): Path<String>,
    body: Body,
) -> Result<Json<TensorsResponse>, ApiError> {
    #[cfg(feature = "fault-injection")]
    withhold(&node, Withheld::Tensors).await;
    let session = session(&node, &trace)?;
    let bytes = read_body(body, MAX_TENSORS_REQUEST_BYTES).await?;
    let request: TensorsRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("not a tensors request: {e}")))?;
    session.check_tensor_leaves(&request.leaves)?;
    let capture: BTreeSet<u64> = request.leaves.iter().copied().collect();
    let (manifest, input, seed) = (session.manifest, session.input.clone(), session.seed);
    let answer = run_traced(&node, manifest, input, seed, capture, move |_, _, trace| {
        if trace.leaves != session.leaves {
            return Err(nondeterministic(format!("the re-run's trace differs from trace {}", session.id)));
        }
        let mut tensors = Vec::with_capacity(request.leaves.len());
        for &leaf in &request.leaves {
            let tensor = trace
                .captured
                .get(&leaf)
                .ok_or_else(|| nondeterministic(format!("the re-run did not capture leaf {leaf}")))?;
            let opening = usize::try_from(leaf)
                .ok()
                .and_then(|i| session.leaves.get(i))
                .ok_or_else(|| out_of_range(format!("no leaf {leaf}")))?;
            if tensor_digest(tensor) != opening.tensor {
                return Err(nondeterministic(format!(
                    "leaf {leaf}'s re-run tensor does not have its committed digest"
                )));
            }
            tensors.push(WireTensor::from_tensor(leaf, opening.clone(), session.tree.proof(leaf), tensor));
        }
        Ok(TensorsResponse { tensors })
    })
    .await?;
    Ok(Json(answer))
}

/// The input this node retained for its call `id`, checked against `digest`.
async fn retained_input(node: &Arc<NodeState>, id: Sha256Digest, digest: Sha256Digest) -> Result<Vec<u8>, ApiError> {
    let reader = Arc::clone(node);
    let input = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        match reader.store.call_data(&id, CallData::Input)? {
            CallBytes::Inline(bytes) => Ok(bytes),
            CallBytes::File(mut file, size) => {
                let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                file.read_to_end(&mut bytes).map_err(ApiError::internal)?;
                Ok(bytes)
            }
        }
    })
    .await
    .map_err(ApiError::internal)??;
    if Sha256Digest::of_bytes(&input) != digest {
        return Err(ApiError::internal(format!("the retained input of {} is not the receipt's", id.prefixed())));
    }
    Ok(input)
}

/// Admits a traced run (`429` when busy), waits for a worker, and runs the function of
/// `manifest` on `input` with `seed`, traced and capturing `capture`, on a blocking thread;
/// `then` turns the outcome into the answer there. Dropping the future cancels the run.
async fn run_traced<T, F>(
    node: &Arc<NodeState>,
    manifest: Sha256Digest,
    input: Bytes,
    seed: u64,
    capture: BTreeSet<u64>,
    then: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&NodeState, Outcome, Trace) -> Result<T, ApiError> + Send + 'static,
{
    let admitted = calls::admit(node)?;
    let worker = Arc::clone(&node.workers).acquire_owned().await.map_err(ApiError::internal)?;
    let cancel = CancelOnDrop::default();
    let flag = Arc::clone(&cancel.0);
    let runner = Arc::clone(node);
    let span = tracing::Span::current();
    let task = tokio::task::spawn_blocking(move || {
        let _slots = (admitted, worker);
        let _entered = span.enter();
        let (loaded, _) = runner.functions.get_or_load(&manifest, &runner.store, &runner.runtime).map_err(|e| {
            if e.code() == "unknown_manifest" {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_function",
                    format!("this node does not have the function {}", manifest.prefixed()),
                )
            } else {
                e
            }
        })?;
        let function = &loaded.function;
        let limits = runner.config.cap(function.default_limits());
        let purpose = if capture.is_empty() { "commit" } else { "capture" };
        let started = std::time::Instant::now();
        let (outcome, trace) = runner
            .runtime
            .invoke_traced(function, &input, seed, &limits, Some(flag), TraceRequest { capture })
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
        runner.metrics.trace_run(purpose, started.elapsed());
        then(&runner, outcome, trace)
    });
    let result = task.await.map_err(ApiError::internal)?;
    drop(cancel);
    result
}

/// `400 out_of_range`.
fn out_of_range(message: String) -> ApiError {
    ApiError::bad_request("out_of_range", message)
}

/// `500 nondeterministic`: a re-run does not reproduce the committed trace.
fn nondeterministic(message: String) -> ApiError {
    tracing::error!(%message, "a traced re-run differs from its commitment");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "nondeterministic", message)
}

#[cfg(feature = "fault-injection")]
impl NodeState {
    /// The protocol fault this test node shows (a lie or withheld answers).
    fn fault(&self) -> Option<Fault> {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Leaves a request unanswered for [`WITHHOLD_FOR`] while the node withholds `stage`
/// (clearing the fault answers it).
#[cfg(feature = "fault-injection")]
async fn withhold(node: &NodeState, stage: Withheld) {
    let started = Instant::now();
    while node.fault() == Some(Fault::Withhold { stage }) && started.elapsed() < WITHHOLD_FOR {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `PUT /v1/debug/fault` (test builds only): a [`Fault`] as JSON, or `null`. An op fault
/// perturbs every later call and trace; a lie or withholding replaces the previous one;
/// `null` clears both.
#[cfg(feature = "fault-injection")]
pub(super) async fn set_fault(State(node): State<Arc<NodeState>>, body: Body) -> Result<Json<Option<Fault>>, ApiError> {
    let bytes = read_body(body, 4096).await?;
    let fault: Option<Fault> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("not a fault spec: {e}")))?;
    tracing::warn!(fault = ?fault, "fault injection");
    match fault {
        None => {
            node.runtime.set_op_fault(None);
            *node.fault.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        Some(Fault::Op(op)) => node.runtime.set_op_fault(Some(op)),
        Some(other) => *node.fault.lock().unwrap_or_else(PoisonError::into_inner) = Some(other),
    }
    Ok(Json(fault))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use wasmnn_registry::keys::SecretKey;
    use wasmnn_registry::store::{Policy, Store};

    use super::*;
    use crate::dispute::bisect::{SourceError, TreeSource};
    use crate::dispute::remote::{RemoteTrace, Timeouts};
    use crate::receipt::{RECEIPT_SCHEMA, Receipt, SignedReceipt};
    use crate::{Backend, ResolvedBackend, Runtime};

    fn openings(n: u64) -> Vec<LeafOpening> {
        let mut leaves: Vec<LeafOpening> = (0..n.saturating_sub(1))
            .map(|i| LeafOpening { descriptor: format!(r#"{{"k":"op","node":{i}}}"#), tensor: [i as u8; 32] })
            .collect();
        leaves.push(LeafOpening { descriptor: r#"{"k":"end"}"#.into(), tensor: [0; 32] });
        leaves
    }

    fn receipt(key: &SecretKey, spec_version: u32, input: &[u8]) -> SignedReceipt {
        Receipt {
            schema: RECEIPT_SCHEMA,
            spec_version,
            manifest: Sha256Digest::of_bytes(b"no such manifest"),
            input: Sha256Digest::of_bytes(input),
            output: Sha256Digest::of_bytes(b"output"),
            seed: 3,
            fuel: 10,
            ops: 4,
            backend: "cpu".into(),
            node: key.public(),
            time: 0,
        }
        .sign(key)
        .unwrap()
    }

    /// A session of `n` leaves committed by `key`, made at `created`.
    fn session(key: &SecretKey, n: u64, created: Instant) -> Session {
        let leaves = openings(n);
        let tree = Trace { leaves: leaves.clone(), captured: Default::default() }.tree();
        let signed = receipt(key, wasmnn_host_gpu::SPEC_VERSION, b"in");
        let stated = TraceCommitment::new(signed.receipt(), signed.id(), &tree, key.public(), n);
        let commitment = Signed::sign(stated, key).unwrap();
        Session {
            id: commitment.id().prefixed(),
            commitment,
            leaves,
            tree,
            manifest: signed.receipt().manifest,
            input: Bytes::from_static(b"in"),
            seed: 3,
            created,
        }
    }

    #[test]
    fn sessions_are_a_small_lru_with_a_lifetime() {
        let key = SecretKey::from_seed([1; 32]);
        let sessions = Sessions::default();
        let now = Instant::now();
        let ids: Vec<String> =
            (1..=MAX_SESSIONS as u64 + 1).map(|n| sessions.insert(session(&key, n + 1, now), now).id.clone()).collect();
        // The first is gone; touching the second keeps it past the next insertion.
        assert!(sessions.get(&ids[0], now).is_none());
        assert!(sessions.get(&ids[1], now).is_some());
        sessions.insert(session(&key, 40, now), now);
        assert!(sessions.get(&ids[1], now).is_some());
        assert!(sessions.get(&ids[2], now).is_none());
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        // Past the lifetime, nothing is left.
        assert!(sessions.get(&ids[1], now + SESSION_TTL).is_none());
        assert!(sessions.lock().is_empty());
    }

    #[test]
    fn positions_outside_the_tree_are_out_of_range() {
        let key = SecretKey::from_seed([1; 32]);
        let s = session(&key, 5, Instant::now());
        assert_eq!(s.children("0", "0").unwrap().left, s.tree.node(1, 0).unwrap());
        for (depth, index) in [("3", "0"), ("1", "2"), ("-1", "0"), ("x", "0"), ("2", "99999999999999999999")] {
            assert_eq!(s.children(depth, index).unwrap_err().code(), "out_of_range", "{depth}/{index}");
        }
        assert_eq!(s.leaf("4").unwrap().opening, s.leaves[4]);
        assert_eq!(s.leaf("5").unwrap_err().code(), "out_of_range");
        assert!(s.check_tensor_leaves(&[0, 3]).is_ok());
        assert_eq!(s.check_tensor_leaves(&[4]).unwrap_err().code(), "not_a_tensor");
        assert_eq!(s.check_tensor_leaves(&[5]).unwrap_err().code(), "out_of_range");
        assert_eq!(s.check_tensor_leaves(&[0; MAX_LEAVES_PER_REQUEST + 1]).unwrap_err().code(), "too_many_leaves");
    }

    /// A node without functions serving on a local port.
    struct TestNode {
        state: Arc<NodeState>,
        url: String,
        key: SecretKey,
        _dir: tempfile::TempDir,
        runtime: Option<tokio::runtime::Runtime>,
    }

    impl TestNode {
        fn start() -> TestNode {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), Policy::default()).unwrap();
            let runtime = Runtime::new(ResolvedBackend::Cpu, Backend::Cpu, None).unwrap();
            let key = SecretKey::from_seed([7; 32]);
            let config = super::super::NodeConfig { workers: 1, queue: 1, ..Default::default() };
            let state = Arc::new(NodeState::new(store, runtime, SecretKey::from_seed([7; 32]), config));
            let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let listener =
                tokio.block_on(tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let router = super::super::router(Arc::clone(&state));
            tokio.spawn(async move { axum::serve(listener, router).await });
            TestNode { state, url, key, _dir: dir, runtime: Some(tokio) }
        }

        fn post(&self, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
            self.send("POST", path, body)
        }

        fn send(&self, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
            let config = ureq::Agent::config_builder().http_status_as_error(false).build();
            let agent = ureq::Agent::new_with_config(config);
            let url = format!("{}{path}", self.url);
            let mut response = match method {
                "POST" => agent.post(&url).send(body).unwrap(),
                "PUT" => agent.put(&url).send(body).unwrap(),
                _ => agent.get(&url).call().unwrap(),
            };
            let status = response.status().as_u16();
            let bytes = response.body_mut().read_to_vec().unwrap();
            (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
        }
    }

    impl Drop for TestNode {
        fn drop(&mut self) {
            if let Some(runtime) = self.runtime.take() {
                runtime.shutdown_background();
            }
        }
    }

    fn code(answer: &(u16, serde_json::Value)) -> (u16, &str) {
        (answer.0, answer.1["error"]["code"].as_str().unwrap_or(""))
    }

    fn transport_code(error: SourceError) -> String {
        match error {
            SourceError::Transport(message) => message,
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn commit_requests_are_checked_before_anything_runs() {
        let node = TestNode::start();
        let commit = |receipt: &SignedReceipt, input: Option<&[u8]>| {
            let request = CommitRequest::new(receipt, input).unwrap();
            node.post("/v1/traces", &serde_json::to_vec(&request).unwrap())
        };
        let foreign = SecretKey::from_seed([9; 32]);
        let spec = wasmnn_host_gpu::SPEC_VERSION;
        assert_eq!(code(&commit(&receipt(&foreign, spec + 1, b"x"), Some(b"x"))), (409, "spec_mismatch"));
        assert_eq!(code(&commit(&receipt(&foreign, spec, b"x"), None)), (400, "input_required"));
        assert_eq!(code(&commit(&receipt(&foreign, spec, b"x"), Some(b"y"))), (400, "input_mismatch"));
        assert_eq!(code(&commit(&receipt(&foreign, spec, b"x"), Some(b"x"))), (404, "unknown_function"));
        assert_eq!(code(&commit(&receipt(&node.key, spec, b"x"), None)), (404, "unknown_receipt"));
        assert_eq!(code(&node.post("/v1/traces", b"{}")), (400, "invalid_json"));
        let unsigned = serde_json::json!({"receipt": {"receipt": {}, "signature": ""}});
        assert_eq!(code(&node.post("/v1/traces", unsigned.to_string().as_bytes())), (400, "invalid_receipt"));
        // Through the client: a refusal carries the node's code.
        let refused = RemoteTrace::commit(&node.url, &receipt(&foreign, spec, b"x"), None, &Timeouts::default());
        assert!(transport_code(refused.unwrap_err()).contains("input_required"));
    }

    #[test]
    fn a_session_answers_bisection_queries() {
        let node = TestNode::start();
        let stored = node.state.traces.insert(session(&node.key, 6, Instant::now()), Instant::now());
        let mut remote = RemoteTrace::open(&node.url, &stored.id, &Timeouts::default());
        assert_eq!(remote.commitment().unwrap(), stored.commitment);
        for (depth, index) in [(0, 0), (1, 1), (2, 3)] {
            assert_eq!(remote.children(depth, index).unwrap(), stored.tree.children(depth, index).unwrap());
        }
        assert_eq!(remote.opening(5).unwrap(), stored.leaves[5]);
        assert!(transport_code(remote.children(3, 0).unwrap_err()).contains("out_of_range"));
        assert!(transport_code(remote.opening(6).unwrap_err()).contains("out_of_range"));
        assert!(transport_code(remote.tensors(&[5]).unwrap_err()).contains("not_a_tensor"));
        assert!(transport_code(remote.tensors(&[9]).unwrap_err()).contains("out_of_range"));
        let (sent, received) = remote.bytes();
        assert!(sent > 0 && received > 0);
        let (status, leaf) = node.send("GET", &format!("/v1/traces/{}/leaves/2", stored.id), b"");
        assert_eq!(status, 200);
        let leaf: LeafResponse = serde_json::from_value(leaf).unwrap();
        let root = stored.commitment.value().root;
        assert!(wasmnn_host_gpu::trace::verify_proof(&root, 6, 2, &leaf.opening.leaf_hash(), &leaf.proof));
        let many = serde_json::to_vec(&TensorsRequest { leaves: vec![0; MAX_LEAVES_PER_REQUEST + 1] }).unwrap();
        let path = format!("/v1/traces/{}/tensors", stored.id);
        assert_eq!(code(&node.post(&path, &many)), (400, "too_many_leaves"));
        // Unknown traces, however spelled.
        for trace in ["sha256:00", &format!("sha256:{}", "0".repeat(64))] {
            let answer = node.send("GET", &format!("/v1/traces/{trace}/nodes/0/0"), b"");
            assert_eq!(code(&answer), (404, "unknown_trace"));
            assert_eq!(code(&node.send("GET", &format!("/v1/traces/{trace}"), b"")), (404, "unknown_trace"));
            assert_eq!(
                code(&node.post(&format!("/v1/traces/{trace}/tensors"), b"{\"leaves\":[]}")),
                (404, "unknown_trace")
            );
        }
        #[cfg(not(feature = "fault-injection"))]
        assert_eq!(code(&node.send("PUT", "/v1/debug/fault", b"null")), (404, "not_found"));
    }

    #[cfg(feature = "fault-injection")]
    #[test]
    fn a_faulty_node_lies_and_withholds() {
        let node = TestNode::start();
        let (status, health) = node.send("GET", "/healthz", b"");
        assert_eq!((status, &health["fault_injection"]), (200, &serde_json::Value::Bool(true)));
        assert!(health["node_key"].is_string());
        let stored = node.state.traces.insert(session(&node.key, 6, Instant::now()), Instant::now());
        let timeouts = Timeouts { answer: Duration::from_millis(500), ..Timeouts::default() };
        let mut remote = RemoteTrace::open(&node.url, &stored.id, &timeouts);
        let honest = stored.tree.children(1, 0).unwrap();
        assert_eq!(node.send("PUT", "/v1/debug/fault", br#"{"lie":{"depth":1}}"#).0, 200);
        let (left, right) = remote.children(1, 0).unwrap();
        assert_eq!((left, right[0] ^ 1, &right[1..]), (honest.0, honest.1[0], &honest.1[1..]));
        assert_eq!(remote.children(0, 0).unwrap(), stored.tree.children(0, 0).unwrap());
        assert_eq!(node.send("PUT", "/v1/debug/fault", br#"{"withhold":{"stage":"nodes"}}"#).0, 200);
        assert!(matches!(remote.children(0, 0), Err(SourceError::Timeout(_))));
        assert!(matches!(remote.opening(0), Err(SourceError::Timeout(_))));
        assert_eq!(node.send("PUT", "/v1/debug/fault", b"null").0, 200);
        assert_eq!(remote.children(1, 0).unwrap(), honest);
        assert_eq!(code(&node.send("PUT", "/v1/debug/fault", b"{\"lie\":1}")), (400, "invalid_json"));
    }
}
