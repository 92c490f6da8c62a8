//! Errors of offline payment: each variant reads as one sentence a customer can act on. A
//! refused note keeps the protocol's [`RejectReason`] (stable code + sentence).

use offpay_protocol::{AmountError, DecodeError, PayError, RejectReason};

use super::store::OfflineStoreError;
use crate::client::{ClientError, ServerUrlError};

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Store(#[from] OfflineStoreError),
    #[error(
        "this device does not know your account number yet; run `offpay wallet sync` once while the server can be reached"
    )]
    UnknownIdentity,
    /// No identity cached, and the server could not tell it (`source`: why).
    #[error(
        "this device does not know your account number yet; run `offpay wallet sync` once while the server can be reached"
    )]
    IdentityUnavailable(#[source] Box<OfflineError>),
    #[error(
        "this device's offline data belongs to {cached}, but the wallet is logged in as {current}; log in as {cached} again"
    )]
    IdentityMismatch { cached: String, current: String },
    #[error("this wallet is not logged in; run `offpay wallet login HANDLE` first")]
    NotLoggedIn,
    #[error("your session has ended; log in again with `offpay wallet login {handle}`")]
    SessionEnded { handle: String },
    #[error("there is no offline purse on this device; load one with `offpay wallet purse load AMOUNT` while online")]
    NoPurse,
    #[error(
        "this device's offline purse was revoked by the server (double spending was detected); it can no longer pay offline"
    )]
    PurseRevoked,
    #[error("this is not a payment request: {0}")]
    MalformedRequest(DecodeError),
    /// Not a `source`: the message already says it (one sentence, not "X: X" in a chain).
    #[error("cannot pay: {0}")]
    Pay(PayError),
    /// The request reuses the nonce of a request this device already paid, with another payee,
    /// amount or currency (`pay_once.rs`).
    #[error(
        "this payment request looks like one you already paid ({earlier}) but asks for {asked}; a real new request would look different, so nothing was paid: ask the payee to make a new payment request"
    )]
    RequestReused { earlier: String, asked: String },
    #[error("payment refused by the payer: cancelled")]
    Cancelled,
    /// The payee's acceptance check refused the note.
    #[error("note refused ({code}): {0}{advice}", code = .0.code(), advice = refused_advice(.0))]
    Rejected(RejectReason),
    /// The counter refused a card note the server would still pay (a clock is off, the note is
    /// for this shop's retired card, or this device does not know its issuer key), and keeps it
    /// to give back at sync (`counter_refusals.rs`).
    #[error(
        "note refused ({code}): {why}, so this counter does not take the payment. This shop does not keep it: the next `offpay wallet sync` gives it back to account {payer} (taking it back from this account if the payer's phone synced first). {next}",
        code = .reason.code(),
        why = kept_why(reason, *window_min),
        next = kept_next(reason)
    )]
    KeptToGiveBack { reason: RejectReason, payer: u64, window_min: u64 },
    /// A card note this counter refused before (and gives back) was shown again.
    #[error("note refused (refused_here_before): this counter refused this payment code before; {advice}")]
    RefusedHereBefore {
        payer: u64,
        advice: String,
        /// False when the server would not take it back (then it may be this shop's to settle).
        given_back: bool,
    },
    /// A card note whose nonce is that of a note this counter refused and keeps to give back:
    /// nothing was received for it, so the shop must not take it for "already received"; if it
    /// passes every other check it is kept and given back too (`counter_refusals.rs`).
    #[error(
        "note refused (nonce_replayed): this code repeats the number of a code refused at this counter, so this counter does not take it. This shop does not keep it: if it was paid, the next `offpay wallet sync` gives it back to account {payer}. Hand over nothing for it and ask the payer to pay another way"
    )]
    RepeatsARefusedCode { payer: u64 },
    /// The shop's receipt check refused the receipt.
    #[error("receipt refused ({code}): {0}{advice}", code = .0.code(), advice = receipt_advice(.0))]
    ReceiptRejected(RejectReason),
    #[error("this is not a shop name: {0} (1 to 48 bytes of printable text, no space at either end)")]
    BadShopName(DecodeError),
    #[error("this home has no shop card yet; make one with `offpay wallet shop card --name NAME`")]
    NoShopCard,
    /// The home's shop card pays another account than the one this home acts for now (another
    /// account logged in on the counter's device): its payments would not be this account's.
    #[error(
        "this home's shop card pays account {card}, not the account signed in here ({me}), so this counter does not take the payment; the customer's phone has signed it, and it is paid to account {card} when that phone syncs: do not take a second payment until it shows in that account's history. Make this account's own card with `offpay wallet shop card --name NAME`"
    )]
    CardOfAnotherAccount { card: u64, me: u64 },
    /// `pay-shop --idempotency-key` with a key this device already used for another card or
    /// amount.
    #[error(
        "the idempotency key {key} was already used on this device for another shop payment; nothing was paid. Use a new key for a new payment"
    )]
    CardKeyReused { key: String },
    /// `pay-shop --offline --idempotency-key` with the key of a payment this device sent online
    /// whose outcome is not known yet: it may be paid, so it is not paid offline too.
    #[error(
        "payment {key} was sent online and its outcome is not known yet, so it is not paid offline too; nothing was signed. Run `offpay wallet retry {key}` (or `offpay wallet sync`) when the server can be reached to finish it"
    )]
    SentOnline { key: String },
    /// `pay-shop --offline --idempotency-key` with the key of a payment the server posted.
    #[error(
        "payment {key} was already paid online (journal entry {entry_id}); nothing was signed. Use a new key for a new payment"
    )]
    PaidOnline { key: String, entry_id: i64 },
    #[error("this is not a shop card: {0}")]
    MalformedCard(DecodeError),
    #[error(transparent)]
    Amount(#[from] AmountError),
    #[error("the request would expire before it is made (valid for {0} seconds)")]
    BadValidity(u64),
    #[error(transparent)]
    ServerUrl(#[from] ServerUrlError),
    /// The server refused, or could not be reached.
    #[error(transparent)]
    Api(#[from] ClientError),
    #[error(
        "no answer from the server about loading the purse ({reason}); run the same `purse load` again to finish it: it will not be loaded twice"
    )]
    LoadUncertain { reason: String },
    /// The server made the purse (it says it is open) but this device's clock is past the
    /// certificate's end: the load stays unfinished, to be finished once the clock is right.
    #[error(
        "the purse the server made has already expired by this device's clock; set the clock right, then run the same `purse load` again to finish it (it will not be loaded twice)"
    )]
    LoadClockAhead,
    #[error(
        "an earlier purse load of {amount} minor units is unfinished; run `offpay wallet purse load` with that amount to finish it first"
    )]
    LoadPending { amount: u64 },
    #[error("the server sent a purse certificate this device cannot use: {0}")]
    BadCertificate(String),
    /// The online wallet's part (settings, server address) failed.
    #[error(transparent)]
    Wallet(Box<crate::error::WalletError>),
}

