//! What `offpay wallet` prints: sentences for people, and one JSON object (amounts as integers
//! in minor units) for scripts. Pure functions from the wallet's views to text, so that every
//! wording is unit-tested. The offline commands' wording is in `output/offline.rs`.

use offpay_protocol::{Amount, Currency};
use offpay_wallet::store::OutboxEntry;
use offpay_wallet::wire::HistoryItem;
use offpay_wallet::{
    AccountView, BalanceView, Freshness, LogoutOutcome, RetriedSend, SendReceipt, WalletError, WatchStatus,
};
use serde_json::{Value, json};

use crate::time::utc_minute;

pub mod offline;
pub mod shop;

/// "750.00 INR".
pub fn money(currency: &Currency, amount: Amount) -> String {
    format!("{} {}", currency.format(amount), currency.code())
}

/// "+250.00 INR" / "-250.00 INR".
pub fn signed_money(currency: &Currency, delta: i64) -> String {
    let sign = if delta > 0 { "+" } else { "" };
    format!("{sign}{} {}", currency.format_signed(delta), currency.code())
}

pub fn registered(view: &AccountView) -> String {
    let balance = view.balance.map(|b| format!(" Balance: {}.", money(&view.currency, b))).unwrap_or_default();
    format!("Welcome, {}! Your account is ready on {}.{balance}", view.handle, view.server)
}

pub fn logged_in(view: &AccountView) -> String {
    let balance = view.balance.map(|b| format!(" Balance: {}.", money(&view.currency, b))).unwrap_or_default();
    format!("Logged in as {} on {}.{balance}", view.handle, view.server)
}

pub fn balance_human(view: &BalanceView) -> String {
    let mut text = format!("Balance: {}", money(&view.currency, view.balance));
    if !view.offline.is_zero() {
        text.push_str(&format!("\nOffline purse: {}", money(&view.currency, view.offline)));
    }
    text
}

pub fn balance_json(view: &BalanceView) -> Value {
    json!({
        "balance": view.balance.minor(),
        "offline": view.offline.minor(),
        "currency": view.currency.code(),
    })
}

/// Notes for stderr that come with a balance (stale value, frozen account).
pub fn balance_notes(view: &BalanceView) -> Vec<String> {
    let mut notes = Vec::new();
    if let Freshness::Stale { as_of_ms, reason } = &view.freshness {
        notes.push(format!(
            "note: {reason}; showing the last balance this device knows, from {} (it may be out of date)",
            utc_minute(*as_of_ms)
        ));
    }
    if view.frozen {
        notes.push("note: this account is frozen; payments are blocked until the operator lifts it".to_string());
    }
    for send in &view.unconfirmed_sends {
        notes.push(unconfirmed_note(&view.currency, send));
    }
    notes
}

/// "note: a payment of 25.00 INR to bob is unconfirmed; ..." with the command that finishes it.
fn unconfirmed_note(currency: &Currency, send: &OutboxEntry) -> String {
    format!(
        "note: a payment of {} to {} is unconfirmed (no answer from the server yet); \
         to finish it without paying twice, run: offpay wallet retry {} (or offpay wallet sync)",
        money(currency, send.amount),
        sanitize(&send.to),
        sanitize(&send.idempotency_key),
    )
}

pub fn sent_human(receipt: &SendReceipt) -> String {
    let amount = money(&receipt.currency, receipt.amount);
    let balance = receipt.balance.map(|b| format!(" Balance: {}", money(&receipt.currency, b))).unwrap_or_default();
    if receipt.replayed {
        format!("Already paid {amount} to {} earlier; it was not paid again.{balance}", receipt.to)
    } else {
        format!("Sent {amount} to {}.{balance}", receipt.to)
    }
}

pub fn sent_json(receipt: &SendReceipt) -> Value {
    json!({
        "entry_id": receipt.entry_id,
        "to": receipt.to.as_str(),
        "amount": receipt.amount.minor(),
        "balance": receipt.balance.map(Amount::minor),
        "replayed": receipt.replayed,
        "idempotency_key": receipt.idempotency_key,
    })
}

