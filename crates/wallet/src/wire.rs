//! The JSON shapes of the server's HTTP API (docs/API.md), as the wallet reads and writes them;
//! those of the offline endpoints are in [`crate::offline::api`].
//! Kept apart from the wallet's own types: these follow the wire, the rest follows the user.

use serde::{Deserialize, Serialize};

/// `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `GET /v1/config`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub currency: String,
    pub decimals: u8,
    /// The offline limits (docs/API-OFFLINE.md), when the server offers offline payment.
    #[serde(default)]
    pub offline: Option<OfflineLimits>,
}

/// `offline` of `GET /v1/config`: minor units and seconds.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub struct OfflineLimits {
    pub per_payment_cap: u64,
    pub purse_max: u64,
    pub validity_secs: u64,
    pub grace_secs: u64,
}

/// Body of `POST /v1/register` and `POST /v1/login`.
#[derive(Debug, Clone, Serialize)]
pub struct Credentials<'a> {
    pub handle: &'a str,
    pub password: &'a str,
}

/// Body of `POST /v1/login`: the credentials and the device token of an earlier sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct Login<'a> {
    pub handle: &'a str,
    pub password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<&'a str>,
}

/// Answer of `POST /v1/register` and `POST /v1/login`.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionGranted {
    pub handle: String,
    pub token: String,
    pub expires_at_ms: i64,
    /// Sent back with the next login from this device (servers before login throttling by
    /// device did not send it).
    #[serde(default)]
    pub device_token: Option<String>,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub handle: String,
    /// The account number offline purses and notes name (docs/API-OFFLINE.md).
    #[serde(default)]
    pub account: Option<u64>,
    pub balance: u64,
    pub currency: String,
    pub frozen: bool,
}

/// Body of `POST /v1/transfers`.
#[derive(Debug, Clone, Serialize)]
pub struct TransferRequest<'a> {
    pub to: &'a str,
    pub amount: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<&'a str>,
}

/// A posted journal entry as the API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Posted {
    pub entry_id: i64,
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub amount: u64,
    pub created_at_ms: i64,
    #[serde(default)]
    pub replayed: bool,
}

/// Answer of `POST /v1/transfers`.
#[derive(Debug, Clone, Deserialize)]
pub struct TransferAnswer {
    pub transfer: Posted,
    pub balance: u64,
}

/// One line of `GET /v1/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub entry_id: i64,
    pub kind: String,
    /// Signed change of the caller's balance, minor units.
    pub delta: i64,
    pub counterparty: Option<String>,
    pub memo: Option<String>,
    pub created_at_ms: i64,
    /// For an `offline_settle` entry: the hash of the payment note it pays (64 hex characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Answer of `GET /v1/history`.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryPage {
    pub items: Vec<HistoryItem>,
    pub next_before: Option<i64>,
}
