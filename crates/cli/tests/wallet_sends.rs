//! End-to-end: online sends through the real `offpay` binary against a real `offpay serve`
//! (SQLite in a temporary folder). One send is one payment, even when many start at once from
//! one wallet home; a send whose answer is lost (cut for real by a proxy in front of the
//! server) stays pending and is paid once by `sync` or `retry KEY`; a script's own
//! `--idempotency-key` pays once and is refused for other terms; a refused send exits non-zero
//! and is not pending. Exit status: docs/WALLET.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod wallet_support;

use std::process::{Output, Stdio};

use serde_json::Value;
use wallet_support::{AnswerLosingProxy, Server, WalletHome, alice_and_bob};

fn transfers(wallet: &WalletHome) -> Vec<Value> {
    let history = wallet.json(&["history", "--limit", "200"]);
    history["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "transfer").cloned().collect()
}

fn pending(wallet: &WalletHome) -> Vec<Value> {
    wallet.json(&["pending"])["pending"].as_array().unwrap().clone()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// The one line on stderr of a failed command, and its exit status.
fn failure(out: &Output) -> (i32, String) {
    let stderr = text(&out.stderr);
    assert!(out.stdout.is_empty(), "a failure prints nothing on stdout: {}", text(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "one line on stderr expected, got {stderr:?}");
    (out.status.code().unwrap(), stderr.trim_end().to_string())
}

#[test]
fn thirty_sends_started_together_from_one_home_are_thirty_payments() {
    let server = Server::start();
    let (alice, bob) = alice_and_bob(&server, "100.00");

    let children: Vec<_> = (0..30)
        .map(|_| {
            alice.cmd().args(["send", "bob", "1.00"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a send failed: {}", text(&out.stderr));
        let said = text(&out.stdout);
        assert!(said.starts_with("Sent 1.00 INR to bob."), "{said}");
    }

    assert_eq!(bob.balance(), 3_000);
    assert_eq!(alice.balance(), 7_000);
    let paid = transfers(&alice);
    assert_eq!(paid.len(), 30, "{paid:?}");
    assert!(paid.iter().all(|t| t["delta"] == -100 && t["counterparty"] == "bob"));
    assert_eq!(transfers(&bob).len(), 30);
    assert!(pending(&alice).is_empty());
    server.admin(&["verify"]);
}

#[test]
fn a_send_whose_answer_is_lost_is_pending_and_paid_once_by_sync_or_retry() {
    let server = Server::start();
    let proxy = AnswerLosingProxy::start(&server);
    let alice = WalletHome::new("alice");
    let bob = WalletHome::new("bob");
    // Alice's wallet talks to the server through the proxy (remembered at registration).
    let out = alice
        .cmd()
        .args(["--server", &proxy.url, "register", "alice"])
        .env("OFFPAY_PASSWORD", wallet_support::PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    bob.register(&server);
    server.admin(&["deposit", "alice", "100.00"]);

    // The request reaches the server and is carried out; the answer never comes back.
    proxy.lose_answers(true);
    let out = alice.run(&["send", "bob", "25.00", "--memo", "rent"]);
    proxy.lose_answers(false);
    assert_eq!(proxy.answers_lost(), 1);
    let (code, line) = failure(&out);
    assert_eq!(code, 3, "{line}");
    assert_eq!(bob.balance(), 2_500, "the server did pay");

    let listed = pending(&alice);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let key = listed[0]["idempotency_key"].as_str().unwrap().to_string();
    assert_eq!((listed[0]["to"].as_str(), listed[0]["amount"].as_u64()), (Some("bob"), Some(2_500)));
    assert_eq!((listed[0]["memo"].as_str(), listed[0]["attempts"].as_u64()), (Some("rent"), Some(1)));
    assert!(line.contains("may or may not have gone through") && line.contains("pending"), "{line}");
    assert!(line.contains(&format!("offpay wallet retry {key}")) && line.contains("offpay wallet sync"), "{line}");
    let human = alice.ok(&["pending"]);
    assert!(
        human.contains(&key) && human.contains("25.00 INR to bob") && human.contains("offpay wallet retry KEY"),
        "{human}"
    );
    let out = alice.run(&["balance"]);
    let notes = text(&out.stderr);
    assert!(notes.contains("unconfirmed") && notes.contains(&format!("offpay wallet retry {key}")), "{notes}");

    // A sync whose every answer is lost: the payment is still pending (exit 3, in its --json),
    // though the offline half failed too. Before, that failure made it exit 1 ("refused") and
    // print nothing, and a script would have paid again.
    proxy.lose_answers(true);
    let out = alice.run(&["sync", "--json"]);
    proxy.lose_answers(false);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let said: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(said["sends"][0]["outcome"], "pending", "{said}");
    assert!(said["offline_error"].is_string(), "{said}");
    assert!(text(&out.stderr).contains("offline notes were not synced"), "{}", text(&out.stderr));

    // sync retries it with its key: the server replays the payment it already made.
    let out = alice.run(&["sync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "Pending payment {key}: 25.00 INR to bob was already paid earlier; it was not paid again."
        )),
        "{said}"
    );
    assert!(pending(&alice).is_empty());
    assert_eq!(bob.balance(), 2_500);
    assert_eq!(alice.balance(), 7_500);
    assert_eq!(transfers(&alice).len(), 1);

    // Lost again, this time finished with `retry KEY`, as a script would (JSON).
    proxy.lose_answers(true);
    let out = alice.run(&["send", "bob", "10.00", "--json"]);
    proxy.lose_answers(false);
    assert_eq!(failure(&out).0, 3);
    let key = pending(&alice)[0]["idempotency_key"].as_str().unwrap().to_string();
    let receipt = alice.json(&["retry", &key]);
    assert_eq!((receipt["replayed"].as_bool(), receipt["amount"].as_u64()), (Some(true), Some(1_000)));
    assert_eq!((receipt["idempotency_key"].as_str(), receipt["balance"].as_u64()), (Some(key.as_str()), Some(6_500)));
    let again = alice.ok(&["retry", &key]);
    assert_eq!(again.trim(), "Already paid 10.00 INR to bob earlier; it was not paid again. Balance: 65.00 INR");
    assert!(pending(&alice).is_empty());
    assert_eq!(bob.balance(), 3_500);
    assert_eq!(transfers(&alice).len(), 2);

    // A pending send whose first attempt never got through is paid by sync (once).
    // Written to the outbox, then the process "died" before the request left.
    let (written, _) = alice.write_pending_send("bob", 500);
    let out = alice.run(&["sync", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sends = report["sends"].as_array().unwrap();
    assert_eq!(sends.len(), 1, "{report}");
    assert_eq!(
        (sends[0]["idempotency_key"].as_str(), sends[0]["outcome"].as_str()),
        (Some(written.as_str()), Some("paid"))
    );
    assert_eq!(bob.balance(), 4_000);
    assert!(pending(&alice).is_empty());
    let out = alice.run(&["sync", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sends"], serde_json::json!([]), "nothing is retried twice");
    assert_eq!(bob.balance(), 4_000);
    server.admin(&["verify"]);
}

#[test]
fn a_script_s_own_key_pays_once_and_is_refused_for_other_terms() {
    let server = Server::start();
    let (alice, bob) = alice_and_bob(&server, "100.00");

    let first = alice.ok(&["send", "bob", "5.00", "--memo", "invoice 42", "--idempotency-key", "invoice-0042"]);
    assert_eq!(first.trim(), "Sent 5.00 INR to bob. Balance: 95.00 INR");
    let out = alice.run(&["send", "bob", "5.00", "--memo", "invoice 42", "--idempotency-key", "invoice-0042"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "Already paid 5.00 INR to bob earlier; it was not paid again. Balance: 95.00 INR"
    );
    let json = alice.json(&["send", "bob", "5.00", "--memo", "invoice 42", "--idempotency-key", "invoice-0042"]);
    assert_eq!((json["replayed"].as_bool(), json["idempotency_key"].as_str()), (Some(true), Some("invoice-0042")));
    assert_eq!(bob.balance(), 500);

    // The same key for another amount (or memo) is refused here; nothing is sent.
    for other in [&["send", "bob", "6.00", "--memo", "invoice 42"][..], &["send", "bob", "5.00"][..]] {
        let mut args = other.to_vec();
        args.extend(["--idempotency-key", "invoice-0042"]);
        let (code, line) = failure(&alice.run(&args));
        assert_eq!(code, 1, "{line}");
        assert!(line.contains("invoice-0042 was already used on this device for another payment"), "{line}");
        assert!(line.contains("5.00 INR to bob") && line.contains("nothing was sent"), "{line}");
    }
    let (code, line) = failure(&alice.run(&["send", "bob", "5.00", "--idempotency-key", "short"]));
    assert_eq!(code, 1);
    assert!(line.contains("invalid idempotency key"), "{line}");
    assert_eq!(bob.balance(), 500);
    assert_eq!(alice.balance(), 9_500);
    assert_eq!(transfers(&alice).len(), 1);
    assert!(pending(&alice).is_empty());
    server.admin(&["verify"]);
}

#[test]
fn a_refused_send_exits_non_zero_and_is_not_pending() {
    let mut server = Server::start();
    let alice = WalletHome::new("alice");
    let bob = WalletHome::new("bob");
    alice.register(&server);
    bob.register(&server);
    server.admin(&["deposit", "alice", "10.00"]);

    let (code, line) = failure(&alice.run(&["send", "carol", "1.00"]));
    assert_eq!(code, 1, "{line}");
    assert!(line.starts_with("error: the payment was refused and nothing was paid: "), "{line}");
    assert!(line.ends_with("(unknown_user)"), "{line}");
    let (code, line) = failure(&alice.run(&["send", "bob", "10.01"]));
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("balance is too low") && line.ends_with("(insufficient_funds)"), "{line}");
    assert!(pending(&alice).is_empty());
    let (code, line) = failure(&alice.run(&["retry", "0123456789abcdef"]));
    assert_eq!(code, 1);
    assert!(line.contains("no payment with key 0123456789abcdef"), "{line}");

    // With no server at all the send certainly did not leave: refused, not pending.
    server.stop();
    let (code, line) = failure(&alice.run(&["send", "bob", "1.00"]));
    assert_eq!(code, 1, "{line}");
    assert!(line.starts_with("error: cannot reach the server at ") && line.ends_with("nothing was paid"), "{line}");
    assert!(pending(&alice).is_empty());
    let human = alice.ok(&["pending"]);
    assert_eq!(human.trim(), "No payments are waiting for an answer from the server.");
}
