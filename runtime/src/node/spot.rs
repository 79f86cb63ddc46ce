//! Spot-checking peers (docs/HTTP.md "Spot-checks"): a node started with `--spot-check
//! URL` walks that peer's receipts (`GET /v1/receipts?after=`), re-executes a random
//! fraction of them, and when its result differs from the receipt runs the dispute
//! ([`Challenge`]) as challenger and referee, keeping the signed verdict. Clients can also
//! hand it a receipt (`POST /v1/spot-checks`); `GET /v1/spot-checks` and `/metrics` say
//! how the checks went.
//!
//! Checks run one at a time on a worker slot, so they never hold more than one of the
//! node's workers; the sample is drawn from a ChaCha20 stream seeded by the operating
//! system, so a peer cannot tell which of its calls will be checked.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::api::ListedReceipt;
use wasmnn_registry::client::RegistryClient;
use wasmnn_registry::replicate::{AtMost, pull_function};
use wasmnn_registry::store::{CallCursor, CallData};

use super::calls::unix_seconds;
use super::error::ApiError;
use super::registry_api::parse_digest;
use super::{NodeState, read_body};
use crate::dispute::challenge::{Challenge, Report};
use crate::dispute::remote::Timeouts;
use crate::dispute::verdict::{Reason, SignedVerdict, Winner};
use crate::receipt::SignedReceipt;

/// Receipts asked for per page when walking a peer.
const PAGE: usize = 200;
/// Results kept for `GET /v1/spot-checks`.
const RECENT: usize = 100;
/// Checks that may wait; more polled receipts are counted as errors, more posted ones
/// refused with `429`.
const QUEUE: usize = 1024;
/// The largest `POST /v1/spot-checks` body.
const MAX_POST_BYTES: usize = 64 << 10;

/// What a node spot-checks, from `wasmnn serve --spot-check …`.
#[derive(Debug, Clone)]
pub struct SpotCheckConfig {
    /// The peers whose receipts are walked (base URLs); none turns polling off
    /// (`POST /v1/spot-checks` still works).
    pub peers: Vec<String>,
    /// The fraction of a peer's receipts re-executed, 0 to 1.
    pub fraction: f64,
    /// How often each peer is asked for new receipts.
    pub every: Duration,
    /// How long a disputed peer may take to answer.
    pub timeouts: Timeouts,
}

impl Default for SpotCheckConfig {
    /// No peers, 5 % of receipts, every 10 s, the dispute's default timeouts.
    fn default() -> Self {
        SpotCheckConfig {
            peers: Vec::new(),
            fraction: 0.05,
            every: Duration::from_secs(10),
            timeouts: Timeouts::default(),
        }
    }
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpotOutcome {
    /// The re-execution matched the receipt.
    Match,
    /// It did not (see the dispute's verdict).
    Mismatch,
    /// The check could not be made (the input or function could not be fetched, the
    /// re-execution failed, the receipt is malformed).
    Error,
    /// Not for this node to check: its own receipt, or another numerics spec.
    Skipped,
}

impl SpotOutcome {
    fn label(self) -> &'static str {
        match self {
            SpotOutcome::Match => "match",
            SpotOutcome::Mismatch => "mismatch",
            SpotOutcome::Error => "error",
            SpotOutcome::Skipped => "skipped",
        }
    }
}

/// The dispute a mismatch started, in brief (the whole verdict is at
/// `GET /v1/verdicts/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisputeSummary {
    /// The verdict's id, or `None` when the traces agreed (the outputs differ outside any
    /// op: nothing to bisect).
    pub verdict: Option<Sha256Digest>,
    /// Who was right.
    pub winner: Option<Winner>,
    /// How it was decided.
    pub reason: Option<Reason>,
    /// The first differing leaf.
    pub leaf: Option<u64>,
    /// Protocol rounds.
    pub rounds: u32,
    /// The verdict's sentence.
    pub detail: String,
}

/// One spot-checked receipt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpotResult {
    /// The receipt id.
    pub receipt: Sha256Digest,
    /// The node it came from.
    pub peer: String,
    /// How the check ended.
    pub result: SpotOutcome,
    /// What differed, or why there was no check; empty for a match.
    pub detail: String,
    /// The dispute, for a mismatch.
    pub dispute: Option<DisputeSummary>,
    /// When the check ended, Unix seconds.
    pub time: u64,
}

