//! The OpenAI-compatible routes (DESIGN.md "Interfaces"; chat plan §4–5):
//! `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models[/{id}]`.
//!
//! A request's `model` names a function; it must resolve (highest version not yanked) to a
//! manifest whose `input` is [`CHAT_INPUT`] or [`EMBEDDINGS_INPUT`], else `404
//! model_not_found`. The whole body is the function's input; `seed` (0 to 2^53 - 1,
//! default 0) is the call's seed. Calls share admission, workers, cancellation, receipts,
//! recording and metrics with `/invoke`.
//!
//! Every object a chat function writes starts with `{"id"`; the node splices
//! `"created":T,` after the leading `{` ([`splice_created`], undone by
//! [`unsplice_created`]; `T` is the call's start in Unix seconds). The receipt's output
//! digest, and the recorded output, cover the guest's raw output. A non-streamed answer is
//! `200 application/json` with the `wasmnn-receipt-id` and `wasmnn-receipt` headers of
//! `/invoke`; a streamed one is server-sent events (`sse`). Embeddings are answered as the
//! function wrote them, without a splice.
//!
//! Errors are OpenAI's `{"error": {"message", "type", "param", "code"}}`; a handler error
//! that is itself such JSON is answered verbatim with `400`.

mod sse;
mod wire;

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use wasmnn_registry::handler::is_valid_function_name;
use wasmnn_registry::store::{Store, StoreError};

pub use wire::{splice_created, unsplice_created};

use super::calls::{self, Meter, Ran, Route, Selector, Target};
use super::error::ApiError;
use super::invoke_api::insert_receipt_headers;
use super::{NodeState, read_body};
use crate::InvokeError;

/// The manifest `input` of a chat function (`/v1/chat/completions`).
pub const CHAT_INPUT: &str = "application/json; profile=openai-chat";
/// The manifest `input` of an embeddings function (`/v1/embeddings`).
pub const EMBEDDINGS_INPUT: &str = "application/json; profile=openai-embeddings";

/// `GET /v1/models`: every function whose highest version not yanked is a chat or
/// embeddings function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// The models, by name.
    pub data: Vec<ModelEntry>,
}

/// A model in `/v1/models`: a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// The function name.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Always 0 (a function has no meaningful creation time).
    pub created: u64,
    /// The key that owns the name (`ed25519:…`).
    pub owned_by: String,
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(node): State<Arc<NodeState>>, body: Body) -> Response {
    let created = calls::unix_seconds();
    let mut meter = start_meter(&node);
    let span = meter.span().clone();
    let prepared = prepare(&node, &mut meter, body, CHAT_INPUT).instrument(span).await;
    match prepared {
        Err(error) => fail(meter, error),
        Ok(prepared) if prepared.request.stream => sse::respond(&node, meter, prepared, created).await,
        Ok(prepared) => whole(&node, meter, prepared, Some(created)).await,
    }
}

/// `POST /v1/embeddings` (never streamed).
pub async fn embeddings(State(node): State<Arc<NodeState>>, body: Body) -> Response {
    let mut meter = start_meter(&node);
    let span = meter.span().clone();
    match prepare(&node, &mut meter, body, EMBEDDINGS_INPUT).instrument(span).await {
        Err(error) => fail(meter, error),
        Ok(prepared) => whole(&node, meter, prepared, None).await,
    }
}

/// `GET /v1/models`.
pub async fn list_models(State(node): State<Arc<NodeState>>) -> Response {
    let listed = node.blocking(|store| {
        let mut data = Vec::new();
        for function in store.functions()? {
            data.extend(model_entry(store, &function.name)?);
        }
        Ok(data)
    });
    match listed.await {
        Ok(data) => Json(ModelList { object: "list".to_owned(), data }).into_response(),
        Err(error) => error.openai().into_response(),
    }
}

/// `GET /v1/models/{id}`.
pub async fn get_model(State(node): State<Arc<NodeState>>, Path(id): Path<String>) -> Response {
    if !is_valid_function_name(&id) {
        return model_not_found(&id).openai().into_response();
    }
    let name = id.clone();
    match node.blocking(move |store| model_entry(store, &name)).await {
        Ok(Some(entry)) => Json(entry).into_response(),
        Ok(None) => model_not_found(&id).openai().into_response(),
        Err(error) => error.openai().into_response(),
    }
}

