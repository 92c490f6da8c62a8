//! The payer side of an offline purse: [`PurseState`] (last sequence number, last hash, total
//! spent) and [`prepare_next`], which checks a payment request and makes the next note and the
//! next state together; [`prepare_card_payment`] does the same for a shop card (no request). The wallet must store the new state durably *before* it shows or sends
//! the note, so it can never sign two different notes with one sequence number.

use ed25519_dalek::SigningKey;

use crate::Amount;
use crate::certificate::PurseCertificate;
use crate::close::{CloseFields, CloseStatement};
use crate::ids::{AccountNumber, CurrencyCode, Hash256, Nonce, PurseId, UnixTime};
use crate::note::{NoteFields, PaymentNote};
use crate::reject::RejectReason;
use crate::request::PaymentRequest;
use crate::shop_card::{ShopCard, card_nonce};
use crate::wire::FieldError;

/// The most notes one purse may sign: a note's `seq` is at most this. Payers never sign past
/// it, payees refuse a note past it offline (`over_note_limit`), and so does the server. It
/// bounds the notes the server keeps per purse, and so the work of settling an upload to it
/// (docs/decisions/notes-per-purse.md).
pub const MAX_NOTES_PER_PURSE: u32 = 1_000;

/// Where a purse's hash chain stands on the payer's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurseState {
    pub purse_id: PurseId,
    /// Sequence number of the last note signed; 0 before the first.
    pub last_seq: u32,
    /// Hash of the last note signed, or of the certificate before the first.
    pub last_hash: Hash256,
    /// Cumulative amount of the last note signed.
    pub spent: Amount,
}

/// Why the payer's device refuses to make a note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    #[error("the purse state belongs to another purse")]
    StateMismatch,
    #[error("this device's key is not the purse's device key")]
    WrongDeviceKey,
    #[error("the purse cannot be used now: {0}")]
    Certificate(RejectReason),
    #[error("the payment request is refused: {0}")]
    Request(RejectReason),
    #[error("the request is in {requested}, the purse in {purse}")]
    CurrencyMismatch { requested: String, purse: String },
    #[error("the amount is over the purse's per-payment cap of {cap}")]
    OverPaymentCap { cap: Amount },
    #[error("the purse has only {remaining} left")]
    InsufficientPurse { remaining: Amount },
    #[error("the purse has made its {max} payments, the most one purse may make: close it and load a new one")]
    PurseFull { max: u32 },
    #[error(transparent)]
    Field(#[from] FieldError),
}

impl PurseState {
    /// The state of a purse that has signed nothing yet.
    pub fn new(certificate: &PurseCertificate) -> PurseState {
        PurseState { purse_id: certificate.purse_id(), last_seq: 0, last_hash: certificate.hash(), spent: Amount::ZERO }
    }

    /// What the purse can still spend.
    pub fn remaining(&self, certificate: &PurseCertificate) -> Amount {
        certificate.fields().amount.checked_sub(self.spent).unwrap_or(Amount::ZERO)
    }

    /// Signs the close statement for this state.
    pub fn close(
        &self,
        certificate: &PurseCertificate,
        device: &SigningKey,
        now: UnixTime,
    ) -> Result<CloseStatement, PayError> {
        check_owner(certificate, self, device)?;
        let fields = CloseFields {
            purse_id: self.purse_id,
            last_seq: self.last_seq,
            last_hash: self.last_hash,
            total_spent: self.spent,
            time: now,
        };
        Ok(CloseStatement::sign(fields, device)?)
    }
}

fn check_owner(certificate: &PurseCertificate, state: &PurseState, device: &SigningKey) -> Result<(), PayError> {
    if state.purse_id != certificate.purse_id() {
        return Err(PayError::StateMismatch);
    }
    if device.verifying_key() != certificate.fields().device_key {
        return Err(PayError::WrongDeviceKey);
    }
    Ok(())
}

