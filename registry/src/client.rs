//! A blocking HTTP client for a node's API (docs/REGISTRY.md "HTTP API", docs/HTTP.md):
//! what `wasmnn publish`, `pull`, `functions`, `yank`, `invoke` and `verify` speak.
//!
//! Everything the client is handed by a node is checked before it is returned: signed
//! manifests are parsed with [`SignedManifest::from_json`] (so their signatures verify) and
//! must have the digest they were asked for or claimed to have, blob bytes are hashed
//! while they stream and must match their digest, and a receipt fetched by id must have
//! that id. (Receipt signatures are checked by the caller, with the runtime's receipt
//! type.) Errors say which node, what request, and what the node answered
//! ([`ClientError`]).

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use ureq::http::{Response, header};
use ureq::{Agent, Body, SendBody};

use crate::Sha256Digest;
use crate::api::{self, ErrorBody, FunctionDetail, FunctionList, FunctionSummary, HealthReport, ReceiptPage};
use crate::canonical::to_canonical_json;
use crate::handler::is_valid_function_name;
use crate::manifest::{SignedManifest, SignedYank};
use crate::sse::SseReader;
use crate::store::CallData;

/// The largest JSON answer read (a function listing of a big node stays far below it).
const MAX_JSON_BYTES: u64 = 64 << 20;
/// How much of a body that is not a wasmnn error is quoted in [`ClientError::UnexpectedBody`].
const QUOTED_BYTES: usize = 200;
/// How long to wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an upload waits for the node's `100 Continue` before it sends the body anyway.
const AWAIT_100_TIMEOUT: Duration = Duration::from_secs(5);
/// Size of the buffer blobs are streamed through.
const CHUNK: usize = 1 << 16;
/// The largest invocation output read (a node's calls are capped far below it: 16 MiB).
const MAX_OUTPUT_BYTES: u64 = 1 << 30;
/// The header carrying a call's signed receipt (base64 of its JSON).
const RECEIPT_HEADER: &str = "wasmnn-receipt";
/// The header carrying a call's receipt id (`sha256:<hex>`).
const RECEIPT_ID_HEADER: &str = "wasmnn-receipt-id";
/// The largest event of a streamed answer read: a chunk holds a token or two, the final
/// receipt event about a kilobyte.
const MAX_EVENT_BYTES: usize = 1 << 20;
/// The header naming the manifest a streamed call runs.
const MANIFEST_HEADER: &str = "wasmnn-manifest";
/// How long a streamed call may take to start answering (its prompt runs first).
const STREAM_START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a streamed answer may take in all.
const STREAM_TIMEOUT: Duration = Duration::from_secs(1800);

/// A client for one node's registry API.
#[derive(Clone)]
pub struct RegistryClient {
    /// The node's base URL, without a trailing slash.
    base: String,
    agent: Agent,
}

/// What posting a signed manifest did ([`RegistryClient::post_manifest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// The version is published.
    Published {
        /// `true` if this post published it (`201`), `false` if it already was (`200`).
        created: bool,
        /// The manifest digest, as the node confirmed it.
        digest: Sha256Digest,
    },
    /// The node lacks these blobs (`409 missing_blobs`): upload them with
    /// [`RegistryClient::put_blob`], then post the manifest again.
    Missing(Vec<Sha256Digest>),
}

/// Which version of a function an invocation runs, and with what seed
/// ([`RegistryClient::invoke`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvokeQuery {
    /// Run this version (`?version=`).
    pub version: Option<semver::Version>,
    /// Run exactly this manifest (`?digest=`); it must be a version of the function.
    pub digest: Option<Sha256Digest>,
    /// The seed of the guest's random numbers (`?seed=`); the node's default is 0.
    pub seed: Option<u64>,
}

/// What a successful invocation answered ([`RegistryClient::invoke`]). The receipt is
/// returned as sent: the caller parses it and checks its signature and digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoked {
    /// The output bytes: the emitted chunks, then the returned bytes.
    pub output: Vec<u8>,
    /// The output's content type (from the manifest's `output`), if the node sent one.
    pub content_type: Option<String>,
    /// The `wasmnn-receipt` header: base64 of the signed receipt JSON.
    pub receipt_header: String,
    /// The `wasmnn-receipt-id` header: `sha256:<hex>`.
    pub receipt_id: String,
}

/// A streamed chat completion being received ([`RegistryClient::chat_stream`]).
#[derive(Debug)]
pub struct ChatStream<R> {
    /// The events, read as they arrive.
    pub events: SseReader<R>,
    /// The manifest the node runs (the `wasmnn-manifest` header), if it named one.
    pub manifest: Option<Sha256Digest>,
}

/// Errors talking to a node. Each names the node or the request, so that the message alone
/// tells a user what happened.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node URL is not `http://host[:port]` or `https://host[:port]`.
    #[error("{url:?} is not a node URL: {reason} (expected http://HOST:PORT or https://HOST[:PORT])")]
    BadUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A function name that cannot be valid, so it is not sent.
    #[error("{0:?} is not a function name ([a-z0-9][a-z0-9._-]*, at most 64 bytes)")]
    BadName(String),
    /// The request did not get an HTTP answer: connection refused, DNS, TLS, timeout, or
    /// the connection broke off.
    #[error("{method} {url} failed: {cause}")]
    Transport {
        /// The request method.
        method: &'static str,
        /// The full request URL.
        url: String,
        /// What ureq reported (part of the message, so not also a `source`).
        cause: Box<ureq::Error>,
    },
    /// The node refused the request with a wasmnn error body.
    #[error("node {node} {}: {status} {code}: {message}", refused_or_failed(*.status))]
    Api {
        /// The node's base URL.
        node: String,
        /// The HTTP status.
        status: u16,
        /// The stable error code (`name_taken`, `unknown_function`, …).
        code: String,
        /// The node's explanation.
        message: String,
    },
    /// The node answered with an error status and a body that is not a wasmnn error (a
    /// proxy, or not a wasmnn node at all).
    #[error("{method} {url} answered {status} with a body that is not a wasmnn error: {snippet}")]
    UnexpectedBody {
        /// The request method.
        method: &'static str,
        /// The full request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body (at most 200 bytes, lossily decoded), or `(empty)`.
        snippet: String,
    },
    /// The node's answer is not what the protocol says: an unexpected status, JSON that does
    /// not parse, a manifest that does not verify or has the wrong digest, blob bytes that
    /// do not match their digest.
    #[error("{0}")]
    Protocol(String),
    /// Reading the local bytes to upload, or writing downloaded bytes, failed.
    #[error("{what}: {cause}")]
    Local {
        /// What was being read or written.
        what: String,
        /// The I/O error (part of the message, so not also a `source`).
        cause: io::Error,
    },
}

