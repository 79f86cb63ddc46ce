//! The WASI side of the sandbox: no files, no sockets, no environment, fixed clocks, a
//! seeded RNG, and stdout/stderr captured into memory (size-capped) for `tracing`.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sha2::{Digest, Sha256};
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiView};

/// The in-memory stdout and stderr of one call.
pub(crate) struct CapturedStdio {
    /// The guest's stdout.
    pub stdout: MemoryOutputPipe,
    /// The guest's stderr.
    pub stderr: MemoryOutputPipe,
}

impl CapturedStdio {
    /// Sends what the guest printed to `tracing` (target `wasmnn::guest`).
    pub fn log(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                tracing::info!(target: "wasmnn::guest", stream, "{}", String::from_utf8_lossy(&bytes).trim_end());
            }
        }
    }

    /// The guest's stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

/// Builds the WASI context of a call seeded with `seed`.
///
/// Both of WASI's random sources are ChaCha20 streams keyed by
/// `sha256("wasmnn-wasi-random-v1\0" ‖ source ‖ seed as u64 LE)`; the wall clock always
/// reads the Unix epoch and the monotonic clock always reads 0.
pub(crate) fn sandbox_ctx(seed: u64, stdio_bytes: usize) -> (WasiCtx, CapturedStdio) {
    let stdio =
        CapturedStdio { stdout: MemoryOutputPipe::new(stdio_bytes), stderr: MemoryOutputPipe::new(stdio_bytes) };
    let insecure_seed = seed_bytes(seed, "insecure-seed");
    let mut low = [0u8; 16];
    low.copy_from_slice(&insecure_seed[..16]);
    let ctx = WasiCtx::builder()
        .stdout(stdio.stdout.clone())
        .stderr(stdio.stderr.clone())
        .wall_clock(EpochClock)
        .monotonic_clock(FrozenClock)
        .secure_random(ChaCha20Rng::from_seed(seed_bytes(seed, "secure")))
        .insecure_random(ChaCha20Rng::from_seed(seed_bytes(seed, "insecure")))
        .insecure_random_seed(u128::from_le_bytes(low))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    (ctx, stdio)
}

/// Adds WASI p2 to the linker, with sleeping made instant: under frozen clocks a sleep
/// would otherwise block the host thread for real time, out of reach of the epoch
/// deadline. Every `subscribe-duration` / `subscribe-instant` pollable is ready at once.
pub(crate) fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store, (_,): (u64,)| ready_pollable(store.data_mut()).map(|p| (p,)))?;
    clock.func_wrap("subscribe-instant", |mut store, (_,): (u64,)| ready_pollable(store.data_mut()).map(|p| (p,)))?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The monotonic-clock interface wasmtime-wasi 48 implements (guests importing older 0.2
/// versions link to it by semver).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A pollable that is always ready.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

fn ready_pollable<T: WasiView>(state: &mut T) -> wasmtime::Result<Resource<DynPollable>> {
    let table = state.ctx().table;
    let ready = table.push(Ready)?;
    subscribe(table, ready)
}

fn seed_bytes(seed: u64, source: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"wasmnn-wasi-random-v1\0");
    hasher.update(source.as_bytes());
    hasher.update(seed.to_le_bytes());
    hasher.finalize().into()
}

/// A wall clock stopped at the Unix epoch.
struct EpochClock;

impl HostWallClock for EpochClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A monotonic clock that never advances.
struct FrozenClock;

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}
