//! The JSON shapes of the server's HTTP API (docs/API.md), as the wallet reads and writes them:
//! the `offpay-api` types the server answers with, re-exported so that the wallet and the server
//! cannot disagree; those of the offline endpoints are in [`crate::offline::api`].
//! Kept apart from the wallet's own types: these follow the wire, the rest follows the user.

pub use offpay_api::{
    Config, Credentials, EntryKind, ErrorBody, ErrorCode, ErrorDetail, HistoryItem, HistoryPage, Login, Me,
    OfflineLimits, PasswordChange, Posted, PostedKind, SessionGranted, TransferAnswer, TransferRequest,
};
