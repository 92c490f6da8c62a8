//! The wallet's error type: each variant reads as one sentence a customer can act on.

use offpay_protocol::{AmountError, HandleError};

use crate::client::{ClientError, ServerUrlError};
use crate::events::WatchError;
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
    /// A send whose outcome is unknown: it stays in the outbox with its idempotency key.
    #[error(
        "no answer from the server about this payment ({reason}); it may or may not have gone through. \
         Run the same send again to finish it: it will not be paid twice"
    )]
    SendUncertain { reason: String },
    #[error("the server's currency settings are unusable: {0:?} with {1} decimals")]
    BadCurrency(String, u8),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("live events stopped: {0}")]
    Watch(WatchError),
}

impl WalletError {
    /// The server's stable error code, when the server refused the request.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            WalletError::Client(e) => e.code(),
            _ => None,
        }
    }
}
