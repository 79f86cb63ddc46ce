//! Invocation throughput and latency over loopback HTTP, with a bounded load generator:
//! `wasmnn demo` (the release binary, CPU backend) serves the example handlers, and for
//! each concurrency level (1, 8, 64) that many client threads, each on its own keep-alive
//! connection, send calls back to back for a fixed time. Every call is a full invocation:
//! a fresh instance, the handler, a signed receipt, the call recorded (receipt, input,
//! output). Prints calls/s and p50/p99 latency per handler and concurrency.
//!
//! `cargo bench --bench invoke` (set `WASMNN_LOAD_SECS` to change the 5 s per level).

#[path = "../tests/e2e/support.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod support;

#[path = "../tests/e2e/node.rs"]
#[expect(dead_code, reason = "shared with the e2e tests, which use more of it")]
mod node;

use std::time::{Duration, Instant};

/// One load level's result.
struct Level {
    calls: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Level {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }
}

/// `concurrency` threads calling `url` with `body` for `duration`.
fn load(url: &str, body: &[u8], concurrency: usize, duration: Duration) -> Level {
    let start = Instant::now();
    let deadline = start + duration;
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        match agent.post(url).send(body) {
                            Ok(mut response) if response.status() == 200 => {
                                let _ = response.body_mut().read_to_vec();
                                latencies.push(sent.elapsed());
                            }
                            Ok(mut response) => {
                                let _ = response.body_mut().read_to_vec();
                                errors += 1;
                            }
                            Err(_) => errors += 1,
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("load thread")).collect()
    });
    let elapsed = start.elapsed();
    let errors = results.iter().map(|(_, e)| e).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
    latencies.sort();
    Level { calls: latencies.len(), errors, elapsed, latencies }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds = std::env::var("WASMNN_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("data dir");
    let node = node::Node::demo(&dir.path().join("demo"), true);
    let image = std::fs::read(support::fixture("orientation/image_1.png")).expect("image");
    let cases: [(&str, &[u8]); 2] = [("echo", b"hello, wasmnn"), ("orientation", &image)];
    println!("handler      concurrency   calls/s      p50 ms    p99 ms   calls  errors");
    for (name, body) in cases {
        let url = format!("{}/v1/functions/{name}/invoke", node.url);
        let _ = load(&url, body, 1, Duration::from_millis(500));
        for concurrency in [1, 8, 64] {
            let level = load(&url, body, concurrency, Duration::from_secs(seconds));
            println!(
                "{name:<12} {concurrency:>11} {:>9.0} {:>11.2} {:>9.2} {:>7} {:>7}",
                level.calls as f64 / level.elapsed.as_secs_f64(),
                level.percentile(0.5).as_secs_f64() * 1e3,
                level.percentile(0.99).as_secs_f64() * 1e3,
                level.calls,
                level.errors
            );
        }
    }
}
