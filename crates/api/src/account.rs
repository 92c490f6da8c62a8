//! Answers of the public `GET /v1/health` and `GET /v1/config`, and of `GET /v1/me`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Answer of `GET /v1/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    pub database: Database,
}

/// `status` of `GET /v1/health`: the server answers only when its database does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// The ledger's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Database {
    Sqlite,
    Postgres,
}

/// Answer of `GET /v1/config`: the deployment's currency and offline limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Config {
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$", examples("INR"))]
    pub currency: String,
    /// Digits after the decimal point of one major unit.
    #[schema(maximum = 4)]
    pub decimals: u8,
    pub offline: OfflineLimits,
}

/// `offline` of `GET /v1/config`: minor units and seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfflineLimits {
    /// Largest single offline payment (minor units).
    pub per_payment_cap: u64,
    /// Largest purse (minor units).
    pub purse_max: u64,
    /// How long a purse can be spent offline.
    pub validity_secs: u64,
    /// After valid_until, how long notes may still arrive before the rest is returned.
    pub grace_secs: u64,
    /// The most the operator may lose on one double-spent purse (minor units).
    pub loss_allowance: u64,
    /// Most purses one account may have before their settlement deadline, closed ones included.
    #[schema(minimum = 1)]
    pub max_open_purses: u32,
}

/// Answer of `GET /v1/me`: the signed-in user's own account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    #[schema(pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub handle: String,
    /// The account number offline purses and notes name (docs/API-OFFLINE.md).
    pub account: u64,
    /// Minor units.
    pub balance: u64,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    pub frozen: bool,
}
