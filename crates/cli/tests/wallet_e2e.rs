//! End-to-end: the terminal wallet through the real `offpay` binary against a real `offpay serve`
//! (SQLite data in a temporary folder): what a new user tries first, what must be refused, and
//! a retried send that must not pay twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod wallet_support;

use serde_json::Value;
use wallet_support::{PASSWORD, Server, WalletHome, Watcher, alice_and_bob};

fn history_items(wallet: &WalletHome) -> Vec<Value> {
    wallet.json(&["history"])["items"].as_array().unwrap().clone()
}

#[test]
fn a_new_user_registers_gets_money_sends_and_sees_it_everywhere() {
    let mut server = Server::start();
    let alice = WalletHome::new("alice");
    let bob = WalletHome::new("bob");

    let welcome = alice.register(&server);
    assert!(welcome.starts_with("Welcome, alice!"), "{welcome}");
    bob.register(&server);
    assert_eq!(alice.balance(), 0);

    server.admin(&["deposit", "alice", "1000.00"]);
    assert_eq!(alice.balance(), 100_000);
    assert_eq!(alice.ok(&["balance"]).trim(), "Balance: 1000.00 INR");

    // Bob follows his account live while Alice pays him.
    let watcher = Watcher::start(&bob);
    let sent = alice.ok(&["send", "bob", "250.00", "--memo", "lunch"]);
    assert_eq!(sent.trim(), "Sent 250.00 INR to bob. Balance: 750.00 INR");

    let event = watcher.next_event();
    assert_eq!(event["kind"], "money_in", "{event}");
    assert_eq!(event["payload"]["amount"], 25_000, "{event}");
    assert_eq!(event["payload"]["from"], "alice", "{event}");
    assert_eq!(event["payload"]["balance"], 25_000, "{event}");
    let first_seq = event["seq"].as_u64().unwrap();
    drop(watcher);

    assert_eq!(alice.balance(), 75_000);
    assert_eq!(bob.balance(), 25_000);

    // A payment while Bob is not watching is delivered when he watches again (resume by seq).
    let receipt = alice.json(&["send", "bob", "10.00"]);
    assert_eq!(receipt["to"], "bob");
    assert_eq!(receipt["amount"], 1_000);
    assert_eq!(receipt["balance"], 74_000);
    assert_eq!(receipt["replayed"], false);
    assert!(receipt["entry_id"].as_i64().unwrap() > 0);
    let watcher = Watcher::start(&bob);
    let missed = watcher.next_event();
    assert_eq!(missed["kind"], "money_in", "{missed}");
    assert_eq!(missed["payload"]["amount"], 1_000, "{missed}");
    assert!(missed["seq"].as_u64().unwrap() > first_seq);
    drop(watcher);

    // History on both sides.
    let alice_items = history_items(&alice);
    let paid = alice_items.iter().find(|i| i["delta"] == -25_000).expect("alice's history has the payment");
    assert_eq!(paid["counterparty"], "bob");
    assert_eq!(paid["memo"], "lunch");
    assert!(alice_items.iter().any(|i| i["kind"] == "deposit" && i["delta"] == 100_000));
    let bob_items = history_items(&bob);
    let got = bob_items.iter().find(|i| i["delta"] == 25_000).expect("bob's history has the payment");
    assert_eq!(got["counterparty"], "alice");
    assert_eq!(bob_items.len(), 2);
    let limited = alice.json(&["history", "--limit", "1"]);
    assert_eq!(limited["items"].as_array().unwrap().len(), 1);
    let human = bob.ok(&["history"]);
    assert!(
        human.lines().any(|l| l.contains("+250.00 INR") && l.contains("from alice") && l.contains("lunch")),
        "{human}"
    );

    server.admin(&["verify"]);

    // With the server gone, the balance is still there, with a warning.
    server.stop();
    let out = alice.cmd().args(["balance", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value, serde_json::json!({"balance": 74_000, "offline": 0, "currency": "INR"}));
    let note = String::from_utf8(out.stderr).unwrap();
    assert!(note.contains("may be out of date"), "{note}");
    // But a send cannot pretend to work.
    let refusal = alice.refused(&["send", "bob", "1.00"]);
    assert!(refusal.line.starts_with("error: cannot reach the server at http://127.0.0.1:"), "{}", refusal.line);
}

#[test]
fn refusals_are_one_clear_line_and_move_no_money() {
    let server = Server::start();
    let (alice, bob) = alice_and_bob(&server, "100.00");

    let unchanged = || {
        assert_eq!(alice.balance(), 10_000);
        assert_eq!(bob.balance(), 0);
    };

    let too_much = alice.refused(&["send", "bob", "100.01"]);
    assert!(too_much.line.contains("balance is too low"), "{}", too_much.line);
    unchanged();
    let nobody = alice.refused(&["send", "carol", "1.00"]);
    assert!(nobody.line.contains("no user"), "{}", nobody.line);
    unchanged();
    let myself = alice.refused(&["send", "alice", "1.00"]);
    assert!(myself.line.contains("yourself"), "{}", myself.line);
    unchanged();
    assert_eq!(alice.refused(&["send", "bob", "0"]).line, "error: the amount must be greater than zero");
    assert_eq!(alice.refused(&["send", "bob", "-5"]).line, "error: the amount cannot be negative");
    assert_eq!(alice.refused(&["send", "bob", "abc"]).line, "error: the amount must be a number like 12.50");
    assert_eq!(alice.refused(&["send", "bob", "1.234"]).line, "error: the amount has more than 2 decimal places");
    assert!(alice.refused(&["send", "b!", "1.00"]).line.contains("username"));
    unchanged();
    // Nothing was half-done: no transfer in either history.
    assert!(history_items(&bob).is_empty());
    assert_eq!(history_items(&alice).len(), 1, "only the deposit");

    // A wrong password is refused and leaves the existing session alone.
    let wrong = alice.login(&server, "not the password");
    assert!(!wrong.status.success());
    let stderr = String::from_utf8(wrong.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("wrong username or password"), "{stderr}");
    assert!(String::from_utf8(wrong.stdout).unwrap().is_empty());
    unchanged();
    // The wallet sent the device token that registering gave it: the failure counted against
    // this device's token, not against the account's budget for strangers.
    let events = server.admin(&["security-events"]);
    assert!(
        events
            .lines()
            .any(|l| l.contains("login_failed") && l.contains("handle=alice") && l.contains("device=trusted")),
        "{events}"
    );
    let again = alice.login(&server, PASSWORD);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8(again.stdout).unwrap().starts_with("Logged in as alice"));

    // Registering a taken name is refused.
    let thief = WalletHome::new("alice");
    let taken =
        thief.refused_with(&["--server", &server.url, "register", "alice"], &[("OFFPAY_PASSWORD", "another password")]);
    assert!(taken.line.contains("already taken"), "{}", taken.line);
    assert!(thief.refused(&["balance"]).line.contains("not logged in"), "a refused registration saves no session");

    // After logout the wallet asks for a login, and the old token is dead on the server.
    let token_before: String = {
        let store = offpay_wallet::Store::open(alice.home()).unwrap();
        store.settings().unwrap().token.unwrap()
    };
    assert_eq!(alice.ok(&["logout"]).trim(), "Logged out alice.");
    assert!(alice.refused(&["balance"]).line.contains("not logged in"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = offpay_wallet::Client::new(offpay_wallet::ServerUrl::parse(&server.url).unwrap()).unwrap();
    let err = runtime.block_on(client.me(&token_before)).unwrap_err();
    assert_eq!(err.code(), Some("unauthorized"));
    server.admin(&["verify"]);
}

#[test]
fn a_send_retried_after_a_lost_answer_pays_once() {
    let server = Server::start();
    let (alice, bob) = alice_and_bob(&server, "100.00");

    // Simulate a first attempt whose request reached the server but whose answer was lost: the
    // outbox entry is written as `send` writes it, the request goes out with its key, and the
    // outbox is left pending (as after a crash). (A real lost answer, through a proxy that
    // cuts it: wallet_sends.rs.)
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let key = {
        let (key, token) = alice.write_pending_send("bob", 2_500);
        let client = offpay_wallet::Client::new(offpay_wallet::ServerUrl::parse(&server.url).unwrap()).unwrap();
        let request = offpay_wallet::wire::TransferRequest {
            to: "bob".into(),
            amount: 2_500,
            memo: None,
            to_account: None,
            card: None,
        };
        let answer = runtime.block_on(client.transfer(&token, &key, &request)).unwrap();
        assert!(!answer.transfer.replayed);
        key
    };
    assert_eq!(bob.balance(), 2_500);

    // The wallet tells the user that a payment is unconfirmed and how to finish it.
    let out = alice.cmd().arg("balance").output().unwrap();
    assert!(out.status.success());
    let notes = String::from_utf8(out.stderr).unwrap();
    assert!(notes.contains("unconfirmed") && notes.contains(&format!("run: offpay wallet retry {key}")), "{notes}");

    // The user retries it: the wallet reuses the key and the server replays.
    let retry = alice.json(&["retry", &key]);
    assert_eq!(retry["replayed"], true, "{retry}");
    assert_eq!(retry["balance"], 7_500);
    assert_eq!(alice.balance(), 7_500);
    assert_eq!(bob.balance(), 2_500);
    let store = offpay_wallet::Store::open(alice.home()).unwrap();
    let entry = store.outbox_entry(&key).unwrap().unwrap();
    assert_eq!(entry.state, offpay_wallet::store::OutboxState::Done);
    assert_eq!(entry.attempts, 2);
    drop(store);
    let out = alice.cmd().arg("balance").output().unwrap();
    assert!(String::from_utf8(out.stderr).unwrap().is_empty(), "nothing is unconfirmed any more");

    // A later, deliberate payment of the same amount is a new payment.
    let again = alice.ok(&["send", "bob", "25.00"]);
    assert_eq!(again.trim(), "Sent 25.00 INR to bob. Balance: 50.00 INR");
    assert_eq!(bob.balance(), 5_000);
    server.admin(&["verify"]);
}

#[test]
fn watch_reconnects_after_the_server_restarts_and_misses_nothing() {
    let mut server = Server::start();
    let alice = WalletHome::new("alice");
    let bob = WalletHome::new("bob");
    alice.register(&server);
    bob.register(&server);
    server.admin(&["deposit", "alice", "50.00"]);

    let watcher = Watcher::start(&bob);
    alice.ok(&["send", "bob", "1.00"]);
    assert_eq!(watcher.next_event()["payload"]["amount"], 100);

    server.restart();
    wallet_support::wait_for_line(&watcher.stderr, "watch to notice the restart", |l| l.starts_with("disconnected"));
    // Paid while the watcher may still be waiting to reconnect: it resumes after the last
    // event it saw, so this one arrives either way.
    alice.ok(&["send", "bob", "2.00"]);
    let event = watcher.next_event();
    assert_eq!(event["kind"], "money_in", "{event}");
    assert_eq!(event["payload"]["amount"], 200, "{event}");
    assert_eq!(event["payload"]["balance"], 300, "{event}");
}

/// A lost or stolen device is cut off from the terminal: `password` (current password checked)
/// ends every other session and keeps this one; `logout --everywhere` ends them all.
#[test]
fn a_password_change_and_logout_everywhere_end_the_other_devices_sessions() {
    let server = Server::start();
    let laptop = WalletHome::new("meera");
    let stolen = WalletHome::new("meera");
    laptop.register(&server);
    assert!(stolen.login(&server, PASSWORD).status.success());
    assert_eq!(stolen.balance(), 0);

    // A wrong current password changes nothing.
    let wrong = laptop.refused_with(
        &["password"],
        &[("OFFPAY_PASSWORD", "not the password"), ("OFFPAY_NEW_PASSWORD", "a new password 1")],
    );
    assert!(wrong.line.contains("current password is wrong"), "{}", wrong.line);
    assert_eq!(stolen.balance(), 0, "the other session still works");

    let mut cmd = laptop.cmd();
    let out = cmd
        .arg("password")
        .env("OFFPAY_PASSWORD", PASSWORD)
        .env("OFFPAY_NEW_PASSWORD", "a new password 1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Every other session of the account has ended"));
    assert_eq!(laptop.balance(), 0, "this device stays logged in");
    let ended = stolen.refused(&["history"]);
    assert!(ended.line.contains("log in"), "{}", ended.line);
    assert!(!stolen.login(&server, PASSWORD).status.success(), "the old password no longer works");

    // The new password logs the other device in again; logout --everywhere ends both sessions.
    assert!(stolen.login(&server, "a new password 1").status.success());
    let out = laptop.ok(&["logout", "--everywhere"]);
    assert!(out.contains("Logged out meera everywhere"), "{out}");
    assert!(stolen.refused(&["history"]).line.contains("log in"));
    assert!(laptop.refused(&["history"]).line.contains("not logged in"));
}
