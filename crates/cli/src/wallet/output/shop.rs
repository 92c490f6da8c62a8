//! What the shop commands of `offpay wallet` print (`shop card`, `accept` of a server receipt,
//! `pay-shop`, `takings`): sentences for people, one JSON object or CSV for scripts. Pure
//! functions, unit-tested.

use std::collections::BTreeMap;

use offpay_protocol::{Amount, Currency, ShopCard};
use offpay_wallet::offline::{AcceptedReceipt, MyCard, Payment};
use offpay_wallet::{SendReceipt, Takings, WalletError};
use serde_json::{Value, json};

use super::{money, sanitize, short_id};
use crate::time::utc_date_time;

/// "Chai Point (chai_shop, account 3003)": always with the account the money goes to, which is
/// what the card's signature binds. Offline nothing checks that the handle is that account's
/// (online the server refuses a card whose handle names another account, `payee_mismatch`).
fn shop(card: &ShopCard) -> String {
    let f = card.fields();
    let who = f.handle.as_ref().map_or_else(|| format!("account {}", f.payee), |h| format!("{h}, account {}", f.payee));
    format!("{} ({who})", sanitize(f.name.as_str()))
}

/// The question before `pay-shop` pays.
pub fn pay_shop_question(currency: &Currency, card: &ShopCard, amount: Amount) -> String {
    format!("Pay {} to {}?", money(currency, amount), shop(card))
}

/// Said on stderr after an online `pay-shop`.
pub fn paid_online_message(sent: &SendReceipt, card: &ShopCard) -> String {
    let amount = money(&sent.currency, sent.amount);
    let again = if sent.replayed { " (already paid earlier; it was not paid again)" } else { "" };
    format!(
        "Paid {amount} to {} online, entry {}{again}. Show the receipt above to the shop.",
        shop(card),
        sent.entry_id
    )
}

/// Said on stderr when the receipt of an online `pay-shop` could not be fetched.
pub fn receipt_missing(sent: &SendReceipt, error: &WalletError) -> String {
    format!(
        "note: the payment stands, but its receipt could not be fetched ({error}); the shop can see entry {} in its history",
        sent.entry_id
    )
}

/// `pay-shop --json`, online.
pub fn paid_online_json(sent: &SendReceipt, receipt: Option<&offpay_wallet::wire::ReceiptAnswer>) -> Value {
    json!({
        "online": true,
        "entry_id": sent.entry_id,
        "to": sent.to.as_str(),
        "amount": sent.amount.minor(),
        "balance": sent.balance.map(Amount::minor),
        "replayed": sent.replayed,
        "idempotency_key": sent.idempotency_key,
        "receipt": receipt.map(|r| r.receipt.clone()),
    })
}

/// Said on stderr after an offline `pay-shop`.
pub fn paid_offline_message(currency: &Currency, card: &ShopCard, p: &Payment) -> String {
    let when = if p.repeated { "earlier, with this key; it was not paid again" } else { "offline" };
    format!(
        "Paid {} to {} {when} (note {} of purse {}). Show the note above to the shop. Left in the purse: {}.",
        money(currency, p.amount),
        shop(card),
        p.seq,
        short_id(&p.purse_id.to_hex()),
        money(currency, p.remaining)
    )
}

/// `pay-shop --json`, offline.
pub fn paid_offline_json(p: &Payment) -> Value {
    json!({
        "online": false,
        "repeated": p.repeated,
        "note": p.text,
        "purse_id": p.purse_id.to_hex(),
        "seq": p.seq,
        "amount": p.amount.minor(),
        "to": p.payee.0,
        "remaining": p.remaining.minor(),
    })
}

/// One row of the takings: UTC date and time, signed amount (negative: a payment given back
/// after the counter refused it), payer, entry id.
fn rows(t: &Takings) -> Vec<(String, String, i64, String, offpay_wallet::wire::EntryId)> {
    t.items
        .iter()
        .map(|i| {
            let (date, time) = utc_date_time(i.created_at_ms).unwrap_or_default();
            let from = i.counterparty.as_deref().map(sanitize).unwrap_or_default();
            (date, time, i.delta, from, i.entry_id)
        })
        .collect()
}

/// `minor` shown by `show`, with a minus sign when negative.
fn signed(minor: i128, show: impl Fn(Amount) -> String) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let size = u64::try_from(minor.unsigned_abs()).ok().and_then(Amount::from_minor);
    size.map_or_else(|| format!("{minor} minor units"), |a| format!("{sign}{}", show(a)))
}

/// `takings --csv`: a header, then one row per payment received, oldest first; a payment given
/// back after the counter refused it is a row with a negative amount.
pub fn takings_csv(t: &Takings) -> String {
    let mut out = String::from("date,time,amount,from,entry_id\n");
    for (date, time, minor, from, entry) in rows(t) {
        let amount = signed(i128::from(minor), |a| t.currency.format(a));
        let from = from.replace(['"', ','], "");
        out.push_str(&format!("{date},{time},{amount},{from},{entry}\n"));
    }
    out
}

fn payments(n: u64) -> &'static str {
    if n == 1 { "payment" } else { "payments" }
}

/// One day's (or the period's) takings: payments in, and payments given back.
#[derive(Default, Clone, Copy)]
struct Tally {
    paid: u64,
    paid_minor: i128,
    returned: u64,
    returned_minor: i128,
}

