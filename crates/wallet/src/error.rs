//! The wallet's error type: each variant reads as one sentence a customer can act on.

use offpay_protocol::{AmountError, HandleError};

use crate::client::{ClientError, ServerUrlError};
use crate::events::WatchError;
use crate::offline::OfflineError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("this wallet is not logged in; run `offpay wallet login HANDLE` (or `offpay wallet register HANDLE`)")]
    NotLoggedIn,
    #[error("your session has ended; log in again with `offpay wallet login {handle}`")]
    SessionEnded { handle: String },
    #[error(transparent)]
    Amount(#[from] AmountError),
    #[error(transparent)]
    Handle(#[from] HandleError),
    #[error(transparent)]
    ServerUrl(#[from] ServerUrlError),
    /// The server refused, or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A send whose outcome is unknown: it stays pending in the outbox with its idempotency key
    /// until `retry KEY` or `sync` finishes it.
    #[error(
        "no answer from the server about this payment ({reason}), so it may or may not have gone through. \
         It is kept as pending payment {key}: run `offpay wallet retry {key}` (or `offpay wallet sync`) \
         to finish it; a retry never pays twice"
    )]
    SendUncertain { key: String, reason: String },
    /// The server refused the send: nothing was paid, and the outbox marks it failed.
    #[error("the payment was refused and nothing was paid: {message} ({code})")]
    SendRefused { key: String, code: String, message: String },
    /// The send never reached the server: nothing was paid, and the outbox marks it failed.
    /// (`cause` is not an error source: the sentence already says it, once.)
    #[error("{cause}; the payment was not sent and nothing was paid")]
    SendNotSent { key: String, cause: ClientError },
    /// `send --idempotency-key` with a key this device already used for other terms.
    #[error(
        "the idempotency key {key} was already used on this device for another payment ({earlier}); \
         nothing was sent. Use a new key for a new payment"
    )]
    KeyConflict { key: String, earlier: String },
    #[error("invalid idempotency key {0:?}: use 8 to 128 characters of A-Z, a-z, 0-9, - and _")]
    BadIdempotencyKey(String),
    #[error(
        "this device has no payment with key {0}; `offpay wallet pending` lists the payments waiting for an answer"
    )]
    UnknownSend(String),
    /// `retry KEY`, or a send under KEY, when a card note was paid offline under that key
    /// (checked in the transaction that would write the send).
    #[error("payment {0} was paid offline with a card note, so it is not sent online; nothing was paid now")]
    PaidOffline(String),
    #[error("payment {key} was made from {account} on {server}; log in as {account} on that server to retry it")]
    SendOfOtherAccount { key: String, account: String, server: String },
    #[error("the server's currency settings are unusable: {0:?} with {1} decimals")]
    BadCurrency(String, u8),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("live events stopped: {0}")]
    Watch(WatchError),
    /// The server's receipt of a shop payment is unreadable or pays another account.
    #[error("the payment was made, but the server's receipt cannot be used: {0}")]
    BadReceipt(String),
    /// The device key or the offline tables could not be read.
    #[error(transparent)]
    Offline(Box<OfflineError>),
}

impl From<OfflineError> for WalletError {
    fn from(error: OfflineError) -> WalletError {
        WalletError::Offline(Box::new(error))
    }
}

impl WalletError {
    /// The server's stable error code, when the server refused the request.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            WalletError::Client(e) => e.code(),
            WalletError::SendRefused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True when a payment's outcome is unknown and it is kept pending (to be retried): also
    /// when it was asked to be paid offline and was not, for that reason.
    pub fn is_pending_send(&self) -> bool {
        match self {
            WalletError::SendUncertain { .. } => true,
            WalletError::Offline(e) => matches!(**e, OfflineError::SentOnline { .. }),
            _ => false,
        }
    }
}
