//! Bisection of two committed traces down to their first differing leaf.
//!
//! Each side has committed to `(root, N, top)` ([`Committed`]) and answers queries about its
//! own tree through a [`TreeSource`] (in memory: [`LocalTree`]; over HTTP later). [`bisect`]
//! walks both trees from the top in a virtual tree of depth `D = max(D_a, D_b)` (a
//! shallower tree is its leftmost subtree, with empty right siblings, see
//! `wasmnn_host_gpu::trace::merkle`), checking every answer against the hash already
//! accepted for that position, and descends left whenever the left children differ. So the
//! leaf it reaches is the **first** differing leaf, and the two inclusion paths prove it:
//! every left sibling on them is equal ([`first_difference_proven`]).
//!
//! **Rounds.** The caller's exchange of commitments is round 1. Each level of the walk is one
//! more round (both sides are asked for the children of the same position), and the openings
//! of the final leaf travel with the last children answer (an HTTP source answers the last
//! level with both leaves' openings), so naming the leaf takes `1 + D` rounds, or 2 when
//! `D = 0` (the openings are then a round of their own).
//!
//! [`first_difference_proven`]: wasmnn_host_gpu::trace::merkle::first_difference_proven

use serde::{Deserialize, Serialize};
use wasmnn_host_gpu::trace::Hash;
use wasmnn_host_gpu::trace::digest::{descriptor_digest, leaf_hash};
use wasmnn_host_gpu::trace::merkle::{EMPTY, MerkleTree, depth_for, empty_subtree, inner, padded_top, root_from_top};

/// Serde helpers writing hashes as lowercase hex strings (`#[serde(with = "hex_hash")]`).
pub mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::Hash;

    /// Writes a hash as 64 lowercase hex digits.
    pub fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }

    /// Reads a hash from 64 hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    /// Parses 64 hex digits into a hash.
    pub fn parse(text: &str) -> Result<Hash, String> {
        let bytes = hex::decode(text).map_err(|e| format!("bad hash {text:?}: {e}"))?;
        Hash::try_from(bytes.as_slice()).map_err(|_| format!("bad hash {text:?}: not 32 bytes"))
    }

    /// The same for a list of hashes (`#[serde(with = "hex_hash::list")]`).
    pub mod list {
        use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

        use super::Hash;

        /// Writes hashes as a list of hex strings.
        pub fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(hashes.len()))?;
            for h in hashes {
                seq.serialize_element(&hex::encode(h))?;
            }
            seq.end()
        }

        /// Reads a list of hex strings.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
            let texts = Vec::<String>::deserialize(d)?;
            texts.iter().map(|t| super::parse(t).map_err(D::Error::custom)).collect()
        }
    }
}

/// One revealed leaf: its canonical descriptor JSON and tensor digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafOpening {
    /// The leaf's descriptor, canonical JSON (its digest is `SHA256` of these bytes).
    pub descriptor: String,
    /// The digest of the leaf's tensor.
    #[serde(with = "hex_hash")]
    pub tensor: Hash,
}

impl LeafOpening {
    /// The leaf hash this opening stands for: `SHA256(0x00 ‖ SHA256(descriptor) ‖ tensor)`.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&descriptor_digest(self.descriptor.as_bytes()), &self.tensor)
    }
}

/// Why a source could not answer a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// No answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The transport failed (connection, HTTP status).
    #[error("transport: {0}")]
    Transport(String),
    /// A malformed query (no such position) or answer (undecodable body).
    #[error("malformed: {0}")]
    Malformed(String),
}

/// What one side's trace answers: the nodes of its own tree and the openings of its leaves.
///
/// Positions are in the side's own tree (depth 0 = its top, depth `D` = its leaves).
pub trait TreeSource {
    /// Children hashes of the node at `(depth, index)` of this source's own tree (`depth < D`).
    fn children(&mut self, depth: u32, index: u64) -> Result<(Hash, Hash), SourceError>;
    /// The opening of leaf `index` (`index < N`).
    fn opening(&mut self, index: u64) -> Result<LeafOpening, SourceError>;
}

