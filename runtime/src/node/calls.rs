//! What every route that runs a call shares (`/invoke` and the OpenAI-compatible routes):
//! admission (`workers + queue` at once, else `429`), a worker per running call on a
//! blocking thread, cancellation when the request goes away, the signed receipt, the
//! durable record, the tracing span and the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::StatusCode;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::store::StoreError;

use super::NodeState;
use super::error::ApiError;
use super::functions::LoadedFunction;
use super::recorder::CallToRecord;
use crate::receipt::{RECEIPT_SCHEMA, Receipt, SignedReceipt};
use crate::{EmitListener, InvokeError};

/// Which version of a function a call names: by digest (which must be a version of the
/// name), by version, or (neither) the highest version not yanked.
#[derive(Debug, Default)]
pub(super) struct Selector {
    /// The version asked for.
    pub version: Option<semver::Version>,
    /// The manifest digest asked for.
    pub digest: Option<Sha256Digest>,
}

/// The function a call runs and how its failures answer.
pub(super) struct Target {
    /// The function name.
    pub name: String,
    /// Which of its versions.
    pub selector: Selector,
    /// The route's rules.
    pub route: Route,
}

/// The rules of the route a call came in on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Route {
    /// `/v1/functions/{name}/invoke`: any function.
    Invoke,
    /// An OpenAI-compatible route: only functions whose manifest `input` is `marker`; a
    /// name that resolves to anything else is `404 model_not_found`.
    OpenAi {
        /// The content type the function must take.
        marker: &'static str,
    },
}

impl Route {
    /// A failed call as this route answers it.
    fn invoke_error(self, error: InvokeError) -> ApiError {
        match self {
            Route::Invoke => invoke_error(error),
            Route::OpenAi { .. } => super::openai::invoke_error(error),
        }
    }

    /// A name that resolves to nothing, as this route answers it.
    fn resolve_error(self, name: &str, error: StoreError) -> ApiError {
        match (self, &error) {
            (Route::OpenAi { .. }, StoreError::UnknownFunction(_) | StoreError::UnknownVersion { .. }) => {
                super::openai::model_not_found(name)
            }
            _ => error.into(),
        }
    }
}

/// What a streaming call tells the request while it runs.
pub(super) enum Streamed {
    /// The function was resolved and loaded: its manifest digest (sent before any chunk).
    Loaded(Sha256Digest),
    /// The guest emitted a chunk.
    Chunk(Vec<u8>),
}

/// A call that ran: its output, receipt and where they came from.
pub(super) struct Ran {
    /// The whole output: every emitted chunk, then the returned bytes.
    pub output: Bytes,
    /// How many of the last bytes of `output` `handle` returned.
    pub returned: usize,
    /// The signed receipt.
    pub receipt: SignedReceipt,
    /// The manifest digest of the function that ran.
    pub manifest: Sha256Digest,
    /// The content type of its output.
    pub content_type: String,
}

impl Ran {
    /// The bytes `handle` returned (the end of `output`).
    pub fn returned(&self) -> Bytes {
        self.output.slice(self.output.len().saturating_sub(self.returned)..)
    }
}

/// Admits a call, or refuses it with `429` when `workers + queue` calls are already in.
pub(super) fn admit(node: &Arc<NodeState>) -> Result<OwnedSemaphorePermit, ApiError> {
    Arc::clone(&node.admission).try_acquire_owned().map_err(|_| busy())
}

/// A call running on a worker. Dropping it cancels the call.
pub(super) struct Running {
    call: JoinHandle<Result<Ran, ApiError>>,
    input: Bytes,
    cancel: CancelOnDrop,
}

/// Waits for a worker, then runs the call of `target` on `input` with `seed` on a blocking
/// thread. With `stream`, the call reports [`Streamed`] events there as it goes.
///
/// # Errors
/// The worker pool is closed (a bug).
pub(super) async fn start(
    node: &Arc<NodeState>,
    admitted: OwnedSemaphorePermit,
    target: Target,
    input: Bytes,
    seed: u64,
    stream: Option<UnboundedSender<Streamed>>,
) -> Result<Running, ApiError> {
    let worker = Arc::clone(&node.workers).acquire_owned().await.map_err(ApiError::internal)?;
    let cancel = CancelOnDrop::default();
    let flag = Arc::clone(&cancel.0);
    let runner = Arc::clone(node);
    let span = tracing::Span::current();
    let bytes = input.clone();
    let call = tokio::task::spawn_blocking(move || {
        let _slots = (admitted, worker);
        let _entered = span.enter();
        runner.run_call(&target, &bytes, seed, flag, stream)
    });
    Ok(Running { call, input, cancel })
}

impl Running {
    /// Waits for the call to end and records it durably.
    ///
    /// # Errors
    /// The call failed, or it cannot be recorded.
    pub async fn finish(self, node: &NodeState) -> Result<Ran, ApiError> {
        let Running { call, input, cancel } = self;
        let ran = call.await.map_err(ApiError::internal)??;
        drop(cancel);
        let record = CallToRecord {
            id: ran.receipt.id(),
            receipt_json: String::from_utf8(ran.receipt.to_json()).map_err(ApiError::internal)?,
            input,
            output: ran.output.clone(),
        };
        node.recorder.record(record).await?;
        Ok(ran)
    }
}

