//! Invocation over HTTP (DESIGN.md "Interfaces"): `POST /v1/functions/{name}/invoke`
//! runs a published function on the request body and answers with its output and a signed
//! receipt; `GET /v1/receipts/{id}` (and `/input`, `/output`) serve what was recorded.
//!
//! Calls are admitted up to `workers + queue` at once (beyond that: `429` with
//! `retry-after`), run `workers` at a time on blocking threads, and are cancelled when
//! the client goes away. A call that fails gets a JSON error and no receipt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::Instrument;
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::store::{CallBytes, CallData, StoreError};

use super::error::ApiError;
use super::recorder::CallToRecord;
use super::registry_api::{checked_name, parse_digest, parse_version};
use super::{NodeState, file_response, read_body};
use crate::InvokeError;
use crate::receipt::{RECEIPT_SCHEMA, Receipt, SignedReceipt, is_valid_seed};

/// The query of an invocation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeQuery {
    version: Option<String>,
    digest: Option<String>,
    seed: Option<String>,
}

/// `POST /v1/functions/{name}/invoke[?version=V|?digest=D][&seed=N]`. Each call gets a
/// tracing span and is counted in `/metrics`.
pub async fn invoke(
    State(node): State<Arc<NodeState>>,
    Path(name): Path<String>,
    query: Result<Query<InvokeQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let span = tracing::info_span!("call", function = %name, receipt = tracing::field::Empty);
    let result = call(&node, name.clone(), query, body).instrument(span.clone()).await;
    match &result {
        Ok((_, receipt, _)) => {
            span.record("receipt", receipt.id().prefixed());
            let stated = receipt.receipt();
            node.metrics.call(&name, "ok", started.elapsed(), Some((stated.fuel, stated.ops, &stated.backend)));
        }
        Err(error) => {
            // Names that resolve to nothing are not labels: they would grow without bound.
            let known = !matches!(error.code(), "unknown_function" | "invalid_name");
            node.metrics.call(if known { &name } else { "-" }, error.code(), started.elapsed(), None);
        }
    }
    let (output, receipt, content_type) = result?;
    let mut response = (StatusCode::OK, output).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(&content_type)?);
    headers.insert("wasmnn-receipt-id", header_value(&receipt.id().prefixed())?);
    headers.insert("wasmnn-receipt", header_value(&receipt.to_header())?);
    Ok(response)
}

