//! The BPE merge loop of one pre-token, as Hugging Face `tokenizers` does it
//! (`models/bpe/word.rs`, `Word::merge_all` without dropout): a min-heap of candidate merges
//! by (rank, position of the left symbol); a popped candidate is applied if its left symbol
//! is still there, has a right neighbour, and that pair still merges into the same token;
//! each applied merge queues the pairs it forms with its neighbours.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::tables;

/// A symbol of the word being merged, linked to its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    /// The token id.
    id: u32,
    /// The index of the symbol on the left, if any.
    prev: Option<usize>,
    /// The index of the symbol on the right, if any.
    next: Option<usize>,
    /// Whether the symbol was merged into the one on its left.
    removed: bool,
}

/// A queued merge: (rank, index of the left symbol, merged id), the lowest first.
type Candidate = Reverse<(u32, usize, u32)>;

/// Merges the token ids of one pre-token's bytes into its BPE tokens.
pub fn merge_word(ids: &[u32]) -> Vec<u32> {
    let mut symbols: Vec<Symbol> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| Symbol {
            id,
            prev: i.checked_sub(1),
            next: Some(i + 1).filter(|&next| next < ids.len()),
            removed: false,
        })
        .collect();
    let mut queue: BinaryHeap<Candidate> =
        ids.windows(2).enumerate().filter_map(|(pos, pair)| candidate(pos, pair[0], pair[1])).collect();
    while let Some(Reverse((_, pos, merged))) = queue.pop() {
        let left = symbols[pos];
        let Some(next) = left.next else { continue };
        let right = symbols[next];
        if left.removed || tables::merge(left.id, right.id).is_none_or(|m| m.merged != merged) {
            continue;
        }
        symbols[pos].id = merged;
        symbols[pos].next = right.next;
        symbols[next].removed = true;
        if let Some(after) = right.next {
            symbols[after].prev = Some(pos);
            queue.extend(candidate(pos, merged, symbols[after].id));
        }
        if let Some(before) = left.prev {
            queue.extend(candidate(before, symbols[before].id, merged));
        }
    }
    symbols.iter().filter(|s| !s.removed).map(|s| s.id).collect()
}

/// The queued merge of `left` (at index `pos`) and `right`, if they merge.
fn candidate(pos: usize, left: u32, right: u32) -> Option<Candidate> {
    tables::merge(left, right).map(|m| Reverse((m.rank, pos, m.merged)))
}
