//! The `wasmnn` command-line tool (stub).
fn main() {}
