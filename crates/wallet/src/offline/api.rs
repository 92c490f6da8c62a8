//! The JSON shapes of the offline endpoints (docs/API-OFFLINE.md), as the wallet writes and
//! reads them. The calls themselves are methods of [`crate::client::Client`] (in
//! `client/offline.rs`), on the one request/response/error path of the online API; the
//! additions to `/v1/me` and `/v1/config` are in [`crate::wire`].

pub use offpay_api::{
    CloseOutcome as PurseClosed, CloseRequest, DeviceRequest, IssuerKey as IssuerKeyJson,
    IssuerKeys as IssuerKeysAnswer, LoadPurseRequest, LoadedPurse as PurseLoaded, NoteResult, NoteStatus, NotesAnswer,
    NotesUpload, Purse as PurseInfo, PurseState, Purses as PursesAnswer, ReceiptAnswer, Revocations as RevocationsJson,
};

pub use super::online::OfflineApi;
pub use crate::wire::OfflineLimits;

/// The most notes one `POST /v1/notes` may carry.
pub const MAX_NOTES_PER_UPLOAD: usize = 500;
