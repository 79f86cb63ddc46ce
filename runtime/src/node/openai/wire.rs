//! The wire details of the OpenAI-compatible routes: the `created` splice, the request
//! fields the node reads, and which guest errors are OpenAI errors.

use axum::http::StatusCode;

use crate::node::ApiError;
use crate::receipt::is_valid_seed;

/// The prefix of a guest object the node splices `created` into.
const OBJECT_START: &[u8] = b"{\"";
/// The field the node splices in.
const CREATED_KEY: &[u8] = b"\"created\":";

/// `obj` with `"created":T,` inserted right after its leading `{` (the node's only
/// non-deterministic field: `T` is the call's start in Unix seconds). Bytes that do not
/// start a non-empty JSON object (`{"`) come back unchanged.
pub fn splice_created(obj: &[u8], created: u64) -> Vec<u8> {
    if !obj.starts_with(OBJECT_START) {
        return obj.to_vec();
    }
    let field = format!("\"created\":{created},");
    [&obj[..1], field.as_bytes(), &obj[1..]].concat()
}

/// The inverse of [`splice_created`]: `obj` without the `"created":<digits>,` that starts
/// right after its leading `{`, or `None` when it does not start so. Applied to every
/// `data:` event before `[DONE]` (each followed by `\n`), it rebuilds the output the
/// receipt's digest covers; applied to a non-streamed chat body, it gives that output.
pub fn unsplice_created(obj: &[u8]) -> Option<Vec<u8>> {
    let rest = obj.strip_prefix(b"{")?.strip_prefix(CREATED_KEY)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let tail = rest[digits..].strip_prefix(b",")?;
    (digits > 0 && tail.starts_with(b"\"")).then(|| [b"{", tail].concat())
}

/// The request fields the node reads itself; the whole body is the function's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The function to run (`model`).
    pub model: String,
    /// The call's seed (`seed`, default 0).
    pub seed: u64,
    /// Whether to answer with server-sent events (`stream`, default false).
    pub stream: bool,
}

/// Reads `model`, `seed` and `stream` from a request body.
///
/// # Errors
/// `400` in OpenAI's terms: the body is not a JSON object (`invalid_json`), `model` is
/// missing (`missing_required_parameter`) or not a string, `stream` not a boolean
/// (`invalid_type`), `seed` not an integer from 0 to 2^53 - 1 (`invalid_value`).
pub(crate) fn parse_request(body: &[u8]) -> Result<Request, ApiError> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) else {
        return Err(ApiError::bad_request("invalid_json", "the request body must be a JSON object"));
    };
    let model = match fields.get("model") {
        None | Some(serde_json::Value::Null) => {
            let message = "you must provide a model parameter";
            return Err(ApiError::bad_request("missing_required_parameter", message).with_param("model"));
        }
        Some(serde_json::Value::String(model)) => model.clone(),
        Some(_) => return Err(ApiError::bad_request("invalid_type", "model must be a string").with_param("model")),
    };
    let seed = match fields.get("seed") {
        None | Some(serde_json::Value::Null) => 0,
        Some(value) => value.as_u64().filter(|seed| is_valid_seed(*seed)).ok_or_else(|| {
            let message = format!("seed {value} must be an integer from 0 to 2^53 - 1");
            ApiError::bad_request("invalid_value", message).with_param("seed")
        })?,
    };
    let stream = match fields.get("stream") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(stream)) => *stream,
        Some(_) => return Err(ApiError::bad_request("invalid_type", "stream must be a boolean").with_param("stream")),
    };
    Ok(Request { model, seed, stream })
}

/// A handler error as an OpenAI route answers it: the guest's own OpenAI error
/// (`{"error": {…}}` JSON) verbatim, else `handler_error`; both `400`.
pub(crate) fn handler_error(message: &str) -> ApiError {
    if is_openai_error(message) {
        ApiError::verbatim(StatusCode::BAD_REQUEST, "handler_error", message.to_owned())
    } else {
        ApiError::bad_request("handler_error", format!("the handler returned an error: {message}"))
    }
}

/// Whether `message` is a JSON object whose `error` is an object.
fn is_openai_error(message: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(message)
        .is_ok_and(|value| value.get("error").is_some_and(|e| e.is_object()))
}

