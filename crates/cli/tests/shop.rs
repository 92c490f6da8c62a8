//! Shops end to end (issue 14) through the real `offpay` binary against a real `offpay serve`:
//!
//! - Chai and another shop make their cards (`shop card --name`); `shop card` prints the same
//!   card again.
//! - Asha pays Chai's card online (`pay-shop`): stdout is the server's receipt. With the server
//!   stopped, Chai accepts it; the same receipt again is refused (`receipt_replayed`), and the
//!   other shop refuses it (`receipt_for_another_payee`).
//! - Still with no server, Asha pays Chai's card from her purse (`pay-shop` falls back to a card
//!   note when the server cannot be reached; `retry` of that payment's key later sends nothing,
//!   it was paid); Chai accepts the note, refuses it again, and
//!   refuses a note for the other shop's card (`wrong_payee`), as the other shop refuses Chai's.
//! - The server is back: syncs settle the note once; the balances add up; `takings` lists both
//!   payments (per day, and as CSV rows); a new card retires the old one (`wrong_card`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Not every shared step is used here (`request`, `pay`, `copy_home`).
#[allow(dead_code)]
mod offline_support;
mod wallet_support;

use offline_support::{accept, assert_books_balance, balances, refused_reason, sync, text_line};
use offpay_protocol::Encoded;
use serde_json::Value;
use wallet_support::{Server, WalletHome};

/// `accept RECEIPT` must fail with one line naming the receipt's refusal reason.
fn receipt_refused(shop: &WalletHome, receipt: &str) -> String {
    let refusal = shop.refused(&["accept", receipt]);
    refusal
        .line
        .strip_prefix("error: receipt refused (")
        .and_then(|rest| rest.split_once(')'))
        .map(|(code, _)| code.to_string())
        .unwrap_or_else(|| panic!("not a receipt refusal: {:?}", refusal.line))
}

/// `pay-shop CARD AMOUNT --yes [extra]`: stdout is one text line starting with `prefix`.
fn pay_shop(customer: &WalletHome, card: &str, amount: &str, extra: &[&str], prefix: &str) -> String {
    let mut args = vec!["pay-shop", card, amount, "--yes"];
    args.extend_from_slice(extra);
    text_line(&customer.ok(&args), prefix)
}

