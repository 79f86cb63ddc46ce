//! One dispute end to end, with this process as challenger and referee: trace the call
//! locally (on this runtime's executor), ask the node to commit to its trace, bisect to the first
//! differing leaf, re-execute that op from the node's inputs and sign the verdict.

use std::time::{Duration, Instant};

use wasmnn_host_gpu::trace::merkle::verify_proof;
use wasmnn_host_gpu::trace::tensor_digest;
use wasmnn_host_gpu::{SPEC_VERSION, Tensor};
use wasmnn_registry::keys::SecretKey;

use super::bisect::{BisectError, LocalTree, Outcome, Side, SourceError, bisect};
use super::referee::{self, Finding};
use super::remote::{RemoteTrace, Timeouts};
use super::verdict::{Reason, SignedVerdict, VERDICT_SCHEMA, Verdict, Winner};
use crate::function::Function;
use crate::invoke::{InvokeError, Runtime};
use crate::receipt::SignedReceipt;
use crate::signed::{Signed, SignedError};
use crate::trace::commit::{SignedCommitment, TraceCommitment};
use crate::trace::{Trace, TraceRequest};

/// Everything a challenge needs.
pub struct Challenge<'a> {
    /// Runs the local trace and the referee's op.
    pub runtime: &'a Runtime,
    /// The function the receipt names.
    pub function: &'a Function,
    /// The call's input.
    pub input: &'a [u8],
    /// The disputed receipt.
    pub receipt: &'a SignedReceipt,
    /// The node's base URL.
    pub node: &'a str,
    /// Signs the challenger's commitment and the verdict.
    pub key: &'a SecretKey,
    /// How long the node may take to answer.
    pub timeouts: Timeouts,
}

/// How a challenge ended.
#[derive(Debug)]
pub enum Report {
    /// Both traces have the same root: nothing to dispute.
    Agree {
        /// The shared commitment (the node's).
        commitment: Box<SignedCommitment>,
        /// Wall time of the whole exchange.
        took: Duration,
    },
    /// The traces differ: the signed verdict.
    Verdict {
        /// The verdict.
        verdict: Box<SignedVerdict>,
        /// Rounds to name the op (commitments and bisection levels).
        rounds_to_name: u32,
        /// Wall time of the whole exchange.
        took: Duration,
    },
}

