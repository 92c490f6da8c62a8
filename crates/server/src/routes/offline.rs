//! The offline-payment routes (contract: docs/API-OFFLINE.md): issuer keys, revocations, device
//! registration, purse load/list/close, and note upload. Thin over
//! [`offpay_ledger::offline::OfflineStore`]; the certificate is signed here with the current
//! issuer key (see `issuer.rs`), the ledger stores it and moves the money.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use offpay_ledger::LedgerError;
use offpay_ledger::offline::{LoadRequest, NOTES_MAX, NoteStatus, OfflineError, Purse};
use offpay_protocol::note::NoteDecoder;
use offpay_protocol::{
    AccountId, Amount, CertificateFields, CloseStatement, CurrencyCode, Encoded, PurseCertificate, PurseId,
    VerifyingKey, crypto,
};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::transfers::{idempotency_key, parse_amount};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::issuer::Issuer;
use crate::state::AppState;

pub const ISSUER_KEYS: &str = "/v1/issuer-keys";
pub const REVOCATIONS: &str = "/v1/revocations";
pub const DEVICES: &str = "/v1/devices";
pub const PURSES: &str = "/v1/purses";
pub const PURSE_CLOSE: &str = "/v1/purses/{purse_id}/close";
pub const NOTES: &str = "/v1/notes";
/// Body limit of a note upload: [`NOTES_MAX`] notes of at most 600 characters plus JSON.
pub const NOTES_BODY_MAX: usize = NOTES_MAX * 610 + 1024;

/// The offline routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(ISSUER_KEYS, get(issuer_keys))
        .route(REVOCATIONS, get(revocations))
        .route(DEVICES, post(register_device))
        .route(PURSES, post(load).get(list))
        .route(PURSE_CLOSE, post(close))
        .route(NOTES, post(upload).layer(axum::extract::DefaultBodyLimit::max(NOTES_BODY_MAX)))
}

