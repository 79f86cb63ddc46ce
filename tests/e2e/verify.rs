//! `wasmnn invoke` and `wasmnn verify` against a real CPU node: a call's receipt
//! re-executes to a match (with the node's recorded input or a local file, from the
//! receipt file or its URL), and altered, forged or mismatched receipts are caught.

use std::path::Path;
use std::process::Output;

use wasmnn_registry::Sha256Digest;
use wasmnn_registry::keys::SecretKey;
use wasmnn_runtime::receipt::{Receipt, SignedReceipt};

use crate::invoke::{checked_receipt, publish_example};
use crate::node::Node;
use crate::support::{assert_success, wasmnn_with};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn invoke_then_verify_matches_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"), &["--backend", "cpu"]);
    let manifest = publish_example(&node, "probe", &dir.path().join("publisher.key"));
    let cache = dir.path().join("verify-cache");
    let env: &[(&str, &Path)] = &[("WASMNN_VERIFY_DATA", &cache)];
    let run = |args: &[&str]| wasmnn_with(args, None, env);
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    // invoke: output on stdout, a checked receipt file, the summary on stderr.
    let input = path("input");
    std::fs::write(&input, b"entropy").unwrap();
    let receipt_file = path("receipt.json");
    let invoked =
        run(&["invoke", &node.url, "probe", "--input", &input, "--receipt-out", &receipt_file, "--seed", "3"]);
    assert_success(&invoked);
    let signed = SignedReceipt::from_json(&std::fs::read(&receipt_file).unwrap()).expect("the receipt file verifies");
    let receipt = signed.receipt();
    assert_eq!((receipt.seed, receipt.manifest), (3, manifest));
    assert_eq!(receipt.input, Sha256Digest::of_bytes(b"entropy"));
    assert_eq!(receipt.output, Sha256Digest::of_bytes(&invoked.stdout));
    let summary = stderr(&invoked);
    let expected = format!(
        "receipt {} · fuel {} · ops {} · backend cpu · node {}",
        signed.id().prefixed(),
        receipt.fuel,
        receipt.ops,
        receipt.node
    );
    assert!(summary.contains(&expected), "{summary}");
    // The node recorded the same receipt.
    let recorded = node.request("GET", &format!("/v1/receipts/{}", signed.id().prefixed()), &[], b"");
    assert_eq!(recorded.body, signed.to_json());
    // Another seed, another output: the seed reaches the guest through the CLI.
    let other = node.request("POST", "/v1/functions/probe/invoke?seed=4", &[], b"entropy");
    assert_ne!(checked_receipt(&other, b"entropy").receipt().output, receipt.output);

    // verify with the node's recorded input, fetching the function into the cache.
    let verified = run(&["--backend", "cpu", "verify", &receipt_file, "--from", &node.url]);
    assert_success(&verified);
    let line = stdout(&verified);
    assert!(line.starts_with(&format!("match {}", signed.id().prefixed())), "{line}");
    assert!(line.contains(&receipt.output.prefixed()) && line.contains("backend cpu"), "{line}");

    // Offline: a local input and the function from the cache, or from --registry into an
    // empty cache.
    let offline = run(&["--backend", "cpu", "verify", &receipt_file, "--input", &input]);
    assert_success(&offline);
    assert!(stdout(&offline).starts_with("match "), "{}", stdout(&offline));
    let fresh = dir.path().join("fresh-cache");
    let registry = wasmnn_with(
        &["--backend", "cpu", "verify", &receipt_file, "--input", &input, "--registry", &node.url],
        None,
        &[("WASMNN_VERIFY_DATA", &fresh)],
    );
    assert_success(&registry);
    assert!(stdout(&registry).starts_with("match "), "{}", stdout(&registry));

    // The receipt URL form: the node is the default --from.
    let url = format!("{}/v1/receipts/{}", node.url, signed.id().prefixed());
    let by_url = run(&["--backend", "cpu", "verify", &url]);
    assert_success(&by_url);
    assert!(stdout(&by_url).starts_with("match "), "{}", stdout(&by_url));

    // An altered receipt (its signature kept) fails the signature check.
    let json = String::from_utf8(signed.to_json()).unwrap();
    let wrong_output = Sha256Digest::of_bytes(b"another output");
    let altered = path("altered.json");
    std::fs::write(&altered, json.replace(&receipt.output.to_hex(), &wrong_output.to_hex())).unwrap();
    let refused = run(&["--backend", "cpu", "verify", &altered, "--from", &node.url]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("bad signature"), "{}", stderr(&refused));
    assert!(!stdout(&refused).contains("match"), "{}", stdout(&refused));

    // A receipt properly signed by another key, claiming another output: re-execution
    // tells the truth.
    let other_key = SecretKey::from_seed([9; 32]);
    let forged =
        Receipt { node: other_key.public(), output: wrong_output, ..receipt.clone() }.sign(&other_key).unwrap();
    let forged_file = path("forged.json");
    std::fs::write(&forged_file, forged.to_json()).unwrap();
    let mismatch = run(&["--backend", "cpu", "verify", &forged_file, "--input", &input, "--registry", &node.url]);
    assert_eq!(mismatch.status.code(), Some(1), "{}", stderr(&mismatch));
    let said = stdout(&mismatch);
    assert!(said.starts_with(&format!("MISMATCH {}", forged.id().prefixed())), "{said}");
    let expected = format!("output: receipt {}, local {}", wrong_output.prefixed(), receipt.output.prefixed());
    assert!(said.contains(&expected), "{said}");
    assert!(!said.contains("fuel:") && !said.contains("ops:"), "only the output differs: {said}");

    // The wrong input file fails the input check.
    let wrong_input = path("wrong-input");
    std::fs::write(&wrong_input, b"echo not the input").unwrap();
    let wrong = run(&["--backend", "cpu", "verify", &receipt_file, "--input", &wrong_input]);
    assert_eq!(wrong.status.code(), Some(1));
    let said = stderr(&wrong);
    assert!(said.contains("input digest mismatch"), "{said}");
    assert!(said.contains(&receipt.input.prefixed()), "{said}");
}
