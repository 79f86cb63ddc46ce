//! The dispute protocol: two parties that committed to op traces of the same call (Merkle
//! roots over their leaves, `docs/TRACES.md`) find the first leaf where the traces differ,
//! with proofs that anyone can check.
//!
//! - [`bisect`]: the bisection between two trace sources, transport-agnostic;
//! - [`referee`]: re-executes the first differing op from the agreed inputs;
//! - [`verdict`]: the referee's signed statement;
//! - [`challenge`]: one dispute end to end against a node over HTTP.

pub mod bisect;
pub mod challenge;
pub mod referee;
pub mod remote;
pub mod verdict;
pub mod wire;
