//! `wasmnn selftest [--backend gpu]`: runs every op family's canary conformance cases on
//! the adapter, compares them bit for bit with the CPU reference, and reports the adapter
//! and any op that differs. Exit code 1 when one differs or no adapter opens.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use wasmnn_host_gpu::gpu::{GpuContext, selftest};
use wasmnn_runtime::Backend;

use crate::commands::Globals;

/// Runs the self-test and prints one line per op family.
pub fn run(globals: &Globals) -> anyhow::Result<ExitCode> {
    if globals.backend == Backend::Cpu {
        bail!("the self-test checks a GPU against the CPU reference: use --backend gpu or auto");
    }
    let ctx = Arc::new(GpuContext::new().context("cannot open a GPU adapter")?);
    let report = selftest(&ctx).context("cannot build the self-test cases")?;
    let mut out = std::io::stdout().lock();
    let a = &report.adapter;
    writeln!(
        out,
        "adapter  {} ({}), driver {} {}, backend {}",
        a.name, a.device_type, a.driver, a.driver_info, a.backend
    )?;
    writeln!(out, "spec     numerics v{}", wasmnn_host_gpu::SPEC_VERSION)?;
    for family in &report.families {
        let status = if family.failures.is_empty() { "ok" } else { "DIFFERS" };
        writeln!(out, "{:<12} {status:<8} {} passed, {} failed", family.family, family.passed, family.failures.len())?;
        for (case, message) in &family.failures {
            writeln!(out, "  {case}: {message}")?;
        }
    }
    if report.passed() {
        writeln!(out, "result   pass: every canary matches the CPU reference bit for bit")?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "result   FAIL: this adapter must not be used (auto falls back to the CPU)")?;
        Ok(ExitCode::FAILURE)
    }
}