/// What a side committed to: its root, its number of leaves and its top (the root must be
/// `root_from_top(leaves, top)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// `SHA256(0x02 ‖ u64le(leaves) ‖ top)`.
    #[serde(with = "hex_hash")]
    pub root: Hash,
    /// The number of leaves `N`.
    pub leaves: u64,
    /// The tree's node at depth 0.
    #[serde(with = "hex_hash")]
    pub top: Hash,
}

/// One of the two sides of a bisection (`a` first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The first side given to [`bisect`].
    A,
    /// The second side given to [`bisect`].
    B,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::A => "a",
            Side::B => "b",
        })
    }
}

/// Why a bisection stopped without naming a leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BisectError {
    /// A side could not answer.
    #[error("side {side} did not answer: {error}")]
    Source {
        /// Which side.
        side: Side,
        /// What went wrong.
        #[source]
        error: SourceError,
    },
    /// A side's answer contradicts what it committed to: its root does not match its top
    /// (depth 0, index 0), its children do not hash to the node it gave before, or its leaf
    /// opening does not hash to the leaf it gave before (or it has a non-empty leaf beyond
    /// its `N`). `depth` and `index` are in the virtual tree of depth `max(D_a, D_b)`.
    #[error("side {side} answered inconsistently at depth {depth}, index {index}")]
    Inconsistent {
        /// Which side.
        side: Side,
        /// The depth of the position whose check failed.
        depth: u32,
        /// The index of that position in its level.
        index: u64,
    },
}

/// The first leaf where two traces differ, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// The leaf index.
    pub index: u64,
    /// Side a's opening of the leaf (`None`: the leaf is beyond a's `N`, i.e. `EMPTY`).
    pub a: Option<LeafOpening>,
    /// Side b's opening of the leaf (`None`: beyond b's `N`).
    pub b: Option<LeafOpening>,
    /// The inclusion proof of the leaf in a's tree, siblings bottom-up, padded to the
    /// virtual depth `max(D_a, D_b)` (it verifies against a's padded top).
    #[serde(with = "hex_hash::list")]
    pub proof_a: Vec<Hash>,
    /// The same for b.
    #[serde(with = "hex_hash::list")]
    pub proof_b: Vec<Hash>,
    /// Rounds used, the exchange of commitments included (module doc).
    pub rounds: u32,
}

/// The result of a bisection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Both roots are equal: the traces agree (one round, the commitments).
    Agree,
    /// The traces differ; the first difference.
    Differ(Difference),
}

/// One side's state during the walk.
struct Walker<'s> {
    side: Side,
    committed: &'s Committed,
    source: &'s mut dyn TreeSource,
    /// The depth of the side's own tree.
    own_depth: u32,
    /// The hash accepted from this side for the current position.
    accepted: Hash,
    /// Siblings of the path so far, top-down.
    siblings: Vec<Hash>,
}

impl<'s> Walker<'s> {
    /// A side's walker at the top of the virtual tree of depth `depth`.
    fn new(side: Side, committed: &'s Committed, source: &'s mut dyn TreeSource, depth: u32) -> Self {
        let own_depth = depth_for(committed.leaves);
        Walker {
            side,
            committed,
            source,
            own_depth,
            accepted: padded_top(&committed.top, own_depth, depth),
            siblings: Vec::with_capacity(depth as usize),
        }
    }

    fn inconsistent(&self, depth: u32, index: u64) -> BisectError {
        BisectError::Inconsistent { side: self.side, depth, index }
    }

    fn source_error(&self, error: SourceError) -> BisectError {
        BisectError::Source { side: self.side, error }
    }

    /// The children of virtual position `(depth, index)` of the tree of depth `virtual_depth`
    /// (`depth < virtual_depth`), checked against the accepted hash of the position.
    fn children(&mut self, virtual_depth: u32, depth: u32, index: u64) -> Result<(Hash, Hash), BisectError> {
        let height = virtual_depth - depth;
        let first_leaf = u128::from(index) << height;
        let (left, right) = if first_leaf >= u128::from(self.committed.leaves) {
            // The whole subtree is beyond N: empty, known without asking.
            let e = empty_subtree(height - 1);
            (e, e)
        } else if height > self.own_depth {
            // A virtual node above the side's tree (then index = 0): its own tree, padded, on
            // the left, nothing on the right.
            (padded_top(&self.committed.top, self.own_depth, height - 1), empty_subtree(height - 1))
        } else {
            self.source.children(self.own_depth - height, index).map_err(|e| self.source_error(e))?
        };
        if inner(&left, &right) != self.accepted {
            return Err(self.inconsistent(depth, index));
        }
        Ok((left, right))
    }

