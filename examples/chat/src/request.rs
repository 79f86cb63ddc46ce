//! The request: an OpenAI `/v1/chat/completions` body, validated into [`ChatRequest`].
//!
//! Read: `model` (required, echoed), `messages`, `temperature`, `top_p`, `max_tokens` |
//! `max_completion_tokens` (the latter wins), `stop`, `n` (absent or 1), `seed` (checked
//! here, used by the node), `stream`, `stream_options.include_usage`, `frequency_penalty`,
//! `presence_penalty`, and two extensions, `top_k` and `repetition_penalty`. Ignored:
//! `user`, `metadata`, `store`, `service_tier`, `parallel_tool_calls`, `name` in messages,
//! and fields this handler does not know. Refused with `unsupported_parameter`: non-empty
//! `tools`, `tool_choice`, `functions`, `function_call`, `logit_bias`, `logprobs: true`,
//! `top_logprobs`, a `response_format` other than text, `audio`, and `modalities` other
//! than text.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::sampling::SamplingParams;
use crate::template::{Message, Role};

/// The largest request body accepted, in bytes (it bounds the tokenizer's work).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// The model's context: prompt and completion tokens together.
pub const CONTEXT_TOKENS: usize = 2048;
/// The most `stop` strings.
pub const MAX_STOPS: usize = 4;
/// The longest `stop` string, in bytes.
pub const MAX_STOP_BYTES: usize = 64;
/// The largest `seed` (2^53 − 1: every client's JSON numbers hold it exactly).
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The request's `model`, echoed in the response.
    pub model: String,
    /// The conversation, at least one message.
    pub messages: Vec<Message>,
    /// How to pick each token.
    pub sampling: SamplingParams,
    /// The most tokens to generate, if the request says (1..=2048).
    pub max_tokens: Option<usize>,
    /// Strings that end the completion (not included in it).
    pub stop: Vec<String>,
    /// Whether to answer with `chat.completion.chunk` lines.
    pub stream: bool,
    /// Whether a streamed answer ends with a usage chunk.
    pub include_usage: bool,
}

/// Validates a request body.
///
/// # Errors
/// The OpenAI error for the first problem found.
pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ApiError::new(
            "request_too_large",
            None,
            format!("the request is {} bytes, more than the {MAX_REQUEST_BYTES} accepted", body.len()),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new("invalid_json", None, format!("the request is not valid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::new("invalid_json", None, "the request must be a JSON object"));
    };
    let model = match fields.get("model") {
        None | Some(Value::Null) => {
            return Err(ApiError::new("missing_required_parameter", Some("model"), "you must provide a model"));
        }
        Some(Value::String(model)) => model.clone(),
        Some(other) => {
            return Err(ApiError::invalid_type("model", format!("model must be a string, not {}", kind(other))));
        }
    };
    refuse_unsupported(&fields)?;
    let stream = boolean(&fields, "stream")?.unwrap_or(false);
    let include_usage = stream_options(&fields, stream)?;
    match fields.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(n) => return Err(ApiError::invalid_value("n", format!("only n = 1 is supported, not {n}"))),
    }
    if let Some(seed) = fields.get("seed").filter(|s| !s.is_null() && s.as_u64().is_none_or(|s| s > MAX_SEED)) {
        return Err(ApiError::invalid_value("seed", format!("seed must be an integer in [0, {MAX_SEED}], not {seed}")));
    }
    let sampling = SamplingParams {
        temperature: number(&fields, "temperature", 1.0, 0.0, 2.0, true)?,
        top_p: number(&fields, "top_p", 1.0, 0.0, 1.0, true)?,
        top_k: top_k(&fields)?,
        repetition_penalty: number(&fields, "repetition_penalty", 1.0, 0.0, 10.0, false)? as f32,
        frequency_penalty: number(&fields, "frequency_penalty", 0.0, -2.0, 2.0, true)? as f32,
        presence_penalty: number(&fields, "presence_penalty", 0.0, -2.0, 2.0, true)? as f32,
    };
    let max_tokens = match max_tokens(&fields, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => max_tokens(&fields, "max_tokens")?,
    };
    Ok(ChatRequest {
        model,
        messages: messages(&fields)?,
        sampling,
        max_tokens,
        stop: stop(&fields)?,
        stream,
        include_usage,
    })
}

