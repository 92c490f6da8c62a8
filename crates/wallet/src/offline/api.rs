//! The JSON shapes of the offline endpoints (docs/API-OFFLINE.md), as the wallet writes and
//! reads them. The calls themselves are methods of [`crate::client::Client`] (in
//! `client/offline.rs`), on the one request/response/error path of the online API; the
//! additions to `/v1/me` and `/v1/config` are in [`crate::wire`].

use serde::{Deserialize, Serialize};

pub use super::online::OfflineApi;
pub use crate::wire::OfflineLimits;

/// The most notes one `POST /v1/notes` may carry.
pub const MAX_NOTES_PER_UPLOAD: usize = 500;

/// Body of `POST /v1/devices`.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRequest<'a> {
    /// The device's Ed25519 public key, lowercase hex.
    pub public_key: &'a str,
}

/// Body of `POST /v1/purses`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadPurseRequest<'a> {
    /// Minor units.
    pub amount: u64,
    pub device_public_key: &'a str,
}

/// Body of `POST /v1/purses/{id}/close`.
#[derive(Debug, Clone, Serialize)]
pub struct CloseRequest<'a> {
    /// The signed close statement, text form.
    pub close: &'a str,
}

/// Body of `POST /v1/notes`.
#[derive(Debug, Clone, Serialize)]
pub struct NotesUpload<'a> {
    /// The notes, text form; at most [`MAX_NOTES_PER_UPLOAD`].
    pub notes: &'a [&'a str],
}

/// One entry of `GET /v1/issuer-keys`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuerKeyJson {
    pub key_id: String,
    pub public_key: String,
    pub not_before: u64,
    pub not_after: u64,
}

/// `GET /v1/issuer-keys`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuerKeysAnswer {
    pub keys: Vec<IssuerKeyJson>,
}

/// `GET /v1/revocations`.
#[derive(Debug, Clone, Deserialize)]
pub struct RevocationsJson {
    pub purses: Vec<String>,
    pub devices: Vec<String>,
}

/// Answer of `POST /v1/purses`.
#[derive(Debug, Clone, Deserialize)]
pub struct PurseLoaded {
    pub purse_id: String,
    pub certificate: String,
    pub amount: u64,
    #[serde(default)]
    pub balance: Option<u64>,
}

/// One entry of `GET /v1/purses`.
#[derive(Debug, Clone, Deserialize)]
pub struct PurseInfo {
    pub purse_id: String,
    pub amount: u64,
    #[serde(default)]
    pub settled: u64,
    #[serde(default)]
    pub returned: u64,
    pub state: String,
}

/// `GET /v1/purses`.
#[derive(Debug, Clone, Deserialize)]
pub struct PursesAnswer {
    pub purses: Vec<PurseInfo>,
}

/// Answer of `POST /v1/purses/{id}/close`.
#[derive(Debug, Clone, Deserialize)]
pub struct PurseClosed {
    pub returned: u64,
    pub held: u64,
    #[serde(default)]
    pub balance: Option<u64>,
}

/// One entry of the answer of `POST /v1/notes`.
#[derive(Debug, Clone, Deserialize)]
pub struct NoteResult {
    /// The note hash (SHA-256 of its signed bytes), lowercase hex.
    pub note: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub amount: Option<u64>,
}

/// Answer of `POST /v1/notes`: one result per note.
#[derive(Debug, Clone, Deserialize)]
pub struct NotesAnswer {
    pub results: Vec<NoteResult>,
}

/// Answer of `GET /v1/receipts/{entry_id}`: the server's signed receipt of an online transfer.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceiptAnswer {
    /// The receipt, text form (`OPT1:…`).
    pub receipt: String,
    pub entry_id: u64,
    pub from: String,
    pub to: String,
    /// Minor units.
    pub amount: u64,
    pub created_at_ms: i64,
}