    /// Moves to the left or right child, keeping the other as a sibling.
    fn descend(&mut self, (left, right): (Hash, Hash), go_right: bool) {
        let (next, sibling) = if go_right { (right, left) } else { (left, right) };
        self.accepted = next;
        self.siblings.push(sibling);
    }

    /// The opening of leaf `index` of the virtual tree (`None` beyond N), checked against
    /// the accepted leaf hash.
    fn opening(&mut self, virtual_depth: u32, index: u64) -> Result<Option<LeafOpening>, BisectError> {
        if index >= self.committed.leaves {
            return if self.accepted == EMPTY { Ok(None) } else { Err(self.inconsistent(virtual_depth, index)) };
        }
        let opening = self.source.opening(index).map_err(|e| self.source_error(e))?;
        if opening.leaf_hash() != self.accepted {
            return Err(self.inconsistent(virtual_depth, index));
        }
        Ok(Some(opening))
    }

    /// The inclusion proof, bottom-up.
    fn proof(&self) -> Vec<Hash> {
        self.siblings.iter().rev().copied().collect()
    }
}

/// Bisects two committed traces to their first differing leaf (module doc).
///
/// Equal roots agree. Otherwise each side's root is checked against its top, and the walk
/// goes from the top of the virtual tree of depth `D = max(D_a, D_b)` to a leaf, asking both
/// sources for the children of the same position at each level (positions of a shallower
/// tree above its own top, and positions wholly beyond a side's `N`, are answered locally and
/// never queried), then for the leaf's openings. Every answer is checked against the hash
/// accepted from that side for the position; the walk descends left when the left children
/// differ, else right. (If all children are equal on a path, which only happens when the
/// sides' trees agree up to padding yet their `N` differ, the walk heads for leaf
/// `min(N_a, N_b)`, where the side with the larger `N` cannot open a real leaf that hashes to
/// `EMPTY`.)
pub fn bisect(
    a: (&Committed, &mut dyn TreeSource),
    b: (&Committed, &mut dyn TreeSource),
) -> Result<Outcome, BisectError> {
    let ((ca, sa), (cb, sb)) = (a, b);
    if ca.root == cb.root {
        return Ok(Outcome::Agree);
    }
    let depth = depth_for(ca.leaves).max(depth_for(cb.leaves));
    let mut wa = Walker::new(Side::A, ca, sa, depth);
    let mut wb = Walker::new(Side::B, cb, sb, depth);
    for (side, c) in [(Side::A, ca), (Side::B, cb)] {
        if root_from_top(c.leaves, &c.top) != c.root {
            return Err(BisectError::Inconsistent { side, depth: 0, index: 0 });
        }
    }
    // Where to head when both sides' children are all equal (see the doc above).
    let target = ca.leaves.min(cb.leaves);
    let mut rounds: u32 = 1;
    let mut index: u64 = 0;
    for level in 0..depth {
        rounds += 1;
        let ka = wa.children(depth, level, index)?;
        let kb = wb.children(depth, level, index)?;
        let height_below = depth - level - 1;
        let go_right = if ka.0 != kb.0 {
            false
        } else if ka.1 != kb.1 {
            true
        } else {
            height_below < u64::BITS && (target >> height_below) & 1 == 1
        };
        wa.descend(ka, go_right);
        wb.descend(kb, go_right);
        index = 2 * index + u64::from(go_right);
    }
    if depth == 0 {
        rounds += 1;
    }
    let open_a = wa.opening(depth, index)?;
    let open_b = wb.opening(depth, index)?;
    Ok(Outcome::Differ(Difference { index, a: open_a, b: open_b, proof_a: wa.proof(), proof_b: wb.proof(), rounds }))
}

