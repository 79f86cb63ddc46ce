//! The adapter self-test: every op family's canary conformance cases on the adapter,
//! compared bit for bit with the CPU reference. A node uses a GPU only when it passes.

use std::sync::Arc;

use super::{AdapterSummary, GpuContext};
use crate::conformance;
use crate::ir::GraphError;

/// What the self-test found.
#[derive(Debug, Clone)]
pub struct SelfTestReport {
    /// The adapter tested.
    pub adapter: AdapterSummary,
    /// Per op family: cases passed and the failures (case, message).
    pub families: Vec<FamilyResult>,
}

/// One family's canaries.
#[derive(Debug, Clone)]
pub struct FamilyResult {
    /// Family name.
    pub family: &'static str,
    /// Canary cases that gave the CPU's bits.
    pub passed: usize,
    /// The cases that did not, with the first difference or error.
    pub failures: Vec<(String, String)>,
}

impl SelfTestReport {
    /// Whether every canary gave the CPU's bits.
    pub fn passed(&self) -> bool {
        self.families.iter().all(|f| f.failures.is_empty())
    }

    /// The op kinds of the failing cases, for a one-line summary.
    pub fn failing_cases(&self) -> Vec<&str> {
        self.families.iter().flat_map(|f| f.failures.iter().map(|(case, _)| case.as_str())).collect()
    }
}

/// Runs every canary case on `ctx`.
///
/// # Errors
/// When the cases cannot be built (a bug, not a property of the adapter).
pub fn selftest(ctx: &Arc<GpuContext>) -> Result<SelfTestReport, GraphError> {
    let mut families: Vec<FamilyResult> = Vec::new();
    for case in conformance::all()?.into_iter().filter(|c| c.canary) {
        let index = match families.iter().position(|f| f.family == case.family) {
            Some(i) => i,
            None => {
                families.push(FamilyResult { family: case.family, passed: 0, failures: Vec::new() });
                families.len() - 1
            }
        };
        match case.check(ctx) {
            Ok(()) => families[index].passed += 1,
            Err(message) => families[index].failures.push((case.id(), message)),
        }
    }
    Ok(SelfTestReport { adapter: ctx.adapter().clone(), families })
}
