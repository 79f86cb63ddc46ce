//! The Merkle tree over a call's trace leaves (`docs/TRACES.md`).
//!
//! - Leaves are [`leaf_hash`](super::leaf_hash)es (already domain-separated with `0x00`).
//! - An inner node is `SHA256(0x01 ‖ left ‖ right)`.
//! - The tree is perfect, of depth `D = ⌈log2 N⌉` ([`depth_for`]; `D = 0` for `N ≤ 1`).
//!   Positions `N..2^D` hold [`EMPTY`] = `SHA256("wasmnn-trace-empty-v1")`, so a node
//!   whose whole subtree is missing is the empty-subtree hash of its height
//!   ([`empty_subtree`]: `EMPTY_0 = EMPTY`, `EMPTY_h = SHA256(0x01 ‖ EMPTY_{h-1} ‖
//!   EMPTY_{h-1})`). For `N = 0` the top is `EMPTY`.
//! - The **top** is the node at depth 0; the **root** is `SHA256(0x02 ‖ u64le(N) ‖ top)`
//!   ([`root_from_top`]), so the root binds the number of leaves.
//!
//! Positions are `(depth, index)`: depth 0 is the top, depth `D` the leaves, and `index`
//! counts from the left within that level. An inclusion proof lists the sibling hashes
//! from the leaf up (`D` of them).
//!
//! **Trees of different depth.** Two traces are compared in a virtual tree of the larger
//! depth `D`: a tree of depth `d < D` sits as the leftmost subtree of height `d`, with
//! `EMPTY_h` right siblings above it. Its virtual top is [`padded_top`], and a proof in it
//! is [`padded_proof`] (the `EMPTY_d..EMPTY_{D-1}` siblings appended); both verify with
//! [`top_from_proof`] / [`verify_padded_proof`].

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::digest::Hash;

/// `SHA256("wasmnn-trace-empty-v1")`: the hash of a missing leaf (`EMPTY_0`).
pub const EMPTY: Hash = [
    0x98, 0x58, 0x0c, 0x57, 0xfe, 0x7e, 0xf4, 0x8b, 0x8a, 0x53, 0x5a, 0x94, 0x83, 0x93, 0x1d, 0xae, 0xf0, 0x38, 0x68,
    0xa5, 0xb8, 0xde, 0xac, 0x2d, 0xb5, 0x8b, 0x7f, 0xee, 0xa3, 0xc9, 0x52, 0x28,
];

/// Heights with a precomputed empty-subtree hash (every depth a `u64` leaf count needs).
const EMPTY_TABLE: usize = 65;

fn empty_table() -> &'static [Hash; EMPTY_TABLE] {
    static TABLE: OnceLock<[Hash; EMPTY_TABLE]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [[0u8; 32]; EMPTY_TABLE];
        t[0] = EMPTY;
        for h in 1..EMPTY_TABLE {
            t[h] = inner(&t[h - 1], &t[h - 1]);
        }
        t
    })
}

/// The hash of an all-empty subtree of this height (`EMPTY_0` is the empty leaf).
pub fn empty_subtree(height: u32) -> Hash {
    let table = empty_table();
    match table.get(height as usize) {
        Some(h) => *h,
        None => {
            let mut h = table[EMPTY_TABLE - 1];
            for _ in EMPTY_TABLE as u32 - 1..height {
                h = inner(&h, &h);
            }
            h
        }
    }
}

/// An inner node: `SHA256(0x01 ‖ left ‖ right)`.
pub fn inner(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a tree of `n` leaves whose top is `top`: `SHA256(0x02 ‖ u64le(n) ‖ top)`.
pub fn root_from_top(n: u64, top: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x02]);
    h.update(n.to_le_bytes());
    h.update(top);
    h.finalize().into()
}

/// The depth of the tree of `n` leaves: `⌈log2 n⌉`, 0 for `n ≤ 1`.
pub fn depth_for(n: u64) -> u32 {
    if n <= 1 { 0 } else { u64::BITS - (n - 1).leading_zeros() }
}

/// Whether `index` is a position of a level with `2^depth` positions.
fn in_level(depth: u32, index: u64) -> bool {
    depth >= u64::BITS || index >> depth == 0
}