/// What `pending` prints: one line per payment waiting for an answer, and how to finish them.
pub fn pending_human(currency: &Currency, sends: &[OutboxEntry]) -> String {
    if sends.is_empty() {
        return "No payments are waiting for an answer from the server.".to_string();
    }
    let mut lines = vec![format!(
        "{} waiting for an answer from the server (it may or may not have gone through):",
        if sends.len() == 1 { "1 payment is".to_string() } else { format!("{} payments are", sends.len()) }
    )];
    for send in sends {
        let memo = send.memo.as_deref().map(|m| format!("  {:?}", sanitize(m))).unwrap_or_default();
        let attempts = if send.attempts == 1 { "1 attempt".to_string() } else { format!("{} attempts", send.attempts) };
        lines.push(format!(
            "  {}  {} to {}{memo}  ({attempts}, first tried {})",
            sanitize(&send.idempotency_key),
            money(currency, send.amount),
            sanitize(&send.to),
            utc_minute(send.created_at_ms)
        ));
    }
    lines.push(
        "To finish one, run `offpay wallet retry KEY`; to finish them all, run `offpay wallet sync`. \
         A retry never pays twice: if the payment went through, the server says so and nothing more is paid."
            .to_string(),
    );
    lines.join("\n")
}

pub fn pending_json(sends: &[OutboxEntry]) -> Value {
    let list: Vec<Value> = sends
        .iter()
        .map(|s| {
            json!({
                "idempotency_key": s.idempotency_key,
                "to": s.to,
                "amount": s.amount.minor(),
                "memo": s.memo,
                "attempts": s.attempts,
                "created_at_ms": s.created_at_ms,
                "updated_at_ms": s.updated_at_ms,
                "account": s.account,
                "server": s.server,
            })
        })
        .collect();
    json!({ "pending": list })
}

/// What `sync` prints for one pending payment it retried.
pub fn retried_human(currency: &Currency, retried: &RetriedSend) -> String {
    let entry = &retried.entry;
    let what = format!("{} to {}", money(currency, entry.amount), sanitize(&entry.to));
    let key = sanitize(&entry.idempotency_key);
    match &retried.outcome {
        Ok(r) if r.replayed => {
            format!("Pending payment {key}: {what} was already paid earlier; it was not paid again.")
        }
        Ok(_) => format!("Pending payment {key}: sent {what} now."),
        Err(WalletError::SendRefused { code, message, .. }) => {
            format!("Pending payment {key}: {what} was refused and nothing was paid: {} ({code}).", sanitize(message))
        }
        Err(WalletError::SendUncertain { reason, .. }) => format!(
            "Pending payment {key}: {what} is still waiting for an answer ({}); run `offpay wallet sync` again later.",
            sanitize(reason)
        ),
        Err(e) => format!("Pending payment {key}: {what} could not be retried: {}.", sanitize(&e.to_string())),
    }
}

/// One retried payment in `sync --json`: `outcome` is `paid`, `already_paid`, `refused` (with
/// `code`), `pending` or `error` (with `message`).
pub fn retried_json(retried: &RetriedSend) -> Value {
    let entry = &retried.entry;
    let (outcome, entry_id, code, message) = match &retried.outcome {
        Ok(r) => (if r.replayed { "already_paid" } else { "paid" }, Some(r.entry_id), None, None),
        Err(WalletError::SendRefused { code, message, .. }) => {
            ("refused", None, Some(code.clone()), Some(message.clone()))
        }
        Err(e @ WalletError::SendUncertain { .. }) => ("pending", None, None, Some(e.to_string())),
        Err(e) => ("error", None, e.api_code().map(str::to_string), Some(e.to_string())),
    };
    json!({
        "idempotency_key": entry.idempotency_key,
        "to": entry.to,
        "amount": entry.amount.minor(),
        "memo": entry.memo,
        "outcome": outcome,
        "entry_id": entry_id,
        "code": code,
        "message": message,
    })
}

