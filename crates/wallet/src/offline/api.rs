//! The JSON shapes of the offline endpoints (docs/API-OFFLINE.md), as the wallet writes and
//! reads them: the `offpay-api` types, kept in [`crate::wire`] with the online ones. The calls
//! themselves are methods of [`crate::client::Client`] (in `client/offline.rs`), on the one
//! request/response/error path of the online API.

pub use super::online::OfflineApi;
pub use crate::wire::{
    CloseRequest, DeviceRequest, IssuerKeyJson, IssuerKeysAnswer, LoadPurseRequest, MAX_NOTES_PER_UPLOAD, NoteResult,
    NoteStatus, NotesAnswer, NotesUpload, OfflineLimits, PurseClosed, PurseInfo, PurseLoaded, PurseState, PursesAnswer,
    ReceiptAnswer, RevocationsJson,
};
