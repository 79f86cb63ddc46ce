//! Spot-checking between two real CPU nodes: node B walks node A's receipts
//! (`--spot-check`, every receipt drawn), pulls A's function by digest, matches A's honest
//! call, and disputes the call A made while perturbing one op (fault injection, the test
//! build), naming that op in a verdict B keeps and `wasmnn dispute check` accepts. The
//! receipt listing, posted checks and `/metrics` are checked along the way.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmnn_runtime::receipt::SignedReceipt;

use crate::invoke::{checked_receipt, publish_example};
use crate::node::Node;
use crate::support::{assert_success, fixture, wasmnn};

/// Calls orientation on `node`; the checked receipt.
fn call(node: &Node, input: &[u8]) -> SignedReceipt {
    checked_receipt(&node.request("POST", "/v1/functions/orientation/invoke", &[], input), input)
}

/// B's spot-check results for `receipt`, once at least `count` are in (60 s at most).
fn results_for(checker: &Node, receipt: &SignedReceipt, count: usize) -> Vec<Value> {
    let id = receipt.id().prefixed();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report = checker.request("GET", "/v1/spot-checks", &[], b"").json();
        let results: Vec<Value> =
            report["recent"].as_array().unwrap().iter().filter(|r| r["receipt"] == id.as_str()).cloned().collect();
        if results.len() >= count {
            return results;
        }
        assert!(Instant::now() < deadline, "no spot-check of {id} in 60 s: {report:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_spot_checker_matches_honest_calls_and_disputes_a_faulty_one() {
    let dir = tempfile::tempdir().unwrap();
    let checked = Node::start(&dir.path().join("a"), &["--backend", "cpu"]);
    publish_example(&checked, "orientation", &dir.path().join("publisher.key"));
    let every = ["--spot-check-fraction", "1", "--spot-check-every-ms", "200"];
    let checker =
        Node::start(&dir.path().join("b"), &[&["--backend", "cpu", "--spot-check", &checked.url], &every[..]].concat());
    let image = std::fs::read(fixture("orientation/image_1.png")).unwrap();

    // An honest call: matched, after B pulled the function by its digest.
    let honest = call(&checked, &image);
    let results = results_for(&checker, &honest, 1);
    assert_eq!(results[0]["result"], "match", "{results:#?}");
    assert_eq!(results[0]["peer"], checked.url.as_str());
    let functions = checker.request("GET", "/v1/functions", &[], b"").json();
    assert!(functions.to_string().contains("orientation"), "B did not replicate the function: {functions}");

    // A perturbs the last op (the leaf before the end leaf): B's re-execution differs, and
    // the dispute names that op.
    let commit = json!({"receipt": serde_json::from_slice::<Value>(&honest.to_json()).unwrap()});
    let committed =
        checked.request("POST", "/v1/traces", &[("content-type", "application/json")], commit.to_string().as_bytes());
    assert_eq!(committed.status, 200, "{}", String::from_utf8_lossy(&committed.body));
    let leaves = committed.json()["commitment"]["commitment"]["leaves"].as_u64().unwrap();
    let last_op = leaves - 2;
    let fault = json!({"op": {"leaf": last_op}}).to_string();
    let set = checked.request("PUT", "/v1/debug/fault", &[("content-type", "application/json")], fault.as_bytes());
    assert_eq!(set.status, 200, "{}", String::from_utf8_lossy(&set.body));
    let faulty = call(&checked, &image);
    assert_ne!(faulty.id(), honest.id());
    let results = results_for(&checker, &faulty, 1);
    let result = &results[0];
    assert_eq!(result["result"], "mismatch", "{result:#}");
    assert!(result["detail"].as_str().unwrap().contains("output"), "{result:#}");
    let dispute = &result["dispute"];
    assert_eq!(dispute["winner"], "challenger", "{result:#}");
    assert_eq!(dispute["reason"], "op_recomputed", "{result:#}");
    assert_eq!(dispute["leaf"].as_u64(), Some(last_op), "{result:#}");

    // The verdict is served and checks.
    let verdict_id = dispute["verdict"].as_str().unwrap();
    let verdict = checker.request("GET", &format!("/v1/verdicts/{verdict_id}"), &[], b"");
    assert_eq!(verdict.status, 200);
    let file = dir.path().join("verdict.json");
    std::fs::write(&file, &verdict.body).unwrap();
    let check = wasmnn(&["dispute", "check", file.to_str().unwrap()]);
    assert_success(&check);
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("verdict ok"));
    let unknown = checker.request("GET", &format!("/v1/verdicts/sha256:{}", "0".repeat(64)), &[], b"");
    assert_eq!((unknown.status, unknown.error_code()), (404, "unknown_verdict".to_owned()));

    // A client-posted check runs whatever the draw, here again the honest receipt.
    set_no_fault(&checked);
    let post = json!({"receipt": serde_json::from_slice::<Value>(&honest.to_json()).unwrap(), "from": checked.url});
    let posted = checker.request(
        "POST",
        "/v1/spot-checks",
        &[("content-type", "application/json")],
        post.to_string().as_bytes(),
    );
    assert_eq!(posted.status, 202, "{}", String::from_utf8_lossy(&posted.body));
    assert_eq!(posted.json()["queued"], honest.id().prefixed().as_str());
    let results = results_for(&checker, &honest, 2);
    assert!(results.iter().all(|r| r["result"] == "match"), "{results:#?}");
    let mut forged = serde_json::from_slice::<Value>(&honest.to_json()).unwrap();
    forged["receipt"]["fuel"] = json!(1);
    let bad = json!({"receipt": forged, "from": checked.url}).to_string();
    let refused = checker.request("POST", "/v1/spot-checks", &[], bad.as_bytes());
    assert_eq!((refused.status, refused.error_code()), (400, "invalid_receipt".to_owned()));
    let elsewhere =
        json!({"receipt": serde_json::from_slice::<Value>(&honest.to_json()).unwrap(), "from": checker.url});
    let refused = checker.request("POST", "/v1/spot-checks", &[], elsewhere.to_string().as_bytes());
    assert_eq!((refused.status, refused.error_code()), (403, "unknown_peer".to_owned()));

    // The counts, per peer and in /metrics.
    let report = checker.request("GET", "/v1/spot-checks", &[], b"").json();
    let peer = &report["peers"][0];
    assert_eq!(peer["peer"], checked.url.as_str());
    assert_eq!((peer["seen"].as_u64(), peer["sampled"].as_u64()), (Some(2), Some(2)), "{report:#}");
    assert_eq!((peer["matched"].as_u64(), peer["mismatched"].as_u64()), (Some(2), Some(1)), "{report:#}");
    let metrics = String::from_utf8(checker.request("GET", "/metrics", &[], b"").body).unwrap();
    for line in [
        format!("wasmnn_spot_checks_total{{peer=\"{}\",result=\"match\"}} 2", checked.url),
        format!("wasmnn_spot_checks_total{{peer=\"{}\",result=\"mismatch\"}} 1", checked.url),
        "wasmnn_disputes_total{winner=\"challenger\",reason=\"op_recomputed\"} 1".to_owned(),
    ] {
        assert!(metrics.contains(&line), "/metrics lacks {line:?}:\n{metrics}");
    }
    let traced = String::from_utf8(checked.request("GET", "/metrics", &[], b"").body).unwrap();
    assert!(traced.contains("wasmnn_trace_runs_total{purpose=\"commit\"}"), "{traced}");
}

