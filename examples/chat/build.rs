//! Compiles `assets/tokenizer.json` into the little-endian tables that
//! `src/tokenizer/tables.rs` includes, so that the guest builds no hash map per call:
//!
//! - `byte_ids.bin`: for each byte, the id (`u32`) of the token that is its GPT-2
//!   byte-level character, or `u32::MAX` where there is none;
//! - `merges.bin`: the merges, sorted by pair, 8 bytes each: the pair `left << 16 | right`
//!   (`u32`), the rank (`u16`, the merge's index in the file) and the merged token's id (`u16`);
//! - `token_offsets.bin` and `token_bytes.bin`: token `id`'s raw bytes (GPT-2's byte-level
//!   characters mapped back to bytes) are `token_bytes[offsets[id]..offsets[id + 1]]`, the
//!   offsets being `u32`s;
//! - `classes.bin`: the code point ranges of the GPT-2 pre-tokenizer regex's classes
//!   `\p{L}` (1), `\p{N}` (2) and `\s` (3), disjoint and sorted: first, last code point and
//!   class (`u32` each). They come from `regex-syntax`, the crate (and version, through the
//!   lock file) that parses the regex in Hugging Face `tokenizers`.
//!
//! The runtime BPE implements the model options that the asset has (no unknown token, no
//! byte fallback, no subword prefix or suffix, no dropout, `ignore_merges` off); any other
//! value fails the build.

use std::collections::BTreeMap;
use std::path::Path;

use regex_syntax::hir::{Class, HirKind};
use serde_json::Value;

/// The asset, relative to the package.
const ASSET: &str = "assets/tokenizer.json";

fn main() {
    println!("cargo:rerun-if-changed={ASSET}");
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read(ASSET).unwrap_or_else(|e| panic!("cannot read {ASSET}: {e}"));
    let file: Value = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{ASSET} is not JSON: {e}"));
    let model = &file["model"];
    check_options(model);
    let vocab = vocabulary(model);
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out_dir);
    write(out, "byte_ids.bin", &byte_table(&vocab));
    write(out, "classes.bin", &class_table());
    write(out, "merges.bin", &merge_table(model, &vocab));
    let (offsets, bytes) = token_bytes(&vocab);
    write(out, "token_offsets.bin", &offsets);
    write(out, "token_bytes.bin", &bytes);
}

/// Fails unless the model is a BPE with the options the runtime implements.
fn check_options(model: &Value) {
    assert_eq!(model["type"], "BPE", "{ASSET}: the model is not a BPE");
    for key in ["dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"] {
        assert!(model[key].is_null(), "{ASSET}: model.{key} is set; the runtime BPE does not implement it");
    }
    for key in ["byte_fallback", "ignore_merges"] {
        assert_ne!(model[key], true, "{ASSET}: model.{key} is on; the runtime BPE does not implement it");
    }
}

/// The tokens by id (the ids must be `0..n`, with n at most 2^16).
fn vocabulary(model: &Value) -> Vec<String> {
    let vocab = model["vocab"].as_object().unwrap_or_else(|| panic!("{ASSET}: model.vocab is not an object"));
    let mut tokens = vec![None; vocab.len()];
    for (token, id) in vocab {
        let id = id.as_u64().and_then(|id| usize::try_from(id).ok()).filter(|&id| id < tokens.len());
        let id = id.unwrap_or_else(|| panic!("{ASSET}: the id of {token:?} is not in 0..{}", tokens.len()));
        assert!(tokens[id].replace(token.clone()).is_none(), "{ASSET}: two tokens have id {id}");
    }
    assert!(tokens.len() <= 1 << 16, "{ASSET}: more than 2^16 tokens do not fit the merge table");
    tokens.into_iter().map(|t| t.expect("n distinct ids in 0..n cover it")).collect()
}

/// `byte_ids.bin`: byte → id of the token that is its byte-level character.
fn byte_table(vocab: &[String]) -> Vec<u8> {
    let ids: BTreeMap<&str, u32> =
        vocab.iter().enumerate().map(|(id, token)| (token.as_str(), u32::try_from(id).expect("ids fit u32"))).collect();
    byte_to_char()
        .iter()
        .flat_map(|c| ids.get(c.to_string().as_str()).copied().unwrap_or(u32::MAX).to_le_bytes())
        .collect()
}