/// Admits, resolves and runs one call: its output, receipt and content type.
async fn call(
    node: &Arc<NodeState>,
    name: String,
    query: Result<Query<InvokeQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<(Bytes, SignedReceipt, String), ApiError> {
    let name = checked_name(name)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let seed = parse_seed(query.seed.as_deref())?;
    let version = query.version.as_deref().map(parse_version).transpose()?;
    let digest = query.digest.as_deref().map(parse_digest).transpose()?;
    if version.is_some() && digest.is_some() {
        return Err(ApiError::bad_request("invalid_query", "give ?version= or ?digest=, not both"));
    }
    let Ok(admitted) = Arc::clone(&node.admission).try_acquire_owned() else {
        return Err(busy());
    };
    let input = read_body(body, node.config.max_input_bytes).await?;

    let worker = Arc::clone(&node.workers).acquire_owned().await.map_err(ApiError::internal)?;
    let cancel = CancelOnDrop::default();
    let flag = Arc::clone(&cancel.0);
    let runner = Arc::clone(node);
    let span = tracing::Span::current();
    let call = tokio::task::spawn_blocking(move || {
        let _slots = (admitted, worker);
        let _entered = span.enter();
        runner.run_call(&name, Selector { version, digest }, &input, seed, flag).map(|ran| (ran, input))
    });
    let ((output, receipt, content_type), input) = call.await.map_err(ApiError::internal)??;
    drop(cancel);
    let output = Bytes::from(output);
    let record = CallToRecord {
        id: receipt.id(),
        receipt_json: String::from_utf8(receipt.to_json()).map_err(ApiError::internal)?,
        input,
        output: output.clone(),
    };
    node.recorder.record(record).await?;
    Ok((output, receipt, content_type))
}

/// `GET /v1/receipts/{id}`: a recorded signed receipt.
pub async fn get_receipt(State(node): State<Arc<NodeState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_digest(&id)?;
    let json = node.blocking(move |store| store.call_receipt(&id)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// `GET /v1/receipts/{id}/input`: the recorded input bytes.
pub async fn get_input(node: State<Arc<NodeState>>, id: Path<String>) -> Result<Response, ApiError> {
    call_data(node, id, CallData::Input).await
}

/// `GET /v1/receipts/{id}/output`: the recorded output bytes.
pub async fn get_output(node: State<Arc<NodeState>>, id: Path<String>) -> Result<Response, ApiError> {
    call_data(node, id, CallData::Output).await
}

async fn call_data(
    State(node): State<Arc<NodeState>>,
    Path(id): Path<String>,
    which: CallData,
) -> Result<Response, ApiError> {
    let id = parse_digest(&id)?;
    match node.blocking(move |store| store.call_data(&id, which)).await? {
        CallBytes::Inline(bytes) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()),
        CallBytes::File(file, size) => Ok(file_response(file, size)),
    }
}

impl NodeState {
    /// Runs one call of the version of `name` that `selector` names: its output, signed
    /// receipt and the output's content type.
    fn run_call(
        &self,
        name: &str,
        selector: Selector,
        input: &[u8],
        seed: u64,
        cancel: Arc<AtomicBool>,
    ) -> Result<(Vec<u8>, SignedReceipt, String), ApiError> {
        let digest = match selector.digest {
            Some(digest) => digest,
            None => self.store.resolve(name, selector.version.as_ref())?.digest,
        };
        let (loaded, cached) = self.functions.get_or_load(&digest, &self.store, &self.runtime)?;
        self.metrics.cache_lookup(cached);
        let (manifest, function) = (&loaded.manifest, &loaded.function);
        if manifest.manifest().name != name {
            return Err(StoreError::UnknownManifest(digest).into());
        }
        let limits = self.config.cap(function.default_limits());
        let outcome = self.runtime.invoke(function, input, seed, &limits, Some(cancel)).map_err(invoke_error)?;
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
            time: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
        .sign(&self.key)
        .map_err(ApiError::internal)?;
        tracing::info!(
            function = %manifest.manifest().name, receipt = %receipt.id().prefixed(), fuel = outcome.fuel,
            ops = outcome.ops, backend = outcome.backend, "call"
        );
        Ok((output, receipt, manifest.manifest().output.clone()))
    }
}

/// Which version of a function a call names: by digest (which must be a version of the
/// name), by version, or (neither) the highest version not yanked.
struct Selector {
    version: Option<semver::Version>,
    digest: Option<Sha256Digest>,
}

/// Sets the call's cancel flag when the request goes away before the call ends.
#[derive(Default)]
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `429`: every worker is busy and the queue is full.
fn busy() -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", "every worker is busy and the queue is full; retry")
        .with_retry_after(1)
}

fn parse_seed(text: Option<&str>) -> Result<u64, ApiError> {
    let Some(text) = text else { return Ok(0) };
    match text.parse::<u64>() {
        Ok(seed) if is_valid_seed(seed) => Ok(seed),
        _ => Err(ApiError::bad_request("invalid_seed", format!("seed {text:?} must be an integer from 0 to 2^53 - 1"))),
    }
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(ApiError::internal)
}

/// A failed call as the API answers it: the function's own failures are `422` (they
/// are a property of the function and the input), a deadline `504`, cancellation `503`.
fn invoke_error(error: InvokeError) -> ApiError {
    let status = match &error {
        InvokeError::Deadline => StatusCode::GATEWAY_TIMEOUT,
        InvokeError::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, error.code(), error.to_string())
}
