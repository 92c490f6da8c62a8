//! The HTTP calls behind offline payments (docs/API-OFFLINE.md): identity (`/v1/me`,
//! `/v1/config`), issuer keys, revocations, device registration, purses and note upload.
//!
//! A small layer of its own over reqwest (the online [`crate::client::Client`] keeps its
//! transport private), sharing [`ServerUrl`], [`ApiError`] and the back-off. Every call here is safe to repeat (reads; writes carry an idempotency key or are
//! idempotent by content), so timeouts, connection failures and 502/503/504 are retried a
//! bounded number of times.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backoff::Backoff;
use crate::client::{ApiError, ServerUrl};
use crate::wire::ErrorBody;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per call, the first included.
const MAX_ATTEMPTS: u32 = 4;
const RETRY_BASE: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(4);

/// The most notes one `POST /v1/notes` may carry.
pub const MAX_NOTES_PER_UPLOAD: usize = 500;

/// Why an offline API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    /// The server answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer. `sent` is false when the request certainly never reached the server.
    #[error("cannot reach the server at {server} ({reason})")]
    Unreachable { server: String, reason: String, sent: bool },
    /// An answer that does not follow the API.
    #[error("the server at {server} sent an answer this wallet cannot read ({reason})")]
    BadAnswer { server: String, reason: String },
}

impl ApiCallError {
    /// True when the server answered and refused the request (a 4xx).
    pub fn is_refusal(&self) -> bool {
        matches!(self, ApiCallError::Api(e) if (400..500).contains(&e.status))
    }

    /// True when the server certainly did not carry out the request.
    pub fn is_definitely_not_done(&self) -> bool {
        self.is_refusal() || matches!(self, ApiCallError::Unreachable { sent: false, .. })
    }

    /// The API error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiCallError::Api(e) => Some(&e.code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiCallError::Api(e) => Some(e.status),
            _ => None,
        }
    }
}

/// `GET /v1/me`, the part offline payment needs.
#[derive(Debug, Clone, Deserialize)]
pub struct MeAccount {
    pub handle: String,
    pub account: u64,
}

/// `GET /v1/config`, the part offline payment needs.
#[derive(Debug, Clone, Deserialize)]
pub struct OfflineConfig {
    pub currency: String,
    pub decimals: u8,
    #[serde(default)]
    pub offline: Option<OfflineLimits>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub struct OfflineLimits {
    pub per_payment_cap: u64,
    pub purse_max: u64,
    pub validity_secs: u64,
    pub grace_secs: u64,
}

/// One entry of `GET /v1/issuer-keys`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuerKeyJson {
    pub key_id: String,
    pub public_key: String,
    pub not_before: u64,
    pub not_after: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct IssuerKeysAnswer {
    keys: Vec<IssuerKeyJson>,
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

#[derive(Debug, Clone, Deserialize)]
struct PursesAnswer {
    purses: Vec<PurseInfo>,
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

#[derive(Debug, Clone, Deserialize)]
struct NotesAnswer {
    results: Vec<NoteResult>,
}

#[derive(Debug, Clone, Deserialize)]
struct Ignored {}

/// The offline endpoints of one server, for one session token.
#[derive(Clone)]
pub struct OfflineApi {
    http: reqwest::Client,
    server: ServerUrl,
    token: String,
}

impl std::fmt::Debug for OfflineApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineApi").field("server", &self.server).finish_non_exhaustive()
    }
}

impl OfflineApi {
    pub fn new(server: ServerUrl, token: String) -> Result<OfflineApi, ApiCallError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("offpay-wallet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiCallError::Unreachable { server: server.to_string(), reason: e.to_string(), sent: false })?;
        Ok(OfflineApi { http, server, token })
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.as_str())
    }

    pub async fn me(&self) -> Result<MeAccount, ApiCallError> {
        self.call(|| self.http.get(self.url("/v1/me")).bearer_auth(&self.token)).await
    }

    pub async fn config(&self) -> Result<OfflineConfig, ApiCallError> {
        self.call(|| self.http.get(self.url("/v1/config"))).await
    }

