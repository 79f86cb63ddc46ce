//! Canonical JSON (RFC 8785, JCS): the byte form that manifests, yank statements and
//! receipts are hashed and signed in, so that the same value has the same digest everywhere.

use serde::Serialize;
use serde_json::Value;

/// The largest integer every JSON implementation reads exactly: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Errors producing canonical JSON.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// A number that is not an integer within ±[`MAX_SAFE_INTEGER`].
    #[error("the number at {path} is {value}: only integers of magnitude at most 2^53 - 1 are allowed")]
    Number {
        /// Where the number is, e.g. `limits.fuel` or `models[0].size`.
        path: String,
        /// The number as JSON wrote it.
        value: String,
    },
    /// The value could not be serialized as JSON (e.g. a map with non-string keys).
    #[error("cannot serialize as JSON: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Serializes `value` as RFC 8785 canonical JSON: object keys sorted, no whitespace,
/// ECMAScript string and number forms.
///
/// Every number must be an integer of magnitude at most [`MAX_SAFE_INTEGER`]: JCS writes
/// numbers as IEEE doubles, so a larger integer (or a float) would not round-trip exactly
/// through other implementations, and two of them could disagree on the bytes, hence on
/// the digest and the signature.
///
/// # Errors
/// [`CanonicalError::Number`] naming the JSON path of the first offending number, or
/// [`CanonicalError::Serialize`] if `value` cannot be represented as JSON.
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value = serde_json::to_value(value)?;
    check_numbers(&value, &mut String::new())?;
    Ok(serde_json_canonicalizer::to_vec(&value)?)
}

/// Walks `value` depth-first, refusing the first number outside the safe integers; `path`
/// is the location of `value` and is restored before returning.
fn check_numbers(value: &Value, path: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Number(number) if !is_safe_integer(number) => {
            let path = if path.is_empty() { "<root>".to_owned() } else { path.clone() };
            Err(CanonicalError::Number { path, value: number.to_string() })
        }
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(index, item)| with_segment(path, &format!("[{index}]"), item))
        }
        Value::Object(fields) => fields.iter().try_for_each(|(key, field)| {
            let segment = if path.is_empty() { key.clone() } else { format!(".{key}") };
            with_segment(path, &segment, field)
        }),
        _ => Ok(()),
    }
}

/// Checks `value` at `path` + `segment`.
fn with_segment(path: &mut String, segment: &str, value: &Value) -> Result<(), CanonicalError> {
    let len = path.len();
    path.push_str(segment);
    let result = check_numbers(value, path);
    path.truncate(len);
    result
}

fn is_safe_integer(number: &serde_json::Number) -> bool {
    number
        .as_u64()
        .map(|n| n <= MAX_SAFE_INTEGER)
        .or_else(|| number.as_i64().map(|n| n.unsigned_abs() <= MAX_SAFE_INTEGER))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(value: &Value) -> String {
        String::from_utf8(to_canonical_json(value).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let value = json!({"b": 1, "a": [3, {"z": null, "y": true}], "A": "x", "": false});
        assert_eq!(canonical(&value), r#"{"":false,"A":"x","a":[3,{"y":true,"z":null}],"b":1}"#);
    }

    #[test]
    fn sorts_keys_by_utf16_code_units() {
        // U+E000 sorts after U+1F600 in UTF-16 (0xD83D…) though before it in UTF-8 / code points.
        let value = json!({"\u{e000}": 1, "\u{1f600}": 2, "é": 3});
        assert_eq!(canonical(&value), "{\"é\":3,\"\u{1f600}\":2,\"\u{e000}\":1}");
    }

    #[test]
    fn escapes_strings_as_ecmascript_does() {
        let value = json!("\"\\/\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}é€\u{1f600}");
        assert_eq!(canonical(&value), "\"\\\"\\\\/\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\u{7f}é€\u{1f600}\"");
    }

    #[test]
    fn nests_objects() {
        let value = json!({"o": {"o": {"b": [], "a": {}}}});
        assert_eq!(canonical(&value), r#"{"o":{"o":{"a":{},"b":[]}}}"#);
    }

    #[test]
    fn accepts_safe_integers() {
        let max = MAX_SAFE_INTEGER as i64;
        assert_eq!(canonical(&json!([max, -max, 0])), format!("[{max},-{max},0]"));
    }

    #[test]
    fn refuses_unsafe_numbers_naming_their_path() {
        let cases = [
            (json!({"limits": {"fuel": 1u64 << 53}}), "limits.fuel"),
            (json!({"models": [{"size": 1}, {"size": -(1i64 << 53)}]}), "models[1].size"),
            (json!({"a": [[0.5]]}), "a[0][0]"),
            (json!(u64::MAX), "<root>"),
            (json!({"x": 1.0}), "x"),
        ];
        for (value, path) in cases {
            match to_canonical_json(&value) {
                Err(CanonicalError::Number { path: got, .. }) => assert_eq!(got, path),
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_maps_with_non_string_keys() {
        let map = std::collections::BTreeMap::from([((1, 2), 3)]);
        assert!(matches!(to_canonical_json(&map), Err(CanonicalError::Serialize(_))));
    }
}
