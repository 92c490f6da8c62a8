//! The offline-payment routes (contract: docs/API-OFFLINE.md): issuer keys, revocations, device
//! registration, purse load/list/close, and note upload. Thin over
//! [`offpay_ledger::offline::OfflineStore`]; the certificate is signed here with the current
//! issuer key (see `issuer.rs`), the ledger stores it and moves the money.

use std::sync::Arc;

use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use offpay_api::{
    CloseOutcome, CloseRequest, DeviceRegistered, DeviceRequest, DeviceStatus, ErrorBody, ErrorCode, IssuerKey,
    IssuerKeys, LoadPurseRequest, LoadedPurse, NoteResult, NotesAnswer, NotesUpload, PurseState, Purses, Revocations,
};
use offpay_ledger::LedgerError;
use offpay_ledger::offline::{LoadRequest, NOTES_MAX, NoteStatus, OfflineError, Purse};
use offpay_protocol::note::NoteDecoder;
use offpay_protocol::{
    Amount, CertificateFields, CloseStatement, CurrencyCode, Encoded, PurseCertificate, PurseId, VerifyingKey, crypto,
};
use rand::RngCore;
use serde_json::Value;

use super::transfers::{idempotency_key, parse_amount};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::issuer::Issuer;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const ISSUER_KEYS: &str = "/v1/issuer-keys";
pub const REVOCATIONS: &str = "/v1/revocations";
pub const DEVICES: &str = "/v1/devices";
pub const PURSES: &str = "/v1/purses";
pub const PURSE_CLOSE: &str = "/v1/purses/{purse_id}/close";
pub const NOTES: &str = "/v1/notes";
// The API's limit and the store's are one number.
const _: () = assert!(NOTES_MAX == offpay_api::offline::NOTES_PER_UPLOAD_MAX);

/// Body limit of a note upload: [`NOTES_MAX`] notes of at most 600 characters plus JSON.
pub const NOTES_BODY_MAX: usize = NOTES_MAX * 610 + 1024;

/// The offline routes, merged into the main router; their handlers' `#[utoipa::path]`s go into
/// the OpenAPI document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issuer_keys))
        .routes(routes!(revocations))
        .routes(routes!(register_device))
        .routes(routes!(load, list))
        .routes(routes!(close))
        .merge(OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(NOTES_BODY_MAX)))
}

/// Errors of these routes: the API's own, plus the offline codes of docs/API-OFFLINE.md.
#[derive(Debug)]
pub enum OfflineApiError {
    Api(ApiError),
    Offline { status: StatusCode, code: ErrorCode, message: String },
}

pub(super) fn offline(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> OfflineApiError {
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
            OfflineError::DeviceTaken => offline(StatusCode::CONFLICT, ErrorCode::DeviceTaken, message),
            OfflineError::DeviceRevoked => offline(StatusCode::FORBIDDEN, ErrorCode::DeviceRevoked, message),
            OfflineError::UnknownDevice => offline(StatusCode::FORBIDDEN, ErrorCode::UnknownDevice, message),
            OfflineError::UnknownPurse => offline(StatusCode::NOT_FOUND, ErrorCode::UnknownPurse, message),
            OfflineError::PurseNotOpen => offline(StatusCode::CONFLICT, ErrorCode::PurseNotOpen, message),
            OfflineError::InvalidCertificate(_) => {
                offline(StatusCode::BAD_REQUEST, ErrorCode::InvalidCertificate, message)
            }
            OfflineError::InvalidClose(_) => offline(StatusCode::BAD_REQUEST, ErrorCode::InvalidClose, message),
            OfflineError::TooManyNotes => offline(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message),
            OfflineError::Busy => ApiError::Busy { retry_after_s: 1 }.into(),
            OfflineError::TooManyPurses(_) => offline(StatusCode::CONFLICT, ErrorCode::TooManyPurses, message),
            OfflineError::TooManyDevices(_) => offline(StatusCode::CONFLICT, ErrorCode::TooManyDevices, message),
            OfflineError::OwnPurse => offline(StatusCode::FORBIDDEN, ErrorCode::NotPayee, message),
            OfflineError::TooManyRefusals => offline(StatusCode::CONFLICT, ErrorCode::TooManyRefusals, message),
            OfflineError::UnpayableNote(_) => offline(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message),
            OfflineError::NotPayee => offline(StatusCode::FORBIDDEN, ErrorCode::NotPayee, message),
            OfflineError::NoteHeld => offline(StatusCode::CONFLICT, ErrorCode::NoteHeld, message),
            OfflineError::RefundNotPossible => offline(StatusCode::CONFLICT, ErrorCode::RefundNotPossible, message),
        }
    }
}