/// The top obtained by hashing `leaf` at position `index` up through `proof` (siblings
/// bottom-up; bit `h` of `index` says whether the node at height `h` is a right child).
/// Only the low `proof.len()` bits of `index` are used.
pub fn top_from_proof(index: u64, leaf: &Hash, proof: &[Hash]) -> Hash {
    let mut cur = *leaf;
    for (h, sibling) in proof.iter().enumerate() {
        let right = h < u64::BITS as usize && (index >> h) & 1 == 1;
        cur = if right { inner(sibling, &cur) } else { inner(&cur, sibling) };
    }
    cur
}

/// Whether `proof` (siblings bottom-up) proves that leaf `index` of the tree of `n`
/// leaves with this `root` is `leaf`.
///
/// The proof has exactly [`depth_for`]`(n)` siblings. Positions `n..2^D` can be proven
/// too, and only as [`EMPTY`]: that is how a side shows it has no leaf there.
pub fn verify_proof(root: &Hash, n: u64, index: u64, leaf: &Hash, proof: &[Hash]) -> bool {
    let depth = depth_for(n);
    if proof.len() != depth as usize || !in_level(depth, index) {
        return false;
    }
    if index >= n && *leaf != EMPTY {
        return false;
    }
    root_from_top(n, &top_from_proof(index, leaf, proof)) == *root
}

/// Whether `proof`, a proof of depth `proof.len() ≥ depth_for(n)` in the virtual tree of
/// that depth (see the module doc), proves that leaf `index` is `leaf`, for the tree of
/// `n` leaves whose committed `top` and `root` are given (`root` is checked against
/// `top`). As in [`verify_proof`], positions `≥ n` can only be [`EMPTY`].
pub fn verify_padded_proof(root: &Hash, n: u64, top: &Hash, index: u64, leaf: &Hash, proof: &[Hash]) -> bool {
    let own = depth_for(n);
    let Ok(depth) = u32::try_from(proof.len()) else {
        return false;
    };
    if depth < own || !in_level(depth, index) || root_from_top(n, top) != *root {
        return false;
    }
    if index >= n && *leaf != EMPTY {
        return false;
    }
    top_from_proof(index, leaf, proof) == padded_top(top, own, depth)
}

/// Given the inclusion proofs of leaf `index` in two trees of the **same depth** (pad the
/// shallower one first with [`padded_proof`]), whether every *left* sibling on the path is
/// equal in both: then every leaf before `index` is the same in both trees, so if leaf
/// `index` differs it is the first difference.
///
/// False when the proofs differ in length or `index` is not a position of that depth.
pub fn first_difference_proven(index: u64, proof_a: &[Hash], proof_b: &[Hash]) -> bool {
    if proof_a.len() != proof_b.len() {
        return false;
    }
    let Ok(depth) = u32::try_from(proof_a.len()) else {
        return false;
    };
    if !in_level(depth, index) {
        return false;
    }
    proof_a.iter().zip(proof_b).enumerate().all(|(h, (a, b))| (index >> h) & 1 == 0 || a == b)
}

/// The proof of a leaf of a tree of depth `proof.len()` in the virtual tree of depth
/// `to_depth`, where that tree is the leftmost subtree: the `EMPTY_h` right siblings of
/// heights `proof.len()..to_depth` appended. Unchanged when `to_depth ≤ proof.len()`.
pub fn padded_proof(proof: &[Hash], to_depth: u32) -> Vec<Hash> {
    let mut out = proof.to_vec();
    let from = u32::try_from(proof.len()).unwrap_or(u32::MAX);
    out.extend((from..to_depth).map(empty_subtree));
    out
}

/// The top of the virtual tree of depth `to_depth` whose leftmost subtree is the tree of
/// depth `from_depth` with this `top` (all else empty). `top` when `to_depth ≤ from_depth`.
pub fn padded_top(top: &Hash, from_depth: u32, to_depth: u32) -> Hash {
    (from_depth..to_depth).fold(*top, |cur, h| inner(&cur, &empty_subtree(h)))
}

/// A Merkle tree over trace leaves, with every real node stored (about `2N` hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[h]`: the real nodes of height `h` (`levels[0]` the leaves, `levels[D]` the
    /// top unless `N = 0`); positions beyond are the empty subtree of that height.
    levels: Vec<Vec<Hash>>,
    /// `N`.
    leaves: u64,
    /// `D`.
    depth: u32,
}