    pub async fn issuer_keys(&self) -> Result<Vec<IssuerKeyJson>, ApiCallError> {
        let answer: IssuerKeysAnswer = self.call(|| self.http.get(self.url("/v1/issuer-keys"))).await?;
        Ok(answer.keys)
    }

    pub async fn revocations(&self) -> Result<RevocationsJson, ApiCallError> {
        self.call(|| self.http.get(self.url("/v1/revocations"))).await
    }

    /// `POST /v1/devices` (idempotent).
    pub async fn register_device(&self, public_key_hex: &str) -> Result<(), ApiCallError> {
        let body = serde_json::json!({ "public_key": public_key_hex });
        let _: Ignored =
            self.call(|| self.http.post(self.url("/v1/devices")).bearer_auth(&self.token).json(&body)).await?;
        Ok(())
    }

    /// `POST /v1/purses` with an idempotency key.
    pub async fn load_purse(&self, idempotency_key: &str, amount: u64, device_hex: &str) -> Result<PurseLoaded, ApiCallError> {
        let body = serde_json::json!({ "amount": amount, "device_public_key": device_hex });
        self.call(|| {
            self.http
                .post(self.url("/v1/purses"))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", idempotency_key)
                .json(&body)
        })
        .await
    }

    pub async fn purses(&self) -> Result<Vec<PurseInfo>, ApiCallError> {
        let answer: PursesAnswer = self.call(|| self.http.get(self.url("/v1/purses")).bearer_auth(&self.token)).await?;
        Ok(answer.purses)
    }

    /// `POST /v1/purses/{id}/close` with an idempotency key.
    pub async fn close_purse(&self, idempotency_key: &str, purse_id_hex: &str, close_text: &str) -> Result<PurseClosed, ApiCallError> {
        let body = serde_json::json!({ "close": close_text });
        let path = format!("/v1/purses/{purse_id_hex}/close");
        self.call(|| {
            self.http
                .post(self.url(&path))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", idempotency_key)
                .json(&body)
        })
        .await
    }

    /// `POST /v1/notes` with at most [`MAX_NOTES_PER_UPLOAD`] notes (idempotent by note hash).
    pub async fn upload_notes(&self, notes: &[&str]) -> Result<Vec<NoteResult>, ApiCallError> {
        let body = serde_json::json!({ "notes": notes });
        let answer: NotesAnswer =
            self.call(|| self.http.post(self.url("/v1/notes")).bearer_auth(&self.token).json(&body)).await?;
        Ok(answer.results)
    }

    /// Sends with bounded retries and back-off; parses a success body as `T`.
    async fn call<T: DeserializeOwned>(&self, build: impl Fn() -> reqwest::RequestBuilder) -> Result<T, ApiCallError> {
        let mut backoff = Backoff::new(RETRY_BASE, RETRY_MAX);
        loop {
            let last_attempt = backoff.attempts() + 1 >= MAX_ATTEMPTS;
            match build().send().await {
                Ok(response) if response.status().is_success() => {
                    let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| ApiCallError::BadAnswer { server: self.server.to_string(), reason: e.to_string() });
                }
                Ok(response) => {
                    let retryable = matches!(response.status().as_u16(), 502..=504);
                    if !retryable || last_attempt {
                        return Err(self.api_error(response).await);
                    }
                }
                Err(error) => {
                    if !(error.is_connect() || error.is_timeout()) || last_attempt {
                        return Err(self.unreachable(&error));
                    }
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn api_error(&self, response: reqwest::Response) -> ApiCallError {
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return self.unreachable(&e),
        };
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ApiCallError::Api(ApiError { status: status.as_u16(), code: body.error.code, message: body.error.message }),
            Err(_) => ApiCallError::Api(ApiError {
                status: status.as_u16(),
                code: format!("http_{}", status.as_u16()),
                message: format!("the server answered {status}"),
            }),
        }
    }

    fn unreachable(&self, error: &reqwest::Error) -> ApiCallError {
        let reason = if error.is_timeout() { "timed out".to_string() } else { innermost(error) };
        ApiCallError::Unreachable { server: self.server.to_string(), reason, sent: !error.is_connect() }
    }
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
