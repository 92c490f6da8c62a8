//! The payer's side, with no server, as [`Wallet`] methods: read a payment request, make the
//! note (choosing a purse that can pay it), and the offline balance.
//!
//! Crash safety: `pay` reads the purse state, signs the next note and writes the new state and
//! the note in one `BEGIN IMMEDIATE` transaction, committed (`synchronous=FULL`) before the
//! note is returned. A crash before the commit leaves no note anywhere; after it, the device
//! continues at the next sequence number. Two `pay` calls (even in two processes) serialize on
//! the write lock, so a sequence number is never used twice by one store.
//!
//! One payment per request (`pay_once.rs`): inside that same transaction and before signing,
//! `pay` looks for a note this device already signed for the request; if there is one it signs
//! and writes nothing and returns that note again (`Payment::repeated`). So two `pay` calls on
//! one request, even racing in two processes, give one note.

use offpay_protocol::{
    AccountNumber, Amount, Encoded, Handle, PayError, PaymentNote, PaymentRequest, PurseId, PurseState, Revocations,
    SigningKey, UnixTime, prepare_next,
};
use rusqlite::{Connection, TransactionBehavior};

use super::error::OfflineError;
use super::pay_once::earlier_note;
use super::store::{PurseRecord, notes, purses};
use crate::wallet::Wallet;

/// What a payment would do, shown to the payer before they confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayPreview {
    pub amount: Amount,
    pub payee: AccountNumber,
    /// The payee's handle as the request shows it (display only: the account number is what
    /// the note pays).
    pub payee_handle: Option<Handle>,
    pub purse_id: PurseId,
    /// What the purse will have left after this payment.
    pub remaining_after: Amount,
    /// This device already paid this request: `pay` will sign nothing and show that note again.
    pub repeated: bool,
}

/// A note made, stored and ready to hand over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub note: PaymentNote,
    /// The note's text form (`OPN1:…`), for QR code or copy-paste.
    pub text: String,
    pub purse_id: PurseId,
    pub seq: u32,
    pub amount: Amount,
    pub payee: AccountNumber,
    pub payee_handle: Option<Handle>,
    /// What the purse has left.
    pub remaining: Amount,
    /// The request was already paid by this device: this is the earlier note, shown again;
    /// nothing was signed or stored by this call.
    pub repeated: bool,
}

impl Payment {
    /// A payment of `note`: its purse, sequence, amount and payee are the note's own.
    pub(super) fn of_note(
        note: PaymentNote,
        text: String,
        payee_handle: Option<Handle>,
        remaining: Amount,
        repeated: bool,
    ) -> Payment {
        Payment {
            purse_id: note.purse_id(),
            seq: note.seq(),
            amount: note.amount(),
            payee: note.fields().payee,
            payee_handle,
            remaining,
            note,
            text,
            repeated,
        }
    }
}

/// Parses a payment request's text form (`OPR1:…`).
pub fn parse_request(text: &str) -> Result<PaymentRequest, OfflineError> {
    PaymentRequest::from_text(text).map_err(OfflineError::MalformedRequest)
}

impl Wallet {
    /// Checks that `request_text` can be paid now, without signing or storing anything. For a
    /// request this device already paid, describes that payment (`repeated`).
    pub fn preview_payment(&self, request_text: &str, now: UnixTime) -> Result<PayPreview, OfflineError> {
        let request = parse_request(request_text)?;
        if let Some((note, text)) = earlier_note(self.store.conn(), &request, now, self.identity_currency().as_ref())? {
            let p = repeated_payment(self.store.conn(), note, text, request.fields().handle.clone())?;
            return Ok(PayPreview {
                amount: p.amount,
                payee: p.payee,
                payee_handle: p.payee_handle,
                purse_id: p.purse_id,
                remaining_after: p.remaining,
                repeated: true,
            });
        }
        let revocations = self.store.revocations()?;
        let purses = self.store.purses()?;
        let (record, state, _note) = choose_and_sign(&purses, self.store.device(), &revocations, &request, now)?;
        Ok(PayPreview {
            amount: request.fields().amount,
            payee: request.fields().payee,
            payee_handle: request.fields().handle.clone(),
            purse_id: record.purse_id(),
            remaining_after: state.remaining(&record.certificate),
            repeated: false,
        })
    }

