//! Which executor runs model graphs: `--backend auto|cpu|gpu` and its resolution on this
//! machine (adapter, software-rasterizer check, self-test).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use wasmnn_host_gpu::gpu::{GpuContext, GpuError, SelfTestReport, selftest};

/// Which executor runs model graphs (`--backend` on every command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The GPU if an adapter passes the self-test, else the CPU.
    #[default]
    Auto,
    /// The CPU reference executor.
    Cpu,
    /// The wgpu executor.
    Gpu,
}

/// Errors selecting a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The name is not one of `auto`, `cpu`, `gpu`.
    #[error("unknown backend (expected auto, cpu or gpu): {0:?}")]
    Unknown(String),
    /// The GPU was required but no adapter could be opened.
    #[error("the gpu backend is not available: {0}")]
    GpuUnavailable(#[from] GpuError),
    /// The GPU was required but its self-test found ops that differ from the CPU reference.
    #[error("the GPU {adapter} failed the self-test (run `wasmnn selftest` for details): {cases}")]
    SelfTestFailed {
        /// Adapter name.
        adapter: String,
        /// The failing cases.
        cases: String,
    },
    /// `auto` found only a software adapter, which it leaves to an explicit `gpu`.
    #[error("the only GPU adapter is a software rasterizer ({0}); --backend gpu uses it anyway")]
    SoftwareAdapter(String),
    /// The self-test cases could not be built (a bug).
    #[error("the self-test cannot run: {0}")]
    SelfTest(String),
}

impl FromStr for Backend {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            other => Err(BackendError::Unknown(other.to_owned())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        })
    }
}

/// The executor a backend choice resolves to on this machine.
#[derive(Debug, Clone)]
pub enum ResolvedBackend {
    /// The CPU reference executor.
    Cpu,
    /// The wgpu executor on an adapter that passed the self-test.
    Gpu(Arc<GpuContext>),
}

impl ResolvedBackend {
    /// `cpu` or `gpu`.
    pub fn name(&self) -> &'static str {
        match self {
            ResolvedBackend::Cpu => "cpu",
            ResolvedBackend::Gpu(_) => "gpu",
        }
    }
}

impl Backend {
    /// Resolves the choice. `gpu` opens the adapter and runs the self-test, failing when
    /// either fails; `auto` does the same but falls back to the CPU (saying why in the
    /// log), and also when the only adapter is a software rasterizer such as lavapipe
    /// (correct, but far slower than the CPU executor); `cpu` is the CPU.
    ///
    /// # Errors
    /// For an explicit `gpu`: no adapter, or a failed self-test.
    pub fn resolve(self) -> Result<ResolvedBackend, BackendError> {
        self.resolve_explained().map(|(backend, _)| backend)
    }

    /// [`Backend::resolve`], with one line saying how the executor was chosen (for a
    /// node's `/healthz` and log): the adapter and how many self-test cases it passed, or
    /// why `auto` fell back to the CPU (no adapter, a software rasterizer, or the failing
    /// self-test cases).
    ///
    /// # Errors
    /// As [`Backend::resolve`].
    pub fn resolve_explained(self) -> Result<(ResolvedBackend, String), BackendError> {
        let passed = |report: &SelfTestReport| {
            let cases: usize = report.families.iter().map(|f| f.passed).sum();
            format!("gpu: {} passed the self-test ({cases} cases bit-exact with the CPU)", report.adapter.name)
        };
        match self {
            Backend::Cpu => Ok((ResolvedBackend::Cpu, "cpu: chosen with --backend cpu".to_owned())),
            Backend::Gpu => open_tested_gpu().map(|(ctx, report)| (ResolvedBackend::Gpu(ctx), passed(&report))),
            Backend::Auto => match open_hardware_gpu().and_then(test_gpu) {
                Ok((ctx, report)) => Ok((ResolvedBackend::Gpu(ctx), passed(&report))),
                Err(reason) => {
                    tracing::info!(%reason, "using the CPU executor");
                    Ok((ResolvedBackend::Cpu, format!("cpu: auto fell back to the CPU: {reason}")))
                }
            },
        }
    }
}

/// Opens the adapter and runs the self-test.
///
/// # Errors
/// No adapter, or any canary that differs from the CPU reference.
pub fn open_tested_gpu() -> Result<(Arc<GpuContext>, SelfTestReport), BackendError> {
    test_gpu(Arc::new(GpuContext::new()?))
}

/// Opens the adapter unless it is a software rasterizer (device type `Cpu`).
fn open_hardware_gpu() -> Result<Arc<GpuContext>, BackendError> {
    let ctx = GpuContext::new()?;
    if ctx.adapter().software {
        return Err(BackendError::SoftwareAdapter(ctx.adapter().name.clone()));
    }
    Ok(Arc::new(ctx))
}

/// Runs the self-test on an open adapter.
fn test_gpu(ctx: Arc<GpuContext>) -> Result<(Arc<GpuContext>, SelfTestReport), BackendError> {
    let report = selftest(&ctx).map_err(|e| BackendError::SelfTest(e.to_string()))?;
    if !report.passed() {
        return Err(BackendError::SelfTestFailed {
            adapter: report.adapter.name.clone(),
            cases: report.failing_cases().join(", "),
        });
    }
    tracing::debug!(adapter = %report.adapter.name, "GPU self-test passed");
    Ok((ctx, report))
}
