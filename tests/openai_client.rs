//! The official OpenAI Python client (`openai`, tests/openai/requirements.txt) against a
//! real node on loopback: chat plain and streamed, embeddings in both encodings, the model
//! list and refused requests, through `tests/openai/client.py`.
//!
//! The Rust test suite never needs Python: without an interpreter that can
//! `import openai` (`$WASMNN_OPENAI_PYTHON`, else `python3`, with
//! `$WASMNN_OPENAI_PYTHONPATH` on its path) the trial is ignored and says why, unless
//! `WASMNN_REQUIRE_OPENAI=1` (CI sets it), which makes that a failure. libtest-mimic, as
//! in gpu_models.rs, so that "ignored" carries its reason.

#[path = "e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

#[path = "e2e/node.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod node;

use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use support::{examples_dir, wasmnn};

const TRIAL: &str = "openai/python_client_chats_and_embeds";

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let required = std::env::var("WASMNN_REQUIRE_OPENAI").is_ok_and(|v| v == "1");
    let trial = match python_with_openai() {
        Ok(()) => Trial::test(TRIAL, python_client),
        Err(reason) if required => {
            Trial::test(TRIAL, move || Err(format!("WASMNN_REQUIRE_OPENAI=1 but {reason}").into()))
        }
        Err(reason) => {
            eprintln!("{TRIAL} is ignored: {reason}");
            Trial::test(TRIAL, || Ok(())).with_ignored_flag(true)
        }
    };
    libtest_mimic::run(&args, vec![trial]).exit_code()
}

/// The interpreter to run the client with, set up with the package's path.
fn python() -> Command {
    let program = std::env::var("WASMNN_OPENAI_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut command = Command::new(program);
    if let Some(path) = std::env::var_os("WASMNN_OPENAI_PYTHONPATH") {
        command.env("PYTHONPATH", path);
    }
    command
}

/// Checks that the interpreter can import `openai`; the reason if not.
fn python_with_openai() -> Result<(), String> {
    let output = python()
        .args(["-c", "import openai"])
        .output()
        .map_err(|e| format!("no Python interpreter to run the openai client: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("Python cannot import openai: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

fn run(args: &[&str]) -> Result<(), Failed> {
    let output = wasmnn(args);
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("wasmnn {args:?}: {}", String::from_utf8_lossy(&output.stderr)).into())
    }
}

fn python_client() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let node = node::Node::start(&dir.path().join("node"), &["--backend", "cpu"]);
    let key = dir.path().join("publisher.key").display().to_string();
    run(&["keygen", "--out", &key])?;
    for example in ["chat", "embeddings"] {
        let path = examples_dir().join(example).display().to_string();
        run(&["publish", &path, "--registry", &node.url, "--key", &key, "--debug"])?;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai/client.py");
    let output = python().arg(&script).args([&node.url, "chat", "embeddings"]).output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("client.py failed:\n{}", String::from_utf8_lossy(&output.stderr)).into());
    }
    let result: Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("client.py printed no JSON: {e}"))?;
    check(&result).map_err(|e| format!("{e}\nclient.py printed: {result}").into())
}

/// What the client saw must be what an OpenAI application expects.
fn check(result: &Value) -> Result<(), String> {
    let expect = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
    let plain = &result["plain"];
    expect(plain["object"] == "chat.completion" && plain["model"] == "chat", "plain: object or model")?;
    expect(plain["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-")), "plain: id")?;
    expect(plain["created"].as_u64().is_some_and(|t| t > 1_700_000_000), "plain: created")?;
    expect(plain["role"] == "assistant", "plain: role")?;
    let content = plain["content"].as_str().unwrap_or_default();
    expect(content.contains("Paris"), "plain: the greedy answer names Paris")?;
    let usage = &plain["usage"];
    let (prompt, completion) = (usage["prompt_tokens"].as_u64(), usage["completion_tokens"].as_u64());
    expect(
        prompt.is_some_and(|p| p > 10)
            && completion.is_some_and(|c| (1..=8).contains(&c))
            && usage["total_tokens"].as_u64() == prompt.zip(completion).map(|(p, c)| p + c),
        "plain: usage",
    )?;

    let stream = &result["stream"];
    expect(stream["content"] == plain["content"], "stream: the streamed text equals the plain text")?;
    expect(stream["first_role"] == "assistant", "stream: the first chunk gives the role")?;
    expect(stream["finish_reason"] == plain["finish_reason"], "stream: finish reason")?;
    expect(stream["usage"] == plain["usage"], "stream: usage")?;
    expect(stream["chunks"].as_u64().is_some_and(|n| n >= 3), "stream: role, content and finish chunks")?;

    let embeddings = &result["embeddings"];
    // The client decodes base64 to the f32 values themselves and the JSON floats to the
    // nearest f64 of their shortest decimal: both are the same f32s.
    let as_f32_bits = |value: &Value| -> Vec<Vec<u32>> {
        let vectors = value.as_array().cloned().unwrap_or_default();
        vectors
            .iter()
            .map(|v| {
                v.as_array()
                    .map_or(Vec::new(), |v| v.iter().filter_map(Value::as_f64).map(|x| (x as f32).to_bits()).collect())
            })
            .collect()
    };
    expect(
        as_f32_bits(&embeddings["default"]) == as_f32_bits(&embeddings["float"]),
        "embeddings: base64 and float give the same f32s",
    )?;
    let vectors = embeddings["float"].as_array().cloned().unwrap_or_default();
    expect(vectors.len() == 2, "embeddings: two vectors")?;
    for vector in &vectors {
        let norm: f64 = vector.as_array().map_or(0.0, |v| v.iter().filter_map(Value::as_f64).map(|x| x * x).sum());
        expect(vector.as_array().map(Vec::len) == Some(384) && (norm - 1.0).abs() < 1e-3, "embeddings: unit 384-d")?;
    }
    expect(result["models"] == serde_json::json!(["chat", "embeddings"]), "models.list()")?;
    let not_found = &result["not_found"];
    expect(not_found["status"] == 404 && not_found["code"] == "model_not_found", "NotFoundError")?;
    let bad = &result["bad_request"];
    expect(bad["status"] == 400 && bad["param"] == "messages", "BadRequestError")
}
