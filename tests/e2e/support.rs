//! Helpers shared by the end-to-end tests and the benches: the real models through the
//! model cache (fetched on first use), the committed fixtures, thread pools.

use std::path::{Path, PathBuf};

use wasmnn_host_gpu::{Graph, Tensor, npy, onnx};
use wasmnn_registry::models::{ModelCache, known_model};

/// Path of a committed fixture under `fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(path)
}

/// The cached file of a known model, downloaded and verified first if needed.
pub fn model_path(name: &str) -> PathBuf {
    let model = known_model(name).unwrap_or_else(|| panic!("unknown model {name}"));
    let cache = ModelCache::from_env().expect("a model cache directory");
    let source = model.model_source().expect("catalog source parses");
    let digest = model.digest().expect("catalog digest parses");
    cache.fetch(&source, &digest, &|_| {}).unwrap_or_else(|e| panic!("fetching {name}: {e}"))
}

/// A known ONNX model, imported.
pub fn load_model(name: &str) -> Graph {
    let path = model_path(name);
    onnx::load_file(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// A tensor from a `.npy` file.
pub fn read_npy(path: &Path) -> Tensor {
    npy::read_npy(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs `f` inside a rayon pool of `threads` threads.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool").install(f)
}