#[test]
fn a_shop_card_is_paid_online_and_offline_and_each_payment_is_taken_once() {
    let mut server = Server::start();
    let asha = WalletHome::new("asha");
    let chai = WalletHome::new("chai");
    let other = WalletHome::new("dosa");
    for w in [&asha, &chai, &other] {
        w.register(&server);
    }
    server.admin(&["deposit", "asha", "1000.00"]);
    asha.ok(&["purse", "load", "500.00"]);

    // Cards: made once, printed again without --name.
    let made = chai.json(&["shop", "card", "--name", "Chai Point"]);
    let card = made["card"].as_str().unwrap().to_string();
    assert!(card.starts_with("OPS1:"), "{made}");
    assert_eq!(
        (made["name"].as_str(), made["handle"].as_str(), made["currency"].as_str()),
        (Some("Chai Point"), Some("chai"), Some("INR"))
    );
    assert_eq!(text_line(&chai.ok(&["shop", "card"]), "OPS1:"), card);
    let other_card = text_line(&other.ok(&["shop", "card", "--name", "Dosa Corner"]), "OPS1:");
    assert_ne!(other_card, card);
    // A forged card: Chai's account and name, but the handle of the other shop. Online the
    // wallet pays a card's handle; the server refuses it, since the handle is not the card's
    // account, before any money moves (`payee_mismatch`), and nothing is paid offline instead.
    let chai_card = offpay_protocol::ShopCard::from_text(&card).unwrap();
    let mut fields = chai_card.fields().clone();
    fields.handle = Some(offpay_protocol::Handle::parse("dosa").unwrap());
    let forger = offpay_protocol::testkit::signing_key("card-forger");
    fields.shop_device_key = forger.verifying_key();
    let forged = offpay_protocol::ShopCard::sign(fields, &forger).to_text();
    let before = (balances(&asha), balances(&other));
    let refusal = asha.refused(&["pay-shop", &forged, "10.00", "--yes"]);
    assert!(refusal.line.contains("payee_mismatch"), "{}", refusal.line);
    assert_eq!((balances(&asha), balances(&other)), before, "nothing moved, online or offline");
    // A home with no card is told how to make one.
    let none = asha.refused(&["shop", "card"]);
    assert!(none.line.contains("--name"), "{}", none.line);

    // Online: the customer's stdout is the receipt.
    let receipt = pay_shop(&asha, &card, "250.00", &[], "OPT2:");

    // ---- No server from here until the restart.
    server.stop();
    let said = chai.ok(&["accept", &receipt]);
    assert!(said.starts_with("Received 250.00 INR from asha (online payment, entry "), "{said}");
    assert_eq!(receipt_refused(&chai, &receipt), "receipt_replayed");
    assert_eq!(receipt_refused(&other, &receipt), "receipt_for_another_payee");

    // Offline: the server cannot be reached, so pay-shop pays with a card note (under the
    // send's key: a later `retry` of it finds it paid).
    let note = pay_shop(&asha, &card, "100.00", &["--idempotency-key", "chai-0002"], "OPN1:");
    accept(&chai, &note, "100.00");
    let again = refused_reason(&chai, &note);
    assert!(["already_accepted", "nonce_replayed"].contains(&again.as_str()), "{again}");
    // A note for the other shop's card, and Chai's note shown at the other shop.
    let keyed = ["--offline", "--idempotency-key", "dosa-0001"];
    let other_note = pay_shop(&asha, &other_card, "50.00", &keyed, "OPN1:");
    // The same key again is the same payment: the same note, nothing paid twice.
    assert_eq!(pay_shop(&asha, &other_card, "50.00", &keyed, "OPN1:"), other_note);
    let reused = asha.refused(&["pay-shop", &other_card, "60.00", "--offline", "--idempotency-key", "dosa-0001"]);
    assert!(reused.line.contains("already used"), "{}", reused.line);
    // (It pays another account, which the shared checks find before the card's prefix.)
    assert_eq!(refused_reason(&chai, &other_note), "wrong_payee");
    assert_eq!(refused_reason(&other, &note), "wrong_payee");
    let json: Value = serde_json::from_str(&other.ok(&["accept", &other_note, "--json"])).unwrap();
    assert_eq!((json["accepted"].as_bool(), json["amount"].as_u64()), (Some(true), Some(5_000)), "{json}");

    // ---- The server is back: each note settles once, whoever uploads it.
    server.restart();
    let retried = asha.refused(&["retry", "chai-0002"]);
    assert!(retried.line.contains("paid offline"), "{}", retried.line);
    let r = sync(&chai);
    assert_eq!((r["uploaded"].as_u64(), r["settled"].as_u64()), (Some(1), Some(1)), "{r}");
    let r = sync(&asha);
    assert_eq!(r["uploaded"], 2, "{r}");
    assert_eq!(r["settled"].as_u64().unwrap() + r["duplicate"].as_u64().unwrap(), 2, "{r}");
    let r = sync(&other);
    assert_eq!(r["settled"], 0, "{r}");
    assert_eq!(balances(&chai).0, 35_000);
    assert_eq!(balances(&other).0, 5_000);
    // Asha: 1000.00 − 500.00 loaded − 250.00 online; her purse has 350.00 left.
    assert_eq!(balances(&asha), (25_000, 35_000));
    assert_books_balance(&server, &[&asha, &chai, &other], 100_000);

    // Takings: both payments to Chai, per day and as CSV rows.
    let human = chai.ok(&["takings"]);
    assert!(human.contains("Total: 2 payments, 350.00 INR"), "{human}");
    let csv = chai.ok(&["takings", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "date,time,amount,from,entry_id", "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    let amounts: Vec<&str> = lines[1..].iter().map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(amounts, ["250.00", "100.00"], "{csv}");
    assert_eq!(lines[1].split(',').nth(3), Some("asha"), "{csv}");
    let today = lines[1].split(',').next().unwrap().to_string();
    assert_eq!(chai.ok(&["takings", "--csv", "--from", &today, "--to", &today]), csv);
    let later = chai.ok(&["takings", "--from", "2999-01-01"]);
    assert!(later.contains("Total: 0 payments"), "{later}");
    let bad = chai.refused(&["takings", "--from", "30/11/2026"]);
    assert!(bad.line.contains("YYYY-MM-DD"), "{}", bad.line);

    // A new card retires the old one: a note for the old card is refused, and kept to be given
    // back at the shop's sync (the server would still pay it).
    let new_card = text_line(&chai.ok(&["shop", "card", "--name", "Chai Point 2"]), "OPS1:");
    assert_ne!(new_card, card);
    let old = pay_shop(&asha, &card, "10.00", &["--offline"], "OPN1:");
    let refusal = chai.refused(&["accept", &old]);
    assert!(
        refusal.line.starts_with("error: note refused (wrong_card): the payment was made for this shop's old card"),
        "{}",
        refusal.line
    );
    assert!(refusal.line.contains("gives it back to account"), "{}", refusal.line);
    assert_eq!(refused_reason(&chai, &old), "refused_here_before");
}