/// `json` on one line, for an SSE `data:` field (a guest's error may be pretty-printed).
pub(crate) fn one_line(json: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(value) => value.to_string().into_bytes(),
        Err(_) => json.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_puts_created_first_and_unsplice_undoes_it() {
        let obj = br#"{"id":"chatcmpl-1","object":"chat.completion"}"#;
        let spliced = splice_created(obj, 1_764_000_000);
        assert_eq!(spliced, br#"{"created":1764000000,"id":"chatcmpl-1","object":"chat.completion"}"#);
        assert_eq!(unsplice_created(&spliced).as_deref(), Some(&obj[..]));
        assert_eq!(splice_created(obj, 0), br#"{"created":0,"id":"chatcmpl-1","object":"chat.completion"}"#);
    }

    #[test]
    fn splice_leaves_what_is_not_an_object_alone() {
        for bytes in [&b""[..], b"{}", b"[1]", b"data", b" {\"id\":1}"] {
            assert_eq!(splice_created(bytes, 7), bytes);
        }
    }

    #[test]
    fn unsplice_refuses_what_was_not_spliced() {
        for bytes in [
            &br#"{"id":"x"}"#[..],
            br#"{"created":,"id":1}"#,
            br#"{"created":12}"#,
            br#"{"created":"12","id":1}"#,
            b"",
            b"{",
        ] {
            assert_eq!(unsplice_created(bytes), None, "{}", String::from_utf8_lossy(bytes));
        }
    }

    fn error(body: &str) -> (String, Option<String>) {
        let error = parse_request(body.as_bytes()).unwrap_err();
        let json: serde_json::Value = serde_json::from_slice(&error.openai().body_json()).unwrap();
        (json["error"]["code"].as_str().unwrap().to_owned(), json["error"]["param"].as_str().map(str::to_owned))
    }

    #[test]
    fn requests_read_model_seed_and_stream() {
        let request =
            parse_request(br#"{"model":"chat","seed":9007199254740991,"stream":true,"messages":[]}"#).unwrap();
        assert_eq!(request, Request { model: "chat".to_owned(), seed: (1 << 53) - 1, stream: true });
        let request = parse_request(br#"{"model":"chat","seed":null,"stream":null}"#).unwrap();
        assert_eq!(request, Request { model: "chat".to_owned(), seed: 0, stream: false });
    }

    #[test]
    fn bad_requests_name_the_field() {
        assert_eq!(error("[1]"), ("invalid_json".to_owned(), None));
        assert_eq!(error("{"), ("invalid_json".to_owned(), None));
        assert_eq!(error("{}"), ("missing_required_parameter".to_owned(), Some("model".to_owned())));
        assert_eq!(error(r#"{"model":1}"#), ("invalid_type".to_owned(), Some("model".to_owned())));
        for seed in ["-1", "1.5", "9007199254740992", "\"1\""] {
            let body = format!(r#"{{"model":"m","seed":{seed}}}"#);
            assert_eq!(error(&body), ("invalid_value".to_owned(), Some("seed".to_owned())), "{seed}");
        }
        assert_eq!(error(r#"{"model":"m","stream":"yes"}"#), ("invalid_type".to_owned(), Some("stream".to_owned())));
    }

    #[test]
    fn guest_openai_errors_pass_verbatim_and_others_are_handler_errors() {
        let guest = "{\"error\": {\"message\": \"m\", \"type\": \"invalid_request_error\", \"param\": \"n\", \"code\": \"invalid_value\"}}";
        let error = handler_error(guest);
        assert_eq!((error.status(), error.code()), (StatusCode::BAD_REQUEST, "handler_error"));
        assert_eq!(error.body_json(), guest.as_bytes());
        for other in ["plain words", "{\"error\": \"a string\"}", "[]"] {
            let error = handler_error(other).openai();
            let json: serde_json::Value = serde_json::from_slice(&error.body_json()).unwrap();
            assert_eq!(json["error"]["code"], "handler_error");
            assert_eq!(json["error"]["param"], serde_json::Value::Null);
            assert!(json["error"]["message"].as_str().unwrap().contains(other));
        }
    }

    #[test]
    fn one_line_compacts_json() {
        assert_eq!(one_line(b"{\n  \"error\": {}\n}"), br#"{"error":{}}"#);
        assert_eq!(one_line(b"not\njson"), b"not json");
    }
}
