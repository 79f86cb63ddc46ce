//! The challenger's side of the trace routes (docs/HTTP.md "Traces and disputes"): a
//! blocking client that asks a node to commit to the trace of a call and then answers
//! bisection queries about it ([`TreeSource`]) and hands over leaf tensors.
//!
//! Nothing here trusts the node: [`super::bisect`] checks every answer against what the
//! node committed to, and the caller checks each tensor's proof and digest. This client
//! only maps the transport: no answer in time is [`SourceError::Timeout`], a refusal (an
//! HTTP error, with the node's error code and message) [`SourceError::Transport`], a body
//! that is not what the protocol says [`SourceError::Malformed`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::Agent;
use ureq::http::{Response, header};
use wasmnn_host_gpu::trace::Hash;

use super::bisect::{LeafOpening, SourceError, TreeSource};
use super::wire::{
    ChildrenResponse, CommitRequest, CommitResponse, LeafResponse, MAX_LEAVES_PER_REQUEST, TensorsRequest,
    TensorsResponse, WireTensor,
};
use crate::receipt::SignedReceipt;
use crate::trace::commit::SignedCommitment;

/// The largest answer read, other than tensors.
const MAX_ANSWER_BYTES: u64 = 1 << 20;
/// The largest tensors answer read.
const MAX_TENSORS_BYTES: u64 = 64 << 20;
/// How long to wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the node may take to answer, per kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `POST /v1/traces` (the node re-runs the call): 300 s by default.
    pub commit: Duration,
    /// Each bisection answer (children, a leaf opening): 10 s by default.
    pub answer: Duration,
    /// Each `POST …/tensors` (the node re-runs the call to capture them): 120 s by default.
    pub tensors: Duration,
}

impl Default for Timeouts {
    /// 300 s to commit, 10 s per answer, 120 s for tensors.
    fn default() -> Self {
        Timeouts {
            commit: Duration::from_secs(300),
            answer: Duration::from_secs(10),
            tensors: Duration::from_secs(120),
        }
    }
}

/// Request and response body bytes exchanged with the node.
#[derive(Debug, Default)]
struct ByteCount {
    sent: AtomicU64,
    received: AtomicU64,
}

/// One trace a node committed to, queried over HTTP.
#[derive(Debug, Clone)]
pub struct RemoteTrace {
    /// The node's base URL, without a trailing slash.
    base: String,
    /// The trace id, `sha256:<hex>`.
    trace: String,
    agent: Agent,
    timeouts: Timeouts,
    bytes: Arc<ByteCount>,
}

impl RemoteTrace {
    /// Asks the node at `base_url` to commit to the trace of the call `receipt` states
    /// (`POST /v1/traces`), sending `input` when given (a node needs it for a call it did
    /// not run itself). The commitment's signature is verified, and the trace id must be
    /// its id; whether it backs the receipt is the caller's to check.
    ///
    /// # Errors
    /// [`SourceError::Timeout`] when the node does not commit within `timeouts.commit`;
    /// [`SourceError::Transport`] when it refuses or cannot be reached;
    /// [`SourceError::Malformed`] for an answer that is not a valid commitment.
    pub fn commit(
        base_url: &str,
        receipt: &SignedReceipt,
        input: Option<&[u8]>,
        timeouts: &Timeouts,
    ) -> Result<(RemoteTrace, SignedCommitment), SourceError> {
        let mut remote = RemoteTrace::open(base_url, "", timeouts);
        let request = CommitRequest::new(receipt, input).map_err(SourceError::Malformed)?;
        let answer: CommitResponse =
            remote.post("/v1/traces", &request, timeouts.commit, MAX_ANSWER_BYTES, "the commitment")?;
        let id = answer.commitment.id().prefixed();
        if answer.trace != id {
            return Err(SourceError::Malformed(format!(
                "the node named its trace {:?}, but its commitment's id is {id}",
                answer.trace
            )));
        }
        remote.trace = id;
        Ok((remote, answer.commitment))
    }

    /// The trace `trace` (`sha256:<commitment id>`) the node at `base_url` committed to
    /// before, to query again. No request is made.
    pub fn open(base_url: &str, trace: &str, timeouts: &Timeouts) -> RemoteTrace {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent(concat!("wasmnn/", env!("CARGO_PKG_VERSION")))
            .build();
        RemoteTrace {
            base: base_url.trim_end_matches('/').to_owned(),
            trace: trace.to_owned(),
            agent: config.new_agent(),
            timeouts: *timeouts,
            bytes: Arc::default(),
        }
    }

    /// The node's signed commitment (`GET /v1/traces/{trace}`), its signature verified.
    ///
    /// # Errors
    /// As [`RemoteTrace::commit`], with `timeouts.answer`; a commitment whose id is not the
    /// trace id is [`SourceError::Malformed`].
    pub fn commitment(&self) -> Result<SignedCommitment, SourceError> {
        let commitment: SignedCommitment = self.get(&format!("/v1/traces/{}", self.trace), "the commitment")?;
        if commitment.id().prefixed() != self.trace {
            return Err(SourceError::Malformed(format!(
                "asked for trace {}, got the commitment {}",
                self.trace,
                commitment.id().prefixed()
            )));
        }
        Ok(commitment)
    }