/// `classes.bin`: the ranges of `\p{L}`, `\p{N}` and `\s`, sorted.
fn class_table() -> Vec<u8> {
    let mut ranges = Vec::new();
    for (class, pattern) in [(1u32, r"\p{L}"), (2, r"\p{N}"), (3, r"\s")] {
        let hir = regex_syntax::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let HirKind::Class(Class::Unicode(set)) = hir.kind() else { panic!("{pattern} is not a Unicode class") };
        ranges.extend(set.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()), class)));
    }
    ranges.sort_unstable();
    assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0), "the classes overlap");
    ranges.iter().flat_map(|&(first, last, class)| [first, last, class]).flat_map(u32::to_le_bytes).collect()
}

/// `merges.bin`: the merges, sorted by pair; a repeated pair keeps its last merge, as the
/// Hugging Face model's hash map does.
fn merge_table(model: &Value, vocab: &[String]) -> Vec<u8> {
    let ids: BTreeMap<&str, u16> = vocab
        .iter()
        .enumerate()
        .map(|(id, token)| (token.as_str(), u16::try_from(id).expect("at most 2^16 tokens")))
        .collect();
    let id = |token: &str| {
        *ids.get(token).unwrap_or_else(|| panic!("{ASSET}: merge token {token:?} is not in the vocabulary"))
    };
    let merges = model["merges"].as_array().unwrap_or_else(|| panic!("{ASSET}: model.merges is not an array"));
    let mut table = BTreeMap::new();
    for (rank, merge) in merges.iter().enumerate() {
        let pair = merge.as_array().and_then(|pair| match pair.as_slice() {
            [Value::String(left), Value::String(right)] => Some((left.as_str(), right.as_str())),
            _ => None,
        });
        let (left, right) = pair.unwrap_or_else(|| panic!("{ASSET}: merge {rank} is not a pair of strings"));
        let rank = u16::try_from(rank).unwrap_or_else(|_| panic!("{ASSET}: more than 2^16 merges"));
        let key = u32::from(id(left)) << 16 | u32::from(id(right));
        table.insert(key, (rank, id(&format!("{left}{right}"))));
    }
    let mut bytes = Vec::with_capacity(table.len() * 8);
    for (key, (rank, merged)) in table {
        bytes.extend_from_slice(&key.to_le_bytes());
        bytes.extend_from_slice(&rank.to_le_bytes());
        bytes.extend_from_slice(&merged.to_le_bytes());
    }
    bytes
}

/// `token_offsets.bin` and `token_bytes.bin`: each token's characters mapped back to bytes
/// (characters outside GPT-2's byte map are left out).
fn token_bytes(vocab: &[String]) -> (Vec<u8>, Vec<u8>) {
    let mut byte_of = BTreeMap::new();
    for (b, c) in byte_to_char().into_iter().enumerate() {
        byte_of.insert(c, u8::try_from(b).expect("256 bytes"));
    }
    let mut offsets = vec![0u32];
    let mut bytes = Vec::new();
    for token in vocab {
        bytes.extend(token.chars().filter_map(|c| byte_of.get(&c).copied()));
        offsets.push(u32::try_from(bytes.len()).expect("the tokens' bytes fit u32 offsets"));
    }
    (offsets.iter().flat_map(|o| o.to_le_bytes()).collect(), bytes)
}

/// GPT-2's `bytes_to_unicode`: the printable bytes of Latin-1 other than the space and soft
/// hyphen stand for themselves; the other 68, in increasing order, are U+0100, U+0101, ….
fn byte_to_char() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut next = 0x100;
    for (b, c) in (0u32..).zip(chars.iter_mut()) {
        let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        let code = if printable {
            b
        } else {
            next += 1;
            next - 1
        };
        *c = char::from_u32(code).expect("a code point below U+0144");
    }
    chars
}

/// Writes `bytes` to `out/name`.
fn write(out: &Path, name: &str, bytes: &[u8]) {
    let path = out.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
