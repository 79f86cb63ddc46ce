//! registry (stub).