    /// The trace id (`sha256:<commitment id>`).
    pub fn trace(&self) -> &str {
        &self.trace
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Body bytes `(sent, received)` so far, over every request of this trace.
    pub fn bytes(&self) -> (u64, u64) {
        (self.bytes.sent.load(Ordering::Relaxed), self.bytes.received.load(Ordering::Relaxed))
    }

    /// The tensors of `leaves`, in the order asked (`POST …/tensors`, in requests of at
    /// most [`MAX_LEAVES_PER_REQUEST`] leaves). Unchecked: verify each proof against the
    /// committed root and each tensor against its opening's digest.
    ///
    /// # Errors
    /// As [`RemoteTrace::commit`], with `timeouts.tensors` per request; an answer with
    /// fewer or more tensors than asked for is [`SourceError::Malformed`].
    pub fn tensors(&mut self, leaves: &[u64]) -> Result<Vec<WireTensor>, SourceError> {
        let path = format!("/v1/traces/{}/tensors", self.trace);
        let mut tensors = Vec::with_capacity(leaves.len());
        for batch in leaves.chunks(MAX_LEAVES_PER_REQUEST) {
            let request = TensorsRequest { leaves: batch.to_vec() };
            let answer: TensorsResponse =
                self.post(&path, &request, self.timeouts.tensors, MAX_TENSORS_BYTES, "the tensors")?;
            if answer.tensors.len() != batch.len() {
                return Err(SourceError::Malformed(format!(
                    "asked for {} tensors, got {}",
                    batch.len(),
                    answer.tensors.len()
                )));
            }
            tensors.extend(answer.tensors);
        }
        Ok(tensors)
    }

    /// POSTs `body` as JSON to `path` and parses a `200` JSON answer.
    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        timeout: Duration,
        limit: u64,
        what: &str,
    ) -> Result<T, SourceError> {
        let url = format!("{}{path}", self.base);
        let json = serde_json::to_vec(body).map_err(|e| SourceError::Malformed(e.to_string()))?;
        self.bytes.sent.fetch_add(json.len() as u64, Ordering::Relaxed);
        let request = self
            .agent
            .post(&url)
            .content_type("application/json")
            .header(header::ACCEPT, "application/json")
            .config()
            .timeout_global(Some(timeout))
            .build();
        let response = request.send(&json[..]).map_err(|e| transport("POST", &url, what, timeout, e))?;
        self.answer("POST", &url, response, timeout, limit, what)
    }

    /// GETs `path` and parses a `200` JSON answer.
    fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, SourceError> {
        let url = format!("{}{path}", self.base);
        let timeout = self.timeouts.answer;
        let request = self
            .agent
            .get(&url)
            .header(header::ACCEPT, "application/json")
            .config()
            .timeout_global(Some(timeout))
            .build();
        let response = request.call().map_err(|e| transport("GET", &url, what, timeout, e))?;
        self.answer("GET", &url, response, timeout, MAX_ANSWER_BYTES, what)
    }

    /// Reads a response: a `200` JSON body as `T`, anything else as the node's refusal.
    fn answer<T: DeserializeOwned>(
        &self,
        method: &str,
        url: &str,
        mut response: Response<ureq::Body>,
        timeout: Duration,
        limit: u64,
        what: &str,
    ) -> Result<T, SourceError> {
        let status = response.status().as_u16();
        // A refusal's body is small; an over-long one is quoted no further than the limit.
        let body = response.body_mut().with_config().limit(limit).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(limit) => {
                SourceError::Malformed(format!("{method} {url}: {what} is over {limit} bytes"))
            }
            e => transport(method, url, what, timeout, e),
        })?;
        self.bytes.received.fetch_add(body.len() as u64, Ordering::Relaxed);
        if status != 200 {
            return Err(refusal(method, url, status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| SourceError::Malformed(format!("{method} {url}: {what} is not what the protocol says: {e}")))
    }
}

impl TreeSource for RemoteTrace {
    fn children(&mut self, depth: u32, index: u64) -> Result<(Hash, Hash), SourceError> {
        let path = format!("/v1/traces/{}/nodes/{depth}/{index}", self.trace);
        let answer: ChildrenResponse = self.get(&path, "the children")?;
        Ok((answer.left, answer.right))
    }

    fn opening(&mut self, index: u64) -> Result<LeafOpening, SourceError> {
        let path = format!("/v1/traces/{}/leaves/{index}", self.trace);
        let answer: LeafResponse = self.get(&path, "the leaf")?;
        if answer.index != index {
            return Err(SourceError::Malformed(format!("asked for leaf {index}, got leaf {}", answer.index)));
        }
        Ok(answer.opening)
    }
}

/// A failed exchange: a timeout, or another transport failure.
fn transport(method: &str, url: &str, what: &str, timeout: Duration, error: ureq::Error) -> SourceError {
    let timed_out = match &error {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(e) => matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock),
        _ => false,
    };
    if timed_out {
        SourceError::Timeout(format!("{method} {url}: no {what} within {:.1} s", timeout.as_secs_f64()))
    } else {
        SourceError::Transport(format!("{method} {url}: {error}"))
    }
}

/// The error for a status other than `200`: the node's error code and message when the
/// body is a wasmnn error, else the start of the body.
fn refusal(method: &str, url: &str, status: u16, body: &[u8]) -> SourceError {
    match serde_json::from_slice::<wasmnn_registry::api::ErrorBody>(body) {
        Ok(error) => {
            SourceError::Transport(format!("{method} {url}: {status} {}: {}", error.error.code, error.error.message))
        }
        Err(_) => {
            let quoted = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned();
            SourceError::Transport(format!("{method} {url}: {status} {quoted}"))
        }
    }
}