/// The first 12 characters of a hex id (purse, note), as people are shown it.
pub fn short_id(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

pub fn history_json(items: &[HistoryItem]) -> Value {
    json!({ "items": items })
}

/// One line per entry, newest first, columns aligned:
/// `2025-11-25 14:03 UTC  -250.00 INR  to bob  lunch`.
pub fn history_human(currency: &Currency, items: &[HistoryItem]) -> String {
    if items.is_empty() {
        return "No payments yet.".to_string();
    }
    let amounts: Vec<String> = items.iter().map(|i| signed_money(currency, i.delta)).collect();
    let width = amounts.iter().map(String::len).max().unwrap_or(0);
    let parties: Vec<String> = items.iter().map(describe_party).collect();
    let party_width = parties.iter().map(String::len).max().unwrap_or(0);
    items
        .iter()
        .zip(amounts.iter().zip(&parties))
        .map(|(item, (amount, party))| {
            let memo = match (&item.memo, &item.note) {
                (Some(memo), _) => sanitize(memo),
                // An offline payment has no memo: its note's id (as `offline history` shows it)
                // ties the line to the note the payer or payee holds.
                (None, Some(note)) => format!("offline note {}", sanitize(short_id(note))),
                (None, None) => String::new(),
            };
            let line = format!("{}  {amount:>width$}  {party:<party_width$}  {memo}", utc_minute(item.created_at_ms));
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe_party(item: &HistoryItem) -> String {
    let who = item.counterparty.as_deref().map(sanitize);
    match (item.kind.as_str(), who) {
        ("deposit", _) => "deposit".to_string(),
        (_, Some(who)) if item.delta < 0 => format!("to {who}"),
        (_, Some(who)) => format!("from {who}"),
        (kind, None) => sanitize(kind),
    }
}

/// Text from the server shown on a terminal: control characters (escape sequences, newlines)
/// become spaces, so a memo cannot rewrite the screen, and text-direction characters (U+202E and
/// its kind, which can make a memo read backwards) are shown as `[U+202E]`. The server refuses
/// both in new memos (`invalid_memo`); this covers memos stored before that rule.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push(' ');
        } else if offpay_ledger::is_text_direction_mark(c) {
            out.push_str(&format!("[U+{:04X}]", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

pub fn logged_out_everywhere(handle: &str) -> String {
    format!("Logged out {handle} everywhere: every session of the account has ended, on every device.")
}

pub fn password_changed(handle: &str) -> String {
    format!("Password of {handle} changed. Every other session of the account has ended; this device stays logged in.")
}

/// What `logout` says on stdout, and the note it says on stderr when the server was not told.
pub fn logged_out(outcome: &LogoutOutcome) -> (String, Option<String>) {
    match outcome {
        LogoutOutcome::Done { handle } => (format!("Logged out {handle}."), None),
        LogoutOutcome::LocalOnly { handle, reason } => (
            format!("Logged out {handle} on this device."),
            Some(format!("note: {reason}; the session will expire on the server by itself")),
        ),
        LogoutOutcome::NotLoggedIn => ("Not logged in.".to_string(), None),
    }
}

/// What `watch` says on stderr about its connection.
pub fn watch_status(status: &WatchStatus) -> String {
    match status {
        WatchStatus::Connected { after: 0 } => {
            "connected; showing new events as they happen (Ctrl-C to stop)".to_string()
        }
        WatchStatus::Connected { after } => {
            format!("connected; showing events after #{after}, then new ones as they happen (Ctrl-C to stop)")
        }
        WatchStatus::Disconnected { reason, retry_in } => {
            format!("disconnected ({reason}); reconnecting in {:.1} s", retry_in.as_secs_f64())
        }
        WatchStatus::Ignored { reason } => format!("note: ignored a message from the server ({reason})"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use offpay_protocol::Handle;
    use offpay_wallet::ServerUrl;

    use super::*;

    fn amt(minor: u64) -> Amount {
        Amount::from_minor(minor).unwrap()
    }

    #[test]
    fn terminal_text_has_no_control_or_text_direction_characters() {
        assert_eq!(sanitize("rent \u{202E}00.001"), "rent [U+202E]00.001");
        assert_eq!(sanitize("a\nb\u{1b}[2J"), "a b [2J");
        assert_eq!(sanitize("x\u{2066}y\u{2069}\u{200F}"), "x[U+2066]y[U+2069][U+200F]");
        assert_eq!(sanitize("चाय ☕ — ₹50"), "चाय ☕ — ₹50");
    }

    fn balance_view(freshness: Freshness) -> BalanceView {
        BalanceView {
            handle: Handle::parse("alice").unwrap(),
            balance: amt(125_000),
            offline: Amount::ZERO,
            currency: Currency::INR,
            frozen: false,
            freshness,
            unconfirmed_sends: Vec::new(),
        }
    }

    fn receipt(replayed: bool) -> SendReceipt {
        SendReceipt {
            idempotency_key: "k".repeat(32),
            entry_id: offpay_wallet::wire::EntryId(7),
            to: Handle::parse("bob").unwrap(),
            amount: amt(25_000),
            balance: Some(amt(75_000)),
            currency: Currency::INR,
            replayed,
        }
    }

    fn item(entry_id: i64, kind: &str, delta: i64, counterparty: Option<&str>, memo: Option<&str>) -> HistoryItem {
        HistoryItem {
            entry_id: offpay_wallet::wire::EntryId(entry_id),
            kind: serde_json::from_value(json!(kind)).unwrap(),
            delta,
            counterparty: counterparty.map(Into::into),
            memo: memo.map(Into::into),
            created_at_ms: 1_764_079_380_000 + entry_id * 60_000,
            note: None,
        }
    }

    #[test]
    fn balance_for_people_and_scripts() {
        let view = balance_view(Freshness::Live);
        assert_eq!(balance_human(&view), "Balance: 1250.00 INR");
        assert_eq!(balance_json(&view), json!({"balance": 125000, "offline": 0, "currency": "INR"}));
        assert!(balance_notes(&view).is_empty());
    }

    #[test]
    fn a_stale_balance_says_so_and_when() {
        let view = balance_view(Freshness::Stale {
            as_of_ms: 1_764_079_380_000,
            reason: "cannot reach the server at http://x (refused)".into(),
        });
        assert_eq!(balance_human(&view), "Balance: 1250.00 INR");
        assert_eq!(
            balance_notes(&view),
            [
                "note: cannot reach the server at http://x (refused); showing the last balance this device knows, from 2025-11-25 14:03 UTC (it may be out of date)"
            ]
        );
    }

    #[test]
    fn frozen_and_offline_are_shown() {
        let mut view = balance_view(Freshness::Live);
        view.frozen = true;
        view.offline = amt(20_000);
        assert_eq!(balance_human(&view), "Balance: 1250.00 INR\nOffline purse: 200.00 INR");
        assert_eq!(balance_json(&view)["offline"], 20000);
        assert_eq!(balance_notes(&view).len(), 1);
    }

    fn entry(memo: Option<&str>) -> OutboxEntry {
        OutboxEntry {
            idempotency_key: "k".repeat(32),
            server: "http://s".into(),
            account: "alice".into(),
            to: "bob".into(),
            amount: amt(2_500),
            memo: memo.map(Into::into),
            to_account: None,
            card: None,
            state: offpay_wallet::store::OutboxState::Pending,
            attempts: 1,
            entry_id: None,
            failure_code: None,
            created_at_ms: 1_764_079_380_000,
            updated_at_ms: 1_764_079_380_000,
        }
    }

    #[test]
    fn unconfirmed_sends_say_how_to_finish_them() {
        let mut view = balance_view(Freshness::Live);
        view.unconfirmed_sends = vec![entry(None)];
        assert_eq!(
            balance_notes(&view),
            [format!(
                "note: a payment of 25.00 INR to bob is unconfirmed (no answer from the server yet); \
                 to finish it without paying twice, run: offpay wallet retry {} (or offpay wallet sync)",
                "k".repeat(32)
            )]
        );
    }

    #[test]
    fn send_for_people_and_scripts() {
        assert_eq!(sent_human(&receipt(false)), "Sent 250.00 INR to bob. Balance: 750.00 INR");
        assert_eq!(
            sent_human(&receipt(true)),
            "Already paid 250.00 INR to bob earlier; it was not paid again. Balance: 750.00 INR"
        );
        let unknown_balance = SendReceipt { balance: None, ..receipt(true) };
        assert_eq!(sent_human(&unknown_balance), "Already paid 250.00 INR to bob earlier; it was not paid again.");
        assert_eq!(
            sent_json(&receipt(false)),
            json!({"entry_id": 7, "to": "bob", "amount": 25000, "balance": 75000, "replayed": false, "idempotency_key": "k".repeat(32)})
        );
        assert_eq!(sent_json(&unknown_balance)["balance"], Value::Null);
    }

    #[test]
    fn pending_sends_are_listed_with_their_keys_and_how_to_retry() {
        assert_eq!(pending_human(&Currency::INR, &[]), "No payments are waiting for an answer from the server.");
        let mut second = entry(Some("rent\x1b[2J"));
        second.attempts = 3;
        let text = pending_human(&Currency::INR, &[entry(None), second]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "2 payments are waiting for an answer from the server (it may or may not have gone through):"
        );
        assert_eq!(
            lines[1],
            format!("  {}  25.00 INR to bob  (1 attempt, first tried 2025-11-25 14:03 UTC)", "k".repeat(32))
        );
        assert_eq!(
            lines[2],
            format!(
                "  {}  25.00 INR to bob  \"rent [2J\"  (3 attempts, first tried 2025-11-25 14:03 UTC)",
                "k".repeat(32)
            )
        );
        assert!(lines[3].starts_with("To finish one, run `offpay wallet retry KEY`"), "{}", lines[3]);
        let json = pending_json(&[entry(Some("rent"))]);
        assert_eq!(json["pending"][0]["idempotency_key"], "k".repeat(32));
        assert_eq!(
            (json["pending"][0]["amount"].as_u64(), json["pending"][0]["memo"].as_str()),
            (Some(2_500), Some("rent"))
        );
    }

    #[test]
    fn retried_sends_say_what_happened() {
        let key = "k".repeat(32);
        let retried = |outcome| RetriedSend { entry: entry(None), outcome };
        let paid = retried(Ok(SendReceipt { amount: amt(2_500), ..receipt(false) }));
        assert_eq!(retried_human(&Currency::INR, &paid), format!("Pending payment {key}: sent 25.00 INR to bob now."));
        assert_eq!(retried_json(&paid)["outcome"], "paid");
        let replayed = retried(Ok(receipt(true)));
        assert_eq!(
            retried_human(&Currency::INR, &replayed),
            format!("Pending payment {key}: 25.00 INR to bob was already paid earlier; it was not paid again.")
        );
        assert_eq!(retried_json(&replayed)["outcome"], "already_paid");
        let refused = retried(Err(WalletError::SendRefused {
            key: key.clone(),
            code: "insufficient_funds".into(),
            message: "the balance is too low for this payment".into(),
        }));
        assert_eq!(
            retried_human(&Currency::INR, &refused),
            format!(
                "Pending payment {key}: 25.00 INR to bob was refused and nothing was paid: the balance is too low for this payment (insufficient_funds)."
            )
        );
        assert_eq!(
            (retried_json(&refused)["outcome"].as_str(), retried_json(&refused)["code"].as_str()),
            (Some("refused"), Some("insufficient_funds"))
        );
        let still = retried(Err(WalletError::SendUncertain { key: key.clone(), reason: "timed out".into() }));
        assert!(
            retried_human(&Currency::INR, &still)
                .contains("still waiting for an answer (timed out); run `offpay wallet sync` again later")
        );
        assert_eq!(retried_json(&still)["outcome"], "pending");
    }

    #[test]
    fn account_messages() {
        let view = AccountView {
            handle: Handle::parse("alice").unwrap(),
            server: ServerUrl::parse("http://127.0.0.1:8080").unwrap(),
            currency: Currency::INR,
            balance: Some(Amount::ZERO),
        };
        assert_eq!(
            registered(&view),
            "Welcome, alice! Your account is ready on http://127.0.0.1:8080. Balance: 0.00 INR."
        );
        assert_eq!(logged_in(&AccountView { balance: None, ..view }), "Logged in as alice on http://127.0.0.1:8080.");
    }

    #[test]
    fn history_lines_are_aligned_and_safe() {
        let offline =
            HistoryItem { note: Some("3fa2c1d0".repeat(8)), ..item(4, "offline_settle", 12_000, Some("dev"), None) };
        let items = [
            offline,
            item(3, "transfer", -25_000, Some("bob"), Some("lunch\x1b[2J")),
            item(2, "transfer", 500, Some("carol"), None),
            item(1, "deposit", 100_000, None, None),
        ];
        let text = history_human(&Currency::INR, &items);
        let expected = [
            "2025-11-25 14:07 UTC   +120.00 INR  from dev    offline note 3fa2c1d03fa2",
            "2025-11-25 14:06 UTC   -250.00 INR  to bob      lunch [2J",
            "2025-11-25 14:05 UTC     +5.00 INR  from carol",
            "2025-11-25 14:04 UTC  +1000.00 INR  deposit",
        ];
        assert_eq!(text, expected.join("\n"));
        assert_eq!(history_human(&Currency::INR, &[]), "No payments yet.");
        let json = history_json(&items);
        assert_eq!(json["items"][0]["note"], "3fa2c1d0".repeat(8));
        assert_eq!(json["items"][1]["delta"], -25000);
        assert_eq!(json["items"][3]["kind"], "deposit");
        assert_eq!(json["items"].as_array().unwrap().len(), 4);
        assert!(json["items"][1].get("note").is_none(), "no note key on an online entry");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minute(1_764_079_380_000), "2025-11-25 14:03 UTC");
        assert_eq!(utc_minute(-60_000), "1969-12-31 23:59 UTC");
    }
}
