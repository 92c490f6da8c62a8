//! `GET /v1/me`: the signed-in user's own account (`account` is the account number offline
//! purses and notes name, docs/API-OFFLINE.md: the ledger's user id).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn me(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let balance = state.store.balance(auth.user.id).await?;
    Ok(Json(json!({
        "handle": auth.user.handle,
        "account": auth.user.id,
        "balance": balance,
        "currency": state.config.currency.code(),
        "frozen": auth.user.frozen,
    })))
}
