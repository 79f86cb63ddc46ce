//! The request: OpenAI-style `{"input": "text"}` or `{"input": ["text", …]}`.

use serde_json::Value;

/// The most sentences one call may embed.
pub const MAX_ITEMS: usize = 64;
/// The longest sentence accepted, in bytes of UTF-8. Sentences are truncated to
/// [`crate::tokenize::MAX_TOKENS`] tokens anyway; this bounds the tokenizer's work.
pub const MAX_ITEM_BYTES: usize = 16 << 10;
/// The largest request body accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The sentences of a request body, in order.
///
/// Other OpenAI fields (`model`, `user`, …) are ignored, except `encoding_format`,
/// which must be `"float"` if given.
///
/// # Errors
/// A message saying what is wrong: not JSON, no `input`, an empty list, an item that is
/// not a string, too many items, or a body or item that is too long.
pub fn parse(body: &[u8]) -> Result<Vec<String>, String> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(format!("the request is longer than {MAX_REQUEST_BYTES} bytes: {}", body.len()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the request is not valid JSON: {e}"))?;
    let Value::Object(mut fields) = value else {
        return Err(r#"the request must be a JSON object such as {"input": ["a sentence"]}"#.to_string());
    };
    match fields.get("encoding_format") {
        None | Some(Value::Null) => {}
        Some(Value::String(format)) if format == "float" => {}
        Some(other) => return Err(format!(r#"only "encoding_format": "float" is supported, not {other}"#)),
    }
    let sentences = match fields.remove("input") {
        Some(Value::String(sentence)) => vec![sentence],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(r#""input" is an empty list"#.to_string());
            }
            if items.len() > MAX_ITEMS {
                return Err(format!(r#""input" has more than {MAX_ITEMS} items: {}"#, items.len()));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(sentence) => Ok(sentence),
                    other => Err(format!(r#""input"[{i}] is not a string: {}"#, kind(&other))),
                })
                .collect::<Result<_, _>>()?
        }
        Some(other) => return Err(format!(r#""input" must be a string or a list of strings, not {}"#, kind(&other))),
        None => return Err(r#"the request has no "input" field"#.to_string()),
    };
    if let Some((i, sentence)) = sentences.iter().enumerate().find(|(_, s)| s.len() > MAX_ITEM_BYTES) {
        return Err(format!(r#""input"[{i}] is longer than {MAX_ITEM_BYTES} bytes: {}"#, sentence.len()));
    }
    Ok(sentences)
}

/// A JSON value's kind, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_sentence_or_a_list() {
        assert_eq!(parse(br#"{"input": "one"}"#), Ok(vec!["one".to_string()]));
        assert_eq!(
            parse(br#"{"input": ["a", ""], "model": "embeddings", "encoding_format": "float"}"#),
            Ok(vec!["a".to_string(), String::new()])
        );
    }

    #[test]
    fn rejects_bad_requests_with_a_reason() {
        let cases: [(&[u8], &str); 8] = [
            (b"nope", "the request is not valid JSON: expected ident at line 1 column 2"),
            (b"[1]", r#"the request must be a JSON object such as {"input": ["a sentence"]}"#),
            (b"{}", r#"the request has no "input" field"#),
            (br#"{"input": []}"#, r#""input" is an empty list"#),
            (br#"{"input": ["a", 3]}"#, r#""input"[1] is not a string: a number"#),
            (br#"{"input": {"a": 1}}"#, r#""input" must be a string or a list of strings, not an object"#),
            (
                br#"{"input": "a", "encoding_format": "base64"}"#,
                r#"only "encoding_format": "float" is supported, not "base64""#,
            ),
            (br#"{"input": [[101, 102]]}"#, r#""input"[0] is not a string: a list"#),
        ];
        for (body, message) in cases {
            assert_eq!(parse(body), Err(message.to_string()), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn rejects_too_much() {
        let many = format!(r#"{{"input": [{}]}}"#, vec![r#""x""#; MAX_ITEMS + 1].join(","));
        assert_eq!(parse(many.as_bytes()), Err(format!(r#""input" has more than 64 items: {}"#, MAX_ITEMS + 1)));
        let long = format!(r#"{{"input": ["ok", "{}"]}}"#, "a".repeat(MAX_ITEM_BYTES + 1));
        assert_eq!(parse(long.as_bytes()), Err(r#""input"[1] is longer than 16384 bytes: 16385"#.to_string()));
        let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert!(parse(&huge).expect_err("too long").starts_with("the request is longer than 1048576 bytes"));
    }
}
