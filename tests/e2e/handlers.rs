//! Handlers as real components in the real runtime, on the CPU executor: the sandbox
//! contains hostile guests with a precise error and stays usable, calls are pure
//! functions of (component, input, seed), and wasi-nn errors reach the guest with their
//! message. The `probe` test handler (examples/probe) does one hostile or diagnostic
//! thing per command.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmnn_runtime::{Function, InvokeError, Limits, Outcome, Runtime};

use crate::support::{example_component, probe_function, shared_runtime};

fn runtime() -> &'static Runtime {
    shared_runtime()
}

fn probe() -> Function {
    probe_function(runtime(), &example_component("probe"))
}

/// Small limits, so that bombs go off quickly.
fn tight() -> Limits {
    Limits {
        fuel: 2_000_000_000,
        memory_bytes: 64 << 20,
        timeout: Duration::from_secs(20),
        tensor_bytes: 32 << 20,
        output_bytes: 1 << 20,
        stdio_bytes: 16 << 10,
    }
}

fn call(command: &str) -> Result<Outcome, InvokeError> {
    runtime().invoke(&probe(), command.as_bytes(), 0, &tight(), None)
}

fn call_ok(command: &str) -> Outcome {
    call(command).unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// The handler's own error message for `command`.
fn handler_error(command: &str) -> String {
    match call(command) {
        Err(InvokeError::Handler(message)) => message,
        other => panic!("{command}: expected a handler error, got {other:?}"),
    }
}

/// The runtime still serves calls after `command` failed.
fn still_usable() {
    assert_eq!(call_ok("echo alive").output, b"alive");
}

#[test]
fn echo_is_deterministic_in_output_and_fuel() {
    let first = call_ok("echo hello");
    let second = call_ok("echo hello");
    assert_eq!(first.output, b"hello");
    assert_eq!((first.output, first.fuel), (second.output, second.fuel));
    assert!(first.fuel > 0);
    assert_eq!(first.ops, 0);
}

#[test]
fn tiny_model_round_trip() {
    let outcome = call_ok("tiny");
    let y: Vec<f32> = outcome.output.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(y, [2.0, 0.0, 4.0, 0.0], "relu(x + 1) of [1, -2, 3, -4]");
    assert_eq!(outcome.ops, 2);
    assert_eq!(outcome.backend, "cpu");
}

#[test]
fn randomness_follows_the_seed_and_clocks_are_frozen() {
    let run = |seed| runtime().invoke(&probe(), b"entropy", seed, &tight(), None).expect("entropy").output;
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b, "same seed, same bytes");
    assert_ne!(a, c, "another seed, other random bytes");
    let json: serde_json::Value = serde_json::from_slice(&a).expect("entropy returns JSON");
    let text = json.to_string();
    assert_eq!(json["time_ns"], 0, "{text}");
    assert_eq!(json["elapsed_ns"], 0, "{text}");
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let mut limits = tight();
    limits.fuel = 50_000_000;
    let result = runtime().invoke(&probe(), b"spin", 0, &limits, None);
    assert_eq!(result, Err(InvokeError::OutOfFuel { limit: 50_000_000 }));
    still_usable();
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let mut limits = tight();
    limits.fuel = u64::MAX;
    limits.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let result = runtime().invoke(&probe(), b"spin", 0, &limits, None);
    assert_eq!(result, Err(InvokeError::Deadline));
    assert!(started.elapsed() < Duration::from_secs(10), "the kill switch fired late: {:?}", started.elapsed());
    still_usable();
}

#[test]
fn cancel_flag_ends_a_call() {
    let mut limits = tight();
    limits.fuel = u64::MAX;
    limits.timeout = Duration::from_secs(600);
    let flag = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&flag);
    let cancel = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        setter.store(true, Ordering::Relaxed);
    });
    let result = runtime().invoke(&probe(), b"spin", 0, &limits, Some(flag));
    cancel.join().expect("cancel thread");
    assert_eq!(result, Err(InvokeError::Cancelled));
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    match call("grow") {
        Err(InvokeError::MemoryLimit { limit, requested }) => {
            assert_eq!(limit, 64 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    still_usable();
}

#[test]
fn tensor_bomb_hits_the_tensor_budget() {
    match call("tensors") {
        Err(InvokeError::TensorBudget { limit, requested }) => {
            assert_eq!(limit, 32 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected the tensor budget, got {other:?}"),
    }
    still_usable();
}

#[test]
fn huge_outputs_hit_the_output_limit() {
    match call("huge-output 4000000") {
        Err(InvokeError::OutputLimit { limit, requested }) => assert_eq!((limit, requested), (1 << 20, 4_000_000)),
        other => panic!("expected the output limit, got {other:?}"),
    }
    assert!(matches!(call("emit-flood"), Err(InvokeError::OutputLimit { limit: 1_048_576, .. })));
    assert_eq!(call_ok("huge-output 1000").output.len(), 1000);
    still_usable();
}

#[test]
fn guest_panic_reports_its_message() {
    match call("panic") {
        Err(InvokeError::Panic(message)) => assert!(message.contains("probe panicked on purpose"), "{message}"),
        other => panic!("expected a panic, got {other:?}"),
    }
    still_usable();
}

#[test]
fn stdout_is_captured_up_to_its_cap() {
    assert_eq!(call_ok("stdout 1000").output, b"ok");
    // Past the cap, writes fail inside the guest (the probe ignores that); the host holds
    // no more than the cap.
    assert_eq!(call_ok("stdout 1000000").output, b"ok");
    still_usable();
}

#[test]
fn emitted_chunks_precede_the_returned_bytes() {
    let outcome = call_ok("emit");
    assert_eq!(outcome.emitted, [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(outcome.output, b"c");
    assert_eq!(outcome.full_output(), b"abc");
}

#[test]
fn wasi_nn_errors_reach_the_guest_with_their_message() {
    let undeclared = handler_error("undeclared");
    assert!(undeclared.contains("not-declared") && undeclared.contains("\"tiny\""), "{undeclared}");
    let shape = handler_error("wrong-shape");
    assert!(shape.contains("x") && shape.contains("[2, 4]"), "{shape}");
    for (command, needle) in
        [("wrong-type", "FP64"), ("bf16", "BF16"), ("no-inputs", "compute needs the graph's inputs")]
    {
        let message = handler_error(command);
        assert!(message.contains(needle), "{command}: {message}");
    }
    let data = handler_error("bad-data");
    assert!(data.contains("needs 16 bytes"), "{data}");
    still_usable();
}

#[test]
fn the_sandbox_has_no_filesystem() {
    let message = handler_error("read-file");
    assert!(!message.is_empty());
    assert_eq!(handler_error("fail because"), "because");
}

#[test]
fn malformed_components_are_refused_precisely() {
    let error = |bytes: &[u8]| match runtime().prepare(bytes) {
        Err(InvokeError::InvalidComponent(message)) => message,
        Err(other) => panic!("expected an invalid component, got {other}"),
        Ok(_) => panic!("accepted {} bytes", bytes.len()),
    };
    assert!(error(b"hello").contains("not a WebAssembly component"));
    assert!(error(b"\0asm\x01\0\0\0").contains("core wasm module"));
    let probe = example_component("probe");
    assert!(error(&probe[..probe.len() / 2]).contains("invalid component"));
    let echo_module = b"\0asm\x0d\0\x01\0";
    assert!(!error(echo_module).is_empty());
    still_usable();
}