/// Errors of these routes: the API's own, plus the offline codes of docs/API-OFFLINE.md.
#[derive(Debug)]
pub enum OfflineApiError {
    Api(ApiError),
    Offline { status: StatusCode, code: &'static str, message: String },
}

pub(super) fn offline(status: StatusCode, code: &'static str, message: impl Into<String>) -> OfflineApiError {
    OfflineApiError::Offline { status, code, message: message.into() }
}

impl From<ApiError> for OfflineApiError {
    fn from(e: ApiError) -> Self {
        OfflineApiError::Api(e)
    }
}

impl From<LedgerError> for OfflineApiError {
    fn from(e: LedgerError) -> Self {
        OfflineApiError::Api(e.into())
    }
}

impl From<OfflineError> for OfflineApiError {
    fn from(e: OfflineError) -> Self {
        let message = e.to_string();
        match e {
            OfflineError::Ledger(e) => e.into(),
            OfflineError::DeviceTaken => offline(StatusCode::CONFLICT, "device_taken", message),
            OfflineError::DeviceRevoked => offline(StatusCode::FORBIDDEN, "device_revoked", message),
            OfflineError::UnknownDevice => offline(StatusCode::FORBIDDEN, "unknown_device", message),
            OfflineError::UnknownPurse => offline(StatusCode::NOT_FOUND, "unknown_purse", message),
            OfflineError::PurseNotOpen => offline(StatusCode::CONFLICT, "purse_not_open", message),
            OfflineError::InvalidCertificate(_) => offline(StatusCode::BAD_REQUEST, "invalid_certificate", message),
            OfflineError::InvalidClose(_) => offline(StatusCode::BAD_REQUEST, "invalid_close", message),
            OfflineError::TooManyNotes => offline(StatusCode::BAD_REQUEST, "invalid_request", message),
            OfflineError::Busy => ApiError::Busy { retry_after_s: 1 }.into(),
            OfflineError::TooManyPurses(_) => offline(StatusCode::CONFLICT, "too_many_purses", message),
        }
    }
}

impl IntoResponse for OfflineApiError {
    fn into_response(self) -> Response {
        match self {
            OfflineApiError::Api(e) => e.into_response(),
            OfflineApiError::Offline { status, code, message } => {
                (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
            }
        }
    }
}

type Result<T> = std::result::Result<T, OfflineApiError>;

pub(super) fn issuer(state: &AppState) -> Result<Arc<Issuer>> {
    state.config.offline.issuer.clone().ok_or_else(|| {
        offline(
            StatusCode::SERVICE_UNAVAILABLE,
            "offline_disabled",
            "offline payments are not configured on this server",
        )
    })
}

fn now_secs(state: &AppState) -> u64 {
    u64::try_from(state.now_ms() / 1000).unwrap_or(0)
}

/// A device public key from a request body: 64 lowercase hex digits (`invalid_request`
/// otherwise) of a key [`crypto::check_device_key`] accepts: canonical, not of small order and
/// without a small-order component (`invalid_device_key` otherwise, with the reason in words).
fn parse_device_key(field: &str, text: &str) -> Result<VerifyingKey> {
    let mut bytes = [0u8; 32];
    if text.len() != 64
        || text.bytes().any(|b| b.is_ascii_uppercase())
        || hex::decode_to_slice(text, &mut bytes).is_err()
    {
        return Err(ApiError::InvalidRequest(format!(
            "{field} must be 64 lowercase hex digits of an Ed25519 public key"
        ))
        .into());
    }
    crypto::check_device_key(&bytes)
        .map_err(|e| offline(StatusCode::BAD_REQUEST, "invalid_device_key", format!("{field} is refused: {e}")))
}

/// `GET /v1/issuer-keys`
async fn issuer_keys(State(state): State<AppState>) -> Result<Json<Value>> {
    let issuer = issuer(&state)?;
    let keys: Vec<Value> = issuer
        .public_keys()
        .iter()
        .map(|k| {
            json!({
                "key_id": k.key_id.to_hex(),
                "public_key": hex::encode(k.public_key.as_bytes()),
                "not_before": k.not_before,
                "not_after": k.not_after,
            })
        })
        .collect();
    Ok(Json(json!({"keys": keys})))
}

/// `GET /v1/revocations`
async fn revocations(State(state): State<AppState>) -> Result<Json<Value>> {
    let list = state.store.offline().revocations().await?;
    let purses: Vec<String> = list.purses.iter().map(PurseId::to_hex).collect();
    let devices: Vec<String> = list.devices.iter().map(hex::encode).collect();
    Ok(Json(json!({"purses": purses, "devices": devices})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    public_key: String,
}

/// `POST /v1/devices`
async fn register_device(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<DeviceBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let key = parse_device_key("public_key", &body.public_key)?;
    state.store.offline().register_device(auth.user.id, key.to_bytes(), state.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(json!({"public_key": hex::encode(key.as_bytes()), "status": "active"}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadBody {
    amount: Value,
    device_public_key: String,
}

fn purse_json(p: &Purse) -> Value {
    let f = p.certificate.fields();
    let mut purse = json!(p.money());
    for (key, value) in [
        ("purse_id", json!(p.id.to_hex())),
        ("device_public_key", json!(hex::encode(f.device_key.as_bytes()))),
        ("per_payment_cap", json!(f.per_payment_cap.minor())),
        ("state", json!(p.state.as_str())),
        ("valid_from", json!(f.valid_from)),
        ("valid_until", json!(f.valid_until)),
    ] {
        purse[key] = value;
    }
    purse
}

/// `POST /v1/purses`: wallet -> reserve, answered with the signed certificate.
async fn load(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoadBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let key = idempotency_key(&headers)?;
    let amount = parse_amount(&body.amount)?;
    let device = parse_device_key("device_public_key", &body.device_public_key)?;
    let limits = &state.config.offline;
    if amount.minor() > limits.purse_max {
        return Err(offline(
            StatusCode::BAD_REQUEST,
            "offline_limit",
            format!(
                "an offline purse can hold at most {} {}",
                state.config.currency.format_signed(i64::try_from(limits.purse_max).unwrap_or(i64::MAX)),
                state.config.currency.code()
            ),
        ));
    }
    let issuer = issuer(&state)?;
    let now = now_secs(&state);
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    let cap = Amount::from_minor(limits.per_payment_cap.min(amount.minor())).unwrap_or(amount);
    let fields = CertificateFields {
        purse_id: PurseId::from_bytes(id),
        account: AccountId(u64::try_from(auth.user.id).map_err(ApiError::internal)?),
        device_key: device,
        currency: CurrencyCode::from(state.config.currency),
        amount,
        per_payment_cap: cap,
        valid_from: now,
        valid_until: now + limits.validity_secs.max(1),
    };
    let signing = issuer.current(now).map_err(ApiError::internal)?;
    let certificate = PurseCertificate::issue(fields, &signing).map_err(ApiError::internal)?;
    let request = LoadRequest {
        user: auth.user.id,
        certificate,
        idempotency_key: key,
        loss_allowance: i64::try_from(limits.loss_allowance).unwrap_or(i64::MAX),
        max_open_purses: limits.max_open_purses,
    };
    let loaded = state.store.offline().load_purse(&request, state.now_ms()).await?;
    let mut answer = purse_json(&loaded.purse);
    answer["certificate"] = json!(loaded.purse.certificate.to_text());
    answer["balance"] = json!(loaded.balance.minor());
    let status = if loaded.replayed { StatusCode::OK } else { StatusCode::CREATED };
    if !loaded.replayed {
        tracing::info!(purse = %loaded.purse.id, user = %auth.user.handle, amount = amount.minor(), "purse loaded");
    }
    Ok((status, Json(answer)))
}

/// `GET /v1/purses`
async fn list(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Value>> {
    let purses = state.store.offline().purses(Some(auth.user.id), 200).await?;
    Ok(Json(json!({"purses": purses.iter().map(purse_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    close: String,
}

/// `POST /v1/purses/{purse_id}/close`
async fn close(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(purse_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<Json<Value>> {
    let key = idempotency_key(&headers)?;
    let purse_id =
        PurseId::from_hex(&purse_id).map_err(|_| offline(StatusCode::NOT_FOUND, "unknown_purse", "no such purse"))?;
    let statement = CloseStatement::from_text(&body.close).map_err(|e| {
        offline(StatusCode::BAD_REQUEST, "invalid_close", format!("the close statement is malformed: {e}"))
    })?;
    if statement.fields().purse_id != purse_id {
        return Err(offline(StatusCode::BAD_REQUEST, "invalid_close", "the close statement is for another purse"));
    }
    let outcome = state.store.offline().close_purse(auth.user.id, &statement, &key, state.now_ms()).await?;
    Ok(Json(json!({
        "returned": outcome.returned,
        "held": outcome.held,
        "balance": outcome.balance,
        "fraud": outcome.fraud,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesBody {
    notes: Vec<String>,
}

/// `POST /v1/notes`: settle uploaded notes (any side may upload), one result per note.
async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<NotesBody>,
) -> Result<Json<Value>> {
    if body.notes.len() > NOTES_MAX {
        return Err(ApiError::InvalidRequest(format!("at most {NOTES_MAX} notes per upload")).into());
    }
    let mut results: Vec<Option<Value>> = vec![None; body.notes.len()];
    let mut decoded = Vec::new();
    let mut positions = Vec::new();
    // Each purse's certificate is decoded once per upload, not once per note.
    let mut decoder = NoteDecoder::default();
    for (i, text) in body.notes.iter().enumerate() {
        match decoder.from_text(text) {
            Ok(note) => {
                decoded.push(note);
                positions.push(i);
            }
            Err(e) => {
                results[i] = Some(json!({
                    "note": crypto::sha256(text.trim().as_bytes()).to_hex(),
                    "status": "rejected",
                    "reason": "malformed",
                    "detail": e.to_string(),
                    "amount": 0,
                }));
            }
        }
    }
    let settled = state.store.offline().settle_notes(auth.user.id, decoded, state.now_ms()).await?;
    for (i, r) in positions.into_iter().zip(settled) {
        if r.status == NoteStatus::Fraud {
            tracing::warn!(note = %r.note, reason = ?r.reason, "offline note is part of a fraud proof");
        }
        results[i] = Some(json!({"note": r.note.to_hex(), "status": r.status, "reason": r.reason, "amount": r.amount}));
    }
    Ok(Json(json!({"results": results.into_iter().map(|r| r.unwrap_or(Value::Null)).collect::<Vec<_>>()})))
}
