//! Steps and checks shared by the offline end-to-end tests (`offline_e2e`, `offline_lifecycle`):
//! wallets driven through the real `offpay` binary request, pay, accept and sync; a wallet home
//! copied as a thief would copy it; and the books checked from `admin verify`, the wallets'
//! balances and `admin purses`. Used beside `wallet_support` (`mod wallet_support;
//! mod offline_support;` in the test file).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::Value;

use crate::wallet_support::{Server, WalletHome};

/// The one line of stdout of `request` / `pay`, checked to start with `prefix`.
pub fn text_line(stdout: &str, prefix: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must hold the text alone: {stdout:?}");
    assert!(lines[0].starts_with(prefix), "{stdout:?}");
    lines[0].to_string()
}

/// `request AMOUNT`: the payee's request text.
pub fn request(payee: &WalletHome, amount: &str) -> String {
    text_line(&payee.ok(&["request", amount]), "OPR1:")
}

/// `pay REQUEST --yes`: the payer's note text.
pub fn pay(payer: &WalletHome, request: &str) -> String {
    text_line(&payer.ok(&["pay", request, "--yes"]), "OPN1:")
}

/// `accept NOTE` succeeds and says it accepted `amount` (major units).
pub fn accept(payee: &WalletHome, note: &str, amount: &str) {
    let out = payee.ok(&["accept", note]);
    assert!(out.starts_with(&format!("Accepted {amount} INR from account ")), "{out}");
}

/// `accept` must fail with one line on stderr naming the reason; `accept --json` must say the
/// same reason. Returns the reason code.
pub fn refused_reason(payee: &WalletHome, note: &str) -> String {
    let refusal = payee.refused(&["accept", note]);
    let reason = refusal
        .line
        .strip_prefix("error: note refused (")
        .and_then(|rest| rest.split_once(')'))
        .map(|(code, _)| code.to_string())
        .unwrap_or_else(|| panic!("not a note refusal: {:?}", refusal.line));
    let out = payee.run(&["accept", note, "--json"]);
    assert!(!out.status.success(), "the note should have been refused");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["accepted"], false, "{json}");
    assert_eq!(json["reason"].as_str(), Some(reason.as_str()), "{json}");
    reason
}

/// `balance --json`: (balance, offline), minor units.
pub fn balances(wallet: &WalletHome) -> (u64, u64) {
    let value = wallet.json(&["balance"]);
    assert_eq!(value["currency"], "INR");
    (value["balance"].as_u64().unwrap(), value["offline"].as_u64().unwrap())
}

/// `sync --json`.
pub fn sync(wallet: &WalletHome) -> Value {
    wallet.json(&["sync"])
}

/// Copies a wallet home (files and folders) as `cp -r` would: a cloned device.
pub fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_home(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `admin verify` passes, and everything the users hold (wallet balances), the reserves of
/// every purse and the operator's fraud-loss account add up to what was deposited.
pub fn assert_books_balance(server: &Server, wallets: &[&WalletHome], deposited: u64) {
    let human = server.admin(&["verify"]);
    assert!(human.contains("No problems"), "{human}");
    let report: Value = serde_json::from_str(&server.admin(&["verify", "--json"])).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(report["money_in_system"], deposited, "{report}");

    let held_by_users: u64 = wallets.iter().map(|w| balances(w).0).sum();
    let purses: Value = serde_json::from_str(&server.admin(&["purses", "--json"])).unwrap();
    let purses = purses["purses"].as_array().unwrap();
    let reserves: u64 = purses.iter().map(|p| p["held"].as_u64().unwrap()).sum();
    let fraud_loss: u64 = purses.iter().map(|p| p["fraud_loss"].as_u64().unwrap()).sum();
    for p in purses {
        // Every purse's reserve is its amount minus what it paid (from the reserve: `settled`)
        // and returned (what verify checks too).
        let amount = p["amount"].as_u64().unwrap();
        let out = p["settled"].as_u64().unwrap() + p["returned"].as_u64().unwrap();
        assert_eq!(p["held"].as_u64().unwrap(), amount - out, "{p}");
    }
    // The fraud-loss account is the operator's: it went negative by what it paid.
    assert_eq!(
        held_by_users + reserves,
        deposited + fraud_loss,
        "users {held_by_users} + reserves {reserves} − fraud loss {fraud_loss} ≠ deposited {deposited}"
    );
}
