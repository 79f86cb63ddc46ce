//! Hugging Face's pre-tokenizer `Sequence[Digits(individual_digits), ByteLevel(no prefix
//! space)]` without its regex engine (compiling the regex cost about 26 M fuel per call):
//!
//! 1. `Digits`: every `char::is_numeric` character is a piece of its own, and so is each run
//!    of other characters;
//! 2. `ByteLevel`: each piece is cut into the matches of GPT-2's regex
//!    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//!    (leftmost-first, greedy, backtracking as `fancy-regex` does); it matches every
//!    non-empty string, so the matches tile the piece.
//!
//! The classes `\p{L}`, `\p{N}` and `\s` are `regex-syntax`'s ([`tables::class_of`]).

use super::tables::{self, CharClass};

/// The contractions that GPT-2's regex matches first.
const CONTRACTIONS: [&str; 7] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

/// The pre-tokens of `text`, in order (none is empty).
pub fn pre_tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for piece in digit_pieces(text) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (token, after) = rest.split_at(regex_match(rest));
            tokens.push(token);
            rest = after;
        }
    }
    tokens
}

/// `Digits(individual_digits)`: each numeric character alone, and the runs between them.
fn digit_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_numeric() {
            if start < i {
                pieces.push(&text[start..i]);
            }
            start = i + c.len_utf8();
            pieces.push(&text[i..start]);
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The byte length of GPT-2's regex match at the start of `s` (not empty): at least one
/// character.
fn regex_match(s: &str) -> usize {
    if let Some(contraction) = CONTRACTIONS.iter().find(|c| s.starts_with(*c)) {
        return contraction.len();
    }
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return 0 };
    let first_class = tables::class_of(first);
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
    if first == ' '
        && let Some(second_class) = chars.next().map(tables::class_of)
        && second_class != CharClass::Space
    {
        return 1 + run(&s[1..], second_class);
    }
    if first_class != CharClass::Space {
        return run(s, first_class);
    }
    // `\s+(?!\S)`: the whitespace run, less its last character if a non-space follows and
    // the run is longer than one character; else `\s+`: the whole run.
    let spaces = run(s, CharClass::Space);
    match s[spaces..].chars().next() {
        Some(_) if spaces > first.len_utf8() => s[..spaces].char_indices().last().map_or(spaces, |(i, _)| i),
        _ => spaces,
    }
}

/// The byte length of the run of `class` characters at the start of `s`.
fn run(s: &str, class: CharClass) -> usize {
    s.char_indices().find(|&(_, c)| tables::class_of(c) != class).map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_gpt2() {
        assert_eq!(pre_tokens("Hello world"), ["Hello", " world"]);
        assert_eq!(pre_tokens("it's 2024!!"), ["it", "'s", " ", "2", "0", "2", "4", "!!"]);
        assert_eq!(pre_tokens("a  b"), ["a", " ", " b"]);
        assert_eq!(pre_tokens("a \n\n b"), ["a", " \n\n", " b"]);
        assert_eq!(pre_tokens("x\t"), ["x", "\t"]);
        assert_eq!(pre_tokens(" 'x"), [" '", "x"]);
        assert_eq!(pre_tokens(""), Vec::<&str>::new());
    }
}