impl ClientError {
    /// The HTTP status of a refusal by the node, if that is what this error is.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::UnexpectedBody { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The node's stable error code, if the node refused with a wasmnn error body.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn refused_or_failed(status: u16) -> &'static str {
    if status >= 500 { "failed" } else { "refused" }
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient").field("url", &self.base).finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for the node at `url`: `http://host:port` or `https://host[:port]`, with or
    /// without a trailing slash (a path prefix, for a node behind a reverse proxy, is
    /// kept). No request is made.
    ///
    /// # Errors
    /// [`ClientError::BadUrl`] for anything else: no scheme, another scheme, no host, a
    /// bad port, user info, a query or a fragment.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let base = normalize_url(url)?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_await_100(Some(AWAIT_100_TIMEOUT))
            .user_agent(concat!("wasmnn/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(RegistryClient { base, agent: config.new_agent() })
    }

    /// The node's base URL, as normalized by [`RegistryClient::new`] (no trailing slash).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`: the node's status and counts.
    ///
    /// # Errors
    /// Transport errors, a refusal, or an answer that is not a health report.
    pub fn health(&self) -> Result<HealthReport, ClientError> {
        self.get_json("/healthz", None)
    }

    /// `GET /v1/functions`: every function on the node, by name.
    ///
    /// # Errors
    /// Transport errors, a refusal, or an answer that is not a listing.
    pub fn functions(&self) -> Result<Vec<FunctionSummary>, ClientError> {
        Ok(self.get_json::<FunctionList>("/v1/functions", None)?.functions)
    }

    /// `GET /v1/functions/{name}[?version=V]`: the function's owner and versions, and the
    /// version `version` (or else the highest one not yanked) with its signed manifest,
    /// unchecked; [`RegistryClient::resolve`] checks it.
    ///
    /// # Errors
    /// [`ClientError::BadName`] for an impossible name; [`ClientError::Api`] with
    /// `unknown_function`, `unknown_version` or `version_yanked`; transport or protocol
    /// errors.
    pub fn function(&self, name: &str, version: Option<&semver::Version>) -> Result<FunctionDetail, ClientError> {
        check_name(name)?;
        let version = version.map(ToString::to_string);
        self.get_json(&format!("/v1/functions/{name}"), version.as_deref())
    }

    /// Resolves `name` (at `version`, or the highest version not yanked) to its manifest
    /// digest and signed manifest, checked: the signature verifies, the digest is the one
    /// the node claims, and the name and version are the ones asked for.
    ///
    /// # Errors
    /// As [`RegistryClient::function`], and [`ClientError::Protocol`] if the manifest does
    /// not verify or does not match.
    pub fn resolve(
        &self,
        name: &str,
        version: Option<&semver::Version>,
    ) -> Result<(Sha256Digest, SignedManifest), ClientError> {
        let detail = self.function(name, version)?;
        let resolved = detail.resolved;
        let what = format!("{name}@{}", resolved.version);
        let json = serde_json::to_vec(&resolved.manifest)
            .map_err(|e| self.protocol(format!("the manifest of {what} cannot be re-encoded: {e}")))?;
        let signed = SignedManifest::from_json(&json)
            .map_err(|e| self.protocol(format!("sent a bad manifest for {what}: {e}")))?;
        if signed.digest() != resolved.digest {
            return Err(self.protocol(format!(
                "claims {what} is {:?}, but the manifest it sent is {:?}",
                resolved.digest,
                signed.digest()
            )));
        }
        let manifest = signed.manifest();
        let wanted_version = version.unwrap_or(&resolved.version);
        if manifest.name != name || manifest.version != *wanted_version || manifest.version != resolved.version {
            return Err(self.protocol(format!(
                "answered a request for {name}@{} with the manifest of {}@{}",
                version.map_or_else(|| "latest".to_owned(), ToString::to_string),
                manifest.name,
                manifest.version
            )));
        }
        Ok((resolved.digest, signed))
    }

    /// `GET /v1/manifests/sha256:<hex>`: the signed manifest with this digest (yanked or
    /// not), checked: its signature verifies and its digest is `digest`.
    ///
    /// # Errors
    /// [`ClientError::Api`] with `unknown_manifest`; transport errors;
    /// [`ClientError::Protocol`] if the manifest does not verify or has another digest.
    pub fn manifest(&self, digest: &Sha256Digest) -> Result<SignedManifest, ClientError> {
        let path = format!("/v1/manifests/{}", digest.prefixed());
        let url = self.endpoint(&path);
        let mut response = self.send("GET", &url, self.agent.get(&url).call())?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("GET", &url, &mut response));
        }
        let body = self.read_json_body("GET", &url, &mut response)?;
        let signed = SignedManifest::from_json(&body)
            .map_err(|e| self.protocol(format!("sent a bad manifest for {digest:?}: {e}")))?;
        if signed.digest() != *digest {
            return Err(self.protocol(format!("was asked for manifest {digest:?} and sent {:?}", signed.digest())));
        }
        Ok(signed)
    }

    /// `POST /v1/manifests`: publishes `signed`, or learns which blobs the node lacks.
    ///
    /// # Errors
    /// [`ClientError::Api`] for any refusal other than `409 missing_blobs` (`name_taken`,
    /// `version_exists`, `not_allowed`, `quota_exceeded`, …); transport or protocol errors.
    pub fn post_manifest(&self, signed: &SignedManifest) -> Result<PostOutcome, ClientError> {
        let url = self.endpoint("/v1/manifests");
        let request = self.agent.post(&url).content_type("application/json");
        let mut response = self.send("POST", &url, request.send(signed.to_json()))?;
        let status = response.status().as_u16();
        match status {
            200 | 201 => {
                let body = self.read_json_body("POST", &url, &mut response)?;
                let published: api::Published = self.parse_json("POST", &url, &body)?;
                if published.digest != signed.digest() {
                    return Err(self.protocol(format!(
                        "published manifest {:?} but reports it as {:?}",
                        signed.digest(),
                        published.digest
                    )));
                }
                Ok(PostOutcome::Published { created: status == 201, digest: published.digest })
            }
            409 => {
                let body = read_limited(&mut response, MAX_JSON_BYTES).map_err(|e| self.transport("POST", &url, e))?;
                match serde_json::from_slice::<ErrorBody>(&body) {
                    Ok(error) if error.error.code == "missing_blobs" => {
                        let declared = signed.manifest().blobs();
                        if let Some(odd) =
                            error.error.missing.iter().find(|d| !declared.iter().any(|b| b.digest == **d))
                        {
                            return Err(
                                self.protocol(format!("asks for blob {odd:?}, which the manifest does not declare"))
                            );
                        }
                        Ok(PostOutcome::Missing(error.error.missing))
                    }
                    _ => Err(error_from_body(&self.base, "POST", &url, status, &body)),
                }
            }
            _ => Err(self.refusal("POST", &url, &mut response)),
        }
    }

    /// `HEAD /v1/blobs/sha256:<hex>`: the size of the blob if the node has it (a good copy),
    /// `None` if it does not.
    ///
    /// # Errors
    /// Transport errors, another refusal than 404, or an answer without a valid
    /// `Content-Length`.
    pub fn blob_size(&self, digest: &Sha256Digest) -> Result<Option<u64>, ClientError> {
        let url = self.endpoint(&format!("/v1/blobs/{}", digest.prefixed()));
        let mut response = self.send("HEAD", &url, self.agent.head(&url).call())?;
        match response.status().as_u16() {
            200 => content_length(&response)
                .map(Some)
                .ok_or_else(|| self.protocol(format!("answered HEAD {url} without a valid Content-Length"))),
            404 => Ok(None),
            _ => Err(self.refusal("HEAD", &url, &mut response)),
        }
    }

    /// `PUT /v1/blobs/sha256:<hex>`: uploads `size` bytes from `reader` as the blob
    /// `digest`, with an explicit `Content-Length` (never chunked) and
    /// `Expect: 100-continue`, so that a node that refuses the blob does so before the body
    /// is sent. `progress` is called with the number of bytes sent so far. Returns `true` if
    /// the node stored the blob, `false` if it already had it.
    ///
    /// The node accepts only blobs that a manifest it was sent (and that still waits for
    /// them) declares with exactly this size: post the manifest first.
    ///
    /// # Errors
    /// [`ClientError::Local`] if `reader` fails or ends before `size` bytes;
    /// [`ClientError::Api`] with `blob_not_expected`, `digest_mismatch`, `size_mismatch`,
    /// `quota_exceeded`, …; transport or protocol errors.
    pub fn put_blob(
        &self,
        digest: &Sha256Digest,
        size: u64,
        reader: impl Read,
        progress: impl FnMut(u64),
    ) -> Result<bool, ClientError> {
        let url = self.endpoint(&format!("/v1/blobs/{}", digest.prefixed()));
        let local_error = Arc::new(Mutex::new(None));
        let mut body = UploadReader { inner: reader, size, sent: 0, progress, error: Arc::clone(&local_error) };
        let request = self
            .agent
            .put(&url)
            .header(header::CONTENT_LENGTH, size)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::EXPECT, "100-continue");
        let sent = request.send(SendBody::from_reader(&mut body));
        let local = local_error.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(source) = local {
            return Err(ClientError::Local {
                what: format!("reading the bytes of blob {digest:?} to upload"),
                cause: source,
            });
        }
        let mut response = self.send("PUT", &url, sent)?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 201) {
            return Err(self.refusal("PUT", &url, &mut response));
        }
        let answer = self.read_json_body("PUT", &url, &mut response)?;
        let stored: api::BlobStored = self.parse_json("PUT", &url, &answer)?;
        if stored.digest != *digest || stored.size != size {
            return Err(self.protocol(format!(
                "was sent blob {digest:?} ({size} bytes) and reports storing {:?} ({} bytes)",
                stored.digest, stored.size
            )));
        }
        Ok(status == 201)
    }

    /// `GET /v1/blobs/sha256:<hex>`: streams the blob into `writer`, hashing as it goes;
    /// `progress` is called with the number of bytes received so far. Returns the blob's
    /// size.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] if the bytes do not hash to `digest` or are not as long as
    /// the node announced; everything written to `writer` must then be discarded.
    /// [`ClientError::Api`] with `unknown_blob` or `blob_corrupt`; [`ClientError::Local`]
    /// if `writer` fails; transport errors (also for a connection that breaks off).
    pub fn get_blob(
        &self,
        digest: &Sha256Digest,
        mut writer: impl Write,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ClientError> {
        let url = self.endpoint(&format!("/v1/blobs/{}", digest.prefixed()));
        let mut hasher = Sha256::new();
        let what = format!("blob {digest:?}");
        let received = self.download(&url, &what, &mut writer, |chunk, received| {
            hasher.update(chunk);
            progress(received);
        })?;
        let actual = Sha256Digest::from(hasher);
        if actual != *digest {
            return Err(self.protocol(format!(
                "sent bytes for blob {digest:?} that hash to {actual:?}; discard what was received"
            )));
        }
        Ok(received)
    }

    /// `POST /v1/functions/{name}/yank`: applies the owner's signed yank statement.
    ///
    /// # Errors
    /// [`ClientError::BadName`]; [`ClientError::Api`] with `unknown_function`,
    /// `unknown_version`, `not_owner`, `stale_statement`, …; transport or protocol errors.
    pub fn post_yank(&self, yank: &SignedYank) -> Result<(), ClientError> {
        let name = &yank.statement.name;
        check_name(name)?;
        let json = yank.to_json().map_err(|e| self.protocol(format!("cannot encode the yank statement: {e}")))?;
        let url = self.endpoint(&format!("/v1/functions/{name}/yank"));
        let request = self.agent.post(&url).content_type("application/json");
        let mut response = self.send("POST", &url, request.send(json))?;
        if !(200..300).contains(&response.status().as_u16()) {
            return Err(self.refusal("POST", &url, &mut response));
        }
        Ok(())
    }

    /// `POST /v1/functions/{name}/invoke[?version=|?digest=][&seed=]`: runs the function
    /// on `input` and returns its output with the receipt headers (unchecked: parse them
    /// with the runtime's `SignedReceipt::from_header`).
    ///
    /// # Errors
    /// [`ClientError::BadName`] for an impossible name; [`ClientError::Api`] for a refusal
    /// or a failed call (`unknown_function`, `handler_error`, `out_of_fuel`, `queue_full`,
    /// …); [`ClientError::Protocol`] for a `200` without the receipt headers or an output
    /// over 1 GiB; transport errors.
    pub fn invoke(&self, name: &str, query: &InvokeQuery, input: &[u8]) -> Result<Invoked, ClientError> {
        check_name(name)?;
        let url = self.endpoint(&format!("/v1/functions/{name}/invoke"));
        let mut request = self.agent.post(&url).content_type("application/octet-stream");
        if let Some(version) = &query.version {
            request = request.query("version", version.to_string());
        }
        if let Some(digest) = &query.digest {
            request = request.query("digest", digest.prefixed());
        }
        if let Some(seed) = query.seed {
            request = request.query("seed", seed.to_string());
        }
        let mut response = self.send("POST", &url, request.send(input))?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("POST", &url, &mut response));
        }
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned());
        let missing = |what: &str| self.protocol(format!("answered POST {url} with 200 but no {what} header"));
        let receipt_header = header(RECEIPT_HEADER).ok_or_else(|| missing(RECEIPT_HEADER))?;
        let receipt_id = header(RECEIPT_ID_HEADER).ok_or_else(|| missing(RECEIPT_ID_HEADER))?;
        let content_type = header(header::CONTENT_TYPE.as_str());
        let output = read_limited(&mut response, MAX_OUTPUT_BYTES).map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(limit) => {
                self.protocol(format!("answered POST {url} with an output over {limit} bytes"))
            }
            e => self.transport("POST", &url, e),
        })?;
        Ok(Invoked { output, content_type, receipt_header, receipt_id })
    }

    /// `POST /v1/chat/completions` with `body`, a chat request that asks for
    /// `"stream": true` (docs/HTTP.md "OpenAI-compatible endpoints"): the answer's events,
    /// read as they arrive, and the manifest the node announced. The events are not checked
    /// here: the caller rebuilds the output from them and checks it against the receipt in
    /// the final `wasmnn-receipt` event (`wasmnn_runtime::streamed`). A node that sends no
    /// answer within 5 minutes, or no end of it within 30, is given up on.
    ///
    /// # Errors
    /// [`ClientError::Api`] when the node refuses the request or the call fails before its
    /// first chunk (`model_not_found`, `invalid_value`, `context_length_exceeded`, …);
    /// [`ClientError::Protocol`] for a `200` that is not an event stream; transport errors.
    pub fn chat_stream(&self, body: &[u8]) -> Result<ChatStream<impl BufRead + use<>>, ClientError> {
        let url = self.endpoint("/v1/chat/completions");
        let request = self
            .agent
            .post(&url)
            .content_type("application/json")
            .header(header::ACCEPT, "text/event-stream")
            .config()
            .timeout_recv_response(Some(STREAM_START_TIMEOUT))
            .timeout_recv_body(Some(STREAM_TIMEOUT))
            .build();
        let mut response = self.send("POST", &url, request.send(body))?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("POST", &url, &mut response));
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let content_type = header(header::CONTENT_TYPE.as_str());
        if !content_type.starts_with("text/event-stream") {
            return Err(self.protocol(format!("answered POST {url} with {content_type:?}, not an event stream")));
        }
        let manifest = match header(MANIFEST_HEADER).as_str() {
            "" => None,
            text => Some(Sha256Digest::parse_prefixed(text).map_err(|e| {
                self.protocol(format!("answered POST {url} with a {MANIFEST_HEADER} header that is not a digest: {e}"))
            })?),
        };
        let reader = io::BufReader::new(response.into_body().into_reader());
        Ok(ChatStream { events: SseReader::new(reader, MAX_EVENT_BYTES), manifest })
    }

    /// `GET /v1/receipts/sha256:<hex>`: the signed receipt JSON recorded under `id`, as
    /// the node sent it, checked only in that its receipt has the id `id` (the sha256 of
    /// its canonical JSON); the caller checks the signature.
    ///
    /// # Errors
    /// [`ClientError::Api`] with `unknown_receipt` (never recorded there, or past its
    /// retention); [`ClientError::Protocol`] if the answer is not a receipt envelope or its
    /// receipt has another id; transport errors.
    pub fn receipt(&self, id: &Sha256Digest) -> Result<Vec<u8>, ClientError> {
        let url = self.endpoint(&format!("/v1/receipts/{}", id.prefixed()));
        let mut response = self.send("GET", &url, self.agent.get(&url).call())?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("GET", &url, &mut response));
        }
        let body = self.read_json_body("GET", &url, &mut response)?;
        let envelope: serde_json::Value = self.parse_json("GET", &url, &body)?;
        let receipt = envelope
            .get("receipt")
            .ok_or_else(|| self.protocol(format!("answered GET {url} with JSON that is not a signed receipt")))?;
        let canonical = to_canonical_json(receipt)
            .map_err(|e| self.protocol(format!("answered GET {url} with a receipt that has no canonical form: {e}")))?;
        let actual = Sha256Digest::of_bytes(&canonical);
        if actual != *id {
            return Err(self.protocol(format!("was asked for receipt {id:?} and sent receipt {actual:?}")));
        }
        Ok(body)
    }

    /// `GET /v1/receipts?after=CURSOR&limit=N`: up to `limit` calls the node recorded
    /// after `after` (a [`CallCursor`](crate::store::CallCursor) as text), oldest first.
    /// Nothing is checked here: verify each receipt's signature and id.
    ///
    /// # Errors
    /// [`ClientError::Api`] with `invalid_query`; transport and protocol errors.
    pub fn receipts_after(&self, after: &str, limit: usize) -> Result<ReceiptPage, ClientError> {
        self.get_json_query("/v1/receipts", &[("after", after), ("limit", &limit.to_string())])
    }

    /// `GET /v1/receipts/sha256:<hex>/input` or `/output`: streams the recorded input or
    /// output bytes of the call `id` into `writer`; returns how many there were. The bytes
    /// are not checked here: hash them and compare with the receipt's digest.
    ///
    /// # Errors
    /// [`ClientError::Api`] with `unknown_receipt` or `blob_corrupt`;
    /// [`ClientError::Protocol`] if fewer or more bytes arrive than the node announced;
    /// [`ClientError::Local`] if `writer` fails; transport errors.
    pub fn call_data(&self, id: &Sha256Digest, which: CallData, mut writer: impl Write) -> Result<u64, ClientError> {
        let part = match which {
            CallData::Input => "input",
            CallData::Output => "output",
        };
        let url = self.endpoint(&format!("/v1/receipts/{}/{part}", id.prefixed()));
        self.download(&url, &format!("the {part} of receipt {id:?}"), &mut writer, |_, _| {})
    }

    /// GETs `url` and streams a `200` body into `writer`, calling `on_chunk` with each
    /// chunk and the bytes received so far; checks the count against `Content-Length`.
    /// `what` names the bytes in errors. Returns how many bytes arrived.
    fn download(
        &self,
        url: &str,
        what: &str,
        writer: &mut impl Write,
        mut on_chunk: impl FnMut(&[u8], u64),
    ) -> Result<u64, ClientError> {
        let mut response = self.send("GET", url, self.agent.get(url).call())?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("GET", url, &mut response));
        }
        let announced = content_length(&response);
        let mut reader = response.body_mut().as_reader();
        let local = |cause| ClientError::Local { what: format!("writing {what}"), cause };
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.transport("GET", url, ureq::Error::Io(e))),
            };
            writer.write_all(&buf[..n]).map_err(local)?;
            received += n as u64;
            on_chunk(&buf[..n], received);
        }
        writer.flush().map_err(local)?;
        if let Some(announced) = announced.filter(|&a| a != received) {
            return Err(self.protocol(format!(
                "announced {announced} bytes for {what} but sent {received}; discard what was received"
            )));
        }
        Ok(received)
    }

    /// `base + path`.
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path` (with `?version=`, percent-encoded) and parses a `200` JSON answer.
    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, version: Option<&str>) -> Result<T, ClientError> {
        self.get_json_query(path, version.map(|v| ("version", v)).as_slice())
    }

    /// GETs `path` with the `query` pairs (percent-encoded) and parses a `200` JSON answer.
    fn get_json_query<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let url = self.endpoint(path);
        let mut request = self.agent.get(&url).header(header::ACCEPT, "application/json");
        for (name, value) in query {
            request = request.query(*name, *value);
        }
        let mut response = self.send("GET", &url, request.call())?;
        if response.status().as_u16() != 200 {
            return Err(self.refusal("GET", &url, &mut response));
        }
        let body = self.read_json_body("GET", &url, &mut response)?;
        self.parse_json("GET", &url, &body)
    }

    /// Turns a ureq result into a response, or a transport error naming the request.
    fn send(
        &self,
        method: &'static str,
        url: &str,
        result: Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, ClientError> {
        result.map_err(|e| self.transport(method, url, e))
    }

    fn transport(&self, method: &'static str, url: &str, source: ureq::Error) -> ClientError {
        ClientError::Transport { method, url: url.to_owned(), cause: Box::new(source) }
    }

    fn protocol(&self, message: String) -> ClientError {
        ClientError::Protocol(format!("node {} {message}", self.base))
    }

    /// The error for a response whose status is not the expected one.
    fn refusal(&self, method: &'static str, url: &str, response: &mut Response<Body>) -> ClientError {
        let status = response.status().as_u16();
        if (200..400).contains(&status) {
            return self.protocol(format!("answered {method} {url} with an unexpected status {status}"));
        }
        match read_limited(response, MAX_JSON_BYTES) {
            Ok(body) => error_from_body(&self.base, method, url, status, &body),
            Err(e) => self.transport(method, url, e),
        }
    }

    fn read_json_body(
        &self,
        method: &'static str,
        url: &str,
        response: &mut Response<Body>,
    ) -> Result<Vec<u8>, ClientError> {
        read_limited(response, MAX_JSON_BYTES).map_err(|e| self.transport(method, url, e))
    }

    fn parse_json<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        url: &str,
        body: &[u8],
    ) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| {
            self.protocol(format!("answered {method} {url} with JSON that is not what the protocol says: {e}"))
        })
    }
}

/// Reads a whole (small) body, refusing more than `limit` bytes.
fn read_limited(response: &mut Response<Body>, limit: u64) -> Result<Vec<u8>, ureq::Error> {
    response.body_mut().with_config().limit(limit).read_to_vec()
}

/// The `Content-Length` of a response, if present and a number.
fn content_length(response: &Response<Body>) -> Option<u64> {
    response.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// The error for an error status with `body`: [`ClientError::Api`] when it is a wasmnn
/// error body, else [`ClientError::UnexpectedBody`] quoting its start.
fn error_from_body(node: &str, method: &'static str, url: &str, status: u16, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => {
            ClientError::Api { node: node.to_owned(), status, code: error.error.code, message: error.error.message }
        }
        Err(_) => {
            let quoted = &body[..body.len().min(QUOTED_BYTES)];
            let mut snippet = String::from_utf8_lossy(quoted).trim().to_owned();
            if snippet.is_empty() {
                snippet = "(empty)".to_owned();
            } else if body.len() > QUOTED_BYTES {
                snippet.push('…');
            }
            ClientError::UnexpectedBody { method, url: url.to_owned(), status, snippet }
        }
    }
}

fn check_name(name: &str) -> Result<(), ClientError> {
    if is_valid_function_name(name) { Ok(()) } else { Err(ClientError::BadName(name.to_owned())) }
}

/// Checks a node URL and returns it without a trailing slash.
fn normalize_url(url: &str) -> Result<String, ClientError> {
    let bad = |reason: &str| ClientError::BadUrl { url: url.to_owned(), reason: reason.to_owned() };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(if url.contains(':') && !url.contains('/') {
            ClientError::BadUrl { url: url.to_owned(), reason: format!("no scheme; did you mean http://{url}?") }
        } else {
            bad("no http:// or https:// scheme")
        });
    };
    if !matches!(scheme, "http" | "https") {
        return Err(bad(&format!("the scheme must be http or https, not {scheme:?}")));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace"));
    }
    if url.contains(['?', '#']) {
        return Err(bad("a node URL has no query or fragment"));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(bad("user info (user@host) is not supported"));
    }
    let host_end = if authority.starts_with('[') {
        authority.find(']').map(|i| i + 1).ok_or_else(|| bad("an IPv6 address must end with ]"))?
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if host.is_empty() || host == "[]" {
        return Err(bad("no host"));
    }
    if let Some(port) = port.strip_prefix(':') {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(bad(&format!("bad port {port:?}")));
        }
    } else if !port.is_empty() {
        return Err(bad("a host is followed by :PORT or /"));
    }
    if path.contains("//") {
        return Err(bad("the path has an empty segment"));
    }
    let base = format!("{scheme}://{authority}{}", path.trim_end_matches('/'));
    base.parse::<ureq::http::Uri>().map_err(|e| bad(&e.to_string()))?;
    Ok(base)
}

/// The body of an upload: reads exactly `size` bytes from `inner`, reports progress, and
/// keeps the first local error so that it is not mistaken for a network error.
struct UploadReader<R, P> {
    inner: R,
    size: u64,
    sent: u64,
    progress: P,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl<R: Read, P: FnMut(u64)> Read for UploadReader<R, P> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size - self.sent;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let result = loop {
            match self.inner.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let error = match result {
            Ok(0) => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the source ended after {} of {} bytes", self.sent, self.size),
            ),
            Ok(n) => {
                self.sent += n as u64;
                (self.progress)(self.sent);
                return Ok(n);
            }
            Err(e) => e,
        };
        let kind = error.kind();
        let message = error.to_string();
        let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(error);
        Err(io::Error::new(kind, message))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn urls_are_normalized() {
        for (given, expected) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("https://registry.example.com", "https://registry.example.com"),
            ("https://registry.example.com/", "https://registry.example.com"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("http://localhost:8080/wasmnn/", "http://localhost:8080/wasmnn"),
        ] {
            let client = RegistryClient::new(given).unwrap();
            assert_eq!(client.url(), expected, "{given}");
        }
    }

    #[test]
    fn bad_urls_are_refused_clearly() {
        for (given, says) in [
            ("127.0.0.1:8080", "did you mean http://127.0.0.1:8080?"),
            ("localhost", "no http:// or https:// scheme"),
            ("ftp://host", "the scheme must be http or https"),
            ("http://", "no host"),
            ("http:///x", "no host"),
            ("http://host:", "bad port"),
            ("http://host:99999", "bad port"),
            ("http://host:0", "bad port"),
            ("http://host:8a", "bad port"),
            ("http://user@host", "user info"),
            ("http://host/?x=1", "no query"),
            ("http://host#f", "no query"),
            ("http://ho st", "whitespace"),
            ("http://[::1", "must end with ]"),
            ("http://[::1]x", "followed by :PORT"),
            ("http://host//x", "empty segment"),
            ("", "no http:// or https:// scheme"),
        ] {
            let error = RegistryClient::new(given).unwrap_err();
            assert!(matches!(error, ClientError::BadUrl { .. }), "{given}: {error:?}");
            let shown = error.to_string();
            assert!(shown.contains(says), "{given}: {shown}");
            assert!(shown.contains("http://HOST:PORT"), "{given}: {shown}");
        }
    }

    #[test]
    fn wasmnn_error_bodies_become_api_errors() {
        let owner = "ed25519:AAAA";
        let body = serde_json::to_vec(&ErrorBody::new(
            403,
            "name_taken",
            format!("function \"orientation\" belongs to publisher {owner}"),
        ))
        .unwrap();
        let url = "http://127.0.0.1:8080/v1/manifests";
        let error = error_from_body("http://127.0.0.1:8080", "POST", url, 403, &body);
        assert_eq!(error.status(), Some(403));
        assert_eq!(error.code(), Some("name_taken"));
        assert_eq!(
            error.to_string(),
            format!(
                "node http://127.0.0.1:8080 refused: 403 name_taken: function \"orientation\" belongs to publisher {owner}"
            )
        );
        let body = serde_json::to_vec(&ErrorBody::new(500, "internal", "disk full")).unwrap();
        let error = error_from_body("http://n", "GET", "http://n/healthz", 500, &body);
        assert_eq!(error.to_string(), "node http://n failed: 500 internal: disk full");
    }

    #[test]
    fn other_error_bodies_are_quoted() {
        let url = "http://n/v1/functions";
        let error = error_from_body("http://n", "GET", url, 502, b"<html>Bad Gateway</html>\n");
        assert_eq!(error.status(), Some(502));
        assert_eq!(error.code(), None);
        assert_eq!(
            error.to_string(),
            "GET http://n/v1/functions answered 502 with a body that is not a wasmnn error: <html>Bad Gateway</html>"
        );
        let long = vec![b'x'; 1000];
        let shown = error_from_body("http://n", "GET", url, 404, &long).to_string();
        assert!(shown.ends_with(&format!("{}…", "x".repeat(200))), "{shown}");
        let shown = error_from_body("http://n", "HEAD", url, 500, b"").to_string();
        assert!(shown.ends_with("not a wasmnn error: (empty)"), "{shown}");
        // JSON, but not the error shape.
        let shown = error_from_body("http://n", "GET", url, 400, br#"{"message":"no"}"#).to_string();
        assert!(shown.contains(r#"{"message":"no"}"#), "{shown}");
    }

    #[test]
    fn bad_names_are_not_sent() {
        let client = RegistryClient::new("http://127.0.0.1:9").unwrap();
        for name in ["", "../x", "A", "a/b", "a?b"] {
            assert!(matches!(client.function(name, None), Err(ClientError::BadName(_))), "{name}");
        }
    }

    #[test]
    fn transport_errors_name_the_request() {
        // A port nobody listens on: bind one, learn it, close it.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = RegistryClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let error = client.health().unwrap_err();
        assert!(matches!(error, ClientError::Transport { .. }), "{error:?}");
        assert!(error.to_string().starts_with(&format!("GET http://127.0.0.1:{port}/healthz failed: ")), "{error}");
    }

    /// A one-request HTTP server: answers `100 Continue` if asked, reads the body per
    /// Content-Length, sends `answer`, and returns the request head (lowercased) and body.
    fn serve_once(answer: String) -> (String, std::thread::JoinHandle<(String, Vec<u8>)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            let length: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length: ")).map_or(0, |v| v.trim().parse().unwrap());
            if head.contains("expect: 100-continue") {
                stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
            }
            let mut body = Vec::new();
            let _ = reader.take(length as u64).read_to_end(&mut body);
            let _ = stream.write_all(answer.as_bytes());
            (head, body)
        });
        (url, handle)
    }

    /// An HTTP/1.1 response with `body`.
    fn answer(status: &str, content_type: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn uploads_send_content_length_not_chunked() {
        let bytes = vec![42u8; 300_000];
        let digest = Sha256Digest::of_bytes(&bytes);
        let json = format!(r#"{{"digest":"{}","size":300000}}"#, digest.prefixed());
        let (url, server) = serve_once(answer("201 Created", "application/json", &json));
        let client = RegistryClient::new(&url).unwrap();
        let mut last = 0;
        let created = client.put_blob(&digest, bytes.len() as u64, bytes.as_slice(), |n| last = n).unwrap();
        assert!(created);
        assert_eq!(last, 300_000);
        let (head, body) = server.join().unwrap();
        assert!(head.starts_with(&format!("put /v1/blobs/{} http/1.1", digest.prefixed())), "{head}");
        assert!(head.contains("content-length: 300000\r\n"), "{head}");
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert_eq!(body, bytes);
    }

    #[test]
    fn a_short_source_is_a_local_error() {
        let (url, server) = serve_once(answer("201 Created", "application/json", "{}"));
        let client = RegistryClient::new(&url).unwrap();
        let digest = Sha256Digest::of_bytes(b"");
        let error = client.put_blob(&digest, 10, &b"12345"[..], |_| {}).unwrap_err();
        assert!(matches!(error, ClientError::Local { .. }), "{error:?}");
        assert!(error.to_string().contains("ended after 5 of 10 bytes"), "{error}");
        drop(server.join());
    }

    #[test]
    fn a_refused_upload_reads_the_error() {
        let body = serde_json::to_string(&ErrorBody::new(403, "blob_not_expected", "post the manifest first")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Refuses at once, without `100 Continue` and without reading the body.
        let refusal = answer("403 Forbidden", "application/json", &body);
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && !line.ends_with("\r\n\r\n") {}
            stream.write_all(refusal.as_bytes()).unwrap();
        });
        let client = RegistryClient::new(&url).unwrap();
        let error = client.put_blob(&Sha256Digest::of_bytes(b""), 50 << 20, io::repeat(0), |_| {}).unwrap_err();
        assert_eq!(error.code(), Some("blob_not_expected"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn downloads_are_checked_against_the_digest() {
        let (url, server) = serve_once(answer("200 OK", "application/octet-stream", "hello"));
        let client = RegistryClient::new(&url).unwrap();
        let mut out = Vec::new();
        let n = client.get_blob(&Sha256Digest::of_bytes(b"hello"), &mut out, |_| {}).unwrap();
        assert_eq!((n, out.as_slice()), (5, &b"hello"[..]));
        server.join().unwrap();

        let (url, server) = serve_once(answer("200 OK", "application/octet-stream", "hellO"));
        let client = RegistryClient::new(&url).unwrap();
        let wanted = Sha256Digest::of_bytes(b"hello");
        let error = client.get_blob(&wanted, io::sink(), |_| {}).unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
        let shown = error.to_string();
        assert!(shown.contains(&format!("sent bytes for blob {wanted:?} that hash to")), "{shown}");
        server.join().unwrap();
    }

    #[test]
    fn a_missing_blob_head_is_none() {
        let (url, server) =
            serve_once("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into());
        let client = RegistryClient::new(&url).unwrap();
        assert_eq!(client.blob_size(&Sha256Digest::of_bytes(b"")).unwrap(), None);
        let (head, _) = server.join().unwrap();
        assert!(head.starts_with("head /v1/blobs/sha256:"), "{head}");
    }

    #[test]
    fn versions_are_percent_encoded() {
        let body = serde_json::to_string(&ErrorBody::new(404, "unknown_function", "no function \"f\"")).unwrap();
        let (url, server) = serve_once(answer("404 Not Found", "application/json", &body));
        let client = RegistryClient::new(&url).unwrap();
        let version = semver::Version::parse("1.0.0-rc.1+build.5").unwrap();
        let error = client.function("f", Some(&version)).unwrap_err();
        assert_eq!(error.code(), Some("unknown_function"), "{error}");
        let (head, _) = server.join().unwrap();
        assert!(head.starts_with("get /v1/functions/f?version=1.0.0-rc.1%2bbuild.5 http/1.1"), "{head}");
    }

    #[test]
    fn invocations_send_the_query_and_return_the_receipt_headers() {
        let response = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nwasmnn-receipt: e30=\r\n\
                        wasmnn-receipt-id: sha256:00\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
        let (url, server) = serve_once(response.to_owned());
        let client = RegistryClient::new(&url).unwrap();
        let digest = Sha256Digest::of_bytes(b"manifest");
        let query = InvokeQuery { version: None, digest: Some(digest), seed: Some(7) };
        let invoked = client.invoke("probe", &query, b"echo hi").unwrap();
        assert_eq!(invoked.output, b"{}");
        assert_eq!(invoked.content_type.as_deref(), Some("application/json"));
        assert_eq!((invoked.receipt_header.as_str(), invoked.receipt_id.as_str()), ("e30=", "sha256:00"));
        let (head, body) = server.join().unwrap();
        let expected = format!("post /v1/functions/probe/invoke?digest=sha256%3a{}&seed=7 http/1.1", digest.to_hex());
        assert!(head.starts_with(&expected), "{head}");
        assert_eq!(body, b"echo hi");

        let (url, server) = serve_once(answer("200 OK", "text/plain", "out"));
        let client = RegistryClient::new(&url).unwrap();
        let error = client.invoke("probe", &InvokeQuery::default(), b"").unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
        assert!(error.to_string().contains("no wasmnn-receipt header"), "{error}");
        server.join().unwrap();

        let body = serde_json::to_string(&ErrorBody::new(422, "handler_error", "no such command")).unwrap();
        let (url, server) = serve_once(answer("422 Unprocessable Entity", "application/json", &body));
        let client = RegistryClient::new(&url).unwrap();
        let error = client.invoke("probe", &InvokeQuery::default(), b"x").unwrap_err();
        assert_eq!((error.status(), error.code()), (Some(422), Some("handler_error")), "{error}");
        server.join().unwrap();
        assert!(matches!(client.invoke("Probe", &InvokeQuery::default(), b""), Err(ClientError::BadName(_))));
    }

    #[test]
    fn receipts_must_have_the_id_asked_for() {
        let receipt = r#"{"b":2,"a":"x"}"#;
        let json = format!(r#"{{"receipt":{receipt},"signature":"c2ln"}}"#);
        let id = Sha256Digest::of_bytes(br#"{"a":"x","b":2}"#);
        let (url, server) = serve_once(answer("200 OK", "application/json", &json));
        let client = RegistryClient::new(&url).unwrap();
        assert_eq!(client.receipt(&id).unwrap(), json.as_bytes());
        let (head, _) = server.join().unwrap();
        assert!(head.starts_with(&format!("get /v1/receipts/{} http/1.1", id.prefixed())), "{head}");

        let (url, server) = serve_once(answer("200 OK", "application/json", &json));
        let client = RegistryClient::new(&url).unwrap();
        let other = Sha256Digest::of_bytes(b"other");
        let error = client.receipt(&other).unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
        assert!(error.to_string().contains(&format!("was asked for receipt {other:?}")), "{error}");
        server.join().unwrap();

        let (url, server) = serve_once(answer("200 OK", "application/json", "[1]"));
        let error = RegistryClient::new(&url).unwrap().receipt(&id).unwrap_err();
        assert!(error.to_string().contains("not a signed receipt"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn call_data_streams_and_checks_the_announced_length() {
        let id = Sha256Digest::of_bytes(b"receipt");
        let (url, server) = serve_once(answer("200 OK", "application/octet-stream", "input bytes"));
        let mut out = Vec::new();
        let n = RegistryClient::new(&url).unwrap().call_data(&id, CallData::Input, &mut out).unwrap();
        assert_eq!((n, out.as_slice()), (11, &b"input bytes"[..]));
        let (head, _) = server.join().unwrap();
        assert!(head.starts_with(&format!("get /v1/receipts/{}/input http/1.1", id.prefixed())), "{head}");

        let short = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\nabc";
        let (url, server) = serve_once(short.to_owned());
        let error = RegistryClient::new(&url).unwrap().call_data(&id, CallData::Output, io::sink()).unwrap_err();
        assert!(matches!(error, ClientError::Transport { .. } | ClientError::Protocol(_)), "{error:?}");
        let (head, _) = server.join().unwrap();
        assert!(head.starts_with(&format!("get /v1/receipts/{}/output", id.prefixed())), "{head}");

        let body = serde_json::to_string(&ErrorBody::new(404, "unknown_receipt", "no call record")).unwrap();
        let (url, server) = serve_once(answer("404 Not Found", "application/json", &body));
        let error = RegistryClient::new(&url).unwrap().call_data(&id, CallData::Input, io::sink()).unwrap_err();
        assert_eq!(error.code(), Some("unknown_receipt"), "{error}");
        server.join().unwrap();
    }
}
