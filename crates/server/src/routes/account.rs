//! `GET /v1/me`: the signed-in user's own account (`account` is the account number offline
//! purses and notes name, docs/API-OFFLINE.md: the ledger's user id).

use axum::Json;
use axum::extract::State;
use offpay_api::{ErrorBody, Me};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/me`
#[utoipa::path(get, path = "/v1/me", operation_id = "me", summary = "The signed-in user's account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Balance and state", body = Me),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Me>, ApiError> {
    let balance = state.store.balance(auth.user.id).await?;
    Ok(Json(Me {
        handle: auth.user.handle.as_str().to_string(),
        account: u64::try_from(auth.user.id.0).map_err(ApiError::internal)?,
        balance: balance.minor(),
        currency: state.config.currency.code().to_string(),
        frozen: auth.user.frozen,
    }))
}
