//! Op traces and disputes against a real CPU node built with fault injection (the test
//! build of `wasmnn`): an honest node's trace has the CLI's root; a node that perturbs one
//! op's output (`PUT /v1/debug/fault`) at the first, a middle or the last op is named to
//! that op, in at most ⌈log2 N⌉ + 2 rounds, by a verdict that checks; a faulty challenger
//! loses to an honest node; a node that lies during bisection or withholds the op's inputs
//! loses. Over the orientation CNN, MiniLM (the `embeddings` function, two sentences: a
//! dynamic-shape graph, traced as specialized to the input's shapes) and SmolLM2 (the
//! `complete` function, 8 tokens).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wasmnn_runtime::receipt::SignedReceipt;

use crate::invoke::{checked_receipt, publish_example};
use crate::node::Node;
use crate::support::{assert_success, fixture, wasmnn_with};

/// A node with one published function and a call of it to dispute.
struct Case {
    dir: tempfile::TempDir,
    node: Node,
    function: &'static str,
    input: PathBuf,
}

impl Case {
    fn new(function: &'static str, input: &[u8]) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(&dir.path().join("node"), &["--backend", "cpu"]);
        publish_example(&node, function, &dir.path().join("publisher.key"));
        let path = dir.path().join("input");
        std::fs::write(&path, input).unwrap();
        Case { dir, node, function, input: path }
    }

    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![("WASMNN_VERIFY_DATA", self.dir.path().join("verify-cache"))]
    }

    fn cli(&self, args: &[&str], extra_env: &[(&'static str, PathBuf)]) -> std::process::Output {
        let mut env = self.env();
        env.extend(extra_env.iter().cloned());
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        wasmnn_with(&[&["--backend", "cpu"], args].concat(), None, &env)
    }

    /// Calls the function on the node; returns the receipt file.
    fn call(&self, name: &str) -> PathBuf {
        let input = std::fs::read(&self.input).unwrap();
        let response = self.node.request("POST", &format!("/v1/functions/{}/invoke", self.function), &[], &input);
        let receipt = checked_receipt(&response, &input);
        let path = self.dir.path().join(format!("{name}.receipt.json"));
        std::fs::write(&path, receipt.to_json()).unwrap();
        path
    }

    fn set_fault(&self, fault: Value) {
        let body = serde_json::to_vec(&fault).unwrap();
        let response = self.node.request("PUT", "/v1/debug/fault", &[("content-type", "application/json")], &body);
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    }

    /// The call's local trace: its descriptors.
    fn trace(&self, receipt: &Path) -> Vec<Value> {
        let args = ["dispute", "trace", path(receipt), "--input", path(&self.input), "--registry", &self.node.url];
        let output = self.cli(&[&args[..], &["--json"]].concat(), &[]);
        assert_success(&output);
        let trace: Value = serde_json::from_slice(&output.stdout).unwrap();
        let leaves = trace["trace"].as_array().unwrap();
        assert_eq!(trace["leaves"].as_u64(), Some(leaves.len() as u64));
        leaves.iter().map(|l| serde_json::from_str(l["descriptor"].as_str().unwrap()).unwrap()).collect()
    }

    /// `dispute run --json` against the node.
    fn dispute(&self, receipt: &Path, extra: &[&str], env: &[(&'static str, PathBuf)]) -> (Value, PathBuf) {
        let verdict = self.dir.path().join("verdict.json");
        let _ = std::fs::remove_file(&verdict);
        let args = [
            &["dispute", "run", path(receipt), "--input", path(&self.input), "--node", &self.node.url, "--json"][..],
            &["--verdict-out", path(&verdict)],
            extra,
        ]
        .concat();
        let output = self.cli(&args, env);
        assert_success(&output);
        (serde_json::from_slice(&output.stdout).unwrap(), verdict)
    }

    fn check(&self, verdict: &Path) {
        let output = self.cli(&["dispute", "check", path(verdict)], &[]);
        assert_success(&output);
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("verdict ok"));
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The leaves that are ops (not graph inputs, LLM token ids or the end).
fn op_leaves(descriptors: &[Value]) -> Vec<u64> {
    descriptors
        .iter()
        .enumerate()
        .filter(|(_, d)| d["k"] == "op" || (d["k"] == "llm" && d["op"] != "input"))
        .map(|(i, _)| i as u64)
        .collect()
}

fn log2_ceil(n: u64) -> u64 {
    u64::from(n.next_power_of_two().trailing_zeros())
}

/// The whole story for one function: honest agreement, then faults at the first, a
/// middle and the last op, each named exactly. Returns the honest call's trace descriptors.
fn disputes_name_the_faulty_op(case: &Case) -> Vec<Value> {
    let honest = case.call("honest");
    let descriptors = case.trace(&honest);
    let n = descriptors.len() as u64;
    assert_eq!(descriptors.last().unwrap()["k"], "end");
    // An honest node: same root, no dispute (verify --against, dispute run).
    let verified = case.cli(&["verify", path(&honest), "--input", path(&case.input), "--against", &case.node.url], &[]);
    assert_success(&verified);
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(said.contains("trace match") && said.contains(&format!("{n} leaves")), "{said}");
    let (agree, _) = case.dispute(&honest, &[], &[]);
    assert_eq!(agree["outcome"], "agree", "{agree}");

    let ops = op_leaves(&descriptors);
    for leaf in [ops[0], ops[ops.len() / 2], ops[ops.len() - 1]] {
        case.set_fault(json!({"op": {"leaf": leaf}}));
        let faulty = case.call(&format!("fault-{leaf}"));
        let (verdict, file) = case.dispute(&faulty, &[], &[]);
        assert_eq!(verdict["outcome"], "verdict", "{verdict}");
        assert_eq!(verdict["winner"], "challenger", "{verdict}");
        assert_eq!(verdict["reason"], "op_recomputed", "{verdict}");
        assert_eq!(verdict["leaf"].as_u64(), Some(leaf), "{verdict}");
        let rounds = verdict["rounds_to_name"].as_u64().unwrap();
        assert!(rounds <= log2_ceil(n) + 2, "{rounds} rounds for {n} leaves");
        let named = verdict["detail"].as_str().unwrap();
        let op = descriptors[leaf as usize]["op"].as_str().unwrap();
        assert!(named.contains(op), "{named} does not name {op}");
        case.check(&file);
        // The verdict file is the signed statement, and altering it breaks it.
        let text = std::fs::read_to_string(&file).unwrap();
        let tampered = text.replacen("\"challenger\"", "\"node\"", 1);
        std::fs::write(&file, tampered).unwrap();
        let output = case.cli(&["dispute", "check", path(&file)], &[]);
        assert!(!output.status.success(), "a tampered verdict checks");
    }
    case.set_fault(Value::Null);

    // A faulty challenger against an honest node: the node is right.
    let leaf = ops[ops.len() / 2];
    let env = [("WASMNN_FAULT", PathBuf::from(json!({"op": {"leaf": leaf}}).to_string()))];
    let (verdict, file) = case.dispute(&honest, &[], &env);
    assert_eq!((verdict["winner"].as_str(), verdict["leaf"].as_u64()), (Some("node"), Some(leaf)), "{verdict}");
    case.check(&file);
    descriptors
}

#[test]
fn orientation_disputes_name_the_faulty_op() {
    let image = std::fs::read(fixture("orientation/image_1.png")).unwrap();
    let case = Case::new("orientation", &image);
    disputes_name_the_faulty_op(&case);

    // A node that lies about its tree is caught by the inclusion proofs; one that withholds
    // the op's inputs loses by timeout.
    let descriptors = case.trace(&case.call("again"));
    let leaf = op_leaves(&descriptors)[3];
    case.set_fault(json!({"op": {"leaf": leaf}}));
    let faulty = case.call("liar");
    case.set_fault(json!({"lie": {"depth": 2}}));
    let (verdict, file) = case.dispute(&faulty, &[], &[]);
    assert_eq!(
        (verdict["winner"].as_str(), verdict["reason"].as_str()),
        (Some("challenger"), Some("node_inconsistent"))
    );
    case.check(&file);
    case.set_fault(json!({"withhold": {"stage": "tensors"}}));
    let (verdict, _) = case.dispute(&faulty, &["--tensor-timeout", "2"], &[]);
    assert_eq!((verdict["winner"].as_str(), verdict["reason"].as_str()), (Some("challenger"), Some("node_timeout")));
}

#[test]
fn minilm_disputes_name_the_faulty_op() {
    let request = json!({"input": ["A man is eating food.", "Deterministic inference, bit for bit."]});
    let case = Case::new("embeddings", &serde_json::to_vec(&request).unwrap());
    let descriptors = disputes_name_the_faulty_op(&case);
    // The trace opens with the graph's three inputs as the ops read them, then its nodes.
    let inputs: Vec<&str> =
        descriptors.iter().take_while(|d| d["k"] == "in").map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(inputs, ["input_ids", "attention_mask", "token_type_ids"]);
}

#[test]
fn smollm2_disputes_name_the_faulty_op() {
    let request = json!({"tokens": [1, 9690, 198, 2683, 359, 253], "max_tokens": 8});
    let case = Case::new("complete", &serde_json::to_vec(&request).unwrap());
    disputes_name_the_faulty_op(&case);
}

#[test]
fn a_receipt_from_another_node_needs_its_input() {
    let image = std::fs::read(fixture("orientation/image_1.png")).unwrap();
    let case = Case::new("orientation", &image);
    let receipt = std::fs::read(case.call("own")).unwrap();
    let signed = SignedReceipt::from_json(&receipt).unwrap();
    let body = json!({"receipt": serde_json::from_slice::<Value>(&receipt).unwrap()});
    let committed = case.node.request("POST", "/v1/traces", &[], &serde_json::to_vec(&body).unwrap());
    assert_eq!(committed.status, 200, "{}", String::from_utf8_lossy(&committed.body));
    let commitment = &committed.json()["commitment"]["commitment"];
    assert_eq!(commitment["receipt"].as_str(), Some(signed.id().prefixed().as_str()));
    let unknown = case.node.request("GET", "/v1/traces/sha256:00/nodes/0/0", &[], b"");
    assert_eq!(unknown.status / 100, 4);
}
