//! `GET /v1/history?before=ID&limit=N`: the signed-in user's journal lines, newest first.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: u32 = 50;

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(format!("bad query: {e}")))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=offpay_ledger::HISTORY_MAX).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("limit must be 1 to {}", offpay_ledger::HISTORY_MAX)));
    }
    let items = state.store.history(auth.user.id, query.before, limit).await?;
    let full = u32::try_from(items.len()).is_ok_and(|n| n >= limit);
    let next_before = if full { items.last().map(|item| item.entry_id) } else { None };
    Ok(Json(json!({"items": items, "next_before": next_before})))
}
