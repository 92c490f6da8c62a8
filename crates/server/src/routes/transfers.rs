//! `POST /v1/transfers`: move money from the signed-in user to another user, exactly once per
//! `Idempotency-Key`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use offpay_api::{ErrorBody, Posted, PostedKind, TransferAnswer, TransferRequest as TransferBody};
use offpay_ledger::{IdempotencyKey, TransferRequest};
use offpay_protocol::{Amount, Handle};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The idempotency key of a money-moving request.
pub fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let value = headers.get(IDEMPOTENCY_HEADER).ok_or(ApiError::MissingIdempotencyKey)?;
    let text = value.to_str().map_err(|_| ApiError::InvalidIdempotencyKey)?;
    IdempotencyKey::parse(text).ok_or(ApiError::InvalidIdempotencyKey)
}

/// An amount on the wire: a positive integer of minor units, at most [`Amount::MAX`].
pub fn parse_amount(value: &Value) -> Result<Amount, ApiError> {
    let bad = |why: &str| ApiError::InvalidAmount(why.to_string());
    match value {
        Value::Number(n) => {
            if let Some(minor) = n.as_u64() {
                if minor == 0 {
                    return Err(bad("the amount must be greater than zero"));
                }
                return Amount::from_minor(minor).ok_or_else(|| bad("the amount is too large"));
            }
            if n.as_i64().is_some_and(|v| v < 0) || n.as_f64().is_some_and(|v| v < 0.0) {
                return Err(bad("the amount cannot be negative"));
            }
            if n.is_f64() {
                return Err(bad("the amount must be a whole number of minor units (for example 1250 for 12.50)"));
            }
            Err(bad("the amount is too large"))
        }
        _ => Err(bad("the amount must be a whole number of minor units (for example 1250 for 12.50)")),
    }
}

/// `POST /v1/transfers`. The amount is read as any JSON value and checked by [`parse_amount`], so
/// that every bad amount gets `invalid_amount`.
#[utoipa::path(post, path = "/v1/transfers", operation_id = "createTransfer",
    summary = "Send money to another user (exactly once per Idempotency-Key)",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, pattern = r"^[A-Za-z0-9_-]{8,128}$",
        description = "8 to 128 characters of A-Z, a-z, 0-9, - and _; the same key replays the first outcome")),
    request_body = TransferBody,
    responses(
        (status = 201, description = "Posted", body = TransferAnswer),
        (status = 200, description = "Replayed: the first outcome of this key (`replayed: true`)", body = TransferAnswer),
        (status = 400, description = "`invalid_request`, `invalid_amount`, `invalid_handle`, `invalid_memo` (control or text-direction characters), `missing_idempotency_key` or `invalid_idempotency_key`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 403, description = "`account_frozen`", body = ErrorBody),
        (status = 404, description = "`unknown_user`", body = ErrorBody),
        (status = 408, description = "`request_timeout` (the body did not arrive in time; the connection is closed)", body = ErrorBody),
        (status = 409, description = "`idempotency_conflict` or `same_account`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`insufficient_funds`, or `payee_mismatch` (`to` is not `to_account`)", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TransferBody<Value>>,
) -> Result<(StatusCode, Json<TransferAnswer>), ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let to = Handle::parse(&body.to).map_err(|e| ApiError::InvalidHandle(e.to_string()))?;
    let amount = parse_amount(&body.amount)?;
    if let Some(expected) = body.to_account {
        // A username never changes owner, so checking before the transfer is as good as in it.
        let payee = state.store.user_by_handle(&to).await?.ok_or(ApiError::UnknownUser)?;
        if u64::try_from(payee.id.0).ok() != Some(expected) {
            return Err(ApiError::PayeeMismatch(to.to_string(), expected));
        }
    }
    let card = body.card.as_deref().map(super::receipts::card_prefix).transpose()?;
    let request = TransferRequest { from: auth.user.id, to, amount, idempotency_key, memo: body.memo, card };
    let (posted, balance) = match state.store.transfer_and_balance(&request, state.now_ms()).await {
        Ok(done) => done,
        Err(offpay_ledger::LedgerError::AccountFrozen) => {
            let detail = format!("account={} action=transfer reason=frozen", auth.user.handle);
            state.security.record_sampled("forbidden", &format!("frozen:{}", auth.user.id), &detail).await;
            return Err(ApiError::AccountFrozen);
        }
        Err(other) => return Err(other.into()),
    };
    let status = if posted.replayed { StatusCode::OK } else { StatusCode::CREATED };
    if !posted.replayed {
        tracing::info!(entry = posted.entry_id.0, from = %auth.user.handle, to = %posted.to, amount = posted.amount.minor(), "transfer");
    }
    Ok((status, Json(TransferAnswer { transfer: posted_answer(posted)?, balance: balance.minor() })))
}

/// A posted entry as the API shows it.
fn posted_answer(posted: offpay_ledger::Posted) -> Result<Posted, ApiError> {
    let kind = match posted.kind {
        offpay_ledger::EntryKind::Deposit => PostedKind::Deposit,
        offpay_ledger::EntryKind::Transfer => PostedKind::Transfer,
        other => return Err(ApiError::internal(format!("a transfer posted a {} entry", other.as_str()))),
    };
    Ok(Posted {
        entry_id: posted.entry_id.into(),
        kind,
        from: posted.from.map(|h| h.as_str().to_string()),
        to: posted.to.as_str().to_string(),
        amount: posted.amount.minor(),
        created_at_ms: posted.created_at_ms,
        replayed: posted.replayed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount(&json!(2500)).ok(), Amount::from_minor(2500));
        for bad in
            [json!(0), json!(-5), json!(1.5), json!("12.50"), json!(null), json!(9_007_199_254_740_992u64), json!(1e30)]
        {
            assert!(matches!(parse_amount(&bad), Err(ApiError::InvalidAmount(_))), "{bad}");
        }
    }
}
