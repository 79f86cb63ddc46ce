//! Invocation throughput and latency over loopback HTTP: `wasmnn demo` (the release
//! binary, CPU backend) serves the example handlers and `wrk` (Debian package `wrk`, one
//! thread: a bounded load generator that costs little CPU) keeps 1, 8 or 64 keep-alive
//! connections busy for a fixed time. Every call is a full invocation: a fresh instance,
//! the handler, a signed receipt, and the call recorded durably. Every request differs
//! (echo: its body; orientation: its seed), so every call gets a receipt of its own and
//! is recorded. Prints calls/s and p50/p99 latency per handler and concurrency.
//!
//! `cargo bench --bench invoke` (set `WASMNN_LOAD_SECS` to change the 5 s per level).
//! `scripts/wasmtime-serve/bench.sh` compares with `wasmtime serve`.

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

#[path = "../tests/e2e/node.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod node;

use std::path::Path;
use std::process::Command;

/// The request each wrk connection sends: echo gets a different body every time,
/// orientation the same image with a different seed.
fn script(tag: &str, body_file: Option<&Path>) -> String {
    let request = match body_file {
        None => format!(r#"return wrk.format(nil, nil, nil, "hello, wasmnn {tag} " .. counter)"#),
        Some(_) => format!(r#"return wrk.format(nil, wrk.path .. "?seed={tag}" .. counter, nil, body)"#),
    };
    let body = body_file.map_or("nil".to_owned(), |p| format!("io.open({:?}, \"rb\"):read(\"*a\")", p.display()));
    format!(
        "wrk.method = \"POST\"\nlocal counter = 0\nlocal body = {body}\nrequest = function()\n  counter = counter + 1\n  {request}\nend\n"
    )
}

/// One load level: calls/s, p50, p99 and the wrk line that reports errors, if any.
fn load(url: &str, script: &Path, concurrency: usize, seconds: u64) -> (f64, String, String, String) {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{concurrency}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned())).unwrap_or_default()
    };
    let rate = field("Requests/sec:").parse().unwrap_or(0.0);
    let errors = text.lines().filter(|l| l.contains("Non-2xx") || l.contains("Socket errors")).collect::<Vec<_>>();
    (rate, field("50%"), field("99%"), errors.join("; "))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds = std::env::var("WASMNN_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("data dir");
    let node = node::Node::demo(&dir.path().join("demo"), true);
    let image = support::fixture("orientation/image_1.png");
    let cases = [("echo", None), ("orientation", Some(image.as_path()))];
    println!("handler      concurrency   calls/s      p50       p99   errors");
    for (run, (name, body)) in cases.into_iter().enumerate() {
        let url = format!("{}/v1/functions/{name}/invoke", node.url);
        for (level, concurrency) in [1, 1, 8, 64].into_iter().enumerate() {
            let path = dir.path().join(format!("{name}-{level}.lua"));
            std::fs::write(&path, script(&format!("{run}{level}"), body)).expect("script");
            let (rate, p50, p99, errors) = load(&url, &path, concurrency, if level == 0 { 1 } else { seconds });
            if level > 0 {
                println!("{name:<12} {concurrency:>11} {rate:>9.0} {p50:>9} {p99:>9}   {errors}");
            }
        }
    }
}
