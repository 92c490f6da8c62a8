//! One payment per request, the payer's side (docs/OFFLINE.md, "The payer"): this device never
//! signs a second note for a payment request it already paid; `pay` hands over the earlier note
//! again instead.
//!
//! A request was paid earlier when a note this device signed carries its nonce (the `paid`
//! table's `nonce` column, schema 2). That note must also pay the request's payee account, amount
//! and currency; a request reusing a paid nonce with other terms is refused, since an honest
//! payee makes a fresh random nonce for every request. The lookup runs after the request's
//! signature is checked but before its expiry: an expired request that was paid still shows its
//! note (the payee is paid when either side syncs it), rather than hiding that it was paid.

use offpay_protocol::{Amount, Currency, CurrencyCode, Encoded, PaymentNote, PaymentRequest, RejectReason, UnixTime};
use rusqlite::Connection;

use super::error::OfflineError;
use super::store::{corrupt, notes};

/// Checks the request's signature (not its expiry), then returns the note this device already
/// signed for it with its text, or `None` when it never paid it. Refuses a request that reuses
/// a paid request's nonce with another payee, amount or currency. `currency` (the identity's,
/// when known) only formats the refusal.
pub(crate) fn earlier_note(
    conn: &Connection,
    request: &PaymentRequest,
    now: UnixTime,
    currency: Option<&Currency>,
) -> Result<Option<(PaymentNote, String)>, OfflineError> {
    match request.verify(now) {
        Ok(()) | Err(RejectReason::RequestExpired) => {}
        Err(reason) => return Err(offpay_protocol::PayError::Request(reason).into()),
    }
    let r = request.fields();
    let Some(text) = notes::paid_text_for_nonce(conn, r.nonce)? else {
        return Ok(None);
    };
    let note = PaymentNote::from_text(&text).map_err(|e| corrupt("paid note", e))?;
    let n = note.fields();
    let note_currency = note.certificate().fields().currency;
    if n.payee != r.payee || n.amount != r.amount || note_currency != r.currency {
        return Err(OfflineError::RequestReused {
            earlier: describe(n.amount, note_currency, n.payee, currency),
            asked: describe(r.amount, r.currency, r.payee, currency),
        });
    }
    Ok(Some((note, text)))
}

/// "150.00 INR to account 2002" (minor units when the currency's decimals are unknown).
fn describe(
    amount: Amount,
    code: CurrencyCode,
    payee: offpay_protocol::AccountNumber,
    known: Option<&Currency>,
) -> String {
    let money = match known {
        Some(c) if c.code() == code.as_str() => format!("{} {}", c.format(amount), c.code()),
        _ => format!("{} minor units of {}", amount.minor(), code.as_str()),
    };
    format!("{money} to account {payee}")
}
