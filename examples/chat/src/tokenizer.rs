//! SmolLM2's byte-level BPE tokenizer, compiled into the component, and the bytes of each
//! token id.
//!
//! `assets/tokenizer.json` is written by `scripts/make_chat_tokenizer.py` from the GGUF's
//! vocabulary and merges (see `assets/README.md`): model `BPE(vocab, merges)`, pre-tokenizer
//! `Sequence[Digits(individual_digits), ByteLevel(no prefix space)]`, decoder `ByteLevel`,
//! and the 17 control tokens (ids 0..=16) as special tokens. Building Hugging Face's BPE
//! model from it cost about 460 M fuel per call, and compiling its pre-tokenizer's regex
//! 26 M, so none of it runs in the guest: `build.rs` compiles the vocabulary, the merges and
//! the regex's Unicode classes into tables read in place ([`tables`]), [`pre_tokenize`]
//! redoes the pre-tokenizer and [`bpe`] the model's merge loop. Text never turns into
//! special tokens: the chat template inserts control tokens by id. Tests check the ids
//! against Hugging Face `tokenizers` on the file (`oracle`).
//!
//! Decoding: [`token_bytes`] is each token's characters mapped back through GPT-2's
//! `bytes_to_unicode` (Hugging Face's decoder works on whole strings), so a character split
//! across two tokens comes out as its bytes. The 21 bytes that have no
//! token in this vocabulary (0x04, 0x06, 0x13, …, 0xC0, 0xC1, 0xF1–0xFF) are dropped by the
//! encoder, as in llama.cpp and Hugging Face.

mod bpe;
#[cfg(test)]
mod oracle;
mod pre_tokenize;
mod tables;

use crate::template::Segment;

/// `tokenizer.json`, made by `scripts/make_chat_tokenizer.py` (`build.rs` compiles it).
#[cfg(test)]
pub const TOKENIZER_JSON: &[u8] = include_bytes!("../assets/tokenizer.json");
/// The ids below this are control tokens (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, …).
pub const CONTROL_TOKENS: u32 = 17;

/// The ids of a rendered prompt: control tokens as they are, text BPE-encoded.
pub fn encode(segments: &[Segment]) -> Vec<u32> {
    let mut ids = Vec::new();
    for segment in segments {
        match segment {
            Segment::Special(id) => ids.push(*id),
            Segment::Text(text) => encode_text(text, &mut ids),
        }
    }
    ids
}

/// Appends the ids of `text` to `ids`: each pre-token's bytes become the ids of their
/// byte-level characters (a byte without a token is dropped, as the Hugging Face model
/// without an unknown token does), which then merge.
fn encode_text(text: &str, ids: &mut Vec<u32>) {
    let mut word = Vec::new();
    for pre_token in pre_tokenize::pre_tokens(text) {
        word.clear();
        word.extend(pre_token.bytes().filter_map(tables::byte_id));
        ids.extend(bpe::merge_word(&word));
    }
}

/// The bytes of token `id`; none for a control token or an unknown id.
pub fn token_bytes(id: u32) -> &'static [u8] {
    if id < CONTROL_TOKENS { &[] } else { tables::token_bytes(id) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{self, Message, Role};

    /// The example of notes/chat-plan.md, printed by scripts/make_chat_tokenizer.py from
    /// Hugging Face `tokenizers` (Python).
    #[test]
    fn encodes_the_default_prompt() {
        let messages = [Message { role: Role::User, content: "What is 2 + 2?".into() }];
        let ids = encode(&template::render(&messages));
        assert_eq!(
            ids,
            [
                1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712,
                8182, 2, 198, 1, 4093, 198, 1780, 314, 216, 34, 1232, 216, 34, 47, 2, 198, 1, 520, 9531, 198
            ]
        );
    }

    #[test]
    fn decodes_tokens_to_bytes() {
        assert_eq!(tables::vocab_size(), 49152);
        assert_eq!(token_bytes(template::IM_END), b"");
        assert_eq!(token_bytes(198), b"\n");
        assert_eq!(token_bytes(2683), b"You");
        assert_eq!(token_bytes(359), b" are");
        assert_eq!(token_bytes(49152), b"");
        assert_eq!(token_bytes(u32::MAX), b"");
        let text = "héllo, 世界 🎉 \u{1}";
        let ids = encode(&[Segment::Text(text.into())]);
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| token_bytes(id).iter().copied()).collect();
        assert_eq!(bytes, text.as_bytes());
    }

    /// The 21 bytes without a token are dropped, and their neighbours merge as if they were
    /// not there.
    #[test]
    fn drops_bytes_without_a_token() {
        let encode = |text: &str| encode(&[Segment::Text(text.into())]);
        assert_eq!(encode("a\u{4}b"), [encode("a"), encode("b")].concat());
        assert_eq!(encode("\u{4}\u{6}\u{13}"), Vec::<u32>::new());
        assert_eq!(encode(""), Vec::<u32>::new());
    }
}
