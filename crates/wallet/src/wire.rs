//! The JSON shapes of the server's HTTP API (docs/API.md), as the wallet reads and writes them:
//! the `offpay-api` types the server answers with, re-exported so that the wallet and the server
//! cannot disagree, the offline endpoints' (docs/API-OFFLINE.md) included, under the names the
//! wallet's offline code uses.
//! Kept apart from the wallet's own types: these follow the wire, the rest follows the user.

pub use offpay_api::{
    Config, Credentials, EntryId, EntryKind, ErrorBody, ErrorCode, ErrorDetail, HistoryItem, HistoryPage, Login, Me,
    OfflineLimits, PasswordChange, Posted, PostedKind, SessionGranted, TransferAnswer, TransferRequest,
};

pub use offpay_api::money::COUNTER_REFUND_MEMO;
pub use offpay_api::offline::NOTES_PER_UPLOAD_MAX as MAX_NOTES_PER_UPLOAD;
pub use offpay_api::{
    CloseOutcome as PurseClosed, CloseRequest, DeviceRequest, IssuerKey as IssuerKeyJson,
    IssuerKeys as IssuerKeysAnswer, LoadPurseRequest, LoadedPurse as PurseLoaded, NoteRefusal, NoteResult, NoteStatus,
    NotesAnswer, NotesUpload, Purse as PurseInfo, PurseState, Purses as PursesAnswer, ReceiptAnswer, RefusalAnswer,
    RefusalStatus, Revocations as RevocationsJson,
};