impl NodeState {
    /// Runs one call of `target` on `input`: its output and signed receipt.
    fn run_call(
        &self,
        target: &Target,
        input: &[u8],
        seed: u64,
        cancel: Arc<AtomicBool>,
        stream: Option<UnboundedSender<Streamed>>,
    ) -> Result<Ran, ApiError> {
        let loaded = self.load(target)?;
        let (manifest, function) = (&loaded.manifest, &loaded.function);
        let listener = stream.map(|events| {
            // A request that went away no longer listens; its call is being cancelled.
            let _ = events.send(Streamed::Loaded(manifest.digest()));
            Box::new(move |chunk: &[u8]| {
                let _ = events.send(Streamed::Chunk(chunk.to_vec()));
            }) as EmitListener
        });
        let limits = self.config.cap(function.default_limits());
        let outcome = self
            .runtime
            .invoke_streaming(function, input, seed, &limits, Some(cancel), listener)
            .map_err(|error| target.route.invoke_error(error))?;
        let output = outcome.full_output();
        let receipt = Receipt {
            schema: RECEIPT_SCHEMA,
            spec_version: wasmnn_host_gpu::SPEC_VERSION,
            manifest: manifest.digest(),
            input: Sha256Digest::of_bytes(input),
            output: Sha256Digest::of_bytes(&output),
            seed,
            fuel: outcome.fuel,
            ops: outcome.ops,
            backend: outcome.backend.to_owned(),
            node: self.key.public(),
            time: unix_seconds(),
        }
        .sign(&self.key)
        .map_err(ApiError::internal)?;
        tracing::info!(
            function = %manifest.manifest().name, receipt = %receipt.id().prefixed(), fuel = outcome.fuel,
            ops = outcome.ops, backend = outcome.backend, "call"
        );
        Ok(Ran {
            output: Bytes::from(output),
            returned: outcome.output.len(),
            receipt,
            manifest: manifest.digest(),
            content_type: manifest.manifest().output.clone(),
        })
    }

    /// The function `target` names, loaded, and checked against the route's rules.
    fn load(&self, target: &Target) -> Result<Arc<LoadedFunction>, ApiError> {
        let name = target.name.as_str();
        let digest = match target.selector.digest {
            Some(digest) => digest,
            None => {
                self.store
                    .resolve(name, target.selector.version.as_ref())
                    .map_err(|error| target.route.resolve_error(name, error))?
                    .digest
            }
        };
        let (loaded, cached) = self.functions.get_or_load(&digest, &self.store, &self.runtime)?;
        self.metrics.cache_lookup(cached);
        let manifest = loaded.manifest.manifest();
        if manifest.name != name {
            return Err(StoreError::UnknownManifest(digest).into());
        }
        if let Route::OpenAi { marker } = target.route
            && manifest.input != marker
        {
            return Err(super::openai::model_not_found(name));
        }
        Ok(loaded)
    }
}

/// Counts a call in `/metrics` when it ends. One dropped before it was told how the
/// call ended (the client went away) counts as `cancelled`.
pub(super) struct Meter {
    node: Arc<NodeState>,
    name: String,
    started: Instant,
    span: tracing::Span,
    done: bool,
}

impl Meter {
    /// Starts timing a call of `name` (as the request named it), traced in `span`.
    pub fn start(node: &Arc<NodeState>, name: &str, span: tracing::Span) -> Self {
        Meter { node: Arc::clone(node), name: name.to_owned(), started: Instant::now(), span, done: false }
    }

    /// The call's tracing span.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Names the function once the request is read (the OpenAI routes name it in the
    /// body), in the metrics and the span's `function` field.
    pub fn name(&mut self, name: &str) {
        name.clone_into(&mut self.name);
        self.span.record("function", name);
    }

    /// Counts the call as it ended.
    pub fn finish(mut self, result: Result<&SignedReceipt, &ApiError>) {
        self.done = true;
        match result {
            Ok(receipt) => {
                self.span.record("receipt", receipt.id().prefixed());
                let stated = receipt.receipt();
                let done = Some((stated.fuel, stated.ops, stated.backend.as_str()));
                self.node.metrics.call(&self.name, "ok", self.started.elapsed(), done);
            }
            Err(error) => {
                // Names that resolve to nothing are not labels: they would grow without bound.
                let unknown = matches!(
                    error.code(),
                    "unknown_function"
                        | "invalid_name"
                        | "model_not_found"
                        | "invalid_json"
                        | "invalid_type"
                        | "missing_required_parameter"
                );
                let name = if unknown { "-" } else { &self.name };
                self.node.metrics.call(name, error.code(), self.started.elapsed(), None);
            }
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if !self.done {
            let code = InvokeError::Cancelled.code();
            self.node.metrics.call(&self.name, code, self.started.elapsed(), None);
        }
    }
}

/// Sets a call's cancel flag when the request goes away before the call ends.
#[derive(Default)]
pub(super) struct CancelOnDrop(pub(super) Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(super) fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `429`: every worker is busy and the queue is full.
fn busy() -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", "every worker is busy and the queue is full; retry")
        .with_retry_after(1)
}

/// A failed call as `/invoke` answers it: the function's own failures are `422` (they
/// are a property of the function and the input), a deadline `504`, cancellation `503`.
pub(super) fn invoke_error(error: InvokeError) -> ApiError {
    let status = match &error {
        InvokeError::Deadline => StatusCode::GATEWAY_TIMEOUT,
        InvokeError::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, error.code(), error.to_string())
}
