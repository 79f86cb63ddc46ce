//! probe: a **test handler**, not an example to copy. The host's end-to-end tests and
//! benchmarks use it to exercise the sandbox: limits, traps, wasi-nn errors, `emit`,
//! the deterministic clocks and RNG, and the missing filesystem.
//!
//! The input is a plain ASCII command: its first whitespace-separated word picks the
//! behaviour and the bytes after the first whitespace character are its argument.
//!
//! | command | behaviour |
//! | --- | --- |
//! | `echo <rest>` | returns `<rest>` (any bytes) |
//! | `fail <msg>` | returns `Err(<msg>)` |
//! | `tiny` | runs model `tiny` on x = [1, -2, 3, -4] (f32 `[1, 4]`); returns y's 16 bytes (LE f32) |
//! | `spin` | loops forever (fuel or the deadline must stop it) |
//! | `grow` | allocates and touches 1 MiB blocks forever (the memory limit must stop it) |
//! | `tensors` | creates 16 MiB wasi-nn tensors forever, keeping them alive (the tensor budget must stop it) |
//! | `huge-output [n]` | returns n bytes (default 64 MiB) |
//! | `emit-flood` | emits 1 MiB chunks forever |
//! | `emit` | emits `a`, then `b`, then returns `c` |
//! | `panic` | panics with "probe panicked on purpose" |
//! | `undeclared` | loads model `not-declared`; returns the error as `Err` |
//! | `wrong-shape` | runs `tiny` with x of shape `[2, 4]`; returns the error as `Err` |
//! | `wrong-type` | runs `tiny` with an FP64 x; returns the error as `Err` |
//! | `bf16` | runs `tiny` with a BF16 x; returns the error as `Err` |
//! | `no-inputs` | runs `tiny` with no inputs; returns the error as `Err` |
//! | `bad-data` | runs `tiny` with an FP32 `[1, 4]` x of 12 bytes (raw bindings); returns the error as `Err` |
//! | `entropy` | returns JSON: 16 random bytes from WASI, a `RandomState` hash, the wall clock and a monotonic interval |
//! | `stdout <n>` | writes n bytes to stdout and n to stderr; returns `ok` |
//! | `read-file` | reads `/etc/passwd`; returns the error as `Err` (or the contents, if the sandbox leaks) |
//!
//! Any other command is an error. The commands that expect a wasi-nn error return
//! `Err("<code>: <message>")` with the host's error, and `Err("… unexpectedly
//! succeeded")` if the host accepted the call.
#![forbid(unsafe_code)]

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmnn_guest::{Handler, Model, Tensor, TensorType, emit};

/// One MiB.
const MIB: usize = 1 << 20;
/// The size of `huge-output` without an argument.
const DEFAULT_HUGE_OUTPUT: usize = 64 * MIB;

/// The handler: a command in, the behaviour it names out.
struct Probe;

impl Handler for Probe {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let (command, rest) = split_command(&input);
        match command {
            "echo" => Ok(rest.to_vec()),
            "fail" => Err(String::from_utf8_lossy(rest).into_owned()),
            "tiny" => tiny(),
            "spin" => spin(),
            "grow" => grow(),
            "tensors" => tensors(),
            "huge-output" => Ok(vec![b'x'; parse_size(rest, DEFAULT_HUGE_OUTPUT)?]),
            "emit-flood" => emit_flood(),
            "emit" => {
                emit(b"a");
                emit(b"b");
                Ok(b"c".to_vec())
            }
            "panic" => panic!("probe panicked on purpose"),
            "undeclared" => match Model::load("not-declared") {
                Ok(_) => Err("loading the undeclared model not-declared unexpectedly succeeded".to_string()),
                Err(error) => Err(error.to_string()),
            },
            "wrong-shape" => expect_error("wrong-shape", || run_tiny(Tensor::from_f32(&[2, 4], &[1.0; 8])?)),
            "wrong-type" => expect_error("wrong-type", || run_tiny(Tensor::new(TensorType::Fp64, &[1, 4], &[0; 32])?)),
            "bf16" => expect_error("bf16", || run_tiny(Tensor::new(TensorType::Bf16, &[1, 4], &[0; 8])?)),
            "no-inputs" => expect_error("no-inputs", || {
                Model::load("tiny")?.run(Vec::<(String, Tensor)>::new()).map(|_| Vec::new())
            }),
            "bad-data" => bad_data(),
            "entropy" => Ok(entropy()?.into_bytes()),
            "stdout" => {
                let n = parse_size(rest, 0)?;
                // Write errors are ignored: the host decides what stdout is.
                let _ = std::io::stdout().write_all(&vec![b'o'; n]).and_then(|()| std::io::stdout().flush());
                let _ = std::io::stderr().write_all(&vec![b'e'; n]).and_then(|()| std::io::stderr().flush());
                Ok(b"ok".to_vec())
            }
            "read-file" => match std::fs::read("/etc/passwd") {
                Ok(contents) => Ok(contents),
                Err(error) => Err(format!("cannot read /etc/passwd: {error}")),
            },
            other => Err(format!("unknown probe command: {other:?}")),
        }
    }
}

wasmnn_guest::export_handler!(Probe);

/// Splits the input at its first ASCII whitespace byte: the command (`<not utf-8>` if it
/// is not UTF-8) and the bytes after that whitespace.
fn split_command(input: &[u8]) -> (&str, &[u8]) {
    let (command, rest) = match input.iter().position(u8::is_ascii_whitespace) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &input[input.len()..]),
    };
    (std::str::from_utf8(command).unwrap_or("<not utf-8>"), rest)
}

