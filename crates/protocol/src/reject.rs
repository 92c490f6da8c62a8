//! Why an offline object was refused: one enum for the payee's acceptance check and the
//! other verifications, each reason with a stable snake_case code (shown by the CLI, matched by
//! the test vectors and the web wallet) and a sentence for people.

use crate::wire::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("the data is not a valid offpay object: {0}")]
    Malformed(DecodeError),
    #[error("the purse certificate was issued with a key this device does not know")]
    UnknownIssuerKey,
    #[error("the issuer key was not valid when the purse certificate was issued")]
    IssuerKeyNotValid,
    #[error("the issuer's signature on the purse certificate is not valid")]
    BadIssuerSignature,
    #[error("the purse certificate is not valid yet")]
    CertificateNotYetValid,
    #[error("the purse certificate has expired")]
    CertificateExpired,
    #[error("the payer device's signature is not valid")]
    BadDeviceSignature,
    #[error("the payee's signature on the payment request is not valid")]
    BadRequestSignature,
    #[error("the purse or the payer's device has been revoked")]
    Revoked,
    #[error("the first note of the purse does not start from its certificate")]
    BadChainStart,
    #[error("the note pays someone else")]
    WrongPayee,
    #[error("this note was already accepted")]
    AlreadyAccepted,
    #[error("the note answers no open payment request of this device")]
    UnknownRequest,
    #[error("the payment request was already paid")]
    RequestAlreadyPaid,
    #[error("the payment request has expired")]
    RequestExpired,
    #[error("the note's amount differs from the requested amount")]
    AmountMismatch,
    #[error("the amount is over the purse's per-payment cap")]
    OverPaymentCap,
    #[error("the purse has already made the most payments one purse may make")]
    OverNoteLimit,
    #[error("the purse would pay more than its amount")]
    OverPurseAmount,
    #[error("the note contradicts an earlier note from the same purse")]
    InconsistentWithEarlierNote,
    #[error("the close statement belongs to another purse")]
    WrongPurse,
    #[error("internal error: the purse tally passed in belongs to another purse")]
    TallyMismatch,
    #[error("the shop's signature on the shop card is not valid")]
    BadCardSignature,
    #[error("the note was made for another shop card")]
    WrongCard,
    #[error("a note with this nonce was already accepted")]
    NonceReplayed,
    #[error("the note's time is too far from this device's clock")]
    StaleNote,
    #[error("the payment is in another currency")]
    WrongCurrency,
    #[error("the server's signature on the receipt is not valid")]
    BadReceiptSignature,
    #[error("the receipt is for a payment to someone else")]
    ReceiptForAnotherPayee,
    #[error("this receipt was already accepted")]
    ReceiptReplayed,
    #[error("the receipt is too old")]
    StaleReceipt,
}

impl RejectReason {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Malformed(_) => "malformed",
            RejectReason::UnknownIssuerKey => "unknown_issuer_key",
            RejectReason::IssuerKeyNotValid => "issuer_key_not_valid",
            RejectReason::BadIssuerSignature => "bad_issuer_signature",
            RejectReason::CertificateNotYetValid => "certificate_not_yet_valid",
            RejectReason::CertificateExpired => "certificate_expired",
            RejectReason::BadDeviceSignature => "bad_device_signature",
            RejectReason::BadRequestSignature => "bad_request_signature",
            RejectReason::Revoked => "revoked",
            RejectReason::BadChainStart => "bad_chain_start",
            RejectReason::WrongPayee => "wrong_payee",
            RejectReason::AlreadyAccepted => "already_accepted",
            RejectReason::UnknownRequest => "unknown_request",
            RejectReason::RequestAlreadyPaid => "request_already_paid",
            RejectReason::RequestExpired => "request_expired",
            RejectReason::AmountMismatch => "amount_mismatch",
            RejectReason::OverPaymentCap => "over_payment_cap",
            RejectReason::OverNoteLimit => "over_note_limit",
            RejectReason::OverPurseAmount => "over_purse_amount",
            RejectReason::InconsistentWithEarlierNote => "inconsistent_with_earlier_note",
            RejectReason::WrongPurse => "wrong_purse",
            RejectReason::TallyMismatch => "tally_mismatch",
            RejectReason::BadCardSignature => "bad_card_signature",
            RejectReason::WrongCard => "wrong_card",
            RejectReason::NonceReplayed => "nonce_replayed",
            RejectReason::StaleNote => "stale_note",
            RejectReason::WrongCurrency => "wrong_currency",
            RejectReason::BadReceiptSignature => "bad_receipt_signature",
            RejectReason::ReceiptForAnotherPayee => "receipt_for_another_payee",
            RejectReason::ReceiptReplayed => "receipt_replayed",
            RejectReason::StaleReceipt => "stale_receipt",
        }
    }
}

impl From<DecodeError> for RejectReason {
    fn from(e: DecodeError) -> Self {
        RejectReason::Malformed(e)
    }
}