/// How the walk of one peer is going.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer's base URL.
    pub peer: String,
    /// Where the walk is (a receipts cursor).
    pub cursor: String,
    /// Receipts listed since the node started.
    pub seen: u64,
    /// Of those, drawn for a check.
    pub sampled: u64,
    /// Checks by result.
    pub matched: u64,
    /// Mismatches (each with a dispute).
    pub mismatched: u64,
    /// Checks that could not be made.
    pub errors: u64,
    /// Receipts not for this node to check.
    pub skipped: u64,
    /// The last poll's error, if it failed.
    pub last_error: Option<String>,
}

/// The answer to `GET /v1/spot-checks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpotReport {
    /// The fraction of receipts checked.
    pub fraction: f64,
    /// Each peer walked (and any that clients posted receipts of).
    pub peers: Vec<PeerStatus>,
    /// The latest results, newest first.
    pub recent: Vec<SpotResult>,
}

/// A receipt waiting to be checked.
struct Job {
    peer: String,
    receipt: serde_json::Value,
}

/// The spot-checker's shared state.
pub(super) struct SpotChecks {
    config: SpotCheckConfig,
    peers: Mutex<Vec<PeerStatus>>,
    recent: Mutex<VecDeque<SpotResult>>,
    queue: mpsc::Sender<Job>,
    jobs: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl SpotChecks {
    /// The checker for `config`; nothing runs until [`start`].
    pub(super) fn new(config: SpotCheckConfig) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let peers =
            config.peers.iter().map(|peer| PeerStatus { peer: peer.clone(), ..PeerStatus::default() }).collect();
        SpotChecks {
            config,
            peers: Mutex::new(peers),
            recent: Mutex::new(VecDeque::new()),
            queue,
            jobs: Mutex::new(Some(jobs)),
        }
    }

    /// Updates the status of `peer` (added when a client posted a receipt of a new one).
    fn peer(&self, peer: &str, update: impl FnOnce(&mut PeerStatus)) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match peers.iter().position(|p| p.peer == peer) {
            Some(index) => index,
            None => {
                peers.push(PeerStatus { peer: peer.to_owned(), ..PeerStatus::default() });
                peers.len() - 1
            }
        };
        update(&mut peers[index]);
    }

    fn report(&self) -> SpotReport {
        SpotReport {
            fraction: self.config.fraction,
            peers: self.peers.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            recent: self.recent.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect(),
        }
    }
}

/// Starts the checker and, for each configured peer, its walker, on the current tokio
/// runtime. They stop when the runtime does.
pub(super) fn start(node: &Arc<NodeState>) {
    let Some(jobs) = node.spot.jobs.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
    tokio::spawn(check_all(Arc::clone(node), jobs));
    for peer in node.spot.config.peers.clone() {
        tokio::spawn(walk(Arc::clone(node), peer));
    }
}

/// Polls `peer` every `every` for receipts recorded since, drawing each for a check with
/// probability `fraction`.
async fn walk(node: Arc<NodeState>, peer: String) {
    let client = match RegistryClient::new(&peer) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%peer, %error, "cannot spot-check this peer");
            node.spot.peer(&peer, |status| status.last_error = Some(error.to_string()));
            return;
        }
    };
    let mut seed = [0u8; 32];
    if let Err(error) = getrandom::fill(&mut seed) {
        tracing::error!(%peer, %error, "no randomness to draw spot-checks with");
        return;
    }
    let mut draw = ChaCha20Rng::from_seed(seed);
    let mut walked = Walk::starting_at(unix_seconds());
    let mut ticks = tokio::time::interval(node.spot.config.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (listing, from) = (client.clone(), walked.from());
        let listed = tokio::task::spawn_blocking(move || list_since(&listing, &from)).await;
        let listed = match listed {
            Ok(Ok(listed)) => listed,
            Ok(Err(error)) => {
                tracing::warn!(%peer, %error, "cannot list the peer's receipts");
                node.spot.peer(&peer, |status| status.last_error = Some(error));
                continue;
            }
            Err(error) => {
                tracing::error!(%peer, %error, "the receipt listing task failed");
                continue;
            }
        };
        let fresh = walked.take_new(listed);
        let mut sampled = Vec::new();
        for item in &fresh {
            // 53 random bits as a fraction in [0, 1).
            let x = (draw.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            if x < node.spot.config.fraction {
                sampled.push(item.receipt.clone());
            }
        }
        node.spot.peer(&peer, |status| {
            status.cursor = walked.from().to_string();
            status.seen += fresh.len() as u64;
            status.sampled += sampled.len() as u64;
            status.last_error = None;
        });
        for receipt in sampled {
            if node.spot.queue.try_send(Job { peer: peer.clone(), receipt }).is_err() {
                node.spot.peer(&peer, |status| status.errors += 1);
                tracing::warn!(%peer, "the spot-check queue is full; a drawn receipt goes unchecked");
            }
        }
    }
}