/// Refuses the OpenAI features this handler does not have.
fn refuse_unsupported(fields: &Map<String, Value>) -> Result<(), ApiError> {
    let non_empty = |v: &Value| match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::String(s) => s != "none",
        _ => true,
    };
    for name in ["tools", "tool_choice", "functions", "function_call", "logit_bias", "audio", "top_logprobs"] {
        if fields.get(name).is_some_and(non_empty) {
            return Err(ApiError::unsupported(name, format!("{name} is not supported by this model")));
        }
    }
    if fields.get("logprobs").is_some_and(|v| v.as_bool() == Some(true) || !(v.is_null() || v.is_boolean())) {
        return Err(ApiError::unsupported("logprobs", "logprobs is not supported by this model"));
    }
    match fields.get("response_format") {
        None | Some(Value::Null) => {}
        Some(Value::Object(format)) if format.get("type").and_then(Value::as_str) == Some("text") => {}
        Some(_) => {
            return Err(ApiError::unsupported("response_format", "only a response_format of type text is supported"));
        }
    }
    match fields.get("modalities") {
        None | Some(Value::Null) => {}
        Some(Value::Array(m)) if m.iter().all(|m| m.as_str() == Some("text")) => {}
        Some(_) => return Err(ApiError::unsupported("modalities", "only the text modality is supported")),
    }
    Ok(())
}

/// An optional boolean field.
fn boolean(fields: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::invalid_type(name, format!("{name} must be a boolean, not {}", kind(other)))),
    }
}

/// `stream_options.include_usage`; `stream_options` only goes with `stream: true`.
fn stream_options(fields: &Map<String, Value>, stream: bool) -> Result<bool, ApiError> {
    match fields.get("stream_options") {
        None | Some(Value::Null) => Ok(false),
        Some(_) if !stream => {
            Err(ApiError::invalid_value("stream_options", "stream_options is only allowed when stream is true"))
        }
        Some(Value::Object(options)) => boolean(options, "include_usage")
            .map_err(|_| ApiError::invalid_type("stream_options.include_usage", "include_usage must be a boolean"))
            .map(|b| b.unwrap_or(false)),
        Some(other) => Err(ApiError::invalid_type(
            "stream_options",
            format!("stream_options must be an object, not {}", kind(other)),
        )),
    }
}

/// An optional number in `[low, high]` (`(low, high]` if not `low_inclusive`).
fn number(
    fields: &Map<String, Value>,
    name: &str,
    default: f64,
    low: f64,
    high: f64,
    low_inclusive: bool,
) -> Result<f64, ApiError> {
    let value = match fields.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            return Err(ApiError::invalid_type(name, format!("{name} must be a number, not {}", kind(other))));
        }
    };
    let above_low = if low_inclusive { value >= low } else { value > low };
    if above_low && value <= high {
        Ok(value)
    } else {
        let open = if low_inclusive { '[' } else { '(' };
        Err(ApiError::invalid_value(name, format!("{name} must be in {open}{low}, {high}], not {value}")))
    }
}

/// `top_k`: 0 (off) or the number of most likely tokens kept.
fn top_k(fields: &Map<String, Value>) -> Result<usize, ApiError> {
    match fields.get("top_k") {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value
            .as_u64()
            .and_then(|k| usize::try_from(k).ok())
            .ok_or_else(|| ApiError::invalid_value("top_k", format!("top_k must be an integer ≥ 0, not {value}"))),
    }
}

/// `max_tokens` or `max_completion_tokens`: 1..=2048 if given.
fn max_tokens(fields: &Map<String, Value>, name: &str) -> Result<Option<usize>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=CONTEXT_TOKENS).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid_value(
                name,
                format!("{name} must be an integer in [1, {CONTEXT_TOKENS}], not {value}"),
            )),
        },
    }
}

