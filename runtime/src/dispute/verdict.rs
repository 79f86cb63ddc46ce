//! Verdicts: the referee's signed statement of how a dispute over one receipt ended —
//! the first differing leaf, the evidence that it is the first (both inclusion proofs),
//! the op's re-execution from the agreed inputs, and who was right.

use serde::{Deserialize, Serialize};
use wasmnn_host_gpu::trace::Hash;
use wasmnn_host_gpu::trace::merkle::{EMPTY, depth_for, first_difference_proven, verify_padded_proof};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::keys::{PublicKey, VERDICT_DOMAIN};

use super::bisect::{Difference, LeafOpening, hex_hash};
use crate::signed::{Signed, Statement};
use crate::trace::commit::SignedCommitment;

/// The verdict format this code writes and reads.
pub const VERDICT_SCHEMA: u32 = 1;

/// A signed verdict.
pub type SignedVerdict = Signed<Verdict>;

/// Who was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Winner {
    /// The node's trace is wrong at the leaf (or the node broke the protocol).
    Challenger,
    /// The challenger's trace is wrong at the leaf.
    Node,
    /// Both differ from the referee's re-execution.
    Neither,
}

/// How the verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The referee re-executed the first differing op from the agreed inputs.
    OpRecomputed,
    /// The first difference is not an op (a graph input, the end leaf, the sequence of
    /// ops itself): the wasm side diverged, and the referee's re-run of the call decides.
    GuestRecomputed,
    /// The node's answers contradicted its own commitment.
    NodeInconsistent,
    /// The node did not answer in time.
    NodeTimeout,
    /// The node's commitment does not state what its receipt states.
    ReceiptNotBacked,
}

/// The re-execution of the disputed op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpEvidence {
    /// The leaves the op read (fetched from the node, proofs checked against its root),
    /// in argument order, with their tensor digests.
    pub inputs: Vec<InputLeaf>,
    /// The digest of the referee's result.
    #[serde(with = "hex_hash")]
    pub recomputed: Hash,
}

/// One input of the disputed op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputLeaf {
    /// Its leaf index.
    pub leaf: u64,
    /// Its tensor digest (as both sides committed it).
    #[serde(with = "hex_hash")]
    pub tensor: Hash,
}

/// How a dispute over one receipt ended, as the referee states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// [`VERDICT_SCHEMA`].
    pub schema: u32,
    /// The numerics specification of both runs.
    pub spec_version: u32,
    /// The disputed receipt's id.
    pub receipt: Sha256Digest,
    /// The node's signed trace commitment (absent when it never gave one).
    pub node_commitment: Option<SignedCommitment>,
    /// The challenger's signed trace commitment.
    pub challenger_commitment: SignedCommitment,
    /// Who was right.
    pub winner: Winner,
    /// How that was decided.
    pub reason: Reason,
    /// A sentence for people: the op, or what went wrong.
    pub detail: String,
    /// The first differing leaf and its proofs (side a = the node, b = the challenger).
    pub difference: Option<Difference>,
    /// The op's re-execution, for [`Reason::OpRecomputed`].
    pub op: Option<OpEvidence>,
    /// Rounds of the protocol (commitments, bisection levels, the input fetch).
    pub rounds: u32,
    /// Bytes the challenger sent to the node.
    pub bytes_sent: u64,
    /// Bytes the challenger received from the node.
    pub bytes_received: u64,
    /// The referee's key.
    pub referee: PublicKey,
    /// When the verdict was made, Unix seconds (informative).
    pub time: u64,
}

impl Statement for Verdict {
    const DOMAIN: &'static [u8] = VERDICT_DOMAIN;
    const FIELD: &'static str = "verdict";

    fn signer(&self) -> &PublicKey {
        &self.referee
    }

    fn check(&self) -> Result<(), String> {
        if self.schema == VERDICT_SCHEMA {
            Ok(())
        } else {
            Err(format!("unknown verdict schema {} (this wasmnn reads {VERDICT_SCHEMA})", self.schema))
        }
    }
}

impl Verdict {
    /// Checks what anyone can check without re-running anything: both commitments are for
    /// the disputed receipt, the difference's openings are proven against each side's root,
    /// no earlier leaf differs (every left sibling agrees), the openings differ, and the
    /// winner follows from the re-executed digest. (Signatures were checked when the
    /// verdict was read.)
    ///
    /// # Errors
    /// The first rule the verdict breaks.
    pub fn check_evidence(&self) -> Result<(), String> {
        let challenger = self.challenger_commitment.value();
        if challenger.receipt != self.receipt {
            return Err("the challenger's commitment is for another receipt".into());
        }
        let needs_difference = matches!(self.reason, Reason::OpRecomputed | Reason::GuestRecomputed);
        let Some(node) = self.node_commitment.as_ref().map(Signed::value) else {
            return if needs_difference { Err("no node commitment, yet a difference".into()) } else { Ok(()) };
        };
        if node.receipt != self.receipt {
            return Err("the node's commitment is for another receipt".into());
        }
        let Some(diff) = &self.difference else {
            return if needs_difference { Err("no difference to decide on".into()) } else { Ok(()) };
        };
        let leaf = |o: &Option<LeafOpening>| o.as_ref().map_or(EMPTY, LeafOpening::leaf_hash);
        let proven = |c: &crate::trace::commit::TraceCommitment, opening: &Option<LeafOpening>, proof: &[Hash]| {
            verify_padded_proof(&c.root, c.leaves, &c.top, diff.index, &leaf(opening), proof)
        };
        if !proven(node, &diff.a, &diff.proof_a) {
            return Err(format!("the node's opening of leaf {} is not proven against its root", diff.index));
        }
        if !proven(challenger, &diff.b, &diff.proof_b) {
            return Err(format!("the challenger's opening of leaf {} is not proven against its root", diff.index));
        }
        let depth = depth_for(node.leaves).max(depth_for(challenger.leaves)) as usize;
        if diff.proof_a.len() != depth || !first_difference_proven(diff.index, &diff.proof_a, &diff.proof_b) {
            return Err(format!("leaf {} is not shown to be the first difference", diff.index));
        }
        if diff.a == diff.b {
            return Err(format!("the two openings of leaf {} are equal", diff.index));
        }
        if self.reason == Reason::OpRecomputed {
            let evidence = self.op.as_ref().ok_or("an op verdict without the op's re-execution")?;
            let matches = |o: &Option<LeafOpening>| o.as_ref().is_some_and(|o| o.tensor == evidence.recomputed);
            let winner = match (matches(&diff.a), matches(&diff.b)) {
                (false, true) => Winner::Challenger,
                (true, false) => Winner::Node,
                _ => Winner::Neither,
            };
            if winner != self.winner {
                return Err(format!("the re-executed op says {winner:?}, the verdict {:?}", self.winner));
            }
        }
        Ok(())
    }
}