/// Where the walk of one peer is: the latest recording second seen and the receipts seen
/// from the second before it on (a call can be recorded, within a second already walked,
/// after calls that sort after it, so each poll re-reads from the second before).
struct Walk {
    latest: u64,
    seen: BTreeSet<CallCursor>,
}

impl Walk {
    fn starting_at(now: u64) -> Self {
        Walk { latest: now, seen: BTreeSet::new() }
    }

    /// The cursor the next poll starts from.
    fn from(&self) -> CallCursor {
        CallCursor::at(self.latest.saturating_sub(1))
    }

    /// The receipts of `listed` not seen before, in order; forgets what is now too old
    /// to be listed again.
    fn take_new(&mut self, listed: Vec<ListedReceipt>) -> Vec<ListedReceipt> {
        let mut fresh = Vec::new();
        for item in listed {
            let Ok(place) = item.at.parse::<CallCursor>() else { continue };
            if place < self.from() {
                continue;
            }
            self.latest = self.latest.max(place.recorded_at);
            if self.seen.insert(place) {
                fresh.push(item);
            }
        }
        let from = self.from();
        self.seen.retain(|place| *place >= from);
        fresh
    }
}

/// Every receipt `client`'s node recorded from `from` on, page by page.
fn list_since(client: &RegistryClient, from: &CallCursor) -> Result<Vec<ListedReceipt>, String> {
    let mut all = Vec::new();
    let mut after = from.to_string();
    loop {
        let page = client.receipts_after(&after, PAGE).map_err(|e| e.to_string())?;
        let full = page.receipts.len() >= PAGE;
        all.extend(page.receipts);
        if !full || page.next == after {
            return Ok(all);
        }
        after = page.next;
    }
}

/// Runs the queued checks one at a time, each on a worker slot.
async fn check_all(node: Arc<NodeState>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let Ok(worker) = Arc::clone(&node.workers).acquire_owned().await else { return };
        let checker = Arc::clone(&node);
        let peer = job.peer.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _worker = worker;
            checker.check(&job)
        })
        .await;
        match result {
            Ok(result) => node.record_spot(result),
            Err(error) => tracing::error!(%peer, %error, "a spot-check task failed"),
        }
    }
}

impl NodeState {
    /// Checks one receipt: re-executes its call and, on a mismatch, disputes it.
    fn check(&self, job: &Job) -> SpotResult {
        let receipt_json = job.receipt.to_string();
        let id = SignedReceipt::from_json(receipt_json.as_bytes()).map(|signed| signed.id());
        let mut result = SpotResult {
            receipt: id.as_ref().map_or_else(|_| Sha256Digest::of_bytes(receipt_json.as_bytes()), |id| *id),
            peer: job.peer.clone(),
            result: SpotOutcome::Error,
            detail: String::new(),
            dispute: None,
            time: 0,
        };
        match self.recheck(&job.peer, receipt_json.as_bytes()) {
            Ok(Checked::Match) => result.result = SpotOutcome::Match,
            Ok(Checked::Skipped(why)) => (result.result, result.detail) = (SpotOutcome::Skipped, why),
            Ok(Checked::Mismatch(differences, dispute)) => {
                result.result = SpotOutcome::Mismatch;
                result.detail = differences.join("; ");
                result.dispute = Some(dispute);
            }
            Err(why) => result.detail = why,
        }
        result.time = unix_seconds();
        result
    }