    /// Pays `request_text` from a purse of this device: checks the request and the purse,
    /// signs the next note, and stores the new purse state and the note durably before
    /// returning it. A request this device already paid gets its earlier note back
    /// (`repeated`), with nothing signed or changed.
    pub fn pay(&mut self, request_text: &str, now: UnixTime) -> Result<Payment, OfflineError> {
        let request = parse_request(request_text)?;
        let revocations = self.store.revocations()?;
        let currency = self.identity_currency();
        let device = self.store.device().clone();
        let tx = self.store.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate).map_err(store_err)?;
        if let Some((note, text)) = earlier_note(&tx, &request, now, currency.as_ref())? {
            // The transaction ends with nothing written (dropping it rolls back a read).
            return repeated_payment(&tx, note, text, request.fields().handle.clone());
        }
        let purses = purses::read_purses(&tx)?;
        let (record, next, note) = choose_and_sign(&purses, &device, &revocations, &request, now)?;
        let text = note.to_text();
        purses::advance_purse(&tx, &record.state, &next)?;
        notes::insert_paid(&tx, &note, &text, now)?;
        tx.commit().map_err(store_err)?;
        Ok(Payment::of_note(note, text, request.fields().handle.clone(), next.remaining(&record.certificate), false))
    }

    /// My currency for messages, when this device knows it (formatting only: errors ignored).
    fn identity_currency(&self) -> Option<offpay_protocol::Currency> {
        self.store.identity().ok().flatten().map(|identity| identity.currency)
    }

    /// What this device can still pay offline at `now`: the sum of what is left in its open
    /// purses that are inside their window and not revoked.
    pub fn offline_balance(&self, now: UnixTime) -> Result<Amount, OfflineError> {
        let revocations = self.store.revocations()?;
        let device = self.store.device_public_key();
        let mut total = Amount::ZERO;
        for purse in self.store.purses()? {
            if purse.usable_at(now) && !revocations.is_revoked(purse.purse_id(), &device) {
                total = total.checked_add(purse.remaining()).unwrap_or(Amount::MAX);
            }
        }
        Ok(total)
    }
}

pub(super) fn store_err(e: rusqlite::Error) -> OfflineError {
    OfflineError::Store(e.into())
}

/// A note this device paid earlier, as a [`Payment`] shown again, with what its purse has left
/// now.
pub(super) fn repeated_payment(
    conn: &Connection,
    note: PaymentNote,
    text: String,
    payee_handle: Option<Handle>,
) -> Result<Payment, OfflineError> {
    let remaining = purses::read_purse(conn, note.purse_id())?.map_or(Amount::ZERO, |p| p.remaining());
    Ok(Payment::of_note(note, text, payee_handle, remaining, true))
}

/// Checks the request, then signs its payment with the first purse that can pay it.
fn choose_and_sign<'a>(
    purses: &'a [PurseRecord],
    device: &SigningKey,
    revocations: &Revocations,
    request: &PaymentRequest,
    now: UnixTime,
) -> Result<(&'a PurseRecord, PurseState, PaymentNote), OfflineError> {
    request.verify(now).map_err(PayError::Request)?;
    choose_purse_and_sign(purses, device, revocations, now, |purse| {
        prepare_next(&purse.certificate, &purse.state, device, request, now)
    })
}

/// Tries the usable purses in order (soonest expiry first) and signs with the first that can
/// pay (`sign`: the request's or the card's payment from that purse). When none can: the
/// request's or card's own problem if it has one, else the reason of the purse with the most
/// left.
pub(super) fn choose_purse_and_sign<'a>(
    purses: &'a [PurseRecord],
    device: &SigningKey,
    revocations: &Revocations,
    now: UnixTime,
    sign: impl Fn(&PurseRecord) -> Result<(PurseState, PaymentNote), PayError>,
) -> Result<(&'a PurseRecord, PurseState, PaymentNote), OfflineError> {
    let device_key = device.verifying_key();
    let mut best_failure: Option<(Amount, PayError)> = None;
    let mut revoked = false;
    for purse in purses {
        if purse.status == purses::PurseStatus::Revoked || revocations.is_revoked(purse.purse_id(), &device_key) {
            revoked = true;
            continue;
        }
        if !purse.usable_at(now) {
            continue;
        }
        match sign(purse) {
            Ok((next, note)) => return Ok((purse, next, note)),
            Err(e @ (PayError::Request(_) | PayError::Field(_))) => return Err(e.into()),
            Err(e) => {
                let left = purse.remaining();
                if best_failure.as_ref().is_none_or(|(best, _)| left > *best) {
                    best_failure = Some((left, e));
                }
            }
        }
    }
    Err(match best_failure {
        Some((_, e)) => e.into(),
        None if revoked => OfflineError::PurseRevoked,
        None => OfflineError::NoPurse,
    })
}
