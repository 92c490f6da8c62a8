//! Bodies and answers of `POST /v1/register`, `POST /v1/login` and `POST /v1/password`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /v1/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// 3 to 32 of a-z, 0-9, _ starting with a letter (case-insensitive).
    #[schema(pattern = r"^\s*[A-Za-z][A-Za-z0-9_]{2,31}\s*$")]
    pub handle: String,
    /// 8 characters to 1024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// Body of `POST /v1/login`: the credentials, and the device token an earlier sign-in on this
/// device received, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The username (a malformed one gets `invalid_credentials`, like an unknown one).
    pub handle: String,
    #[schema(max_length = 1024)]
    pub password: String,
    /// The device_token an earlier register or login on this device answered for this account:
    /// a login with a live one is judged by that token's own failures only, never refused for
    /// what strangers did (docs/OPERATIONS.md, "Login throttling"). Another account's, unknown,
    /// lapsed, locked or malformed tokens are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub device_token: Option<String>,
}

/// Body of `POST /v1/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// 8 characters to 1024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
}

/// Answer of `POST /v1/register` (201) and `POST /v1/login` (200): a new session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = SessionToken)]
pub struct SessionGranted {
    #[schema(pattern = "^[a-z][a-z0-9_]{2,31}$")]
    pub handle: String,
    /// The session token for `Authorization: Bearer` (64 hex characters).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub token: String,
    /// Absolute expiry (ms since the Unix epoch); the session also ends after 30 minutes idle.
    pub expires_at_ms: i64,
    /// 64 hex characters; keep it for this account (also after logout) and send it with the
    /// next login (a kept token is answered as it was sent).
    #[schema(pattern = "^[0-9A-Fa-f]{64}$")]
    pub device_token: String,
}
