//! Invocation over HTTP (DESIGN.md "Interfaces"): `POST /v1/functions/{name}/invoke`
//! runs a published function on the request body and answers with its output and a signed
//! receipt; `GET /v1/receipts/{id}` (and `/input`, `/output`) serve what was recorded.
//!
//! Calls are admitted up to `workers + queue` at once (beyond that: `429` with
//! `retry-after`), run `workers` at a time on blocking threads, and are cancelled when
//! the client goes away. A call that fails gets a JSON error and no receipt.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::Instrument;
use wasmnn_registry::api::{ListedReceipt, ReceiptPage};
use wasmnn_registry::store::{CallBytes, CallCursor, CallData};

use super::calls::{self, Meter, Ran, Route, Selector, Target};
use super::error::ApiError;
use super::registry_api::{checked_name, parse_digest, parse_version};
use super::{NodeState, file_response, read_body};
use crate::receipt::{SignedReceipt, is_valid_seed};

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
    let span = tracing::info_span!("call", function = %name, receipt = tracing::field::Empty);
    let meter = Meter::start(&node, &name, span.clone());
    let result = call(&node, name, query, body).instrument(span).await;
    meter.finish(result.as_ref().map(|ran| &ran.receipt));
    let ran = result?;
    let mut response = (StatusCode::OK, ran.output).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(&ran.content_type)?);
    insert_receipt_headers(headers, &ran.receipt)?;
    Ok(response)
}

/// Admits, resolves and runs one call, and records it.
async fn call(
    node: &Arc<NodeState>,
    name: String,
    query: Result<Query<InvokeQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Ran, ApiError> {
    let name = checked_name(name)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let seed = parse_seed(query.seed.as_deref())?;
    let version = query.version.as_deref().map(parse_version).transpose()?;
    let digest = query.digest.as_deref().map(parse_digest).transpose()?;
    if version.is_some() && digest.is_some() {
        return Err(ApiError::bad_request("invalid_query", "give ?version= or ?digest=, not both"));
    }
    let admitted = calls::admit(node)?;
    let input = read_body(body, node.config.max_input_bytes).await?;
    let target = Target { name, selector: Selector { version, digest }, route: Route::Invoke };
    calls::start(node, admitted, target, input, seed, None).await?.finish(node).await
}

/// Adds `wasmnn-receipt-id` and `wasmnn-receipt` (base64 of the signed receipt JSON).
///
/// # Errors
/// A value is not a valid header (a bug).
pub(super) fn insert_receipt_headers(
    headers: &mut axum::http::HeaderMap,
    receipt: &SignedReceipt,
) -> Result<(), ApiError> {
    headers.insert("wasmnn-receipt-id", header_value(&receipt.id().prefixed())?);
    headers.insert("wasmnn-receipt", header_value(&receipt.to_header())?);
    Ok(())
}

/// `GET /v1/receipts/{id}`: a recorded signed receipt.
pub async fn get_receipt(State(node): State<Arc<NodeState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_digest(&id)?;
    let json = node.blocking(move |store| store.call_receipt(&id)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// The most calls one `GET /v1/receipts` page lists.
const MAX_RECEIPTS_PER_PAGE: usize = 500;

/// The query of `GET /v1/receipts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptsQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/receipts?after=CURSOR&limit=N`: the calls this node recorded after the
/// cursor (`<seconds>` or `<seconds>-<hex>`; default: the oldest retained), oldest first,
/// at most `limit` (default and most: 500). Peers walk it to spot-check the node.
pub async fn list_receipts(
    State(node): State<Arc<NodeState>>,
    query: Result<Query<ReceiptsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReceiptPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let after = match query.after.as_deref() {
        Some(text) => text.parse::<CallCursor>().map_err(|e| ApiError::bad_request("invalid_query", e))?,
        None => CallCursor::default(),
    };
    let limit = query.limit.unwrap_or(MAX_RECEIPTS_PER_PAGE);
    if limit == 0 || limit > MAX_RECEIPTS_PER_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be from 1 to {MAX_RECEIPTS_PER_PAGE}, not {limit}"),
        ));
    }
    let from = after.clone();
    let calls = node.blocking(move |store| store.calls_after(&from, limit)).await?;
    let next = calls.last().map_or_else(|| after.to_string(), |(place, _)| place.to_string());
    let mut receipts = Vec::with_capacity(calls.len());
    for (place, json) in calls {
        let receipt: serde_json::Value = serde_json::from_str(&json).map_err(ApiError::internal)?;
        let hex = place.receipt.as_deref().unwrap_or_default();
        let id = wasmnn_registry::Sha256Digest::from_hex(hex).map_err(ApiError::internal)?;
        receipts.push(ListedReceipt { id, at: place.to_string(), receipt });
    }
    Ok(Json(ReceiptPage { receipts, next }))
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

fn parse_seed(text: Option<&str>) -> Result<u64, ApiError> {
    let Some(text) = text else { return Ok(0) };
    match text.parse::<u64>() {
        Ok(seed) if is_valid_seed(seed) => Ok(seed),
        _ => Err(ApiError::bad_request("invalid_seed", format!("seed {text:?} must be an integer from 0 to 2^53 - 1"))),
    }
}

pub(super) fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(ApiError::internal)
}