/// The model entry of `name`, if its highest version not yanked is marked.
fn model_entry(store: &Store, name: &str) -> Result<Option<ModelEntry>, StoreError> {
    let Some(function) = store.function(name)? else { return Ok(None) };
    let resolved = match store.resolve(name, None) {
        Ok(resolved) => resolved,
        Err(StoreError::UnknownFunction(_) | StoreError::UnknownVersion { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let manifest = store.manifest(&resolved.digest)?;
    let input = manifest.manifest().input.as_str();
    Ok((input == CHAT_INPUT || input == EMBEDDINGS_INPUT).then(|| ModelEntry {
        id: function.name,
        object: "model".to_owned(),
        created: 0,
        owned_by: function.owner.to_string(),
    }))
}

/// An admitted request, read and parsed.
pub(super) struct Prepared {
    admitted: OwnedSemaphorePermit,
    target: Target,
    input: Bytes,
    request: wire::Request,
}

/// A meter and span for a call whose function is named in its body.
fn start_meter(node: &Arc<NodeState>) -> Meter {
    let span = tracing::info_span!("call", function = tracing::field::Empty, receipt = tracing::field::Empty);
    Meter::start(node, "-", span)
}

/// Admits the request, reads its body and the fields the node needs, and names the
/// function in `meter`.
async fn prepare(
    node: &Arc<NodeState>,
    meter: &mut Meter,
    body: Body,
    marker: &'static str,
) -> Result<Prepared, ApiError> {
    let admitted = calls::admit(node)?;
    let input = read_body(body, node.config.max_input_bytes).await?;
    let request = wire::parse_request(&input)?;
    if !is_valid_function_name(&request.model) {
        return Err(model_not_found(&request.model));
    }
    meter.name(&request.model);
    let target = Target { name: request.model.clone(), selector: Selector::default(), route: Route::OpenAi { marker } };
    Ok(Prepared { admitted, target, input, request })
}

/// Runs a call and answers with its whole output, `created` spliced in when given.
async fn whole(node: &Arc<NodeState>, meter: Meter, prepared: Prepared, created: Option<u64>) -> Response {
    let span = meter.span().clone();
    let Prepared { admitted, target, input, request } = prepared;
    let ran = async { calls::start(node, admitted, target, input, request.seed, None).await?.finish(node).await }
        .instrument(span)
        .await;
    meter.finish(ran.as_ref().map(|ran| &ran.receipt));
    match ran.and_then(|ran| json_response(&ran, created)) {
        Ok(response) => response,
        Err(error) => error.openai().into_response(),
    }
}

/// `200 application/json` with the output (spliced when `created` is given) and the
/// receipt headers.
fn json_response(ran: &Ran, created: Option<u64>) -> Result<Response, ApiError> {
    let body = created.map_or_else(|| ran.output.clone(), |t| Bytes::from(splice_created(&ran.output, t)));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    insert_receipt_headers(headers, &ran.receipt)?;
    Ok(response)
}

/// Counts a failed request and answers it in OpenAI's shape.
fn fail(meter: Meter, error: ApiError) -> Response {
    meter.finish(Err(&error));
    error.openai().into_response()
}

/// `404 model_not_found` about `name`.
pub(super) fn model_not_found(name: &str) -> ApiError {
    let message = format!("the model {name:?} does not exist, or is not a chat or embeddings function of this route");
    ApiError::new(StatusCode::NOT_FOUND, "model_not_found", message).with_param("model")
}

/// A failed call as the OpenAI routes answer it: handler errors are `400` (the guest's
/// own OpenAI error verbatim, else `handler_error`); limits, traps and deadlines answer as
/// on `/invoke`.
pub(super) fn invoke_error(error: InvokeError) -> ApiError {
    match error {
        InvokeError::Handler(message) => wire::handler_error(&message),
        other => calls::invoke_error(other),
    }
}