impl Tally {
    fn add(&mut self, minor: i64) {
        if minor < 0 {
            self.returned += 1;
            self.returned_minor -= i128::from(minor);
        } else {
            self.paid += 1;
            self.paid_minor += i128::from(minor);
        }
    }

    fn merge(mut self, other: &Tally) -> Tally {
        self.paid += other.paid;
        self.paid_minor += other.paid_minor;
        self.returned += other.returned;
        self.returned_minor += other.returned_minor;
        self
    }

    /// "2 payments  250.05 INR", net of what went back: "…  240.05 INR (1 returned: 10.00 INR)".
    fn words(&self, currency: &Currency, width: usize, between: &str) -> String {
        let net = signed(self.paid_minor - self.returned_minor, |a| money(currency, a));
        let mut line = format!("{:>width$} {}{between}{net}", self.paid, payments(self.paid));
        if self.returned > 0 {
            line.push_str(&format!(
                " ({} returned: {})",
                self.returned,
                signed(self.returned_minor, |a| money(currency, a))
            ));
        }
        line
    }
}

/// `takings`: one line per day (count and total, net of payments given back after the counter
/// refused them), then the whole period.
pub fn takings_human(t: &Takings) -> String {
    let mut days: BTreeMap<String, Tally> = BTreeMap::new();
    for (date, _, minor, _, _) in rows(t) {
        days.entry(date).or_default().add(minor);
    }
    let mut lines: Vec<String> =
        days.iter().map(|(d, day)| format!("{d}  {}", day.words(&t.currency, 4, "  "))).collect();
    let total = days.values().fold(Tally::default(), Tally::merge);
    lines.push(format!("Total: {}", total.words(&t.currency, 0, ", ")));
    lines.join("\n")
}

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
    use offpay_protocol::{AccountNumber, Amount, Handle};

    use super::*;

    /// The question and the offline sentence name the account the money goes to, not only the
    /// handle the card claims (offline, nothing checks that the handle is that account's).
    #[test]
    fn a_shop_is_named_with_the_account_paid() {
        let card = offpay_protocol::testkit::Fixture::new().card();
        let inr = Currency::new("INR", 2).unwrap();
        let question = pay_shop_question(&inr, &card, Amount::from_minor(10_000).unwrap());
        assert_eq!(question, "Pay 100.00 INR to Chai Point (chai_shop, account 2002)?");
    }

    #[test]
    fn a_receipt_names_the_payer_and_entry() {
        let r = AcceptedReceipt {
            entry_id: 41,
            payer: AccountNumber(7),
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

    fn item(entry_id: i64, delta: i64, from: Option<&str>, created_at_ms: i64) -> offpay_wallet::wire::HistoryItem {
        offpay_wallet::wire::HistoryItem {
            entry_id: offpay_wallet::wire::EntryId(entry_id),
            kind: offpay_wallet::wire::EntryKind::Transfer,
            delta,
            counterparty: from.map(str::to_string),
            memo: None,
            created_at_ms,
            note: None,
        }
    }

    #[test]
    fn takings_are_counted_per_day_and_listed_as_csv() {
        let currency = Currency::new("INR", 2).unwrap();
        // 2023-11-14 22:13:20 and 23:59:59.999, then 2023-11-15 00:00:00 UTC.
        let items = vec![
            item(1, 25_000, Some("asha"), 1_700_000_000_000),
            item(2, 5, Some("a,b"), 1_700_006_399_999),
            item(3, 10_000, None, 1_700_006_400_000),
        ];
        let t = Takings { items, currency };
        assert_eq!(
            takings_csv(&t),
            "date,time,amount,from,entry_id\n2023-11-14,22:13:20,250.00,asha,1\n2023-11-14,23:59:59,0.05,ab,2\n2023-11-15,00:00:00,100.00,,3\n"
        );
        assert_eq!(
            takings_human(&t),
            "2023-11-14     2 payments  250.05 INR\n2023-11-15     1 payment  100.00 INR\nTotal: 3 payments, 350.05 INR"
        );
    }

    /// A payment given back after the counter refused it is a negative row and comes off the
    /// day's total and the period's.
    #[test]
    fn a_payment_given_back_comes_off_the_takings() {
        let currency = Currency::new("INR", 2).unwrap();
        let mut back = item(3, -1_000, Some("asha"), 1_700_000_100_000);
        back.memo = Some(offpay_wallet::wire::COUNTER_REFUND_MEMO.to_string());
        let items = vec![
            item(1, 25_000, Some("asha"), 1_700_000_000_000),
            item(2, 1_000, Some("asha"), 1_700_000_050_000),
            back,
        ];
        let t = Takings { items, currency };
        assert_eq!(
            takings_csv(&t),
            "date,time,amount,from,entry_id\n2023-11-14,22:13:20,250.00,asha,1\n2023-11-14,22:14:10,10.00,asha,2\n2023-11-14,22:15:00,-10.00,asha,3\n"
        );
        assert_eq!(
            takings_human(&t),
            "2023-11-14     2 payments  250.00 INR (1 returned: 10.00 INR)\nTotal: 2 payments, 250.00 INR (1 returned: 10.00 INR)"
        );
    }
}
