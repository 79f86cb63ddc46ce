//! `wasmnn chat URL MODEL [--system TEXT] [--seed N] [--temperature T] [--top-p P]
//! [--max-tokens N] [--receipt-dir DIR]`: talk with a chat function on a node, in the
//! terminal (docs/HTTP.md "OpenAI-compatible endpoints").
//!
//! Each line read from stdin is a user message; the whole conversation so far goes to
//! `POST /v1/chat/completions` with `"stream": true`, and the reply is printed to stdout
//! token by token as the node streams it. `/reset` forgets the conversation, `/exit` (or
//! the end of stdin) ends the session.
//!
//! Every reply is checked before it joins the conversation (`wasmnn_runtime::streamed`):
//! the output is rebuilt from the streamed chunks (each with the node's `created` field
//! taken out again, plus its line end), and the receipt in the final `wasmnn-receipt` event
//! must verify with the node key it names, have the id the event announces, the digests of
//! the request sent and the output rebuilt, the seed asked for, and the manifest the node
//! announced. A turn that fails is left out of the conversation and the session goes on. Its id, fuel and backend go to stderr; with
//! `--receipt-dir`, turn N's receipt and request are kept as `N.json` and `N.input.json`
//! for `wasmnn verify DIR/N.json --from URL` (or `--input DIR/N.input.json`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use wasmnn_registry::client::{ChatStream, RegistryClient};
use wasmnn_runtime::receipt::SignedReceipt;
use wasmnn_runtime::streamed::StreamedReply;

use crate::commands::invoke::parse_seed;

/// The most output one reply may have (a node's calls are capped at 16 MiB).
const MAX_REPLY_BYTES: usize = 64 << 20;

/// Arguments of `chat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node, e.g. http://127.0.0.1:8080.
    url: String,
    /// The chat function to talk to (as `GET /v1/models` lists it).
    model: String,
    /// A system message that starts the conversation [default: the model's own].
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// The seed of the sampling, 0 to 2^53 - 1 (the same conversation and seed give the
    /// same replies on every node).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse_seed)]
    seed: u64,
    /// Sampling temperature, 0 (greedy) to 2 [default: the function's, 1].
    #[arg(long, value_name = "T")]
    temperature: Option<f64>,
    /// Nucleus sampling: keep the likeliest tokens whose probabilities sum to P [default: 1].
    #[arg(long, value_name = "P")]
    top_p: Option<f64>,
    /// The most tokens of one reply [default: what the context leaves].
    #[arg(long, value_name = "N")]
    max_tokens: Option<u32>,
    /// Keep each turn's receipt (`N.json`) and request (`N.input.json`) in this folder.
    #[arg(long, value_name = "DIR")]
    receipt_dir: Option<PathBuf>,
}

/// One finished, checked reply.
struct Reply {
    /// The assistant's text.
    content: String,
    /// Why generation stopped (`stop`, `length`).
    finish_reason: String,
    /// The call's receipt.
    receipt: SignedReceipt,
}

/// Reads user lines, streams replies, checks their receipts.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let client = RegistryClient::new(&args.url)?;
    if let Some(dir) = &args.receipt_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let interactive = std::io::stdin().is_terminal();
    let mut messages = system_messages(args);
    let mut turn = 0u32;
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            eprint!("> ");
        }
        let Some(line) = lines.next().transpose().context("cannot read stdin")? else { break };
        match line.trim() {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                messages = system_messages(args);
                eprintln!("(conversation reset)");
                continue;
            }
            _ => {}
        }
        messages.push(json!({"role": "user", "content": line}));
        let request = request_body(args, &messages)?;
        let reply = match stream_reply(&client, &request, args.seed) {
            Ok(reply) => reply,
            Err(error) => {
                // The turn failed: it does not join the conversation, the session goes on.
                messages.pop();
                eprintln!("error: {error:#}");
                continue;
            }
        };
        turn += 1;
        let receipt = reply.receipt.receipt();
        eprintln!(
            "receipt {} · {} · fuel {} · backend {}",
            reply.receipt.id().prefixed(),
            reply.finish_reason,
            receipt.fuel,
            receipt.backend
        );
        if let Some(dir) = &args.receipt_dir {
            keep_turn(dir, turn, &reply.receipt, &request)?;
        }
        messages.push(json!({"role": "assistant", "content": reply.content}));
    }
    Ok(ExitCode::SUCCESS)
}

/// The conversation's start: the `--system` message, if any.
fn system_messages(args: &Args) -> Vec<Value> {
    args.system.iter().map(|text| json!({"role": "system", "content": text})).collect()
}

/// The request of one turn: the conversation, streamed, with usage, and the sampling
/// options given.
fn request_body(args: &Args, messages: &[Value]) -> anyhow::Result<Vec<u8>> {
    let mut body = json!({
        "model": args.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "seed": args.seed,
    });
    let options = [
        ("temperature", args.temperature.map(Value::from)),
        ("top_p", args.top_p.map(Value::from)),
        ("max_tokens", args.max_tokens.map(Value::from)),
    ];
    for (name, value) in options {
        if let Some(value) = value {
            body[name] = value;
        }
    }
    Ok(serde_json::to_vec(&body)?)
}

/// Sends one request, prints the reply as it streams, and checks the receipt.
fn stream_reply(client: &RegistryClient, request: &[u8], seed: u64) -> anyhow::Result<Reply> {
    let ChatStream { mut events, manifest } = client.chat_stream(request)?;
    let mut reply = StreamedReply::new(MAX_REPLY_BYTES);
    let mut stdout = std::io::stdout().lock();
    let broke_off = || format!("the stream from {} broke off", client.url());
    while let Some(event) = events.next_event().with_context(broke_off)? {
        let chunk = reply.push(&event).with_context(|| format!("node {} sent a bad stream", client.url()))?;
        if let Some(delta) = chunk.and_then(|c| c["choices"][0]["delta"]["content"].as_str()) {
            stdout.write_all(delta.as_bytes())?;
            stdout.flush()?;
        }
    }
    writeln!(stdout)?;
    let finished = reply.finish().with_context(broke_off)?;
    finished
        .check(request, seed, manifest.as_ref())
        .with_context(|| format!("node {} sent a receipt that does not match the reply", client.url()))?;
    let finish_reason = finished.finish_reason().unwrap_or_default().to_owned();
    Ok(Reply { content: finished.content(), finish_reason, receipt: finished.receipt })
}

/// Writes turn `turn`'s receipt and request into `dir`.
fn keep_turn(dir: &Path, turn: u32, receipt: &SignedReceipt, request: &[u8]) -> anyhow::Result<()> {
    let receipt_path = dir.join(format!("{turn}.json"));
    std::fs::write(&receipt_path, receipt.to_json())
        .with_context(|| format!("cannot write the receipt to {}", receipt_path.display()))?;
    let input_path = dir.join(format!("{turn}.input.json"));
    std::fs::write(&input_path, request)
        .with_context(|| format!("cannot write the request to {}", input_path.display()))
}