/// `stop`: a string or up to four strings, each non-empty and at most 64 bytes.
fn stop(fields: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let stops = match fields.get("stop") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => {
                    Err(ApiError::invalid_type("stop", format!("stop strings must be strings, not {}", kind(other))))
                }
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid_type(
                "stop",
                format!("stop must be a string or a list, not {}", kind(other)),
            ));
        }
    };
    if stops.len() > MAX_STOPS {
        return Err(ApiError::invalid_value(
            "stop",
            format!("stop has {} strings, more than {MAX_STOPS}", stops.len()),
        ));
    }
    if stops.iter().any(|s| s.is_empty() || s.len() > MAX_STOP_BYTES) {
        return Err(ApiError::invalid_value("stop", format!("stop strings must be 1 to {MAX_STOP_BYTES} bytes long")));
    }
    Ok(stops)
}

/// `messages`: a non-empty list of `{"role", "content"}` objects.
fn messages(fields: &Map<String, Value>) -> Result<Vec<Message>, ApiError> {
    let items = match fields.get("messages") {
        None | Some(Value::Null) => {
            return Err(ApiError::new("missing_required_parameter", Some("messages"), "you must provide messages"));
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::invalid_type("messages", format!("messages must be a list, not {}", kind(other))));
        }
    };
    if items.is_empty() {
        return Err(ApiError::invalid_value("messages", "messages must not be empty"));
    }
    items.iter().enumerate().map(|(i, item)| message(i, item)).collect()
}

/// One message.
fn message(i: usize, item: &Value) -> Result<Message, ApiError> {
    let param = format!("messages[{i}]");
    let Value::Object(fields) = item else {
        return Err(ApiError::invalid_type(&param, format!("{param} must be an object, not {}", kind(item))));
    };
    let role = match fields.get("role") {
        Some(Value::String(role)) => match role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(ApiError::invalid_value(
                    &format!("{param}.role"),
                    format!("role {other:?} is not supported: use system, developer, user or assistant"),
                ));
            }
        },
        Some(other) => {
            return Err(ApiError::invalid_type(
                &format!("{param}.role"),
                format!("role must be a string, not {}", kind(other)),
            ));
        }
        None => {
            return Err(ApiError::new(
                "missing_required_parameter",
                Some(&format!("{param}.role")),
                "a message needs a role",
            ));
        }
    };
    for name in ["tool_calls", "function_call", "audio"] {
        if fields.get(name).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::unsupported(
                &format!("{param}.{name}"),
                format!("{name} is not supported by this model"),
            ));
        }
    }
    let content_param = format!("{param}.content");
    let content = match fields.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| text_part(&format!("{content_param}[{j}]"), part))
            .collect::<Result<Vec<_>, _>>()?
            .join("\n"),
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_type(&content_param, "content must be a string or a list of text parts"));
        }
        Some(other) => {
            return Err(ApiError::invalid_type(
                &content_param,
                format!("content must be a string or a list of text parts, not {}", kind(other)),
            ));
        }
    };
    Ok(Message { role, content })
}

