//! The node: `wasmnn serve`'s HTTP API on axum (hyper, tokio).
//!
//! It serves the registry (docs/REGISTRY.md: functions, manifests and blobs), invocation
//! with signed receipts, the OpenAI-compatible routes ([`openai`]), and `/healthz`. Every error is the JSON body of DESIGN.md
//! "Interfaces", including those of unknown paths and methods.

mod calls;
mod error;
mod functions;
mod invoke_api;
mod metrics;
pub mod openai;
mod recorder;
mod registry_api;
pub mod spot;
mod traces;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmnn_registry::api::HealthReport;
use wasmnn_registry::keys::SecretKey;
use wasmnn_registry::store::{Store, StoreError};

pub use error::ApiError;
use functions::FunctionCache;
pub use openai::{splice_created, unsplice_created};

use crate::{Limits, Runtime};

/// The chunk size files are streamed to clients in (tokio's default, 4 KiB, halves the
/// throughput of a large blob).
const STREAM_CHUNK: usize = 1 << 20;

/// How a node runs calls.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Calls that run at once (each on its own blocking thread).
    pub workers: usize,
    /// Calls that may wait for a worker; more are refused with `429`.
    pub queue: usize,
    /// The largest request body of a call.
    pub max_input_bytes: usize,
    /// The longest a call may run, whatever its manifest asks.
    pub max_timeout: Duration,
    /// What the backend choice came to, for `/healthz` (e.g. `gpu: passed the self-test`).
    pub backend_report: String,
    /// Which peers' receipts to spot-check, and how many of them.
    pub spot_check: spot::SpotCheckConfig,
}

impl Default for NodeConfig {
    /// One worker per core, a queue of 64, 16 MiB inputs, calls of at most 60 s.
    fn default() -> Self {
        NodeConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 64,
            max_input_bytes: 16 << 20,
            max_timeout: Duration::from_secs(60),
            backend_report: String::new(),
            spot_check: spot::SpotCheckConfig::default(),
        }
    }
}

impl NodeConfig {
    /// A function's limits, lowered to what this node allows.
    fn cap(&self, mut limits: Limits) -> Limits {
        limits.timeout = limits.timeout.min(self.max_timeout);
        limits
    }
}

/// What every request handler shares.
pub struct NodeState {
    store: Arc<Store>,
    recorder: recorder::Recorder,
    runtime: Runtime,
    key: SecretKey,
    config: NodeConfig,
    functions: FunctionCache,
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    metrics: metrics::Metrics,
    /// Committed op traces, answering dispute queries.
    traces: traces::Sessions,
    /// Spot-checks of peers' receipts.
    spot: spot::SpotChecks,
    /// The protocol fault this test node shows (`PUT /v1/debug/fault`).
    #[cfg(feature = "fault-injection")]
    fault: std::sync::Mutex<Option<crate::trace::fault::Fault>>,
}

impl NodeState {
    /// A node serving `store`, running calls on `runtime`, signing receipts with `key`.
    pub fn new(store: Store, runtime: Runtime, key: SecretKey, config: NodeConfig) -> Self {
        let workers = config.workers.max(1);
        let metrics = metrics::Metrics::new(runtime.backend().name());
        let store = Arc::new(store);
        NodeState {
            recorder: recorder::Recorder::start(Arc::clone(&store)),
            metrics,
            store,
            runtime,
            key,
            admission: Arc::new(Semaphore::new(workers + config.queue)),
            workers: Arc::new(Semaphore::new(workers)),
            spot: spot::SpotChecks::new(config.spot_check.clone()),
            config,
            functions: FunctionCache::default(),
            traces: traces::Sessions::default(),
            #[cfg(feature = "fault-injection")]
            fault: std::sync::Mutex::new(None),
        }
    }

    /// Runs a store operation on a blocking thread.
    async fn blocking<T, F>(self: &Arc<Self>, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let node = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&node.store))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::from)
    }
}

/// The node's routes.
pub fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/functions", get(registry_api::list_functions))
        .route("/v1/functions/{name}", get(registry_api::describe_function))
        .route("/v1/functions/{name}/yank", post(registry_api::yank))
        .route("/v1/functions/{name}/invoke", post(invoke_api::invoke))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{id}", get(openai::get_model))
        .route("/v1/receipts", get(invoke_api::list_receipts))
        .route("/v1/receipts/{id}", get(invoke_api::get_receipt))
        .route("/v1/receipts/{id}/input", get(invoke_api::get_input))
        .route("/v1/receipts/{id}/output", get(invoke_api::get_output))
        .route("/v1/manifests", post(registry_api::post_manifest))
        .route("/v1/manifests/{digest}", get(registry_api::get_manifest))
        .route(
            "/v1/blobs/{digest}",
            get(registry_api::get_blob).head(registry_api::head_blob).put(registry_api::put_blob),
        )
        .merge(traces::routes())
        .merge(spot::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves; requests in flight finish.
/// Spot-checks of the configured peers start with it.
/// Accepted connections set `TCP_NODELAY`, so that streamed chunks are not held back by
/// Nagle's algorithm waiting for a delayed ACK.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: TcpListener,
    state: Arc<NodeState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "node listening");
    spot::start(&state);
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// Resolves on Ctrl-C or SIGTERM (for graceful shutdown).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Binds `address` (port 0 picks a free port).
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// The answer to `GET /healthz`: the health report and, in a test build,
/// `"fault_injection": true`.
#[derive(serde::Serialize)]
struct Health {
    #[serde(flatten)]
    report: HealthReport,
    /// Whether this node accepts `PUT /v1/debug/fault` (test builds only).
    #[cfg(feature = "fault-injection")]
    fault_injection: bool,
}

/// `GET /healthz`.
async fn healthz(State(node): State<Arc<NodeState>>) -> Result<Json<Health>, ApiError> {
    let health = node.blocking(|store| store.health()).await?;
    let report = HealthReport {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        functions: health.functions,
        blobs: health.blobs,
        quarantined: health.quarantined,
        calls: health.calls,
        backend: node.runtime.backend().name().to_owned(),
        backend_report: node.config.backend_report.clone(),
        node_key: node.key.public(),
    };
    Ok(Json(Health {
        report,
        #[cfg(feature = "fault-injection")]
        fault_injection: true,
    }))
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(node): State<Arc<NodeState>>) -> Result<Response, ApiError> {
    let workers = node.config.workers.max(1);
    let admitted = workers + node.config.queue - node.admission.available_permits();
    let running = workers - node.workers.available_permits();
    let text = node.metrics.encode(running, admitted.saturating_sub(running)).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

/// A `200` streaming an already verified file of `size` bytes as
/// `application/octet-stream`, in [`STREAM_CHUNK`] chunks.
fn file_response(file: std::fs::File, size: u64) -> Response {
    let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), STREAM_CHUNK);
    let headers =
        [(header::CONTENT_TYPE, "application/octet-stream".to_owned()), (header::CONTENT_LENGTH, size.to_string())];
    (headers, Body::from_stream(stream)).into_response()
}

/// Reads a whole request body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body is over {limit} bytes"))
    })
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint (see docs/REGISTRY.md and docs/HTTP.md)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not take that method")
}