impl IntoResponse for OfflineApiError {
    fn into_response(self) -> Response {
        match self {
            OfflineApiError::Api(e) => e.into_response(),
            OfflineApiError::Offline { status, code, message } => {
                (status, Json(ErrorBody::new(code, message))).into_response()
            }
        }
    }
}

type Result<T> = std::result::Result<T, OfflineApiError>;

pub(super) fn issuer(state: &AppState) -> Result<Arc<Issuer>> {
    state.config.offline.issuer.clone().ok_or_else(|| {
        offline(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::OfflineDisabled,
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
        .map_err(|e| offline(StatusCode::BAD_REQUEST, ErrorCode::InvalidDeviceKey, format!("{field} is refused: {e}")))
}

/// `GET /v1/issuer-keys`
#[utoipa::path(get, path = "/v1/issuer-keys", operation_id = "issuerKeys",
    summary = "Public issuer keys that sign purse certificates (wallets verify certificates offline against them)",
    responses(
        (status = 200, description = "Every published key, including retired ones still needed to verify unexpired purses", body = IssuerKeys),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`offline_disabled`: this server has no issuer key file configured", body = ErrorBody),
    ))]
async fn issuer_keys(State(state): State<AppState>) -> Result<Json<IssuerKeys>> {
    let issuer = issuer(&state)?;
    let keys = issuer
        .public_keys()
        .iter()
        .map(|k| IssuerKey {
            key_id: k.key_id.to_hex(),
            public_key: hex::encode(k.public_key.as_bytes()),
            not_before: k.not_before,
            not_after: k.not_after,
        })
        .collect();
    Ok(Json(IssuerKeys { keys }))
}

/// `GET /v1/revocations`
#[utoipa::path(get, path = "/v1/revocations", operation_id = "revocations",
    summary = "Revoked purses and device keys (payees refuse their notes offline)",
    responses(
        (status = 200, description = "The revocation list", body = Revocations),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
async fn revocations(State(state): State<AppState>) -> Result<Json<Revocations>> {
    let now_secs = u64::try_from(state.now_ms().div_euclid(1000)).unwrap_or(0);
    let listed_from = now_secs.saturating_sub(crate::revocation_cache::CLOCK_MARGIN_SECS);
    let list = state
        .revocations
        .get(|| async {
            let list = state.store.offline().revocations(listed_from).await?;
            let purses = list.purses.iter().map(PurseId::to_hex).collect();
            let devices = list.devices.iter().map(hex::encode).collect();
            Ok::<_, OfflineError>(Revocations { purses, devices })
        })
        .await?;
    Ok(Json(Revocations::clone(&list)))
}

/// `POST /v1/devices`
#[utoipa::path(post, path = "/v1/devices", operation_id = "registerDevice",
    summary = "Register this device's Ed25519 public key for the signed-in user (idempotent)",
    security(("bearer" = [])),
    request_body = DeviceRequest,
    responses(
        (status = 201, description = "Registered (also the answer when this user registered it already)", body = DeviceRegistered),
        (status = 400, description = "`invalid_request` (bad body, or `public_key` not 64 lowercase hex digits) or `invalid_device_key` (the key is no canonical curve point, is of small order or has a small-order component; nothing is stored)", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 403, description = "`device_revoked`", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 409, description = "`device_taken`: another user registered this key; `too_many_devices`: this account registered 20 new keys in the last 24 hours (a key it registered before is still answered 201)", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
async fn register_device(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<DeviceRequest>,
) -> Result<(StatusCode, Json<DeviceRegistered>)> {
    let key = parse_device_key("public_key", &body.public_key)?;
    state.store.offline().register_device(auth.user.id, key.to_bytes(), state.now_ms()).await?;
    let answer = DeviceRegistered { public_key: hex::encode(key.as_bytes()), status: DeviceStatus::Active };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// A stored purse as the API shows it.
fn purse_answer(p: &Purse) -> offpay_api::Purse {
    let f = p.certificate.fields();
    let money = p.money();
    offpay_api::Purse {
        purse_id: p.id.to_hex(),
        device_public_key: hex::encode(f.device_key.as_bytes()),
        amount: money.amount,
        per_payment_cap: f.per_payment_cap.minor(),
        settled: money.settled,
        returned: money.returned,
        held: money.held,
        recovered: money.recovered,
        fraud_loss: money.fraud_loss,
        loss_allowance: money.loss_allowance,
        notes_held: money.notes_held,
        state: match p.state {
            offpay_ledger::offline::PurseState::Open => PurseState::Open,
            offpay_ledger::offline::PurseState::Closed => PurseState::Closed,
            offpay_ledger::offline::PurseState::Expired => PurseState::Expired,
            offpay_ledger::offline::PurseState::Revoked => PurseState::Revoked,
        },
        valid_from: f.valid_from,
        valid_until: f.valid_until,
    }
}

/// `POST /v1/purses`: wallet -> reserve, answered with the signed certificate. The amount is
/// read as any JSON value and checked like a transfer's.
#[utoipa::path(post, path = "/v1/purses", operation_id = "loadPurse",
    summary = "Load an offline purse: move money from the wallet into the reserve and get the signed certificate (exactly once per Idempotency-Key)",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, pattern = r"^[A-Za-z0-9_-]{8,128}$",
        description = "8 to 128 characters of A-Z, a-z, 0-9, - and _; the same key replays the first outcome")),
    request_body = LoadPurseRequest,
    responses(
        (status = 201, description = "Loaded", body = LoadedPurse),
        (status = 200, description = "Replayed: the purse first loaded with this key", body = LoadedPurse),
        (status = 400, description = "`invalid_request`, `invalid_amount`, `invalid_device_key` (`device_public_key` fails the device-key check), `offline_limit` (amount over `purse_max`), `invalid_certificate`, `missing_idempotency_key` or `invalid_idempotency_key`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 403, description = "`unknown_device` (key not registered to this user), `device_revoked` or `account_frozen`", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 409, description = "`idempotency_conflict`; `too_many_purses`: the account already has `max_open_purses` purses before their settlement deadline", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`insufficient_funds`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`offline_disabled`: this server has no issuer key file configured", body = ErrorBody),
    ))]
async fn load(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoadPurseRequest<Value>>,
) -> Result<(StatusCode, Json<LoadedPurse>)> {
    let key = idempotency_key(&headers)?;
    let amount = parse_amount(&body.amount)?;
    let device = parse_device_key("device_public_key", &body.device_public_key)?;
    let limits = &state.config.offline;
    if amount.minor() > limits.purse_max {
        return Err(offline(
            StatusCode::BAD_REQUEST,
            ErrorCode::OfflineLimit,
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
        account: auth.user.id.account_number().ok_or_else(|| ApiError::internal("a user id with no account number"))?,
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
        grace_secs: limits.grace_secs,
    };
    let loaded = state.store.offline().load_purse(&request, state.now_ms()).await?;
    let answer = LoadedPurse {
        purse: purse_answer(&loaded.purse),
        certificate: loaded.purse.certificate.to_text(),
        balance: loaded.balance.minor(),
    };
    let status = if loaded.replayed { StatusCode::OK } else { StatusCode::CREATED };
    if !loaded.replayed {
        tracing::info!(purse = %loaded.purse.id, user = %auth.user.handle, amount = amount.minor(), "purse loaded");
    }
    Ok((status, Json(answer)))
}

/// `GET /v1/purses`
#[utoipa::path(get, path = "/v1/purses", operation_id = "listPurses",
    summary = "The signed-in user's purses, newest first (at most 200)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The purses", body = Purses),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
async fn list(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Purses>> {
    let purses = state.store.offline().purses(Some(auth.user.id), 200).await?;
    Ok(Json(Purses { purses: purses.iter().map(purse_answer).collect() }))
}

/// `POST /v1/purses/{purse_id}/close`
#[utoipa::path(post, path = "/v1/purses/{purse_id}/close", operation_id = "closePurse",
    summary = "Close an open purse with the device-signed close statement; the unspent rest returns to the wallet (exactly once per Idempotency-Key)",
    security(("bearer" = [])),
    params(
        ("purse_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "The purse id, 32 lowercase hex digits"),
        ("Idempotency-Key" = String, Header, pattern = r"^[A-Za-z0-9_-]{8,128}$",
            description = "8 to 128 characters of A-Z, a-z, 0-9, - and _; the same key replays the first outcome"),
    ),
    request_body = CloseRequest,
    responses(
        (status = 200, description = "Closed (or replayed)", body = CloseOutcome),
        (status = 400, description = "`invalid_close` (malformed, for another purse, or not verifying against the certificate), `invalid_request`, `missing_idempotency_key` or `invalid_idempotency_key`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 404, description = "`unknown_purse`: no purse with this id belongs to the user", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 409, description = "`purse_not_open` or `idempotency_conflict`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
async fn close(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(purse_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CloseRequest>,
) -> Result<Json<CloseOutcome>> {
    let key = idempotency_key(&headers)?;
    let purse_id = PurseId::from_hex(&purse_id)
        .map_err(|_| offline(StatusCode::NOT_FOUND, ErrorCode::UnknownPurse, "no such purse"))?;
    let statement = CloseStatement::from_text(&body.close).map_err(|e| {
        offline(StatusCode::BAD_REQUEST, ErrorCode::InvalidClose, format!("the close statement is malformed: {e}"))
    })?;
    if statement.fields().purse_id != purse_id {
        return Err(offline(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidClose,
            "the close statement is for another purse",
        ));
    }
    let outcome = state.store.offline().close_purse(auth.user.id, &statement, &key, state.now_ms()).await?;
    if outcome.fraud {
        state.revocations.forget();
    }
    Ok(Json(CloseOutcome {
        returned: outcome.returned,
        held: outcome.held,
        balance: outcome.balance,
        fraud: outcome.fraud,
    }))
}

/// `POST /v1/notes`: settle uploaded notes (any side may upload), one result per note.
#[utoipa::path(post, path = "/v1/notes", operation_id = "uploadNotes",
    summary = "Upload offline payment notes for settlement (payer, payee or anyone signed in); one result per note, in order",
    description = "Idempotent by note hash: a note uploaded again answers `duplicate` and moves nothing. This route's body limit is 306,024 bytes (500 notes of up to 600 characters plus JSON), not 16 KiB.",
    security(("bearer" = [])),
    request_body = NotesUpload,
    responses(
        (status = 200, description = "One result per uploaded note", body = NotesAnswer),
        (status = 400, description = "`invalid_request` (bad body or more than 500 notes)", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 413, description = "`payload_too_large` (over 306,024 bytes)", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`busy`: too many notes are waiting for their signature check; has `Retry-After`", body = ErrorBody),
    ))]
async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<NotesUpload>,
) -> Result<Json<NotesAnswer>> {
    if body.notes.len() > NOTES_MAX {
        return Err(ApiError::InvalidRequest(format!("at most {NOTES_MAX} notes per upload")).into());
    }
    let mut results: Vec<Option<NoteResult>> = vec![None; body.notes.len()];
    let mut decoded = Vec::new();
    let mut positions = Vec::new();
    // Each purse's certificate is decoded once per upload, not once per note, and a purse seen
    // in an earlier upload on this thread is not decoded again (its device key's square root is
    // about a tenth of an upload's work on the request threads: docs/PERFORMANCE.md).
    let mut decoder = NoteDecoder::decoding_certificates_with(offpay_ledger::offline::decode_certificate);
    for (i, text) in body.notes.iter().enumerate() {
        match decoder.from_text(text) {
            Ok(note) => {
                decoded.push(note);
                positions.push(i);
            }
            Err(e) => {
                results[i] = Some(NoteResult {
                    note: crypto::sha256(text.trim().as_bytes()).to_hex(),
                    status: offpay_api::NoteStatus::Rejected,
                    reason: Some("malformed".into()),
                    detail: Some(e.to_string()),
                    amount: 0,
                });
            }
        }
    }
    let settled = state.store.offline().settle_notes(auth.user.id, decoded, state.now_ms()).await?;
    if settled.iter().any(|r| !matches!(r.status, NoteStatus::Settled | NoteStatus::Duplicate)) {
        // A purse and a device key may have just been revoked (a fraud, a note held or refused
        // on a revoked purse): the list says so from the next request.
        state.revocations.forget();
    }
    for (i, r) in positions.into_iter().zip(settled) {
        if r.status == NoteStatus::Fraud {
            tracing::warn!(note = %r.note, reason = ?r.reason, "offline note is part of a fraud proof");
        }
        results[i] = Some(NoteResult {
            note: r.note.to_hex(),
            status: note_status(r.status),
            reason: r.reason,
            detail: None,
            amount: r.amount,
        });
    }
    // Every position was filled: by the decoder's refusal or by the ledger's result.
    let results = results.into_iter().collect::<Option<Vec<_>>>();
    let results = results.ok_or_else(|| ApiError::internal("a note upload left a note without a result"))?;
    Ok(Json(NotesAnswer { results }))
}

fn note_status(status: NoteStatus) -> offpay_api::NoteStatus {
    use offpay_api::NoteStatus as S;
    match status {
        NoteStatus::Settled => S::Settled,
        NoteStatus::Duplicate => S::Duplicate,
        NoteStatus::Rejected => S::Rejected,
        NoteStatus::Fraud => S::Fraud,
        NoteStatus::Held => S::Held,
    }
}