/// The argument as a byte count, or `default` if it is empty.
fn parse_size(argument: &[u8], default: usize) -> Result<usize, String> {
    let text = String::from_utf8_lossy(argument);
    let text = text.trim();
    if text.is_empty() {
        return Ok(default);
    }
    text.parse().map_err(|_| format!("not a byte count: {text:?}"))
}

/// Runs `tiny` on x = [1, -2, 3, -4] and returns y's bytes.
fn tiny() -> Result<Vec<u8>, String> {
    Ok(run_tiny(Tensor::from_f32(&[1, 4], &[1.0, -2.0, 3.0, -4.0])?)?)
}

/// Runs `tiny` with `x` and returns y's bytes.
fn run_tiny(x: Tensor) -> Result<Vec<u8>, wasmnn_guest::Error> {
    let outputs = Model::load("tiny")?.run([("x", x)])?;
    Ok(outputs.get("y")?.to_f32()?.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// Runs `call`, which should fail in the host: its error as `Err`, or an `Err` saying
/// that it did not fail.
fn expect_error(command: &str, call: impl FnOnce() -> Result<Vec<u8>, wasmnn_guest::Error>) -> Result<Vec<u8>, String> {
    match call() {
        Ok(_) => Err(format!("{command} unexpectedly succeeded")),
        Err(error) => Err(error.to_string()),
    }
}

/// Sends `tiny` an FP32 `[1, 4]` tensor of 12 bytes instead of 16. The SDK refuses to
/// build one, so this goes through the raw bindings to test the host's own check.
fn bad_data() -> Result<Vec<u8>, String> {
    use wasmnn_guest::bindings::wasi::nn::{graph, tensor};
    let result = (|| {
        let x = tensor::Tensor::new(&[1, 4], tensor::TensorType::Fp32, &[0; 12]);
        let context = graph::load_by_name("tiny")?.init_execution_context()?;
        context.compute(vec![("x".to_string(), x)])
    })();
    match result {
        Ok(_) => Err("bad-data unexpectedly succeeded".to_string()),
        Err(error) => Err(wasmnn_guest::Error::from(error).to_string()),
    }
}

/// Burns fuel forever.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks and writes to every page of each, forever.
fn grow() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; MIB];
        for byte in block.iter_mut().step_by(4096) {
            *byte = 1;
        }
        blocks.push(black_box(block));
    }
}

/// Creates 16 MiB tensors in the host and keeps them alive, forever.
fn tensors() -> Result<Vec<u8>, String> {
    let data = vec![1u8; 16 * MIB];
    let mut tensors = Vec::new();
    loop {
        tensors.push(Tensor::new(TensorType::U8, &[16 * MIB as u32], &data)?);
        black_box(&tensors);
    }
}

/// Emits 1 MiB chunks forever.
fn emit_flood() -> ! {
    let chunk = vec![b'e'; MIB];
    loop {
        emit(&chunk);
    }
}

/// What the sandbox gives for randomness and time, as JSON:
/// `{"random": "<32 hex digits>", "hash": n, "time_ns": n, "elapsed_ns": n}`.
///
/// `random` is 16 bytes from `wasi:random` (through `getrandom`), `hash` is a fresh
/// `RandomState`'s hash of 0 (std seeds its hash keys from WASI), `time_ns` is
/// `SystemTime::now()` since the Unix epoch (0 if before it) and `elapsed_ns` is the
/// `Instant` interval over a busy loop of 100,000 steps. With fixed clocks and an RNG
/// seeded from the request, the same call gives the same JSON.
fn entropy() -> Result<String, String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| format!("getrandom failed: {e}"))?;
    let hash = RandomState::new().hash_one(0u8);
    let time_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let start = Instant::now();
    let mut counter = 0u64;
    for _ in 0..100_000 {
        counter = black_box(counter.wrapping_add(1));
    }
    let elapsed_ns = start.elapsed().as_nanos();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(r#"{{"random":"{hex}","hash":{hash},"time_ns":{time_ns},"elapsed_ns":{elapsed_ns}}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_at_the_first_whitespace() {
        assert_eq!(split_command(b"echo hello world"), ("echo", &b"hello world"[..]));
        assert_eq!(split_command(b"echo  two"), ("echo", &b" two"[..]));
        assert_eq!(split_command(b"tiny"), ("tiny", &b""[..]));
        assert_eq!(split_command(b"fail\nwhy"), ("fail", &b"why"[..]));
        assert_eq!(split_command(b""), ("", &b""[..]));
    }

    #[test]
    fn sizes_parse_with_a_default() {
        assert_eq!(parse_size(b"", 7), Ok(7));
        assert_eq!(parse_size(b" 1024 ", 7), Ok(1024));
        assert!(parse_size(b"lots", 7).is_err());
    }

    #[test]
    fn plain_commands_need_no_host() {
        assert_eq!(Probe::handle(b"echo \x00\xff".to_vec()), Ok(b"\x00\xff".to_vec()));
        assert_eq!(Probe::handle(b"fail on purpose".to_vec()), Err("on purpose".to_string()));
        assert_eq!(Probe::handle(b"huge-output 3".to_vec()), Ok(b"xxx".to_vec()));
        assert_eq!(Probe::handle(b"nope".to_vec()), Err(r#"unknown probe command: "nope""#.to_string()));
        let entropy = String::from_utf8(Probe::handle(b"entropy".to_vec()).expect("entropy")).expect("utf-8");
        assert!(entropy.starts_with(r#"{"random":""#), "{entropy}");
    }
}
