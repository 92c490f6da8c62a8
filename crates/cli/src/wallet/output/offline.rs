//! What the offline commands of `offpay wallet` print (`purse load|close|status`, `request`,
//! `pay`, `accept`, `sync`): sentences for people, one JSON object for scripts, the notes said on
//! stderr, and payment refusals said in money. Pure functions, unit-tested.

use offpay_protocol::{Amount, Currency, Encoded, MAX_NOTES_PER_PURSE, PayError, RejectReason};
use offpay_wallet::SideNote;
use offpay_wallet::offline::counter_refusals::{CounterRefusal, RefusalState};
use offpay_wallet::offline::{
    AcceptedPayment, ClosedPurse, Identity, IssuedRequest, LoadedPurse, OfflineError, PayPreview, Payment, PurseRecord,
    PurseStatus, SyncReport,
};
use serde_json::{Value, json};

use super::{money, sanitize, short_id};
use crate::time::utc_minute;

/// A note said on stderr when something on the side could not be fetched while learning my
/// identity (the command itself succeeded).
pub fn side_note(note: &SideNote) -> String {
    match note {
        SideNote::IssuerKeysNotFetched(e) => {
            format!("note: could not fetch the issuer keys ({e}); run `offpay wallet sync` before accepting notes")
        }
        SideNote::RevocationsNotFetched(e) => {
            format!("note: could not fetch the revocation list ({e}); run `offpay wallet sync` soon")
        }
    }
}

/// Said on stderr when `purse load` finished an earlier load whose outcome was unknown.
pub fn resumed_load_note() -> &'static str {
    "note: finished an earlier load whose outcome was unknown (it was not loaded twice)"
}

/// `accept --json` of a refused note.
pub fn refused_json(reason: &RejectReason) -> Value {
    json!({"accepted": false, "reason": reason.code(), "message": reason.to_string()})
}

/// A payment refusal whose amounts the protocol gives in minor units, said in money
/// ("over the per-payment cap of 200.00 INR"); any other error unchanged.
pub fn in_money(currency: &Currency, error: OfflineError) -> anyhow::Error {
    match &error {
        OfflineError::Pay(PayError::OverPaymentCap { cap }) => {
            anyhow::anyhow!("cannot pay: the amount is over the purse's per-payment cap of {}", money(currency, *cap))
        }
        OfflineError::Pay(PayError::InsufficientPurse { remaining }) => {
            anyhow::anyhow!("cannot pay: the offline purse has only {} left", money(currency, *remaining))
        }
        OfflineError::LoadPending { amount } => match Amount::from_minor(*amount) {
            Some(amount) => anyhow::anyhow!(
                "an earlier purse load of {} is unfinished; run `offpay wallet purse load` with that amount to finish it first",
                money(currency, amount)
            ),
            None => error.into(),
        },
        _ => error.into(),
    }
}

/// Said on stderr after `request` printed its text.
pub fn requested_message(identity: &Identity, issued: &IssuedRequest, valid_minutes: u64) -> String {
    format!(
        "Request for {} to {} (account {}), valid for {valid_minutes} minutes. Show it to the payer, then run `offpay wallet accept NOTE` with the note they give you.",
        money(&identity.currency, issued.request.fields().amount),
        identity.handle,
        identity.account
    )
}

pub fn pay_question(currency: &Currency, p: &PayPreview) -> String {
    let handle = p.payee_handle.as_ref().map(|h| format!(" ({h})")).unwrap_or_default();
    format!("Pay {} to account {}{handle}?", money(currency, p.amount), p.payee)
}

pub fn paid_message(currency: &Currency, p: &Payment) -> String {
    format!(
        "Paid {} to account {} (note {} of purse {}). Give the note above to the payee. Left in the purse: {}.",
        money(currency, p.amount),
        p.payee,
        p.seq,
        short_id(&p.purse_id.to_hex()),
        money(currency, p.remaining)
    )
}

/// Said when `pay` shows the note of a request this device already paid.
pub fn repeated_message(currency: &Currency, p: &Payment) -> String {
    let handle = p.payee_handle.as_ref().map(|h| format!(" ({h})")).unwrap_or_default();
    format!(
        "You already paid this request: {} to account {}{handle} (note {} of purse {}). The same note is shown again above, so you have not paid twice. Give it to the payee. Left in the purse: {}.",
        money(currency, p.amount),
        p.payee,
        p.seq,
        short_id(&p.purse_id.to_hex()),
        money(currency, p.remaining)
    )
}

