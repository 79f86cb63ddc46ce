//! wasmnn guest SDK: what a handler crate depends on to call wasi-nn and emit output.
//!
//! The bindings arrive with the handler issue; this crate already builds for
//! `wasm32-wasip2` and the host so that the workspace layout is fixed.
#![forbid(unsafe_code)]

/// The handler world this SDK targets (`wasmnn:handler/handler`).
pub const HANDLER_WORLD: &str = "wasmnn:handler/handler";