/// A trace held in memory: the openings of its leaves and their tree. A [`TreeSource`] for
/// a local trace and for tests.
#[derive(Debug, Clone)]
pub struct LocalTree {
    tree: MerkleTree,
    openings: Vec<LeafOpening>,
}

impl LocalTree {
    /// The tree over these leaves (leaf hashes computed from the openings).
    pub fn new(openings: Vec<LeafOpening>) -> LocalTree {
        let tree = MerkleTree::new(openings.iter().map(LeafOpening::leaf_hash).collect());
        LocalTree { tree, openings }
    }

    /// What this trace commits to.
    pub fn committed(&self) -> Committed {
        Committed { root: self.tree.root(), leaves: self.tree.len(), top: self.tree.top() }
    }

    /// The Merkle tree.
    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// The leaf openings, in leaf order.
    pub fn openings(&self) -> &[LeafOpening] {
        &self.openings
    }
}

impl TreeSource for LocalTree {
    fn children(&mut self, depth: u32, index: u64) -> Result<(Hash, Hash), SourceError> {
        self.tree
            .children(depth, index)
            .ok_or_else(|| SourceError::Malformed(format!("no inner node at depth {depth}, index {index}")))
    }

    fn opening(&mut self, index: u64) -> Result<LeafOpening, SourceError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.openings.get(i))
            .cloned()
            .ok_or_else(|| SourceError::Malformed(format!("no leaf {index}")))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};
    use wasmnn_host_gpu::trace::merkle::{first_difference_proven, verify_padded_proof};

    use super::*;

    fn opening(i: u64, salt: u8) -> LeafOpening {
        let mut h = Sha256::new();
        h.update([salt]);
        h.update(i.to_le_bytes());
        LeafOpening { descriptor: format!(r#"{{"k":"op","node":{i}}}"#), tensor: h.finalize().into() }
    }

    fn openings(n: u64) -> Vec<LeafOpening> {
        (0..n).map(|i| opening(i, 0)).collect()
    }

    fn perturb(o: &mut LeafOpening) {
        o.tensor[0] ^= 0xff;
    }

    /// Counts queries.
    struct Counting {
        inner: LocalTree,
        children: u32,
        openings: u32,
    }

    impl TreeSource for Counting {
        fn children(&mut self, depth: u32, index: u64) -> Result<(Hash, Hash), SourceError> {
            self.children += 1;
            self.inner.children(depth, index)
        }
        fn opening(&mut self, index: u64) -> Result<LeafOpening, SourceError> {
            self.openings += 1;
            self.inner.opening(index)
        }
    }

    fn run(a: Vec<LeafOpening>, b: Vec<LeafOpening>) -> Result<Outcome, BisectError> {
        let (mut ta, mut tb) = (LocalTree::new(a), LocalTree::new(b));
        let (ca, cb) = (ta.committed(), tb.committed());
        bisect((&ca, &mut ta), (&cb, &mut tb))
    }

    /// Checks the evidence of a difference against both commitments.
    fn check_evidence(a: &[LeafOpening], b: &[LeafOpening], d: &Difference) {
        let (ca, cb) = (LocalTree::new(a.to_vec()).committed(), LocalTree::new(b.to_vec()).committed());
        let depth = depth_for(ca.leaves).max(depth_for(cb.leaves));
        assert_eq!(d.proof_a.len(), depth as usize);
        assert_eq!(d.proof_b.len(), depth as usize);
        let leaf = |o: &Option<LeafOpening>| o.as_ref().map_or(EMPTY, LeafOpening::leaf_hash);
        assert!(verify_padded_proof(&ca.root, ca.leaves, &ca.top, d.index, &leaf(&d.a), &d.proof_a));
        assert!(verify_padded_proof(&cb.root, cb.leaves, &cb.top, d.index, &leaf(&d.b), &d.proof_b));
        assert!(first_difference_proven(d.index, &d.proof_a, &d.proof_b));
        assert_ne!(d.a, d.b);
        assert_eq!(d.rounds, 1 + depth.max(1));
    }

    fn differ(outcome: Outcome) -> Difference {
        match outcome {
            Outcome::Differ(d) => d,
            Outcome::Agree => panic!("expected a difference"),
        }
    }

    #[test]
    fn identical_traces_agree() {
        for n in [0, 1, 2, 7, 100] {
            let mut ta = Counting { inner: LocalTree::new(openings(n)), children: 0, openings: 0 };
            let mut tb = LocalTree::new(openings(n));
            let (ca, cb) = (ta.inner.committed(), tb.committed());
            assert_eq!(bisect((&ca, &mut ta), (&cb, &mut tb)), Ok(Outcome::Agree));
            assert_eq!((ta.children, ta.openings), (0, 0));
        }
    }

    #[test]
    fn single_difference_with_query_counts() {
        let a = openings(1000);
        let mut b = a.clone();
        perturb(&mut b[617]);
        let mut ta = Counting { inner: LocalTree::new(a.clone()), children: 0, openings: 0 };
        let mut tb = LocalTree::new(b.clone());
        let (ca, cb) = (ta.inner.committed(), tb.committed());
        let d = differ(bisect((&ca, &mut ta), (&cb, &mut tb)).unwrap());
        assert_eq!(d.index, 617);
        assert_eq!(d.a.as_ref(), Some(&a[617]));
        assert_eq!(d.b.as_ref(), Some(&b[617]));
        assert_eq!((ta.children, ta.openings), (10, 1));
        check_evidence(&a, &b, &d);
    }

    #[test]
    fn several_differences_find_the_first() {
        let a = openings(300);
        let mut b = a.clone();
        for i in [299, 41, 40, 200, 255] {
            perturb(&mut b[i]);
        }
        let d = differ(run(a.clone(), b.clone()).unwrap());
        assert_eq!(d.index, 40);
        check_evidence(&a, &b, &d);
        // The descriptor differs rather than the tensor.
        let mut c = a.clone();
        c[3].descriptor = r#"{"k":"op","node":99}"#.to_string();
        let d = differ(run(c.clone(), a.clone()).unwrap());
        assert_eq!(d.index, 3);
        check_evidence(&c, &a, &d);
    }

    #[test]
    fn one_and_two_leaves() {
        let d = differ(run(openings(1), vec![opening(0, 9)]).unwrap());
        assert_eq!((d.index, d.rounds), (0, 2));
        assert!(d.proof_a.is_empty());
        check_evidence(&openings(1), &[opening(0, 9)], &d);
        let d = differ(run(Vec::new(), openings(1)).unwrap());
        assert_eq!((d.index, d.a, d.rounds), (0, None, 2));
        let d = differ(run(openings(2), Vec::new()).unwrap());
        assert_eq!((d.index, d.b.clone()), (0, None));
        check_evidence(&openings(2), &[], &d);
    }

    #[test]
    fn different_lengths() {
        for (n, extra) in [(5u64, 1u64), (5, 20), (8, 1), (8, 8), (1, 1000), (0, 3), (999, 1), (1024, 1)] {
            let a = openings(n);
            let mut b = a.clone();
            b.extend((n..n + extra).map(|i| opening(i, 0)));
            let d = differ(run(a.clone(), b.clone()).unwrap());
            assert_eq!(d.index, n, "n {n} extra {extra}");
            assert_eq!(d.a, None);
            assert_eq!(d.b.as_ref(), Some(&b[n as usize]));
            check_evidence(&a, &b, &d);
            // The other way round.
            let d = differ(run(b.clone(), a.clone()).unwrap());
            assert_eq!((d.index, d.b.clone()), (n, None));
            check_evidence(&b, &a, &d);
            // A difference inside the common prefix comes first.
            if n > 2 {
                let mut c = b.clone();
                perturb(&mut c[1]);
                let d = differ(run(a.clone(), c.clone()).unwrap());
                assert_eq!(d.index, 1);
                check_evidence(&a, &c, &d);
            }
        }
    }

    /// Answers a wrong right child at one depth of its own tree.
    struct Lying {
        inner: LocalTree,
        at_depth: u32,
    }

    impl TreeSource for Lying {
        fn children(&mut self, depth: u32, index: u64) -> Result<(Hash, Hash), SourceError> {
            let (l, mut r) = self.inner.children(depth, index)?;
            if depth == self.at_depth {
                r[5] ^= 1;
            }
            Ok((l, r))
        }
        fn opening(&mut self, index: u64) -> Result<LeafOpening, SourceError> {
            self.inner.opening(index)
        }
    }

    #[test]
    fn lying_source_is_inconsistent() {
        let a = openings(16);
        let mut b = a.clone();
        perturb(&mut b[13]);
        // Leaf 13 = 0b1101: the walk asks for the children of (depth 2, index 0b11); the
        // lie does not hash to the node a gave one level up.
        let mut la = Lying { inner: LocalTree::new(a.clone()), at_depth: 2 };
        let mut tb = LocalTree::new(b.clone());
        let (ca, cb) = (la.inner.committed(), tb.committed());
        let err = bisect((&ca, &mut la), (&cb, &mut tb)).unwrap_err();
        assert_eq!(err, BisectError::Inconsistent { side: Side::A, depth: 2, index: 0b11 });
        // The same lie on side b, for leaf 3 = 0b0011 (position (2, 0) on the path).
        let mut c = a.clone();
        perturb(&mut c[3]);
        let mut tc = LocalTree::new(c);
        let mut lb = Lying { inner: LocalTree::new(a.clone()), at_depth: 2 };
        let (cc, cl) = (tc.committed(), lb.inner.committed());
        let err = bisect((&cc, &mut tc), (&cl, &mut lb)).unwrap_err();
        assert_eq!(err, BisectError::Inconsistent { side: Side::B, depth: 2, index: 0 });
        let mut lc = Lying { inner: LocalTree::new(a.clone()), at_depth: 3 };
        let mut e = a.clone();
        perturb(&mut e[14]);
        let mut te = LocalTree::new(e);
        let (cl, ce) = (lc.inner.committed(), te.committed());
        // Leaf 14 = 0b1110: at depth 3 the walk asks for the children of (3, 0b111), and the
        // lie changes its right child, leaf 15, not on the path: still caught by the parent.
        let err = bisect((&cl, &mut lc), (&ce, &mut te)).unwrap_err();
        assert_eq!(err, BisectError::Inconsistent { side: Side::A, depth: 3, index: 0b111 });
    }

    #[test]
    fn inconsistent_commitments_and_openings() {
        let a = openings(10);
        let mut b = a.clone();
        perturb(&mut b[4]);
        let (mut ta, mut tb) = (LocalTree::new(a.clone()), LocalTree::new(b.clone()));
        let (ca, cb) = (ta.committed(), tb.committed());
        // A root that does not match the top.
        let bad = Committed { leaves: 11, ..ca };
        let err = bisect((&bad, &mut ta), (&cb, &mut tb)).unwrap_err();
        assert_eq!(err, BisectError::Inconsistent { side: Side::A, depth: 0, index: 0 });
        // A top and root for one more leaf than the tree has: a claims N = 11 with a tree of
        // 11 leaves whose leaf 10 its source cannot open.
        let mut more = a.clone();
        more.push(opening(10, 0));
        let fake = LocalTree::new(more).committed();
        let err = bisect((&fake, &mut ta), (&cb, &mut tb)).unwrap_err();
        assert!(matches!(err, BisectError::Inconsistent { side: Side::A, .. }), "{err:?}");
        // An opening that does not hash to the leaf.
        struct WrongOpening(LocalTree);
        impl TreeSource for WrongOpening {
            fn children(&mut self, depth: u32, index: u64) -> Result<(Hash, Hash), SourceError> {
                self.0.children(depth, index)
            }
            fn opening(&mut self, index: u64) -> Result<LeafOpening, SourceError> {
                Ok(opening(index, 7))
            }
        }
        let mut wb = WrongOpening(LocalTree::new(b));
        let err = bisect((&ca, &mut ta), (&cb, &mut wb)).unwrap_err();
        assert_eq!(err, BisectError::Inconsistent { side: Side::B, depth: 4, index: 4 });
    }

    #[test]
    fn padding_only_difference_is_inconsistent() {
        // a claims N = 4 for the tree of 3 leaves plus an explicit EMPTY leaf: the same top as
        // b's 3 leaves, another root. The walk heads for leaf 3, which a cannot open as EMPTY.
        struct FakePad(MerkleTree, Vec<LeafOpening>);
        impl TreeSource for FakePad {
            fn children(&mut self, depth: u32, index: u64) -> Result<(Hash, Hash), SourceError> {
                self.0.children(depth, index).ok_or_else(|| SourceError::Malformed("range".into()))
            }
            fn opening(&mut self, index: u64) -> Result<LeafOpening, SourceError> {
                Ok(self.1.get(index as usize).cloned().unwrap_or_else(|| opening(index, 0)))
            }
        }
        let b = openings(3);
        let mut tb = LocalTree::new(b.clone());
        let mut leaves: Vec<Hash> = b.iter().map(LeafOpening::leaf_hash).collect();
        leaves.push(EMPTY);
        let mut fa = FakePad(MerkleTree::new(leaves), b.clone());
        let fake = Committed { root: fa.0.root(), leaves: 4, top: fa.0.top() };
        let cb = tb.committed();
        assert_eq!(fake.top, cb.top);
        let err = bisect((&fake, &mut fa), (&cb, &mut tb)).unwrap_err();
        assert_eq!(err, BisectError::Inconsistent { side: Side::A, depth: 2, index: 3 });
    }

    struct TimingOut;

    impl TreeSource for TimingOut {
        fn children(&mut self, _: u32, _: u64) -> Result<(Hash, Hash), SourceError> {
            Err(SourceError::Timeout("children after 5 s".into()))
        }
        fn opening(&mut self, _: u64) -> Result<LeafOpening, SourceError> {
            Err(SourceError::Timeout("opening after 5 s".into()))
        }
    }

    #[test]
    fn source_errors() {
        let mut ta = LocalTree::new(openings(10));
        let cb = LocalTree::new(openings(11)).committed();
        let ca = ta.committed();
        let err = bisect((&ca, &mut ta), (&cb, &mut TimingOut)).unwrap_err();
        assert_eq!(
            err,
            BisectError::Source { side: Side::B, error: SourceError::Timeout("children after 5 s".into()) }
        );
        // One leaf each: only the opening is asked for.
        let mut tb = LocalTree::new(openings(1));
        let ca = LocalTree::new(vec![opening(0, 1)]).committed();
        let cb = tb.committed();
        let err = bisect((&ca, &mut TimingOut), (&cb, &mut tb)).unwrap_err();
        assert!(matches!(err, BisectError::Source { side: Side::A, error: SourceError::Timeout(_) }));
    }

    #[test]
    fn serde_shapes() {
        let o = opening(1, 0);
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["tensor"], hex::encode(o.tensor));
        assert_eq!(serde_json::from_value::<LeafOpening>(json).unwrap(), o);
        assert_eq!(serde_json::to_string(&Side::A).unwrap(), r#""a""#);
        let a = openings(5);
        let mut b = a.clone();
        perturb(&mut b[2]);
        let d = differ(run(a, b).unwrap());
        let back: Difference = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<LeafOpening>(r#"{"descriptor":"{}","tensor":"abcd"}"#).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_single_difference(n in 1u64..=3000, pick in any::<u64>()) {
            let a = openings(n);
            let mut b = a.clone();
            let i = pick % n;
            perturb(&mut b[i as usize]);
            let d = differ(run(a.clone(), b.clone()).unwrap());
            prop_assert_eq!(d.index, i);
            prop_assert!(d.rounds <= 1 + depth_for(n).max(1));
            check_evidence(&a, &b, &d);
        }

        #[test]
        fn random_lengths_and_differences(n in 0u64..=600, extra in 0u64..=600, flips in proptest::collection::vec(any::<u64>(), 0..4)) {
            let a = openings(n);
            let mut b = a.clone();
            b.extend((n..n + extra).map(|i| opening(i, 0)));
            if n > 0 {
                for f in flips {
                    perturb(&mut b[(f % n) as usize]);
                }
            }
            // (Flipping a leaf twice restores it.)
            let first = (0..n + extra).find(|&i| a.get(i as usize) != b.get(i as usize));
            match run(a.clone(), b.clone()).unwrap() {
                Outcome::Agree => prop_assert_eq!(first, None),
                Outcome::Differ(d) => {
                    prop_assert_eq!(Some(d.index), first);
                    check_evidence(&a, &b, &d);
                }
            }
        }
    }
}
