//! e2e tests (stub).