impl OfflineError {
    /// The protocol's reason code when a note or request was refused.
    pub fn reject_code(&self) -> Option<&'static str> {
        match self {
            OfflineError::Rejected(r) | OfflineError::ReceiptRejected(r) => Some(r.code()),
            OfflineError::KeptToGiveBack { reason, .. } => Some(reason.code()),
            OfflineError::RefusedHereBefore { .. } => Some("refused_here_before"),
            OfflineError::RepeatsARefusedCode { .. } => Some("nonce_replayed"),
            OfflineError::Pay(PayError::Request(r) | PayError::Certificate(r)) => Some(r.code()),
            _ => None,
        }
    }

    /// The server's stable error code, when the server refused a request.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            OfflineError::Api(e) => e.code(),
            _ => None,
        }
    }
}

/// What the shop should do after a refusal, where the refusal alone would mislead it.
fn refused_advice(reason: &RejectReason) -> &'static str {
    match reason {
        // A card note passes the payee check before the card check: it pays this shop's account.
        // Nothing here is kept and nothing else about the note was checked, so nothing is
        // promised: it may never be paid.
        RejectReason::WrongCard => {
            ". Hand over nothing for it: if the shop has another counter, the payer can show it there; if no counter of the shop took it and it reaches this shop's account when the payer's phone syncs, give it back from the shop's history"
        }
        _ => "",
    }
}

/// What the shop should do after a receipt refusal where the money is already in its account.
fn receipt_advice(reason: &RejectReason) -> &'static str {
    match reason {
        // The payment was made online and booked; only its use for these goods is in doubt.
        RejectReason::WrongCard => {
            ". It is for a payment made at another counter of this shop (or it names no counter): its money is already in this shop's account; the customer can show it at the counter whose card was paid"
        }
        RejectReason::StaleReceipt => {
            ". Its money is already in this shop's account, but it was paid too long ago to be taken for goods now (it may have paid for something else): look for it in the shop's history with the customer, and do not ask for a second payment for goods it paid"
        }
        _ => "",
    }
}

/// Why a note kept to give back was refused, in words (`KeptToGiveBack`).
fn kept_why(reason: &RejectReason, window_min: u64) -> String {
    match reason {
        RejectReason::WrongCard => {
            "the payment was made for this shop's old card, which this counter no longer takes".into()
        }
        RejectReason::UnknownIssuerKey => {
            "the payer's purse was issued with a key this device does not know yet, so it cannot check the payment"
                .into()
        }
        RejectReason::Revoked => {
            "the operator revoked the payer's purse or phone (money was spent twice from it)".into()
        }
        _ => format!(
            "{reason}: the payer's phone clock or this device's is off (this counter takes notes made within {window_min} minutes of its clock, from a purse valid by it)"
        ),
    }
}

/// What the payer can do after a note kept to give back (`KeptToGiveBack`).
fn kept_next(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::WrongCard => "The payer can scan the shop's current card and pay again",
        RejectReason::UnknownIssuerKey => {
            "The payer can pay another way; take this device online (`offpay wallet sync`) when you can"
        }
        RejectReason::Revoked => "The payer can pay another way",
        _ => "The payer can set the phone's clock right and pay again",
    }
}

impl From<crate::store::StoreError> for OfflineError {
    fn from(error: crate::store::StoreError) -> OfflineError {
        OfflineError::Store(error.into())
    }
}

impl From<crate::error::WalletError> for OfflineError {
    fn from(error: crate::error::WalletError) -> OfflineError {
        OfflineError::Wallet(Box::new(error))
    }
}

impl From<PayError> for OfflineError {
    fn from(error: PayError) -> OfflineError {
        OfflineError::Pay(error)
    }
}
