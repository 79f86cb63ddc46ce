//! Trace commitments: a node's signed statement of the Merkle root of one call's trace,
//! bound to the receipt it backs. Once a node has signed one, every answer it gives during
//! a dispute must be consistent with it (inclusion proofs), so it cannot change its story.

use serde::{Deserialize, Serialize};
use wasmnn_host_gpu::trace::{Hash, MerkleTree, TRACE_VERSION};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::keys::{PublicKey, TRACE_DOMAIN};

use crate::dispute::bisect::{Committed, hex_hash};
use crate::receipt::Receipt;
use crate::signed::{Signed, Statement};

/// The commitment format this code writes and reads.
pub const COMMITMENT_SCHEMA: u32 = 1;

/// A signed trace commitment.
pub type SignedCommitment = Signed<TraceCommitment>;

/// What a node commits to about the trace of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceCommitment {
    /// [`COMMITMENT_SCHEMA`].
    pub schema: u32,
    /// The trace format ([`TRACE_VERSION`]).
    pub trace_version: u32,
    /// The numerics specification of the run.
    pub spec_version: u32,
    /// The id of the receipt this trace backs.
    pub receipt: Sha256Digest,
    /// The function's manifest digest.
    pub manifest: Sha256Digest,
    /// sha256 of the input.
    pub input: Sha256Digest,
    /// The call's seed.
    pub seed: u64,
    /// sha256 of the whole output, as in the receipt.
    pub output: Sha256Digest,
    /// Fuel, as in the receipt.
    pub fuel: u64,
    /// Op count, as in the receipt.
    pub ops: u64,
    /// Leaves in the trace.
    pub leaves: u64,
    /// The tree's top node (`root` = H(0x02 ‖ leaves ‖ top)).
    #[serde(with = "hex_hash")]
    pub top: Hash,
    /// The Merkle root.
    #[serde(with = "hex_hash")]
    pub root: Hash,
    /// The committing node's key.
    pub node: PublicKey,
    /// When the trace was made, Unix seconds (informative).
    pub time: u64,
}

impl TraceCommitment {
    /// The commitment of `tree` for `receipt`, by `node`.
    pub fn new(receipt: &Receipt, receipt_id: Sha256Digest, tree: &MerkleTree, node: PublicKey, time: u64) -> Self {
        TraceCommitment {
            schema: COMMITMENT_SCHEMA,
            trace_version: TRACE_VERSION,
            spec_version: receipt.spec_version,
            receipt: receipt_id,
            manifest: receipt.manifest,
            input: receipt.input,
            seed: receipt.seed,
            output: receipt.output,
            fuel: receipt.fuel,
            ops: receipt.ops,
            leaves: tree.len(),
            top: tree.top(),
            root: tree.root(),
            node,
            time,
        }
    }

    /// What the bisection checks this side's answers against.
    pub fn committed(&self) -> Committed {
        Committed { root: self.root, leaves: self.leaves, top: self.top }
    }

    /// Whether the root is H(0x02 ‖ leaves ‖ top).
    pub fn root_is_consistent(&self) -> bool {
        wasmnn_host_gpu::trace::merkle::root_from_top(self.leaves, &self.top) == self.root
    }

    /// Whether the commitment states the same call and result as `receipt` (a commitment
    /// that contradicts the receipt it claims to back does not back it).
    pub fn backs(&self, receipt: &Receipt, receipt_id: &Sha256Digest) -> bool {
        self.receipt == *receipt_id
            && self.spec_version == receipt.spec_version
            && self.manifest == receipt.manifest
            && self.input == receipt.input
            && self.seed == receipt.seed
            && self.output == receipt.output
            && self.fuel == receipt.fuel
            && self.ops == receipt.ops
    }
}

impl Statement for TraceCommitment {
    const DOMAIN: &'static [u8] = TRACE_DOMAIN;
    const FIELD: &'static str = "commitment";

    fn signer(&self) -> &PublicKey {
        &self.node
    }

    fn check(&self) -> Result<(), String> {
        if self.schema != COMMITMENT_SCHEMA {
            return Err(format!("unknown commitment schema {} (this wasmnn reads {COMMITMENT_SCHEMA})", self.schema));
        }
        if self.trace_version != TRACE_VERSION {
            return Err(format!("unknown trace version {} (this wasmnn makes {TRACE_VERSION})", self.trace_version));
        }
        Ok(())
    }
}
