//! benches (stub).
fn main() {}
