//! The reference the compiled tokenizer is tested against: Hugging Face's BPE model built
//! from `tokenizer.json` (the handler's tokenizer before `build.rs`, about 460 M fuel per
//! call), and its per-token byte decoding.

use ahash::AHashMap;
use serde::Deserialize;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{Model, Tokenizer};

use super::{CONTROL_TOKENS, TOKENIZER_JSON};

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

/// The Hugging Face tokenizer of the file, without special tokens.
pub fn load() -> Tokenizer {
    let file: TokenizerFile = serde_json::from_slice(TOKENIZER_JSON).expect("tokenizer.json reads");
    let model =
        BPE::builder().vocab_and_merges(file.model.vocab, file.model.merges).build().expect("the BPE model builds");
    let mut tokenizer = Tokenizer::new(model);
    let pre_tokenizer = Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer)).with_decoder(Some(ByteLevelDecoder::default()));
    tokenizer
}

/// The ids of `text`.
pub fn encode(tokenizer: &Tokenizer, text: &str) -> Vec<u32> {
    tokenizer.encode(text, false).expect("Hugging Face encodes").get_ids().to_vec()
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
    use crate::template::Segment;
    use crate::tokenizer::tables::CharClass;
    use crate::tokenizer::{self as compiled, pre_tokenize, tables};
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

    /// The compiled tokenizer's ids of `text`.
    fn compiled(text: &str) -> Vec<u32> {
        compiled::encode(&[Segment::Text(text.into())])
    }

    /// [`load`] builds the pipeline of the file, less its special tokens.
    #[test]
    fn load_builds_the_tokenizer_of_the_file() {
        let reference = Tokenizer::from_bytes(TOKENIZER_JSON).expect("tokenizer.json loads");
        let ours = load();
        let json = |t: &Tokenizer| {
            let mut value = serde_json::to_value(t).expect("a tokenizer serializes");
            value.as_object_mut().expect("an object").remove("added_tokens");
            value
        };
        assert_eq!(json(&ours), json(&reference));
        assert_eq!(ours.get_vocab_size(false), 49152);
        for text in ["What is 2 + 2?", "fn main() {\n    println!(\"héllo, 世界 🎉\");\n}", "  12345 tokens\t\t!!"]
        {
            assert_eq!(encode(&ours, text), encode(&reference, text), "{text}");
        }
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

    /// Every id (and a few past the vocabulary) decodes to the reference's bytes.
    #[test]
    fn token_bytes_match_for_every_id() {
        let reference = load();
        for id in 0..49152 + 3 {
            assert_eq!(compiled::token_bytes(id), token_bytes(&reference, id), "id {id}");
        }
    }

    /// Each byte's entry is the token of its byte-level character; 21 bytes have none.
    #[test]
    fn the_byte_table_is_the_byte_level_characters() {
        let reference = load();
        let mut missing = 0;
        for code in (0x21..=0x7E).chain(0xA1..=0xAC).chain(0xAE..=0xFF).chain(0x100..0x144) {
            let c = char::from_u32(code).expect("a char");
            let id = reference.token_to_id(&c.to_string());
            assert_eq!(tables::byte_id(char_to_byte(c).expect("a byte")), id, "{code:#x}");
            missing += usize::from(id.is_none());
        }
        assert_eq!(missing, 21);
    }

    /// The pre-tokenizer's classes are those of the `regex` crate (which, like the regex of
    /// Hugging Face `tokenizers`, uses regex-syntax's tables), for every scalar value.
    #[test]
    fn the_classes_are_the_regexs() {
        let [letter, number, space] =
            [r"\A\p{L}\z", r"\A\p{N}\z", r"\A\s\z"].map(|p| regex::Regex::new(p).expect("a regex"));
        let mut buffer = [0; 4];
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let c_str = c.encode_utf8(&mut buffer);
            let expected = if letter.is_match(c_str) {
                CharClass::Letter
            } else if number.is_match(c_str) {
                CharClass::Number
            } else if space.is_match(c_str) {
                CharClass::Space
            } else {
                CharClass::Other
            };
            assert_eq!(tables::class_of(c), expected, "{:#x}", u32::from(c));
        }
    }

    /// The pre-tokens of `text`, as Hugging Face's pre-tokenizer gives them, mapped back to
    /// the text's bytes.
    fn reference_pre_tokens(pre_tokenizer: &Sequence, text: &str) -> Vec<Vec<u8>> {
        let mut pre_tokens = PreTokenizedString::from(text);
        pre_tokenizer.pre_tokenize(&mut pre_tokens).expect("pre-tokenizes");
        pre_tokens
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(_, (start, end), _)| text.as_bytes()[start..end].to_vec())
            .collect()
    }

    /// Whether `c` is worth pre-tokenizing in [`pre_tokenizes_as_hugging_face_at_class_edges`]:
    /// Latin-1, either side of a class boundary, or numeric for `Digits` but not `\p{N}` or
    /// the other way round.
    fn at_a_class_edge(c: char) -> bool {
        let class = |code: u32| char::from_u32(code).map(tables::class_of);
        let code = u32::from(c);
        let here = class(code);
        code < 0x100
            || code.checked_sub(1).and_then(class) != here
            || class(code + 1) != here
            || c.is_numeric() != (here == Some(CharClass::Number))
    }

    /// The characters at the classes' edges, among letters, digits, spaces and punctuation,
    /// pre-tokenize as with Hugging Face's pre-tokenizer.
    #[test]
    fn pre_tokenizes_as_hugging_face_at_class_edges() {
        let pre_tokenizer = Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]);
        let chars: Vec<char> = (0..=0x10_FFFF).filter_map(char::from_u32).filter(|&c| at_a_class_edge(c)).collect();
        assert!(chars.len() > 1000, "{}", chars.len());
        for chunk in chars.chunks(256) {
            let text: String = chunk.iter().map(|c| format!("x{c} {c}{c}'s{c}\t{c}1 ")).collect();
            let ours: Vec<&[u8]> = pre_tokenize::pre_tokens(&text).into_iter().map(str::as_bytes).collect();
            assert_eq!(ours, reference_pre_tokens(&pre_tokenizer, &text), "{:#x}", u32::from(chunk[0]));
        }
    }

    /// Every pair of ids merges as the reference's merges say (the merge table is complete):
    /// each merge of the file, by rank, is found with its rank and merged id.
    #[test]
    fn the_merge_table_is_the_files_merges() {
        let file: TokenizerFile = serde_json::from_slice(TOKENIZER_JSON).expect("tokenizer.json reads");
        assert_eq!(file.model.merges.len(), 48900);
        for (rank, (left, right)) in file.model.merges.iter().enumerate() {
            let id = |token: &str| file.model.vocab[token];
            let merge = tables::merge(id(left), id(right)).expect("a merge");
            assert_eq!(merge.rank, u32::try_from(rank).expect("a rank"));
            assert_eq!(merge.merged, id(&format!("{left}{right}")));
        }
        assert_eq!(tables::merge(0, 0), None);
        assert_eq!(tables::merge(70000, 0), None);
    }

    /// Strings of the other tests, and edge cases.
    #[test]
    fn encodes_as_hugging_face() {
        let reference = load();
        let texts = [
            "What is 2 + 2?",
            "fn main() {\n    println!(\"héllo, 世界 🎉\");\n}",
            "  12345 tokens\t\t!!",
            "héllo, 世界 🎉 \u{1}",
            "a\u{4}b",
            "!\u{4}?",
            "\u{4}\u{6}\u{13}\u{c0}\u{ff}",
            "<|im_end|> <|im_start|>user\n",
            "",
            " ",
            "\n\n\n",
            "   leading and trailing   ",
            "I'm, you're, they'll, we've, she'd, it's",
            "١٢٣ ⅷ ½ 𝟘",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ];
        for text in texts {
            assert_eq!(compiled(text), encode(&reference, text), "{text:?}");
        }
    }

    /// A splitmix64 generator: deterministic random strings.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n).expect("n fits u64")).expect("below n")
        }
    }

    /// Pieces the random strings are made of.
    const PIECES: &[&str] = &[
        "the",
        " the",
        "The",
        " quick",
        "brown",
        " fox",
        "ing",
        "tion",
        "er",
        "s",
        "'s",
        "'ll",
        "'T",
        "a",
        "b",
        "z",
        "Q",
        "0",
        "1",
        "7",
        "42",
        "2024",
        "3.14",
        " ",
        "  ",
        "    ",
        "\t",
        "\n",
        "\r\n",
        "\n\n",
        " \n ",
        ".",
        ",",
        "!",
        "?",
        "...",
        "()",
        "{}",
        "[]",
        "=>",
        "->",
        "::",
        "//",
        "#",
        "$",
        "%",
        "&&",
        "||",
        "\"",
        "`",
        "~",
        "_",
        "-",
        "é",
        "ü",
        "ß",
        "ñ",
        "Ω",
        "π",
        "Ж",
        "世界",
        "日本語",
        "한국어",
        "中",
        "😀",
        "🎉",
        "👍🏽",
        "👨‍👩‍👧",
        "\u{1}",
        "\u{4}",
        "\u{6}",
        "\u{13}",
        "\u{7f}",
        "\u{c0}",
        "\u{c1}",
        "\u{f1}",
        "\u{ff}",
        "\u{a0}",
        "\u{ad}",
        "\u{2028}",
        "\u{3000}",
        "\u{feff}",
        "\u{85}",
        "\u{b}\u{c}",
        "\u{1680}",
        " \u{2003}",
        "١",
        "٣",
        "½",
        "Ⅻ",
        "<|im_end|>",
        "<|im_start|>",
        "<|endoftext|>",
        "http://x.org/a?b=c",
    ];

    /// A random string: pieces, or a random scalar value now and then.
    fn random_text(rng: &mut Rng) -> String {
        let mut text = String::new();
        for _ in 0..rng.below(24) {
            if rng.below(10) == 0 {
                let code = u32::try_from(rng.below(0x11_0000)).expect("a code point");
                text.extend(char::from_u32(code));
            } else {
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        text
    }

    /// Thousands of random strings, and the same as raw random bytes made UTF-8.
    #[test]
    fn random_strings_encode_as_hugging_face() {
        let reference = load();
        let mut rng = Rng(20_261_126);
        for i in 0..4000 {
            let text = if i % 4 == 3 {
                let bytes: Vec<u8> =
                    (0..rng.below(40)).map(|_| u8::try_from(rng.below(256)).expect("a byte")).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                random_text(&mut rng)
            };
            assert_eq!(compiled(&text), encode(&reference, &text), "{text:?}");
        }
    }

    /// Long runs, where many merges of equal rank overlap.
    #[test]
    fn long_runs_encode_as_hugging_face() {
        let reference = load();
        for piece in ["a", " ", "\n", "ab", "aab", "=", "-", "世", "0", "🎉", "\u{4}a"] {
            for n in [1, 2, 3, 5, 8, 13, 64, 257] {
                let text = piece.repeat(n);
                assert_eq!(compiled(&text), encode(&reference, &text), "{piece:?} × {n}");
            }
        }
    }
}
