//! # offpay-api
//!
//! The contract of the server's HTTP API (docs/API.md, docs/API-OFFLINE.md) as Rust types: every
//! request body, answer body, live event and error code, with the serde derives that put them on
//! the wire and the `utoipa` schemas the server's OpenAPI document (`GET /v1/openapi.json`) is
//! generated from. The server builds its answers from these types and the wallet reads them with
//! the same types, so the JSON, the document and both sides cannot drift apart.
//!
//! No I/O, no clock, no logic beyond the shapes: the checks the server makes (amounts, handles,
//! device keys) live in `offpay-protocol` and the server; the schemas only state them
//! (patterns, minimums and maximums) so that clients can check before sending.
//!
//! ## Layout
//! - [`error`]: [`ErrorCode`], every stable code, and the error body.
//! - [`auth`]: register, login, password change and the session answer.
//! - [`account`]: health, config (with the offline limits) and `/v1/me`.
//! - [`money`]: transfers and history.
//! - [`offline`]: issuer keys, revocations, devices, purses and note uploads.
//! - [`events`]: the WebSocket's live events and its first message.

pub mod account;
pub mod auth;
pub mod error;
pub mod events;
pub mod money;
pub mod offline;

pub use account::{Config, Database, Health, HealthStatus, Me, OfflineLimits};
pub use auth::{Credentials, Login, PasswordChange, SessionGranted};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use events::{
    AccountFrozenPayload, EventBody, LiveEvent, MoneyPayload, OfflineEventNote, OfflinePayload, PurseReturnedPayload,
    WsHello,
};
pub use money::{
    EntryId, EntryKind, HistoryItem, HistoryPage, HistoryQuery, Posted, PostedKind, TransferAnswer, TransferRequest,
};
pub use offline::{
    CloseOutcome, CloseRequest, DeviceRegistered, DeviceRequest, DeviceStatus, IssuerKey, IssuerKeys, LoadPurseRequest,
    LoadedPurse, NoteRefusal, NoteResult, NoteStatus, NotesAnswer, NotesUpload, Purse, PurseState, Purses,
    ReceiptAnswer, ReceiptQuery, RefusalAnswer, RefusalStatus, Revocations,
};
