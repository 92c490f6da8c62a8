//! `GET /v1/receipts/{entry_id}?card=PREFIX`: a receipt for an online payment, signed with the
//! issuer key (docs/PROTOCOL.md 4.6), so that a shop with no connection can check it with the
//! issuer keys it has cached. Either party of the transfer may ask; for anyone else, and for an
//! entry that is no transfer, the answer is the same 404 as for an entry that does not exist.
//!
//! The receipt names the shop card paid (its nonce prefix), and only that card's counter takes
//! it: otherwise one payment could be shown at two counters of one shop (PROTOCOL.md 16.2). The
//! first card named for a payment is bound to it for good (`Store::receipt_card`); a different
//! one later is refused with 409 `receipt_for_another_card`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use offpay_api::{ErrorBody, ErrorCode, ReceiptAnswer, ReceiptQuery};
use offpay_protocol::{CurrencyCode, Encoded, Receipt, ReceiptFields};

use super::offline::{OfflineApiError, issuer, offline};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

pub const RECEIPT: &str = "/v1/receipts/{entry_id}";

/// `GET /v1/receipts/{entry_id}`
#[utoipa::path(get, path = "/v1/receipts/{entry_id}", operation_id = "getReceipt",
    summary = "A receipt of an online transfer, signed with the issuer key of its time, for either party (docs/API-OFFLINE.md, \"Receipts\")",
    security(("bearer" = [])),
    params(("entry_id" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991_u64, description = "The transfer's entry id"), ReceiptQuery),
    responses(
        (status = 200, description = "The signed receipt and what it says", body = ReceiptAnswer),
        (status = 400, description = "`invalid_request`: `card` is not 8 lowercase hex digits", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 404, description = "`not_found`: no transfer with this id that the signed-in user sent or received", body = ErrorBody),
        (status = 409, description = "`receipt_for_another_card`: the payment's receipts already name another shop card", body = ErrorBody),
        (status = 410, description = "`receipt_unavailable`: the payment is older than every issuer key the server keeps", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`offline_disabled`: this server has no issuer key file configured", body = ErrorBody),
    ))]
pub async fn receipt(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(entry_id): Path<String>,
    query: Result<Query<ReceiptQuery>, QueryRejection>,
) -> Result<Json<ReceiptAnswer>, OfflineApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(format!("bad query: {e}")))?;
    let wanted = query.card.as_deref().map(card_prefix).transpose()?;
    // Not a positive whole number: no such entry (and no parse error that tells ids apart).
    let entry_id =
        entry_id.parse::<i64>().ok().filter(|id| *id > 0).map(offpay_ledger::EntryId).ok_or(ApiError::NotFound)?;
    let issuer = issuer(&state)?;
    let entry = state.store.transfer_entry(auth.user.id, entry_id).await?.ok_or(ApiError::NotFound)?;
    let account = |id: offpay_ledger::UserId| {
        id.account_number().ok_or_else(|| ApiError::internal("a user id with no account number"))
    };
    let time = u64::try_from(entry.created_at_ms / 1000).map_err(ApiError::internal)?;
    // Checked before the card is bound: a receipt that cannot be signed binds nothing.
    // Signed with the key that was current when the payment was booked, so that the receipt's
    // time lies in its key's window (rotated keys are kept for as long as purses need them).
    let key = issuer.current(time).map_err(|_| {
        offline(
            StatusCode::GONE,
            ErrorCode::ReceiptUnavailable,
            "this payment is older than the signing keys this server keeps, so it cannot sign a receipt for it",
        )
    })?;
    let card = state.store.receipt_card(entry_id, wanted, state.now_ms()).await?;
    if wanted.is_some() && card != wanted {
        return Err(offline(
            StatusCode::CONFLICT,
            ErrorCode::ReceiptForAnotherCard,
            "this payment's receipt already names another shop card: a payment can be shown at one counter only",
        ));
    }
    let fields = ReceiptFields {
        entry_id: u64::try_from(entry.entry_id.0).map_err(ApiError::internal)?,
        payer: account(entry.from)?,
        payer_handle: Some(entry.from_handle.clone()),
        payee: account(entry.to)?,
        currency: CurrencyCode::from(state.config.currency),
        amount: entry.amount,
        time,
        card,
    };
    let receipt = Receipt::issue(fields, &key).map_err(ApiError::internal)?;
    Ok(Json(ReceiptAnswer {
        receipt: receipt.to_text(),
        card: card.map(hex::encode),
        entry_id: u64::try_from(entry.entry_id.0).map_err(ApiError::internal)?,
        from: entry.from_handle.to_string(),
        to: entry.to_handle.to_string(),
        amount: entry.amount.minor(),
        created_at_ms: entry.created_at_ms,
    }))
}

/// A `card` query value: exactly 8 lowercase hex digits (one spelling per card).
pub(crate) fn card_prefix(text: &str) -> Result<[u8; 4], ApiError> {
    let bad = || ApiError::InvalidRequest("card must be the shop card's nonce prefix: 8 lowercase hex digits".into());
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad());
    }
    let mut prefix = [0u8; 4];
    hex::decode_to_slice(text, &mut prefix).map_err(|_| bad())?;
    Ok(prefix)
}
