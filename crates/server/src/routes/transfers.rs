//! `POST /v1/transfers`: move money from the signed-in user to another user, exactly once per
//! `Idempotency-Key`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use offpay_ledger::{IdempotencyKey, TransferRequest};
use offpay_protocol::{Amount, Handle};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    to: String,
    /// Checked by [`parse_amount`] so that every bad amount gets `invalid_amount`.
    amount: Value,
    #[serde(default)]
    memo: Option<String>,
}

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

pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let to = Handle::parse(&body.to).map_err(|e| ApiError::InvalidHandle(e.to_string()))?;
    let amount = parse_amount(&body.amount)?;
    let request = TransferRequest { from: auth.user.id, to, amount, idempotency_key, memo: body.memo };
    let posted = match state.store.transfer(&request, state.now_ms()).await {
        Ok(posted) => posted,
        Err(offpay_ledger::LedgerError::AccountFrozen) => {
            let detail = format!("account={} action=transfer reason=frozen", auth.user.handle);
            state.security.record_sampled("forbidden", &format!("frozen:{}", auth.user.id), &detail).await;
            return Err(ApiError::AccountFrozen);
        }
        Err(other) => return Err(other.into()),
    };
    let balance = state.store.balance(auth.user.id).await?;
    let status = if posted.replayed { StatusCode::OK } else { StatusCode::CREATED };
    if !posted.replayed {
        tracing::info!(entry = posted.entry_id, from = %auth.user.handle, to = %posted.to, amount = posted.amount.minor(), "transfer");
    }
    Ok((status, Json(json!({"transfer": posted, "balance": balance}))))
}

#[cfg(test)]
mod tests {
    use super::*;

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
