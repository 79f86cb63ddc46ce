//! SmolLM2's byte-level BPE tokenizer, compiled into the component, and the bytes of each
//! token id.
//!
//! `assets/tokenizer.json` is written by `scripts/make_chat_tokenizer.py` from the GGUF's
//! vocabulary and merges (see `assets/README.md`): model `BPE(vocab, merges)`, pre-tokenizer
//! `Sequence[Digits(individual_digits), ByteLevel(no prefix space)]`, decoder `ByteLevel`,
//! and the 17 control tokens (ids 0..=16) as special tokens. [`load`] reads only the
//! vocabulary and the merges and builds that pipeline in code, *without* the special tokens:
//! the chat template inserts control tokens by id, and text never turns into them.
//! A test checks the result against `Tokenizer::from_bytes` of the file.
//!
//! Decoding does not use the crate's decoder, which works on whole strings: [`token_bytes`]
//! inverts GPT-2's `bytes_to_unicode` per token, so a character split across two tokens
//! comes out as its bytes. The 21 bytes that have no token in this vocabulary (0x04,
//! 0x06, 0x13, …, 0xC0, 0xC1, 0xF1–0xFF) are dropped by the encoder, as in llama.cpp and
//! Hugging Face.

use ahash::AHashMap;
use serde::Deserialize;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{Model, Tokenizer};

use crate::template::Segment;

/// `tokenizer.json`, made by `scripts/make_chat_tokenizer.py`.
pub const TOKENIZER_JSON: &[u8] = include_bytes!("../assets/tokenizer.json");
/// The ids below this are control tokens (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, …).
pub const CONTROL_TOKENS: u32 = 17;

/// The parts of `tokenizer.json` that [`load`] reads.
#[derive(Deserialize)]
struct TokenizerFile {
    /// The BPE model.
    model: BpeFile,
}

/// The BPE model's vocabulary and merges in `tokenizer.json`.
#[derive(Deserialize)]
struct BpeFile {
    /// Token to id.
    vocab: AHashMap<String, u32>,
    /// The merges, by rank.
    merges: Vec<(String, String)>,
}

/// The tokenizer (without special tokens).
///
/// # Errors
/// A message if the asset cannot be read or the model cannot be built.
pub fn load() -> Result<Tokenizer, String> {
    let file: TokenizerFile =
        serde_json::from_slice(TOKENIZER_JSON).map_err(|e| format!("cannot read the tokenizer: {e}"))?;
    let model = BPE::builder()
        .vocab_and_merges(file.model.vocab, file.model.merges)
        .build()
        .map_err(|e| format!("cannot build the tokenizer: {e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    let pre_tokenizer = Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer)).with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tokenizer)
}

/// The ids of a rendered prompt: control tokens as they are, text BPE-encoded.
///
/// # Errors
/// A message if the tokenizer fails.
pub fn encode(tokenizer: &Tokenizer, segments: &[Segment]) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    for segment in segments {
        match segment {
            Segment::Special(id) => ids.push(*id),
            Segment::Text(text) => {
                let encoding = tokenizer.encode(text.as_str(), false).map_err(|e| format!("cannot tokenize: {e}"))?;
                ids.extend_from_slice(encoding.get_ids());
            }
        }
    }
    Ok(ids)
}

/// The bytes of token `id`; none for a control token or an unknown id.
pub fn token_bytes(tokenizer: &Tokenizer, id: u32) -> Vec<u8> {
    if id < CONTROL_TOKENS {
        return Vec::new();
    }
    match tokenizer.get_model().id_to_token(id) {
        Some(token) => token.chars().filter_map(char_to_byte).collect(),
        None => Vec::new(),
    }
}

/// Whether byte `b` stands for itself in GPT-2's byte-to-character map (the printable
/// bytes of Latin-1 other than the space and soft hyphen).
fn is_printable(b: u32) -> bool {
    (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
}

/// The inverse of GPT-2's `bytes_to_unicode`: printable bytes are their own character; the
/// other 68, in increasing order, are U+0100, U+0101, ….
fn char_to_byte(c: char) -> Option<u8> {
    let c = u32::from(c);
    if is_printable(c) {
        return u8::try_from(c).ok();
    }
    let n = c.checked_sub(0x100)?;
    (0u8..=255).filter(|&b| !is_printable(u32::from(b))).nth(usize::try_from(n).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{self, Message, Role};

    /// [`load`] builds the pipeline of the file, less its special tokens.
    #[test]
    fn load_builds_the_tokenizer_of_the_file() {
        let reference = Tokenizer::from_bytes(TOKENIZER_JSON).expect("tokenizer.json loads");
        let ours = load().expect("load");
        let json = |t: &Tokenizer| {
            let mut value = serde_json::to_value(t).expect("a tokenizer serializes");
            value.as_object_mut().expect("an object").remove("added_tokens");
            value
        };
        assert_eq!(json(&ours), json(&reference));
        assert_eq!(ours.get_vocab_size(false), 49152);
        for text in ["What is 2 + 2?", "fn main() {\n    println!(\"héllo, 世界 🎉\");\n}", "  12345 tokens\t\t!!"]
        {
            let (a, b) = (ours.encode(text, false).expect("ours"), reference.encode(text, false).expect("reference"));
            assert_eq!(a.get_ids(), b.get_ids(), "{text}");
        }
    }

    /// The example of notes/chat-plan.md, printed by scripts/make_chat_tokenizer.py from
    /// Hugging Face `tokenizers` (Python).
    #[test]
    fn encodes_the_default_prompt() {
        let tokenizer = load().expect("load");
        let messages = [Message { role: Role::User, content: "What is 2 + 2?".into() }];
        let ids = encode(&tokenizer, &template::render(&messages)).expect("encode");
        assert_eq!(
            ids,
            [
                1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712,
                8182, 2, 198, 1, 4093, 198, 1780, 314, 216, 34, 1232, 216, 34, 47, 2, 198, 1, 520, 9531, 198
            ]
        );
    }

    #[test]
    fn the_byte_map_is_a_bijection() {
        let mut seen = [false; 256];
        for c in (0x21..=0x7E).chain(0xA1..=0xAC).chain(0xAE..=0xFF).chain(0x100..0x144) {
            let b = char_to_byte(char::from_u32(c).expect("a char")).expect("a byte");
            assert!(!seen[usize::from(b)], "{c:#x}");
            seen[usize::from(b)] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(char_to_byte('Ġ'), Some(b' '));
        assert_eq!(char_to_byte('Ċ'), Some(b'\n'));
        assert_eq!(char_to_byte('\u{144}'), None);
    }

    #[test]
    fn decodes_tokens_to_bytes() {
        let tokenizer = load().expect("load");
        assert_eq!(token_bytes(&tokenizer, template::IM_END), b"");
        assert_eq!(token_bytes(&tokenizer, 198), b"\n");
        assert_eq!(token_bytes(&tokenizer, 2683), b"You");
        assert_eq!(token_bytes(&tokenizer, 359), b" are");
        assert_eq!(token_bytes(&tokenizer, 49152), b"");
        let text = "héllo, 世界 🎉 \u{1}";
        let ids = tokenizer.encode(text, false).expect("encode");
        let bytes: Vec<u8> = ids.get_ids().iter().flat_map(|&id| token_bytes(&tokenizer, id)).collect();
        assert_eq!(bytes, text.as_bytes());
    }
}
