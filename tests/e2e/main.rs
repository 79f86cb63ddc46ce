//! End-to-end tests: the `wasmnn` binary and the real models, as one test binary so it
//! links once.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on purpose")]

mod chat;
mod cli;
mod dispute;
mod examples;
mod gguf;
mod handlers;
mod invoke;
pub mod llm;
mod models;
mod node;
mod registry;
mod spot;
mod support;
mod verify;