pub fn accepted_human(currency: &Currency, a: &AcceptedPayment) -> String {
    format!(
        "Accepted {} from account {} (note {} of purse {}). It reaches your balance when you or the payer run `offpay wallet sync`; sync by {} (when the payer's purse ends) to be sure it is paid.",
        money(currency, a.amount),
        a.payer,
        a.seq,
        short_id(&a.purse_id.to_hex()),
        utc_minute(secs_to_ms(a.sync_by))
    )
}

pub fn accepted_json(a: &AcceptedPayment) -> Value {
    json!({
        "accepted": true,
        "note": a.note_hash.to_hex(),
        "purse_id": a.purse_id.to_hex(),
        "seq": a.seq,
        "amount": a.amount.minor(),
        "from": a.payer.0,
        "sync_by": a.sync_by,
    })
}

pub fn loaded_human(l: &LoadedPurse, offline: Amount) -> String {
    let f = l.record.certificate.fields();
    let balance = l.balance.map(|b| format!(" Balance: {}.", money(&l.currency, b))).unwrap_or_default();
    format!(
        "Loaded {} into offline purse {} (up to {} per payment, valid until {}). Offline: {}.{balance}",
        money(&l.currency, f.amount),
        short_id(&l.record.purse_id().to_hex()),
        money(&l.currency, f.per_payment_cap),
        utc_minute(secs_to_ms(f.valid_until)),
        money(&l.currency, offline),
    )
}

pub fn loaded_json(l: &LoadedPurse, offline: Amount) -> Value {
    let f = l.record.certificate.fields();
    json!({
        "purse_id": l.record.purse_id().to_hex(),
        "certificate": l.record.certificate.to_text(),
        "amount": f.amount.minor(),
        "per_payment_cap": f.per_payment_cap.minor(),
        "valid_from": f.valid_from,
        "valid_until": f.valid_until,
        "balance": l.balance.map(Amount::minor),
        "offline": offline.minor(),
        "resumed": l.resumed,
    })
}

