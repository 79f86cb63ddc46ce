//! The node: `wasmnn serve`'s HTTP API on axum (hyper, tokio).
//!
//! So far it serves the registry (docs/REGISTRY.md): functions, manifests and blobs, and
//! `/healthz`. Every error is the JSON body of DESIGN.md "Interfaces", including those of
//! unknown paths and methods.

mod error;
mod registry_api;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use wasmnn_registry::api::HealthReport;
use wasmnn_registry::store::Store;

pub use error::ApiError;

/// What every request handler shares.
pub struct NodeState {
    store: Store,
}

impl NodeState {
    /// A node serving `store`.
    pub fn new(store: Store) -> Self {
        NodeState { store }
    }
}

/// The node's routes.
pub fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/functions", get(registry_api::list_functions))
        .route("/v1/functions/{name}", get(registry_api::describe_function))
        .route("/v1/functions/{name}/yank", post(registry_api::yank))
        .route("/v1/manifests", post(registry_api::post_manifest))
        .route("/v1/manifests/{digest}", get(registry_api::get_manifest))
        .route(
            "/v1/blobs/{digest}",
            get(registry_api::get_blob).head(registry_api::head_blob).put(registry_api::put_blob),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves; requests in flight finish.
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

/// `GET /healthz`.
async fn healthz(State(node): State<Arc<NodeState>>) -> Result<Json<HealthReport>, ApiError> {
    let node = Arc::clone(&node);
    let health = tokio::task::spawn_blocking(move || node.store.health()).await.map_err(ApiError::internal)??;
    Ok(Json(HealthReport {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        functions: health.functions,
        blobs: health.blobs,
        quarantined: health.quarantined,
    }))
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
