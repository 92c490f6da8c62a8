//! `GET /v1/history?before=ID&limit=N`: the signed-in user's journal lines, newest first.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use offpay_api::{EntryKind, ErrorBody, HistoryItem, HistoryPage, HistoryQuery};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: u32 = 50;

/// `GET /v1/history`
#[utoipa::path(get, path = "/v1/history", operation_id = "history",
    summary = "The signed-in user's history, newest first",
    security(("bearer" = [])),
    params(HistoryQuery),
    responses(
        (status = 200, description = "One page", body = HistoryPage),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(format!("bad query: {e}")))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=offpay_ledger::HISTORY_MAX).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("limit must be 1 to {}", offpay_ledger::HISTORY_MAX)));
    }
    let items = state.store.history(auth.user.id, query.before.map(Into::into), limit).await?;
    let full = u32::try_from(items.len()).is_ok_and(|n| n >= limit);
    let next_before = if full { items.last().map(|item| item.entry_id.into()) } else { None };
    Ok(Json(HistoryPage { items: items.into_iter().map(history_item).collect(), next_before }))
}

/// A ledger history line as the API shows it.
fn history_item(item: offpay_ledger::HistoryItem) -> HistoryItem {
    HistoryItem {
        entry_id: item.entry_id.into(),
        kind: entry_kind(item.kind),
        delta: item.delta,
        counterparty: item.counterparty.map(|h| h.as_str().to_string()),
        memo: item.memo,
        created_at_ms: item.created_at_ms,
        note: item.note.map(|n| n.to_hex()),
    }
}

pub(crate) fn entry_kind(kind: offpay_ledger::EntryKind) -> EntryKind {
    use offpay_ledger::EntryKind as K;
    match kind {
        K::Deposit => EntryKind::Deposit,
        K::Transfer => EntryKind::Transfer,
        K::PurseLoad => EntryKind::PurseLoad,
        K::PurseReturn => EntryKind::PurseReturn,
        K::OfflineSettle => EntryKind::OfflineSettle,
    }
}
