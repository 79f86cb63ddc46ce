//! e2e tests (stub).
mod cli;