impl MerkleTree {
    /// Builds the tree over these leaf hashes, in leaf order.
    pub fn new(leaves: Vec<Hash>) -> MerkleTree {
        let n = leaves.len() as u64;
        let depth = depth_for(n);
        let mut levels = Vec::with_capacity(depth as usize + 1);
        levels.push(leaves);
        for h in 1..=depth {
            let below = &levels[h as usize - 1];
            let pad = empty_subtree(h - 1);
            let level: Vec<Hash> = below.chunks(2).map(|pair| inner(&pair[0], pair.get(1).unwrap_or(&pad))).collect();
            levels.push(level);
        }
        MerkleTree { levels, leaves: n, depth }
    }

    /// The number of leaves `N`.
    pub fn len(&self) -> u64 {
        self.leaves
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// The depth `D = ⌈log2 N⌉`.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The node at depth 0 ([`EMPTY`] for `N = 0`).
    pub fn top(&self) -> Hash {
        self.node(0, 0).unwrap_or(EMPTY)
    }

    /// The root: `SHA256(0x02 ‖ u64le(N) ‖ top)`.
    pub fn root(&self) -> Hash {
        root_from_top(self.leaves, &self.top())
    }

    /// The node at `(depth, index)`: a real node, or the empty subtree of its height for a
    /// position beyond the leaves. `None` when `depth > D` or `index ≥ 2^depth`.
    pub fn node(&self, depth: u32, index: u64) -> Option<Hash> {
        if depth > self.depth || !in_level(depth, index) {
            return None;
        }
        let height = self.depth - depth;
        let stored = usize::try_from(index).ok().and_then(|i| self.levels.get(height as usize)?.get(i));
        Some(stored.copied().unwrap_or_else(|| empty_subtree(height)))
    }

    /// The children of the node at `(depth, index)`, for `depth < D`; `None` otherwise or
    /// when `index ≥ 2^depth`.
    pub fn children(&self, depth: u32, index: u64) -> Option<(Hash, Hash)> {
        if depth >= self.depth || !in_level(depth, index) {
            return None;
        }
        Some((self.node(depth + 1, 2 * index)?, self.node(depth + 1, 2 * index + 1)?))
    }

    /// Leaf `i` when `i < N` (padding positions are [`node`](Self::node)`(D, i)`).
    pub fn leaf(&self, i: u64) -> Option<Hash> {
        if i >= self.leaves {
            return None;
        }
        self.node(self.depth, i)
    }

    /// The inclusion proof of position `i` (siblings bottom-up, `D` of them), for any
    /// `i < 2^D` (a padding position's proof proves [`EMPTY`] there). Empty when
    /// `i ≥ 2^D`, which no proof can verify.
    pub fn proof(&self, i: u64) -> Vec<Hash> {
        if !in_level(self.depth, i) {
            return Vec::new();
        }
        (0..self.depth)
            .map(|h| {
                let sibling = (i >> h) ^ 1;
                self.node(self.depth - h, sibling).unwrap_or_else(|| empty_subtree(h))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn leaves(n: u64, salt: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| {
                let mut h = Sha256::new();
                h.update([0x00, salt]);
                h.update(i.to_le_bytes());
                h.finalize().into()
            })
            .collect()
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn empty_constant_and_table() {
        let computed: Hash = Sha256::digest(b"wasmnn-trace-empty-v1").into();
        assert_eq!(EMPTY, computed);
        assert_eq!(empty_subtree(0), EMPTY);
        // python3: hashlib.sha256(b"wasmnn-trace-empty-v1").hexdigest()
        assert_eq!(hex(&EMPTY), "98580c57fe7ef48b8a535a9483931daef03868a5b8deac2db58b7feea3c95228");
        assert_eq!(empty_subtree(1), inner(&EMPTY, &EMPTY));
        let mut h = empty_subtree(64);
        for height in 65..70 {
            h = inner(&h, &h);
            assert_eq!(empty_subtree(height), h);
        }
    }

    #[test]
    fn golden_small_tree() {
        // Three leaves 0x00.., 0x01.., 0x02.. (32 equal bytes each); computed with python3
        // hashlib from the definitions in the module doc.
        let tree = MerkleTree::new(vec![[0u8; 32], [1u8; 32], [2u8; 32]]);
        assert_eq!(tree.depth(), 2);
        assert_eq!(hex(&tree.top()), "0ea3345022c69a67f3255418e9bd294af536b9238a57aeb8762c18d5c615e98a");
        assert_eq!(hex(&tree.root()), "b4569efccf94c75568a779970b10034d0f8eb4aeec376c3af391ff81c6b22edc");
    }

    #[test]
    fn depths() {
        let want = [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (1000, 10), (1024, 10)];
        for (n, d) in want {
            assert_eq!(depth_for(n), d, "n {n}");
        }
        assert_eq!(depth_for(u64::MAX), 64);
    }

    #[test]
    fn zero_leaves() {
        let tree = MerkleTree::new(Vec::new());
        assert_eq!((tree.len(), tree.depth()), (0, 0));
        assert_eq!(tree.top(), EMPTY);
        assert_eq!(tree.root(), root_from_top(0, &EMPTY));
        assert_eq!(tree.leaf(0), None);
        assert_eq!(tree.node(0, 0), Some(EMPTY));
        assert_eq!(tree.children(0, 0), None);
        assert!(tree.proof(0).is_empty());
        assert!(verify_proof(&tree.root(), 0, 0, &EMPTY, &[]));
        assert!(!verify_proof(&tree.root(), 0, 0, &[7; 32], &[]));
        assert!(!verify_proof(&tree.root(), 0, 1, &EMPTY, &[]));
    }

    fn check_tree(n: u64) {
        let ls = leaves(n, 1);
        let tree = MerkleTree::new(ls.clone());
        let root = tree.root();
        let depth = tree.depth();
        assert_eq!(depth, depth_for(n));
        for i in 0..(1u64 << depth) {
            let leaf = if i < n { ls[i as usize] } else { EMPTY };
            assert_eq!(tree.node(depth, i), Some(leaf));
            let proof = tree.proof(i);
            assert_eq!(proof.len(), depth as usize);
            assert!(verify_proof(&root, n, i, &leaf, &proof), "n {n} i {i}");
            // Wrong leaf, wrong index, wrong n, truncated proof.
            assert!(!verify_proof(&root, n, i, &[9; 32], &proof));
            if depth > 0 && proof[0] != leaf {
                assert!(!verify_proof(&root, n, i ^ 1, &leaf, &proof));
                assert!(!verify_proof(&root, n, i, &leaf, &proof[1..]));
            }
            assert!(!verify_proof(&root, n + 1, i, &leaf, &proof));
        }
        assert!(!verify_proof(&root, n, 1u64 << depth, &EMPTY, &tree.proof(0)));
        assert!(tree.proof(1u64 << depth).is_empty());
        // Every inner node is the hash of its children.
        for d in 0..depth {
            for i in 0..(1u64 << d) {
                let (l, r) = tree.children(d, i).unwrap();
                assert_eq!(tree.node(d, i), Some(inner(&l, &r)));
            }
            assert_eq!(tree.children(d, 1u64 << d), None);
        }
        assert_eq!(tree.node(depth + 1, 0), None);
        assert_eq!(tree.children(depth, 0), None);
    }

    #[test]
    fn small_trees_prove_every_position() {
        for n in [1, 2, 3, 5, 1000] {
            check_tree(n);
        }
    }

    #[test]
    fn flipping_any_byte_fails() {
        for n in [1u64, 2, 3, 5, 1000] {
            let ls = leaves(n, 2);
            let tree = MerkleTree::new(ls.clone());
            let root = tree.root();
            for i in [0, n / 2, n - 1] {
                let leaf = ls[i as usize];
                let proof = tree.proof(i);
                assert!(verify_proof(&root, n, i, &leaf, &proof));
                for byte in 0..32 {
                    let mut l = leaf;
                    l[byte] ^= 0x01;
                    assert!(!verify_proof(&root, n, i, &l, &proof));
                    let mut r = root;
                    r[byte] ^= 0x80;
                    assert!(!verify_proof(&r, n, i, &leaf, &proof));
                    for s in 0..proof.len() {
                        let mut p = proof.clone();
                        p[s][byte] ^= 0x10;
                        assert!(!verify_proof(&root, n, i, &leaf, &p));
                    }
                }
            }
        }
    }

    #[test]
    fn root_binds_n() {
        // Three leaves, and the same three plus an explicit EMPTY: same top, other root.
        let ls = leaves(3, 3);
        let mut padded = ls.clone();
        padded.push(EMPTY);
        let a = MerkleTree::new(ls);
        let b = MerkleTree::new(padded);
        assert_eq!(a.top(), b.top());
        assert_ne!(a.root(), b.root());
        assert!(!verify_proof(&b.root(), 3, 0, &a.leaf(0).unwrap(), &a.proof(0)));
    }

    #[test]
    fn padded_proofs_verify_against_padded_top() {
        for n in [1u64, 2, 3, 5, 1000] {
            let ls = leaves(n, 4);
            let tree = MerkleTree::new(ls.clone());
            let d = tree.depth();
            for to in [d, d + 1, d + 3, 13] {
                let top = padded_top(&tree.top(), d, to);
                // A bigger tree with the same leaves and depth `to` has that top.
                let mut explicit = ls.clone();
                explicit.resize(1 << to, EMPTY);
                let big = MerkleTree::new(explicit);
                assert_eq!(big.top(), top, "n {n} to {to}");
                for i in [0, n / 2, n - 1] {
                    let leaf = ls[i as usize];
                    let proof = padded_proof(&tree.proof(i), to);
                    assert_eq!(proof.len(), to as usize);
                    assert_eq!(top_from_proof(i, &leaf, &proof), top);
                    assert_eq!(proof, big.proof(i));
                    assert!(verify_padded_proof(&tree.root(), n, &tree.top(), i, &leaf, &proof));
                    assert!(!verify_padded_proof(&tree.root(), n + 1, &tree.top(), i, &leaf, &proof));
                    assert!(!verify_padded_proof(&tree.root(), n, &tree.top(), i, &[1; 32], &proof));
                }
                // Positions beyond n in the virtual tree are provably EMPTY.
                for i in [n, (1 << to) - 1] {
                    if i >= n && i < (1 << to) {
                        let proof = big.proof(i);
                        assert!(verify_padded_proof(&tree.root(), n, &tree.top(), i, &EMPTY, &proof));
                    }
                }
            }
            assert_eq!(padded_top(&tree.top(), d, d), tree.top());
            assert_eq!(padded_proof(&tree.proof(0), 0), tree.proof(0));
        }
    }

    #[test]
    fn first_difference() {
        let a = leaves(20, 5);
        let mut b = a.clone();
        b[7] = [0xaa; 32];
        b[12] = [0xbb; 32];
        let ta = MerkleTree::new(a);
        let tb = MerkleTree::new(b);
        assert!(first_difference_proven(7, &ta.proof(7), &tb.proof(7)));
        assert!(!first_difference_proven(12, &ta.proof(12), &tb.proof(12)));
        // Index 13 has leaf 12 to its left (sibling at height 0).
        assert!(!first_difference_proven(13, &ta.proof(13), &tb.proof(13)));
        assert!(!first_difference_proven(7, &ta.proof(7), &tb.proof(7)[1..]));
        assert!(!first_difference_proven(1 << 5, &ta.proof(0), &tb.proof(0)));
        // Trees of different depth, compared after padding: 5 leaves vs the same 5 + 20.
        let short = leaves(5, 6);
        let mut long = short.clone();
        long.extend(leaves(20, 7));
        let (ts, tl) = (MerkleTree::new(short), MerkleTree::new(long));
        let d = tl.depth();
        let ps = padded_proof(&ts.proof(5), d);
        assert!(first_difference_proven(5, &ps, &tl.proof(5)));
        assert_eq!(top_from_proof(5, &EMPTY, &ps), padded_top(&ts.top(), ts.depth(), d));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_trees(n in 0u64..=5000, pick in any::<u64>(), salt in any::<u8>()) {
            let ls = leaves(n, salt);
            let tree = MerkleTree::new(ls.clone());
            let depth = tree.depth();
            let i = pick % (1u64 << depth);
            let leaf = if i < n { ls[i as usize] } else { EMPTY };
            let proof = tree.proof(i);
            prop_assert!(verify_proof(&tree.root(), n, i, &leaf, &proof));
            prop_assert!(!verify_proof(&tree.root(), n, i, &[0xee; 32], &proof));
            if depth > 0 {
                let mut bad = proof.clone();
                let s = (pick as usize / 7) % bad.len();
                bad[s][0] ^= 1;
                prop_assert!(!verify_proof(&tree.root(), n, i, &leaf, &bad));
            }
            let to = depth + 2;
            prop_assert!(verify_padded_proof(&tree.root(), n, &tree.top(), i, &leaf, &padded_proof(&proof, to)));
        }
    }
}
