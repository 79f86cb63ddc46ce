//! Helpers shared by the end-to-end tests and the benches: the real models through the
//! model cache (fetched on first use), the committed fixtures, thread pools, the example
//! handler components, and the `wasmnn` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use wasmnn_host_gpu::{Graph, Tensor, npy, onnx};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::handler::{LimitDefaults, ModelEncoding};
use wasmnn_registry::keys::SecretKey;
use wasmnn_registry::manifest::{BlobRef, Manifest};
use wasmnn_registry::models::{ModelCache, known_model};
use wasmnn_runtime::{Backend, Function, ModelFile, ResolvedBackend, Runtime};

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

/// The examples workspace (handler crates built for wasm32-wasip2).
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The component of the example handler `name`, from `examples/target/wasm32-wasip2/debug`.
/// The first call in a process runs `cargo build` in the examples workspace, a no-op when
/// CI (or an earlier test) already built it, so the components are never stale.
pub fn example_component(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args(["build", "--locked", "--quiet"])
            .current_dir(examples_dir())
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
    });
    if let Err(e) = built {
        panic!("building the example handlers failed: {e}");
    }
    let path = examples_dir().join(format!("target/wasm32-wasip2/debug/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs the `wasmnn` binary (logs at their default level).
pub fn wasmnn(args: &[&str]) -> Output {
    wasmnn_with(args, None, &[])
}

/// Runs the `wasmnn` binary with `stdin` piped in when given and extra environment.
pub fn wasmnn_with(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &Path)]) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmnn"));
    command.args(args).env_remove("RUST_LOG").envs(env.iter().copied());
    command.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("the wasmnn binary starts");
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).expect("writing stdin");
    }
    child.wait_with_output().expect("the wasmnn binary finishes")
}

/// Panics with wasmnn's stderr unless it succeeded.
pub fn assert_success(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wasmnn failed ({}): {stderr}", output.status);
}

/// A CPU runtime caching compiled components under `cache`.
pub fn cpu_runtime(cache: &Path) -> Runtime {
    Runtime::new(ResolvedBackend::Cpu, Backend::Cpu, Some(cache)).expect("runtime")
}

/// One CPU runtime per test process, its compiled components cached on disk across
/// processes (nextest runs each test in its own).
pub fn shared_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| cpu_runtime(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled")))
}

/// The `probe` test handler (`component`: its bytes) on `runtime`, with
/// `fixtures/tiny/tiny.onnx` as its `tiny`.
pub fn probe_function(runtime: &Runtime, component: &[u8]) -> Function {
    let component = runtime.prepare(component).expect("probe compiles");
    let path = fixture("tiny/tiny.onnx");
    let sha256 = Sha256Digest::of_bytes(&std::fs::read(&path).expect("tiny.onnx"));
    let models = HashMap::from([("tiny".to_owned(), ModelFile { encoding: ModelEncoding::Onnx, sha256, path })]);
    Function::new("probe", component, models, LimitDefaults::default())
}

/// The manifest of a test function `name@version` whose only blob is the component
/// `component` (no models), published by `key`.
pub fn test_manifest(name: &str, version: &str, component: BlobRef, key: &SecretKey) -> Manifest {
    Manifest {
        schema: 1,
        spec_version: wasmnn_host_gpu::SPEC_VERSION,
        name: name.to_owned(),
        version: version.parse().expect("version"),
        description: "a test function".to_owned(),
        input: "application/octet-stream".to_owned(),
        output: "application/octet-stream".to_owned(),
        component,
        models: Vec::new(),
        limits: LimitDefaults::default(),
        publisher: key.public(),
    }
}

/// Deterministic pseudo-random bytes (xorshift from `seed`): blobs that do not compress
/// or repeat.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
