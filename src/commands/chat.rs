//! `wasmnn chat URL MODEL [--system TEXT] [--seed N] [--temperature T] [--top-p P]
//! [--max-tokens N] [--receipt-dir DIR]`: talk with a chat function on a node, in the
//! terminal (docs/HTTP.md "OpenAI-compatible endpoints").
//!
//! Each line read from stdin is a user message; the whole conversation so far goes to
//! `POST /v1/chat/completions` with `"stream": true`, and the reply is printed to stdout
//! token by token as the node streams it. `/reset` forgets the conversation, `/exit` (or
//! the end of stdin) ends the session.
//!
//! Every reply is checked before it joins the conversation: the output is rebuilt from the
//! streamed chunks (each with the node's `created` field taken out again, plus its line
//! end), and the receipt in the final `wasmnn-receipt` event must verify with the node key
//! it names, have the id the event announces, the digests of the request sent and the
//! output rebuilt, and the seed asked for. Its id, fuel and backend go to stderr; with
//! `--receipt-dir`, turn N's receipt and request are kept as `N.json` and `N.input.json`
//! for `wasmnn verify DIR/N.json --from URL` (or `--input DIR/N.input.json`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::client::RegistryClient;
use wasmnn_registry::sse::SseEvent;
use wasmnn_runtime::node::unsplice_created;
use wasmnn_runtime::receipt::SignedReceipt;

use crate::commands::invoke::parse_seed;

/// The event that carries a streamed call's receipt.
const RECEIPT_EVENT: &str = "wasmnn-receipt";

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
        turn += 1;
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
    let mut events = client.chat_stream(request)?;
    let mut transcript = Transcript::default();
    let mut stdout = std::io::stdout().lock();
    let mut done = false;
    while let Some(event) =
        events.next_event().with_context(|| format!("the stream from {} broke off", client.url()))?
    {
        if done {
            if event.event.as_deref() == Some(RECEIPT_EVENT) {
                let receipt = receipt_of(&event)?;
                writeln!(stdout)?;
                check_receipt(&receipt, request, &transcript.output, seed)
                    .with_context(|| format!("node {} sent a receipt that does not match the reply", client.url()))?;
                let Transcript { content, finish_reason, .. } = transcript;
                return Ok(Reply { content, finish_reason: finish_reason.unwrap_or_default(), receipt });
            }
            continue;
        }
        if event.data == "[DONE]" {
            done = true;
            continue;
        }
        if let Some(delta) = transcript.add(&event)? {
            stdout.write_all(delta.as_bytes())?;
            stdout.flush()?;
        }
    }
    writeln!(stdout)?;
    if done { bail!("the stream ended without a receipt") } else { bail!("the stream ended before [DONE]") }
}

/// What the chunks of a streamed reply add up to.
#[derive(Default)]
struct Transcript {
    /// The call's output as the guest wrote it: every chunk without `created`, plus `\n`.
    output: Vec<u8>,
    /// The assistant's text so far.
    content: String,
    /// The finish reason, once a chunk gave it.
    finish_reason: Option<String>,
}

impl Transcript {
    /// Adds one `data:` event (a chunk, or a mid-stream error); returns its new text.
    fn add(&mut self, event: &SseEvent) -> anyhow::Result<Option<String>> {
        let chunk: Value = serde_json::from_str(&event.data).context("the node sent a chunk that is not JSON")?;
        if let Some(error) = chunk.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
            bail!("the call failed mid-stream: {message}");
        }
        let raw = unsplice_created(event.data.as_bytes())
            .context("the node sent a chunk without the created field it splices in")?;
        self.output.extend_from_slice(&raw);
        self.output.push(b'\n');
        let choice = &chunk["choices"][0];
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_owned());
        }
        let delta = choice["delta"]["content"].as_str().filter(|text| !text.is_empty()).map(str::to_owned);
        if let Some(delta) = &delta {
            self.content.push_str(delta);
        }
        Ok(delta)
    }
}

/// The signed receipt of the final event `{"id": "sha256:…", "receipt": {signed receipt}}`,
/// its signature verified and its id the announced one.
fn receipt_of(event: &SseEvent) -> anyhow::Result<SignedReceipt> {
    let envelope: Value = serde_json::from_str(&event.data).context("the receipt event is not JSON")?;
    let announced = envelope["id"].as_str().context("the receipt event has no id")?;
    let signed = serde_json::to_vec(&envelope["receipt"])?;
    let receipt = SignedReceipt::from_json(&signed).context("the streamed receipt does not check out")?;
    if receipt.id().prefixed() != announced {
        bail!("the receipt event announces id {announced}, but its receipt's id is {}", receipt.id().prefixed());
    }
    Ok(receipt)
}

/// Checks that a (signature-checked) receipt describes this call.
fn check_receipt(receipt: &SignedReceipt, request: &[u8], output: &[u8], seed: u64) -> anyhow::Result<()> {
    let stated = receipt.receipt();
    if stated.input != Sha256Digest::of_bytes(request) {
        bail!("its input digest {} is not that of the request sent", stated.input.prefixed());
    }
    if stated.output != Sha256Digest::of_bytes(output) {
        bail!("its output digest {} is not that of the chunks received", stated.output.prefixed());
    }
    if stated.seed != seed {
        bail!("its seed is {}, but the request asked for {seed}", stated.seed);
    }
    Ok(())
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
