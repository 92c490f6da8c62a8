//! What the shop commands of `offpay wallet` print (`shop card`, and `accept` of a server
//! receipt): sentences for people, one JSON object for scripts. Pure functions, unit-tested.

use offpay_protocol::{Currency, ShopCard};
use offpay_wallet::offline::{AcceptedReceipt, MyCard};
use serde_json::{Value, json};

use super::{money, sanitize};

/// The line on stderr after `shop card`.
pub fn card_message(card: &MyCard, made: bool) -> String {
    let f = card.card.fields();
    let handle = f.handle.as_ref().map_or_else(|| format!("account {}", f.payee), |h| h.to_string());
    let what = if made { "New shop card" } else { "Shop card" };
    format!(
        "{what} \"{}\" paying {handle} in {}: print it for customers to scan (online or offline). `shop card --name NAME` makes a new card and retires this one.",
        sanitize(f.name.as_str()),
        f.currency.as_str()
    )
}

/// `shop card --json`.
pub fn card_json(card: &MyCard) -> Value {
    let f = card.card.fields();
    json!({
        "card": card.text,
        "name": f.name.as_str(),
        "payee": f.payee.0,
        "handle": f.handle.as_ref().map(ToString::to_string),
        "currency": f.currency.as_str(),
        "issued_at": f.issued_at,
        "nonce_prefix": hex_prefix(&card.card),
    })
}

fn hex_prefix(card: &ShopCard) -> String {
    card.nonce_prefix().iter().map(|b| format!("{b:02x}")).collect()
}

/// "Received 250.00 INR from asha (online payment, entry 41)."
pub fn receipt_human(currency: &Currency, r: &AcceptedReceipt) -> String {
    let from = r.payer_handle.as_ref().map_or_else(|| format!("account {}", r.payer), |h| h.to_string());
    format!("Received {} from {from} (online payment, entry {}).", money(currency, r.amount), r.entry_id)
}

/// `accept --json` of a receipt.
pub fn receipt_json(r: &AcceptedReceipt) -> Value {
    json!({
        "accepted": true,
        "receipt": true,
        "entry_id": r.entry_id,
        "amount": r.amount.minor(),
        "from": r.payer.0,
        "from_handle": r.payer_handle.as_ref().map(ToString::to_string),
        "time": r.time,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use offpay_protocol::{AccountId, Amount, Handle};

    use super::*;

    #[test]
    fn a_receipt_names_the_payer_and_entry() {
        let r = AcceptedReceipt {
            entry_id: 41,
            payer: AccountId(7),
            payer_handle: Some(Handle::parse("asha").unwrap()),
            amount: Amount::from_minor(25_000).unwrap(),
            time: 1,
        };
        let inr = Currency::new("INR", 2).unwrap();
        assert_eq!(receipt_human(&inr, &r), "Received 250.00 INR from asha (online payment, entry 41).");
        assert_eq!(receipt_json(&r)["amount"], 25_000);
        let anonymous = AcceptedReceipt { payer_handle: None, ..r };
        assert!(receipt_human(&inr, &anonymous).contains("from account 7 "));
    }
}