    /// The work of [`NodeState::check`]; `Err` is why no check could be made.
    fn recheck(&self, peer: &str, receipt_json: &[u8]) -> Result<Checked, String> {
        let signed = SignedReceipt::from_json(receipt_json).map_err(|e| format!("not a valid signed receipt: {e}"))?;
        let receipt = signed.receipt();
        if receipt.node == self.key.public() {
            return Ok(Checked::Skipped("this node's own receipt".to_owned()));
        }
        if receipt.spec_version != wasmnn_host_gpu::SPEC_VERSION {
            return Ok(Checked::Skipped(format!(
                "numerics spec {} (this node implements {})",
                receipt.spec_version,
                wasmnn_host_gpu::SPEC_VERSION
            )));
        }
        let client = RegistryClient::new(peer).map_err(|e| e.to_string())?;
        let mut input = Vec::new();
        let limit = self.config.max_input_bytes as u64;
        client
            .call_data(&signed.id(), CallData::Input, AtMost::new(&mut input, limit))
            .map_err(|e| format!("cannot fetch the call's input: {e}"))?;
        if Sha256Digest::of_bytes(&input) != receipt.input {
            return Err(format!(
                "the peer's recorded input does not hash to the receipt's {}",
                receipt.input.prefixed()
            ));
        }
        let loaded = self.replicated(&client, &receipt.manifest)?;
        let function = &loaded.function;
        let limits = self.config.cap(function.default_limits());
        let outcome = self
            .runtime
            .invoke(function, &input, receipt.seed, &limits, None)
            .map_err(|e| format!("the re-execution failed: {e}"))?;
        let differences = receipt.differences(&outcome);
        if differences.is_empty() {
            return Ok(Checked::Match);
        }
        tracing::warn!(%peer, receipt = %signed.id().prefixed(), ?differences, "spot-check mismatch: disputing");
        let challenge = Challenge {
            runtime: &self.runtime,
            function,
            input: &input,
            receipt: &signed,
            node: peer,
            key: &self.key,
            timeouts: self.spot.config.timeouts,
        };
        let report = challenge.run().map_err(|e| format!("{}; the dispute failed: {e}", differences.join("; ")))?;
        let dispute = match report {
            Report::Agree { .. } => DisputeSummary {
                verdict: None,
                winner: None,
                reason: None,
                leaf: None,
                rounds: 1,
                detail: "the traces agree: the difference is outside every op".to_owned(),
            },
            Report::Verdict { verdict, .. } => {
                self.keep_verdict(&verdict).map_err(|e| format!("cannot keep the verdict: {e}"))?;
                self.metrics.dispute(&verdict);
                let stated = verdict.value();
                DisputeSummary {
                    verdict: Some(verdict.id()),
                    winner: Some(stated.winner),
                    reason: Some(stated.reason),
                    leaf: stated.difference.as_ref().map(|d| d.index),
                    rounds: stated.rounds,
                    detail: stated.detail.clone(),
                }
            }
        };
        Ok(Checked::Mismatch(differences, dispute))
    }

    /// The function `manifest`, loaded; pulled from `client`'s node first when this node
    /// lacks it (or a blob of it).
    fn replicated(
        &self,
        client: &RegistryClient,
        manifest: &Sha256Digest,
    ) -> Result<Arc<super::functions::LoadedFunction>, String> {
        match self.functions.get_or_load(manifest, &self.store, &self.runtime) {
            Ok((loaded, _)) => return Ok(loaded),
            Err(error) if !matches!(error.code(), "unknown_manifest" | "unknown_blob" | "blob_corrupt") => {
                return Err(format!("cannot load function {}: {}", manifest.prefixed(), error.message()));
            }
            Err(_) => {}
        }
        let signed =
            client.manifest(manifest).map_err(|e| format!("cannot fetch function {}: {e}", manifest.prefixed()))?;
        let pulled = pull_function(client, &signed, &self.store, |_, _, _| ())
            .map_err(|e| format!("cannot replicate function {}: {e}", manifest.prefixed()))?;
        tracing::info!(function = %manifest.prefixed(), blobs = pulled.uploaded, bytes = pulled.bytes, "replicated for a spot-check");
        self.functions
            .get_or_load(manifest, &self.store, &self.runtime)
            .map(|(loaded, _)| loaded)
            .map_err(|e| format!("cannot load function {}: {}", manifest.prefixed(), e.message()))
    }

