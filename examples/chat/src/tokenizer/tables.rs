//! The tables that `build.rs` compiles from `assets/tokenizer.json` (and `regex-syntax`'s
//! Unicode classes), read in place: the bytes' tokens, the merges, the tokens' bytes and the
//! pre-tokenizer's character classes (formats in `build.rs`).

/// Byte → id of the token that is its byte-level character, `u32::MAX` where there is none.
const BYTE_IDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/byte_ids.bin"));
/// The merges, sorted by pair: `left << 16 | right` (`u32`), rank (`u16`), merged id (`u16`).
const MERGES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/merges.bin"));
/// Token `id`'s bytes start at entry `id` (`u32`) and end at entry `id + 1`.
const TOKEN_OFFSETS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/token_offsets.bin"));
/// The tokens' bytes, one after the other.
const TOKEN_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/token_bytes.bin"));
/// Sorted disjoint code point ranges: first, last, class (1 letter, 2 number, 3 space).
const CLASSES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/classes.bin"));

/// A merge of two adjacent tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merge {
    /// The merge's priority: its index in the file, lowest first.
    pub rank: u32,
    /// The id of the merged token.
    pub merged: u32,
}

/// A character's class in the GPT-2 pre-tokenizer regex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    /// `\p{L}`.
    Letter,
    /// `\p{N}`.
    Number,
    /// `\s`.
    Space,
    /// Anything else: `[^\s\p{L}\p{N}]`.
    Other,
}

/// The class of `c` (a binary search).
pub fn class_of(c: char) -> CharClass {
    let code = u32::from(c);
    let ranges = CLASSES.as_chunks::<12>().0;
    let field = |r: &[u8; 12], i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let after = ranges.partition_point(|r| field(r, 0) <= code);
    match after.checked_sub(1).map(|i| &ranges[i]) {
        Some(r) if code <= field(r, 4) => match field(r, 8) {
            1 => CharClass::Letter,
            2 => CharClass::Number,
            3 => CharClass::Space,
            _ => CharClass::Other,
        },
        _ => CharClass::Other,
    }
}

/// The id of the token that is byte `b`'s byte-level character, if any.
pub fn byte_id(b: u8) -> Option<u32> {
    let id = u32::from_le_bytes(*BYTE_IDS.as_chunks::<4>().0.get(usize::from(b))?);
    (id != u32::MAX).then_some(id)
}

/// The merge of the adjacent tokens `left` and `right`, if any (a binary search).
pub fn merge(left: u32, right: u32) -> Option<Merge> {
    let (left, right) = (u16::try_from(left).ok()?, u16::try_from(right).ok()?);
    let key = u32::from(left) << 16 | u32::from(right);
    let entries = MERGES.as_chunks::<8>().0;
    let index = entries.binary_search_by_key(&key, |e| u32::from_le_bytes([e[0], e[1], e[2], e[3]])).ok()?;
    let entry = entries[index];
    Some(Merge {
        rank: u32::from(u16::from_le_bytes([entry[4], entry[5]])),
        merged: u32::from(u16::from_le_bytes([entry[6], entry[7]])),
    })
}

/// The number of tokens.
#[cfg(test)]
pub fn vocab_size() -> usize {
    TOKEN_OFFSETS.len() / 4 - 1
}

/// The bytes of token `id`; none for an unknown id.
pub fn token_bytes(id: u32) -> &'static [u8] {
    let offsets = TOKEN_OFFSETS.as_chunks::<4>().0;
    let Some(index) = usize::try_from(id).ok() else { return &[] };
    let (Some(start), Some(end)) = (offsets.get(index), offsets.get(index + 1)) else { return &[] };
    let range = usize::try_from(u32::from_le_bytes(*start)).unwrap_or(usize::MAX)
        ..usize::try_from(u32::from_le_bytes(*end)).unwrap_or(usize::MAX);
    TOKEN_BYTES.get(range).expect("build.rs writes offsets into the tokens' bytes")
}