/// Why a challenge could not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// The local traced run failed.
    #[error("the local traced run failed: {0}")]
    Local(#[from] InvokeError),
    /// The receipt is of another numerics specification.
    #[error("the receipt is for numerics spec {0}, this wasmnn implements {SPEC_VERSION}")]
    Spec(u32),
    /// Signing failed.
    #[error(transparent)]
    Signed(#[from] SignedError),
    /// The referee could not run the op.
    #[error(transparent)]
    Referee(#[from] referee::RefereeError),
    /// The node refused the request (not a protocol fault: e.g. it does not know the
    /// function).
    #[error("the node refused: {0}")]
    Refused(String),
}

impl Challenge<'_> {
    /// Runs the dispute.
    ///
    /// # Errors
    /// [`ChallengeError`] when no verdict can be reached.
    pub fn run(&self) -> Result<Report, ChallengeError> {
        let started = Instant::now();
        let receipt = self.receipt.receipt();
        if receipt.spec_version != SPEC_VERSION {
            return Err(ChallengeError::Spec(receipt.spec_version));
        }
        let (_, local) = self.runtime.invoke_traced(
            self.function,
            self.input,
            receipt.seed,
            &self.function.default_limits(),
            None,
            TraceRequest::default(),
        )?;
        let local_tree = LocalTree::new(local.leaves.clone());
        let ours = TraceCommitment::new(receipt, self.receipt.id(), local_tree.tree(), self.key.public(), now());
        let ours = Signed::sign(ours, self.key)?;
        let verdict = |finding: Finding, node: Option<SignedCommitment>, diff, rounds, bytes: (u64, u64)| {
            let verdict = Verdict {
                schema: VERDICT_SCHEMA,
                spec_version: SPEC_VERSION,
                receipt: self.receipt.id(),
                node_commitment: node,
                challenger_commitment: ours.clone(),
                winner: finding.winner,
                reason: finding.reason,
                detail: finding.detail,
                difference: diff,
                op: finding.op,
                rounds,
                bytes_sent: bytes.0,
                bytes_received: bytes.1,
                referee: self.key.public(),
                time: now(),
            };
            Signed::sign(verdict, self.key)
        };
        let fault = |reason: Reason, detail: String| Finding { winner: Winner::Challenger, reason, detail, op: None };
        let (mut remote, theirs) = match RemoteTrace::commit(self.node, self.receipt, Some(self.input), &self.timeouts)
        {
            Ok(answer) => answer,
            Err(SourceError::Timeout(what)) => {
                let finding = fault(Reason::NodeTimeout, format!("no commitment in time: {what}"));
                return Ok(self.report(verdict(finding, None, None, 1, (0, 0))?, 1, started));
            }
            Err(e) => return Err(ChallengeError::Refused(e.to_string())),
        };
        let committed = theirs.value();
        if committed.node != receipt.node
            || !committed.backs(receipt, &self.receipt.id())
            || !committed.root_is_consistent()
        {
            let finding = fault(Reason::ReceiptNotBacked, "the node's commitment does not state its receipt".into());
            return Ok(self.report(verdict(finding, Some(theirs), None, 1, remote.bytes())?, 1, started));
        }
        let (node_side, local_side) = (committed.committed(), local_tree.committed());
        let mut local_source = LocalTree::new(local.leaves.clone());
        let outcome = bisect((&node_side, &mut remote), (&local_side, &mut local_source));
        let diff = match outcome {
            Ok(Outcome::Agree) => {
                return Ok(Report::Agree { commitment: Box::new(theirs), took: started.elapsed() });
            }
            Ok(Outcome::Differ(diff)) => diff,
            Err(BisectError::Inconsistent { side: Side::A, depth, index }) => {
                let detail = format!("the node's answer at depth {depth}, index {index} contradicts its root");
                let finding = fault(Reason::NodeInconsistent, detail);
                return Ok(self.report(verdict(finding, Some(theirs), None, 1, remote.bytes())?, 1, started));
            }
            Err(BisectError::Source { side: Side::A, error: SourceError::Timeout(what) }) => {
                let finding = fault(Reason::NodeTimeout, format!("no answer in time: {what}"));
                return Ok(self.report(verdict(finding, Some(theirs), None, 1, remote.bytes())?, 1, started));
            }
            Err(e) => return Err(ChallengeError::Refused(e.to_string())),
        };
        let rounds_to_name = diff.rounds;
        let node_commitment = committed.clone();
        let mut fetch = |leaves: &[u64]| fetch_from(&mut remote, &node_commitment, leaves);
        let finding = match referee::decide(self.runtime, self.function, &local.leaves, &diff, &mut fetch) {
            Ok(finding) => finding,
            Err(referee::RefereeError::Fetch(what)) if what.starts_with("timeout") => {
                fault(Reason::NodeTimeout, format!("the op's inputs did not come in time: {what}"))
            }
            Err(e) => return Err(e.into()),
        };
        let rounds = rounds_to_name + u32::from(finding.op.is_some());
        let signed = verdict(finding, Some(theirs), Some(diff), rounds, remote.bytes())?;
        Ok(self.report(signed, rounds_to_name, started))
    }

    fn report(&self, verdict: SignedVerdict, rounds_to_name: u32, started: Instant) -> Report {
        Report::Verdict { verdict: Box::new(verdict), rounds_to_name, took: started.elapsed() }
    }
}

/// The tensors of `leaves` from the node, each proven against its committed root and
/// checked against its opening's digest.
fn fetch_from(remote: &mut RemoteTrace, node: &TraceCommitment, leaves: &[u64]) -> Result<Vec<Tensor>, String> {
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
    let wire = remote.tensors(leaves).map_err(|e| match e {
        SourceError::Timeout(what) => format!("timeout: {what}"),
        other => other.to_string(),
    })?;
    if wire.len() != leaves.len() {
        return Err(format!("asked for {} tensors, got {}", leaves.len(), wire.len()));
    }
    let mut tensors = Vec::with_capacity(wire.len());
    for (&leaf, item) in leaves.iter().zip(&wire) {
        if item.leaf != leaf {
            return Err(format!("asked for leaf {leaf}, got {}", item.leaf));
        }
        if !verify_proof(&node.root, node.leaves, leaf, &item.opening.leaf_hash(), &item.proof) {
            return Err(format!("leaf {leaf}'s proof does not verify against the node's root"));
        }
        let tensor = item.to_tensor()?;
        if tensor_digest(&tensor) != item.opening.tensor {
            return Err(format!("leaf {leaf}'s bytes do not hash to its committed digest"));
        }
        tensors.push(tensor);
    }
    Ok(tensors)
}

/// Now, Unix seconds.
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The local trace of a call (for `wasmnn dispute trace` and tests).
///
/// # Errors
/// The call fails.
pub fn local_trace(runtime: &Runtime, function: &Function, input: &[u8], seed: u64) -> Result<Trace, InvokeError> {
    runtime
        .invoke_traced(function, input, seed, &function.default_limits(), None, TraceRequest::default())
        .map(|(_, t)| t)
}
