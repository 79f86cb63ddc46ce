//! The handler's prompt pipeline against `fixtures/smollm2/chat.json`, made by
//! `scripts/make_chat_fixture.py` with jinja2 and Hugging Face `tokenizers` (Python).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::template::{self, Segment};
use crate::{request, tokenizer};

/// The fixture.
fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/smollm2/chat.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("JSON")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_fixture_is_of_these_assets() {
    let fixture = fixture();
    let template = include_bytes!("../assets/chat_template.jinja");
    assert_eq!(fixture["template_sha256"], hex(&Sha256::digest(template)));
    assert_eq!(fixture["tokenizer_sha256"], hex(&Sha256::digest(tokenizer::TOKENIZER_JSON)));
}

/// Request → template → ids, as jinja2 renders and `tokenizers` encodes segment-wise.
#[test]
fn prompts_match_jinja2_and_hugging_face() {
    let fixture = fixture();
    let reference = Tokenizer::from_bytes(tokenizer::TOKENIZER_JSON).expect("tokenizer.json loads");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 8);
    for case in cases {
        let body = serde_json::to_vec(&json!({"model": "chat", "messages": case["messages"]})).expect("JSON");
        let request = request::parse(&body).expect("a valid request");
        let segments = template::render(&request.messages);
        let rendered: String = segments
            .iter()
            .map(|s| match s {
                Segment::Special(id) => reference.id_to_token(*id).expect("a control token"),
                Segment::Text(text) => text.clone(),
            })
            .collect();
        assert_eq!(rendered, case["rendered"].as_str().expect("rendered"), "{}", case["messages"]);
        let ids = tokenizer::encode(&segments);
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
        assert_eq!(ids, expected, "{}", case["messages"]);
    }
}

#[test]
fn token_bytes_match_gpt2_byte_decoding() {
    let fixture = fixture();
    let table = fixture["token_bytes_hex"].as_object().expect("token_bytes_hex");
    assert!(table.len() >= 20);
    for (id, bytes) in table {
        let id: u32 = id.parse().expect("an id");
        assert_eq!(hex(tokenizer::token_bytes(id)), bytes.as_str().expect("hex"), "id {id}");
    }
}
