//! Op traces: what an execution commits to so that two peers can find the first op where
//! they disagree (`docs/TRACES.md`).
//!
//! - [`digest`]: the digest of one traced tensor (shape, dtype, bytes) and of a leaf;
//! - [`merkle`]: the Merkle tree over a call's leaves, its root, inclusion proofs;
//! - [`tap`]: how an executor hands each op's output to a tracer while it runs.
//!
//! Executors never hash: they call a [`Tap`] with every traced tensor, and the runtime's
//! tracer does the rest. A run without a tap is the plain hot path.

pub mod digest;
pub mod merkle;
pub mod tap;

pub use digest::{Hash, TRACE_VERSION, f32_digest, leaf_hash, tensor_digest};
pub use merkle::{MerkleTree, verify_proof};
pub use tap::{LayerOp, LeafTensor, LlmSlot, Tap, TapPoint};