/// Checks `request` and makes the next note of the purse and the state after it.
///
/// Checks, in order: state and key belong to the certificate, the certificate window contains
/// `now`, the request's signature and expiry, the purse has signed fewer than
/// [`MAX_NOTES_PER_PURSE`] notes, same currency, amount within the per-payment cap, amount
/// within what is left. Store the returned state durably before releasing the note.
pub fn prepare_next(
    certificate: &PurseCertificate,
    state: &PurseState,
    device: &SigningKey,
    request: &PaymentRequest,
    now: UnixTime,
) -> Result<(PurseState, PaymentNote), PayError> {
    check_owner(certificate, state, device)?;
    certificate.check_window(now).map_err(PayError::Certificate)?;
    request.verify(now).map_err(PayError::Request)?;
    let req = request.fields();
    sign_next(
        certificate,
        state,
        device,
        Payment { currency: req.currency, amount: req.amount, payee: req.payee, nonce: req.nonce },
        now,
    )
}

/// Pays a shop card without a request (docs/PROTOCOL.md section 16): checks, in order, state
/// and key belong to the certificate, the certificate window contains `now`, the card's
/// signature ([`ShopCard::verify`], as `PayError::Request(bad_card_signature)`), the purse is
/// not full ([`MAX_NOTES_PER_PURSE`]), same currency,
/// amount within the per-payment cap and within what is left; then makes the next note to the
/// card's account with the nonce [`card_nonce`]`(card, random)`. `random`: 12 bytes the
/// caller draws fresh for this payment. Store the returned state durably before releasing the
/// note.
pub fn prepare_card_payment(
    certificate: &PurseCertificate,
    state: &PurseState,
    device: &SigningKey,
    card: &ShopCard,
    amount: Amount,
    random: [u8; 12],
    now: UnixTime,
) -> Result<(PurseState, PaymentNote), PayError> {
    check_owner(certificate, state, device)?;
    certificate.check_window(now).map_err(PayError::Certificate)?;
    card.verify().map_err(PayError::Request)?;
    let c = card.fields();
    let nonce = card_nonce(card, random);
    sign_next(certificate, state, device, Payment { currency: c.currency, amount, payee: c.payee, nonce }, now)
}

/// What one payment asks for, from a request or a card.
struct Payment {
    currency: CurrencyCode,
    amount: Amount,
    payee: AccountNumber,
    nonce: Nonce,
}

/// The checks after the request or card and the signing, shared by both ways to pay.
fn sign_next(
    certificate: &PurseCertificate,
    state: &PurseState,
    device: &SigningKey,
    pay: Payment,
    now: UnixTime,
) -> Result<(PurseState, PaymentNote), PayError> {
    if state.last_seq >= MAX_NOTES_PER_PURSE {
        return Err(PayError::PurseFull { max: MAX_NOTES_PER_PURSE });
    }
    let cert = certificate.fields();
    if pay.currency != cert.currency {
        return Err(PayError::CurrencyMismatch {
            requested: pay.currency.to_string(),
            purse: cert.currency.to_string(),
        });
    }
    if pay.amount > cert.per_payment_cap {
        return Err(PayError::OverPaymentCap { cap: cert.per_payment_cap });
    }
    let remaining = state.remaining(certificate);
    let cumulative = state
        .spent
        .checked_add(pay.amount)
        .filter(|c| *c <= cert.amount)
        .ok_or(PayError::InsufficientPurse { remaining })?;
    let seq = state.last_seq + 1;
    let fields = NoteFields {
        seq,
        prev_hash: state.last_hash,
        cumulative,
        amount: pay.amount,
        payee: pay.payee,
        nonce: pay.nonce,
        time: now,
    };
    let note = PaymentNote::sign(certificate.clone(), fields, device)?;
    let next = PurseState { purse_id: state.purse_id, last_seq: seq, last_hash: note.hash(), spent: cumulative };
    Ok((next, note))
}
