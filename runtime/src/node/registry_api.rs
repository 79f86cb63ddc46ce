//! The registry half of the node's HTTP API (docs/REGISTRY.md "HTTP API"): functions,
//! manifests and blobs. Every store call runs on a blocking thread; blob bodies stream in
//! and out without being held in memory.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;
use tokio_util::io::{StreamReader, SyncIoBridge};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::api::{BlobStored, FunctionDetail, FunctionList, Published, ResolvedVersion};
use wasmnn_registry::blobs::Written;
use wasmnn_registry::handler::is_valid_function_name;
use wasmnn_registry::manifest::{SignedManifest, SignedYank};
use wasmnn_registry::store::{Publish, StoreError};

use super::error::ApiError;
use super::{NodeState, file_response, read_body};

/// The largest signed manifest or statement accepted.
const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// `GET /v1/functions`.
pub async fn list_functions(State(node): State<Arc<NodeState>>) -> Result<Json<FunctionList>, ApiError> {
    let functions = node.blocking(|store| store.functions()).await?;
    Ok(Json(FunctionList { functions }))
}

/// The query of `GET /v1/functions/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    version: Option<String>,
}

/// `GET /v1/functions/{name}[?version=V]`: the function and the resolved version's
/// signed manifest.
pub async fn describe_function(
    State(node): State<Arc<NodeState>>,
    Path(name): Path<String>,
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FunctionDetail>, ApiError> {
    let name = checked_name(name)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let version = query.version.as_deref().map(parse_version).transpose()?;
    let detail = node
        .blocking(move |store| {
            let function = store.function(&name)?.ok_or_else(|| StoreError::UnknownFunction(name.clone()))?;
            let resolved = store.resolve(&name, version.as_ref())?;
            let manifest = serde_json::from_str(&store.manifest_json(&resolved.digest)?)
                .map_err(|e| StoreError::Index(format!("stored manifest does not parse: {e}")))?;
            Ok(FunctionDetail {
                function,
                resolved: ResolvedVersion { version: resolved.version, digest: resolved.digest, manifest },
            })
        })
        .await?;
    Ok(Json(detail))
}

/// `POST /v1/functions/{name}/yank`: a signed yank statement from the name's owner.
pub async fn yank(
    State(node): State<Arc<NodeState>>,
    Path(name): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let name = checked_name(name)?;
    let bytes = read_body(body, MAX_MANIFEST_BYTES).await?;
    let signed = SignedYank::from_json(&bytes)?;
    if signed.statement.name != name {
        return Err(ApiError::bad_request(
            "name_mismatch",
            format!("the statement is about {:?}, posted to {name:?}", signed.statement.name),
        ));
    }
    node.blocking(move |store| store.yank(&signed)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/manifests`: publish a signed manifest, or learn which blobs to upload first.
pub async fn post_manifest(State(node): State<Arc<NodeState>>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(body, MAX_MANIFEST_BYTES).await?;
    let signed = SignedManifest::from_json(&bytes)?;
    let published = Published {
        digest: signed.digest(),
        name: signed.manifest().name.clone(),
        version: signed.manifest().version.clone(),
    };
    match node.blocking(move |store| store.publish(&signed)).await? {
        Publish::Published { created } => {
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            Ok((status, Json(published)).into_response())
        }
        Publish::Missing(missing) => {
            let count = missing.len();
            let bytes: u64 = missing.iter().map(|b| b.size).sum();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "missing_blobs",
                format!("upload {count} missing blob(s), {bytes} bytes, with PUT /v1/blobs/{{digest}}, then post the manifest again"),
            )
            .with_missing(missing.into_iter().map(|b| b.digest).collect()))
        }
    }
}

/// `GET /v1/manifests/{digest}`: a published signed manifest, yanked or not.
pub async fn get_manifest(
    State(node): State<Arc<NodeState>>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    let digest = parse_digest(&digest)?;
    let json = node.blocking(move |store| store.manifest_json(&digest)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// `HEAD /v1/blobs/{digest}`: whether a good copy is stored, and its size.
pub async fn head_blob(State(node): State<Arc<NodeState>>, Path(digest): Path<String>) -> Result<Response, ApiError> {
    let digest = parse_digest(&digest)?;
    match node.blocking(move |store| store.blob_size(&digest)).await? {
        Some(size) => Ok(([(header::CONTENT_LENGTH, size.to_string())], ()).into_response()),
        None => Err(StoreError::UnknownBlob(digest).into()),
    }
}

/// `GET /v1/blobs/{digest}`: the blob's bytes, checked against the digest before the
/// first byte is sent.
pub async fn get_blob(State(node): State<Arc<NodeState>>, Path(digest): Path<String>) -> Result<Response, ApiError> {
    let digest = parse_digest(&digest)?;
    let (file, size) = node.blocking(move |store| store.open_blob(&digest)).await?;
    Ok(file_response(file, size))
}

/// `PUT /v1/blobs/{digest}`: a blob a pending manifest declares, streamed to disk through
/// the digest check. `Content-Length` is required.
pub async fn put_blob(
    State(node): State<Arc<NodeState>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let digest = parse_digest(&digest)?;
    let size = content_length(&headers)?;
    // A body that breaks off is the client's doing: ConnectionAborted marks it so.
    let stream = body.into_data_stream().map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionAborted, e));
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let written = node.blocking(move |store| store.put_blob(&digest, size, reader)).await?;
    let status = match written {
        Written::Stored => StatusCode::CREATED,
        Written::AlreadyPresent => StatusCode::OK,
    };
    Ok((status, Json(BlobStored { digest, size })).into_response())
}

pub(super) fn checked_name(name: String) -> Result<String, ApiError> {
    if is_valid_function_name(&name) {
        Ok(name)
    } else {
        Err(ApiError::bad_request(
            "invalid_name",
            format!("{name:?} is not a function name ([a-z0-9][a-z0-9._-]*, at most 64 bytes)"),
        ))
    }
}

pub(super) fn parse_version(text: &str) -> Result<semver::Version, ApiError> {
    text.parse().map_err(|e| ApiError::bad_request("invalid_version", format!("{text:?} is not a semver version: {e}")))
}

pub(super) fn parse_digest(text: &str) -> Result<Sha256Digest, ApiError> {
    Sha256Digest::parse_prefixed(text).map_err(|e| ApiError::bad_request("invalid_digest", e.to_string()))
}

fn content_length(headers: &HeaderMap) -> Result<u64, ApiError> {
    let value = headers.get(header::CONTENT_LENGTH).ok_or_else(|| {
        ApiError::new(StatusCode::LENGTH_REQUIRED, "length_required", "a blob upload needs a Content-Length header")
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("invalid_header", "Content-Length is not a number"))
}