pub fn closed_human(currency: &Currency, closed: &[ClosedPurse]) -> String {
    if closed.is_empty() {
        return "No open purse to close.".to_string();
    }
    closed
        .iter()
        .map(|c| {
            let id = short_id(&c.purse_id.to_hex()).to_string();
            match &c.outcome {
                Ok((returned, held)) => format!(
                    "Closed purse {id}: spent {}, {} back to your balance now, {} held for notes not yet settled.",
                    money(currency, c.spent),
                    money(currency, *returned),
                    money(currency, *held)
                ),
                Err(e) => format!(
                    "Purse {id} is closed on this device (it pays nothing more) but the server was not told: {}. The next `offpay wallet sync` (or `purse close`) finishes it.",
                    sanitize(e)
                ),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn closed_json(closed: &[ClosedPurse]) -> Value {
    let purses: Vec<Value> = closed
        .iter()
        .map(|c| match &c.outcome {
            Ok((returned, held)) => json!({
                "purse_id": c.purse_id.to_hex(), "spent": c.spent.minor(), "returned": returned.minor(), "held": held.minor(),
            }),
            Err(e) => json!({"purse_id": c.purse_id.to_hex(), "spent": c.spent.minor(), "error": e}),
        })
        .collect();
    json!({ "purses": purses })
}

pub fn purses_human(currency: &Currency, purses: &[PurseRecord], now: u64) -> String {
    if purses.is_empty() {
        return "No offline purse on this device.".to_string();
    }
    purses
        .iter()
        .map(|p| {
            let f = p.certificate.fields();
            let status = if p.status == PurseStatus::Open && !p.usable_at(now) {
                "outside its window"
            } else {
                p.status.as_str()
            };
            format!(
                "Purse {}: {} of {} left, {} of {} payments made, {status}, valid until {}",
                short_id(&p.purse_id().to_hex()),
                money(currency, p.remaining()),
                money(currency, f.amount),
                p.state.last_seq,
                MAX_NOTES_PER_PURSE,
                utc_minute(secs_to_ms(f.valid_until))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn purses_json(purses: &[PurseRecord], offline: Amount) -> Value {
    let list: Vec<Value> = purses
        .iter()
        .map(|p| {
            let f = p.certificate.fields();
            json!({
                "purse_id": p.purse_id().to_hex(),
                "amount": f.amount.minor(),
                "spent": p.state.spent.minor(),
                "remaining": p.remaining().minor(),
                "last_seq": p.state.last_seq,
                "state": p.status.as_str(),
                "valid_until": f.valid_until,
            })
        })
        .collect();
    json!({ "purses": list, "offline": offline.minor() })
}

pub fn sync_human(currency: &Currency, r: &SyncReport, offline: Amount) -> String {
    let again = r.refused_for_now();
    let refused = match again {
        0 => format!("{} refused", r.rejected.len()),
        n => format!("{} refused ({n} sent again at the next sync)", r.rejected.len()),
    };
    let mut lines = vec![format!(
        "Uploaded {} note(s): {} settled, {} already settled, {refused}, {} part of a fraud proof; {} still pending.",
        r.uploaded, r.settled, r.duplicate, r.fraud, r.pending
    )];
    for (hash, reason) in &r.rejected {
        let code = sanitize(reason.as_deref().unwrap_or("no reason given"));
        if SyncReport::sent_again(reason.as_deref()) {
            let why = match reason.as_deref() {
                Some("payee_balance_full") => {
                    "the payee's balance is at the largest amount an account can hold; it is sent again at every sync and paid once the payee has room for it"
                }
                _ => {
                    "the payer's purse is past its settlement deadline and the payer's balance does not cover this note yet; it is sent again at every sync and paid once the payer has the money"
                }
            };
            lines.push(format!("  refused for now, note {}: {code}: {why}", short_id(&hash.to_hex())));
        } else {
            lines.push(format!("  refused note {}: {code}", short_id(&hash.to_hex())));
        }
    }
    for (hash, paid) in &r.held {
        let paid = Amount::from_minor(*paid).unwrap_or(Amount::ZERO);
        lines.push(format!(
            "  held note {}: {} paid now; the payer's purse was double-spent beyond what the operator covers (loss_allowance_exhausted), the rest is paid when money is recovered from the payer",
            short_id(&hash.to_hex()),
            money(currency, paid)
        ));
    }
    for c in &r.counter_refusals {
        lines.push(counter_refusal_line(currency, c));
    }
    if !r.closed.is_empty() {
        lines.push(closed_human(currency, &r.closed));
    }
    lines.push(format!(
        "Issuer keys: {}. Revoked: {} purse(s), {} device(s).",
        r.issuer_keys, r.revoked_purses, r.revoked_devices
    ));
    if r.device_revoked {
        lines.push("This device has been revoked: it can no longer pay offline.".to_string());
    }
    lines.push(format!("Offline purse: {}.", money(currency, offline)));
    lines.join("\n")
}

/// One line about a card note this counter refused, answered by the server in this sync.
fn counter_refusal_line(currency: &Currency, c: &CounterRefusal) -> String {
    let (amount, payer) = (money(currency, c.amount), c.payer.0);
    match c.state {
        RefusalState::Refunded => format!(
            "Returned {} to account {payer} (refused at the counter): the payer's phone had synced first, so it was taken back from this account's balance.",
            money(currency, c.returned)
        ),
        RefusalState::Voided => {
            format!("Returned {amount} to account {payer} (refused at the counter): it will not be paid to this shop.")
        }
        RefusalState::Failed if c.is_a_double_spend() => format!(
            "Not returned: {amount} to account {payer} (refused at the counter). The server will not give it back: the payer spent this purse's money twice, and the operator covered it. Keep it; contact the operator if the payer asks."
        ),
        RefusalState::Failed if c.is_never_paid() => format!(
            "Nothing to return: {amount} from account {payer} (refused at the counter) is not a payment the server would ever pay. The server said: {}.",
            sanitize(c.failure.as_deref().unwrap_or("no reason given"))
        ),
        RefusalState::Failed => format!(
            "Not returned: {amount} to account {payer} (refused at the counter). The server said: {}. If this payment reaches this shop's balance, give it back to the payer yourself.",
            sanitize(c.failure.as_deref().unwrap_or("no reason given"))
        ),
        RefusalState::Pending => {
            format!("To return: {amount} to account {payer} (refused at the counter), sent again at the next sync.")
        }
    }
}

pub fn sync_json(r: &SyncReport, offline: Amount) -> Value {
    json!({
        "uploaded": r.uploaded,
        "settled": r.settled,
        "duplicate": r.duplicate,
        "fraud": r.fraud,
        "rejected": r
            .rejected
            .iter()
            .map(|(h, reason)| {
                json!({"note": h.to_hex(), "reason": reason, "sent_again": SyncReport::sent_again(reason.as_deref())})
            })
            .collect::<Vec<_>>(),
        "held": r.held.iter().map(|(h, paid)| json!({"note": h.to_hex(), "paid": paid, "reason": "loss_allowance_exhausted"})).collect::<Vec<_>>(),
        "pending": r.pending,
        "issuer_keys": r.issuer_keys,
        "revoked_purses": r.revoked_purses,
        "revoked_devices": r.revoked_devices,
        "device_revoked": r.device_revoked,
        "counter_refusals": r.counter_refusals.iter().map(|c| json!({
            "note": c.note_hash.to_hex(), "payer": c.payer.0, "amount": c.amount.minor(), "state": c.state.as_str(),
            "returned": c.returned.minor(), "failure": c.failure,
        })).collect::<Vec<_>>(),
        "closed": closed_json(&r.closed)["purses"],
        "purses": r.purses.iter().map(|(id, status, left)| json!({"purse_id": id.to_hex(), "state": status.as_str(), "remaining": left.minor()})).collect::<Vec<_>>(),
        "offline": offline.minor(),
    })
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use offpay_protocol::{AccountNumber, Handle, PurseId};

    use super::*;

    fn amt(minor: u64) -> Amount {
        Amount::from_minor(minor).unwrap()
    }

    #[test]
    fn the_confirmation_names_amount_account_and_handle() {
        let preview = PayPreview {
            amount: amt(15_000),
            payee: AccountNumber(2),
            payee_handle: Handle::parse("bob").ok(),
            purse_id: PurseId::from_bytes([7; 16]),
            remaining_after: amt(35_000),
            repeated: false,
        };
        assert_eq!(pay_question(&Currency::INR, &preview), "Pay 150.00 INR to account 2 (bob)?");
    }

    #[test]
    fn accept_output_for_people_and_scripts() {
        let a = AcceptedPayment {
            note_hash: offpay_protocol::crypto::sha256(b"n"),
            purse_id: PurseId::from_bytes([0xab; 16]),
            payer: AccountNumber(1001),
            seq: 3,
            amount: amt(15_000),
            nonce: offpay_protocol::Nonce::from_bytes([1; 16]),
            sync_by: 1_767_225_600,
        };
        assert_eq!(
            accepted_human(&Currency::INR, &a),
            "Accepted 150.00 INR from account 1001 (note 3 of purse abababababab). It reaches your balance when you or the payer run `offpay wallet sync`; sync by 2026-01-01 00:00 UTC (when the payer's purse ends) to be sure it is paid."
        );
        let j = accepted_json(&a);
        assert_eq!(j["sync_by"].as_u64(), Some(1_767_225_600));
        assert_eq!((j["amount"].as_u64(), j["from"].as_u64(), j["seq"].as_u64()), (Some(15_000), Some(1001), Some(3)));
        assert_eq!(j["accepted"], true);
    }

    #[test]
    fn sync_summary_lists_refusals() {
        let report = SyncReport {
            uploaded: 3,
            settled: 1,
            duplicate: 1,
            rejected: vec![(offpay_protocol::crypto::sha256(b"x"), Some("bad_device_signature".into()))],
            issuer_keys: 1,
            ..SyncReport::default()
        };
        let text = sync_human(&Currency::INR, &report, amt(35_000));
        assert!(text.starts_with("Uploaded 3 note(s): 1 settled, 1 already settled, 1 refused"), "{text}");
        assert!(text.contains("bad_device_signature"), "{text}");
        assert!(text.ends_with("Offline purse: 350.00 INR."), "{text}");
        assert_eq!(sync_json(&report, amt(35_000))["rejected"][0]["reason"], "bad_device_signature");
        assert_eq!(sync_json(&report, amt(35_000))["rejected"][0]["sent_again"], false);
    }

    /// A note refused at the settlement deadline is not lost: the wallet says it is sent again.
    #[test]
    fn sync_summary_says_which_refusals_are_sent_again() {
        let late = offpay_protocol::crypto::sha256(b"late");
        let report = SyncReport {
            uploaded: 2,
            rejected: vec![
                (late, Some("settlement_deadline_passed".into())),
                (offpay_protocol::crypto::sha256(b"x"), Some("bad_device_signature".into())),
            ],
            ..SyncReport::default()
        };
        let text = sync_human(&Currency::INR, &report, amt(0));
        assert!(text.contains("2 refused (1 sent again at the next sync)"), "{text}");
        let line = format!("  refused for now, note {}: settlement_deadline_passed:", short_id(&late.to_hex()));
        assert!(text.contains(&line), "{text}");
        assert!(text.contains("sent again at every sync"), "{text}");
        assert!(text.contains(": bad_device_signature\n"), "{text}");
        let json = sync_json(&report, amt(0));
        assert_eq!(
            (json["rejected"][0]["sent_again"].as_bool(), json["rejected"][1]["sent_again"].as_bool()),
            (Some(true), Some(false))
        );
    }
}