fn set_no_fault(node: &Node) {
    let set = node.request("PUT", "/v1/debug/fault", &[("content-type", "application/json")], b"null");
    assert_eq!(set.status, 200, "{}", String::from_utf8_lossy(&set.body));
}

#[test]
fn receipts_are_listed_in_recording_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"), &["--backend", "cpu"]);
    publish_example(&node, "echo", &dir.path().join("publisher.key"));
    let mut ids = Vec::new();
    for n in 0..5 {
        let input = format!("call {n}");
        let response = node.request("POST", "/v1/functions/echo/invoke", &[], input.as_bytes());
        ids.push(checked_receipt(&response, input.as_bytes()).id().prefixed());
    }
    let all = node.request("GET", "/v1/receipts", &[], b"").json();
    let listed: Vec<&str> = all["receipts"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "{all:#}");
    for item in all["receipts"].as_array().unwrap() {
        let receipt = SignedReceipt::from_json(item["receipt"].to_string().as_bytes()).unwrap();
        assert_eq!(receipt.id().prefixed(), item["id"].as_str().unwrap());
    }
    // Pages of two walk the same list.
    let mut paged = Vec::new();
    let mut after = String::from("0");
    loop {
        let page = node.request("GET", &format!("/v1/receipts?after={after}&limit=2"), &[], b"").json();
        let items = page["receipts"].as_array().unwrap();
        if items.is_empty() {
            assert_eq!(page["next"], after.as_str());
            break;
        }
        paged.extend(items.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        after = page["next"].as_str().unwrap().to_owned();
    }
    assert_eq!(paged, listed);
    for bad in ["after=x", "after=1-zz", "limit=0", "limit=501", "other=1"] {
        let refused = node.request("GET", &format!("/v1/receipts?{bad}"), &[], b"");
        assert_eq!((refused.status, refused.error_code()), (400, "invalid_query".to_owned()), "{bad}");
    }
}