/// A content part: `{"type": "text", "text": "…"}`.
fn text_part<'a>(param: &str, part: &'a Value) -> Result<&'a str, ApiError> {
    let Value::Object(fields) = part else {
        return Err(ApiError::invalid_type(param, format!("a content part must be an object, not {}", kind(part))));
    };
    match (fields.get("type").and_then(Value::as_str), fields.get("text")) {
        (Some("text"), Some(Value::String(text))) => Ok(text),
        (Some("text"), _) => Err(ApiError::invalid_type(&format!("{param}.text"), "a text part needs a string text")),
        (other, _) => Err(ApiError::invalid_value(
            &format!("{param}.type"),
            format!("only text content parts are supported, not {}", other.unwrap_or("a part without a type")),
        )),
    }
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

    fn parse_json(body: &str) -> Result<ChatRequest, ApiError> {
        parse(body.as_bytes())
    }

    /// The (code, param) of a refused body.
    fn refusal(body: &str) -> (&'static str, Option<String>) {
        let error = parse_json(body).expect_err(body);
        (error.code, error.param)
    }

    const HELLO: &str = r#""model":"chat","messages":[{"role":"user","content":"hi"}]"#;

    #[test]
    fn reads_a_minimal_request_with_the_defaults() {
        let request = parse_json(&format!("{{{HELLO}}}")).expect("valid");
        assert_eq!(request.model, "chat");
        assert_eq!(request.messages, [Message { role: Role::User, content: "hi".into() }]);
        assert_eq!(request.sampling, SamplingParams::default());
        assert_eq!(
            (request.max_tokens, request.stop.len(), request.stream, request.include_usage),
            (None, 0, false, false)
        );
    }

    #[test]
    fn reads_every_field() {
        let body = r#"{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
            {"role":"assistant","content":"x","name":"bot"}],"temperature":0.5,"top_p":0.9,"top_k":40,"repetition_penalty":1.1,
            "frequency_penalty":-2,"presence_penalty":2,"max_tokens":7,"max_completion_tokens":9,"stop":"\n","n":1,"seed":9007199254740991,
            "stream":true,"stream_options":{"include_usage":true},"user":"u","tools":[],"logprobs":false,"response_format":{"type":"text"}}"#;
        let request = parse_json(body).expect("valid");
        assert_eq!(request.messages[0], Message { role: Role::System, content: "a\nb".into() });
        assert_eq!(request.messages[1].role, Role::Assistant);
        let expected = SamplingParams {
            temperature: 0.5,
            top_p: 0.9,
            top_k: 40,
            repetition_penalty: 1.1,
            frequency_penalty: -2.0,
            presence_penalty: 2.0,
        };
        assert_eq!(request.sampling, expected);
        assert_eq!(
            (request.max_tokens, request.stop, request.stream, request.include_usage),
            (Some(9), vec!["\n".to_string()], true, true)
        );
    }

    #[test]
    fn refuses_bad_requests_with_openai_codes() {
        let p = |s: &str| Some(s.to_string());
        let cases: Vec<(String, (&str, Option<String>))> = vec![
            ("nope".into(), ("invalid_json", None)),
            ("[1]".into(), ("invalid_json", None)),
            (r#"{"messages":[{"role":"user","content":"hi"}]}"#.into(), ("missing_required_parameter", p("model"))),
            (r#"{"model":1}"#.into(), ("invalid_type", p("model"))),
            (r#"{"model":"m"}"#.into(), ("missing_required_parameter", p("messages"))),
            (r#"{"model":"m","messages":"hi"}"#.into(), ("invalid_type", p("messages"))),
            (r#"{"model":"m","messages":[]}"#.into(), ("invalid_value", p("messages"))),
            (
                r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#.into(),
                ("invalid_value", p("messages[0].role")),
            ),
            (
                r#"{"model":"m","messages":[{"content":"x"}]}"#.into(),
                ("missing_required_parameter", p("messages[0].role")),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null}]}"#
                    .into(),
                ("invalid_type", p("messages[1].content")),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#.into(),
                ("invalid_value", p("messages[0].content[0].type")),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":1}]}]}"#.into(),
                ("invalid_type", p("messages[0].content[0].text")),
            ),
            (
                r#"{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{}]}]}"#.into(),
                ("unsupported_parameter", p("messages[0].tool_calls")),
            ),
            (format!(r#"{{{HELLO},"max_tokens":0}}"#), ("invalid_value", p("max_tokens"))),
            (format!(r#"{{{HELLO},"max_tokens":2049}}"#), ("invalid_value", p("max_tokens"))),
            (format!(r#"{{{HELLO},"max_completion_tokens":1.5}}"#), ("invalid_value", p("max_completion_tokens"))),
            (format!(r#"{{{HELLO},"n":2}}"#), ("invalid_value", p("n"))),
            (format!(r#"{{{HELLO},"seed":-1}}"#), ("invalid_value", p("seed"))),
            (format!(r#"{{{HELLO},"seed":9007199254740992}}"#), ("invalid_value", p("seed"))),
            (format!(r#"{{{HELLO},"temperature":2.01}}"#), ("invalid_value", p("temperature"))),
            (format!(r#"{{{HELLO},"temperature":"hot"}}"#), ("invalid_type", p("temperature"))),
            (format!(r#"{{{HELLO},"top_p":-0.1}}"#), ("invalid_value", p("top_p"))),
            (format!(r#"{{{HELLO},"top_k":-1}}"#), ("invalid_value", p("top_k"))),
            (format!(r#"{{{HELLO},"repetition_penalty":0}}"#), ("invalid_value", p("repetition_penalty"))),
            (format!(r#"{{{HELLO},"frequency_penalty":2.5}}"#), ("invalid_value", p("frequency_penalty"))),
            (format!(r#"{{{HELLO},"presence_penalty":-3}}"#), ("invalid_value", p("presence_penalty"))),
            (format!(r#"{{{HELLO},"stop":["a","b","c","d","e"]}}"#), ("invalid_value", p("stop"))),
            (format!(r#"{{{HELLO},"stop":""}}"#), ("invalid_value", p("stop"))),
            (format!(r#"{{{HELLO},"stop":"{}"}}"#, "x".repeat(65)), ("invalid_value", p("stop"))),
            (format!(r#"{{{HELLO},"stop":[1]}}"#), ("invalid_type", p("stop"))),
            (format!(r#"{{{HELLO},"stream":"yes"}}"#), ("invalid_type", p("stream"))),
            (
                format!(r#"{{{HELLO},"stream_options":{{"include_usage":true}}}}"#),
                ("invalid_value", p("stream_options")),
            ),
            (format!(r#"{{{HELLO},"tools":[{{"type":"function"}}]}}"#), ("unsupported_parameter", p("tools"))),
            (format!(r#"{{{HELLO},"tool_choice":"auto"}}"#), ("unsupported_parameter", p("tool_choice"))),
            (format!(r#"{{{HELLO},"logprobs":true}}"#), ("unsupported_parameter", p("logprobs"))),
            (format!(r#"{{{HELLO},"top_logprobs":2}}"#), ("unsupported_parameter", p("top_logprobs"))),
            (format!(r#"{{{HELLO},"logit_bias":{{"50256":-100}}}}"#), ("unsupported_parameter", p("logit_bias"))),
            (
                format!(r#"{{{HELLO},"response_format":{{"type":"json_object"}}}}"#),
                ("unsupported_parameter", p("response_format")),
            ),
            (format!(r#"{{{HELLO},"modalities":["text","audio"]}}"#), ("unsupported_parameter", p("modalities"))),
        ];
        for (body, (code, param)) in cases {
            assert_eq!(refusal(&body), (code, param), "{body}");
        }
    }

    #[test]
    fn refuses_a_body_over_one_mib() {
        let body = format!(r#"{{{HELLO},"user":"{}"}}"#, "x".repeat(MAX_REQUEST_BYTES));
        assert_eq!(refusal(&body), ("request_too_large", None));
        let fits = format!(r#"{{{HELLO},"user":"{}"}}"#, "x".repeat(MAX_REQUEST_BYTES - HELLO.len() - 12));
        assert_eq!(fits.len(), MAX_REQUEST_BYTES);
        assert!(parse_json(&fits).is_ok());
    }

    #[test]
    fn accepts_boundary_values() {
        let body = format!(
            r#"{{{HELLO},"temperature":0,"top_p":0,"max_tokens":2048,"repetition_penalty":10,"seed":0,"stop":["a","b","c","{}"]}}"#,
            "x".repeat(64)
        );
        let request = parse_json(&body).expect("valid");
        assert_eq!((request.sampling.temperature, request.sampling.top_p, request.max_tokens), (0.0, 0.0, Some(2048)));
    }
}