    /// Writes `verdict` to `DATA/verdicts/<hex>.json` (atomically: a temporary file
    /// renamed into place).
    fn keep_verdict(&self, verdict: &SignedVerdict) -> std::io::Result<()> {
        let dir = verdicts_dir(&self.store);
        std::fs::create_dir_all(&dir)?;
        let mut file = tempfile::NamedTempFile::new_in(&dir)?;
        file.write_all(&verdict.to_json())?;
        file.as_file().sync_all()?;
        file.persist(dir.join(format!("{}.json", verdict.id().to_hex()))).map_err(|e| e.error)?;
        Ok(())
    }

    /// Counts `result` and keeps it among the recent ones.
    fn record_spot(&self, result: SpotResult) {
        tracing::info!(peer = %result.peer, receipt = %result.receipt.prefixed(), result = result.result.label(),
            detail = %result.detail, "spot-check");
        self.metrics.spot_check(&result.peer, result.result.label());
        self.spot.peer(&result.peer, |status| match result.result {
            SpotOutcome::Match => status.matched += 1,
            SpotOutcome::Mismatch => status.mismatched += 1,
            SpotOutcome::Error => status.errors += 1,
            SpotOutcome::Skipped => status.skipped += 1,
        });
        let mut recent = self.spot.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.push_front(result);
        recent.truncate(RECENT);
    }
}

/// What a re-execution showed.
enum Checked {
    Match,
    Skipped(String),
    Mismatch(Vec<String>, DisputeSummary),
}

/// Where a node keeps the verdicts it reached.
fn verdicts_dir(store: &wasmnn_registry::store::Store) -> std::path::PathBuf {
    store.dir().join("verdicts")
}

/// The spot-check routes.
pub(super) fn routes() -> Router<Arc<NodeState>> {
    use axum::routing::get;
    Router::new()
        .route("/v1/spot-checks", get(get_spot_checks).post(post_spot_check))
        .route("/v1/verdicts/{id}", get(get_verdict))
}

/// `GET /v1/spot-checks`.
async fn get_spot_checks(State(node): State<Arc<NodeState>>) -> Json<SpotReport> {
    Json(node.spot.report())
}

/// The body of `POST /v1/spot-checks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostSpotCheck {
    /// The signed receipt, `{"receipt": …, "signature": …}`.
    receipt: serde_json::Value,
    /// The node that ran the call (holds its input and function).
    from: String,
}

/// `POST /v1/spot-checks` `{"receipt": <signed receipt>, "from": URL}`: queues a check of
/// that receipt against the node `from` → `202 {"queued": "sha256:…"}`. `from` must be one
/// of this node's `--spot-check` peers: a check pulls functions and fetches data from it,
/// which no client may point at a node of its choosing.
async fn post_spot_check(State(node): State<Arc<NodeState>>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(body, MAX_POST_BYTES).await?;
    let posted: PostSpotCheck = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("not a spot-check request: {e}")))?;
    let signed = SignedReceipt::from_json(posted.receipt.to_string().as_bytes())
        .map_err(|e| ApiError::bad_request("invalid_receipt", format!("not a valid signed receipt: {e}")))?;
    let from = RegistryClient::new(&posted.from)
        .map_err(|e| ApiError::bad_request("invalid_url", e.to_string()))?
        .url()
        .to_owned();
    if !node.spot.config.peers.contains(&from) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_peer",
            format!("this node spot-checks only its --spot-check peers, and {from} is not one"),
        ));
    }
    node.spot.queue.try_send(Job { peer: from, receipt: posted.receipt }).map_err(|_| {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", "the spot-check queue is full; retry")
            .with_retry_after(10)
    })?;
    let answer = serde_json::json!({ "queued": signed.id().prefixed() });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `GET /v1/verdicts/{id}`: a verdict this node reached.
async fn get_verdict(State(node): State<Arc<NodeState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_digest(&id)?;
    let path = verdicts_dir(&node.store).join(format!("{}.json", id.to_hex()));
    match tokio::fs::read(&path).await {
        Ok(json) => Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_verdict",
            format!("this node reached no verdict {}", id.prefixed()),
        )),
        Err(e) => Err(ApiError::internal(format!("cannot read {}: {e}", path.display()))),
    }
}
