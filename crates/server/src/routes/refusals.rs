//! `POST /v1/notes/refusals`: a payee's device refused a note at its counter (docs/API-OFFLINE.md,
//! "Refusing a note at the counter"; docs/decisions/counter-refusals.md). Thin over
//! [`offpay_ledger::offline::OfflineStore::refuse_note`]: decode the note, answer the outcome.

use axum::Json;
use axum::extract::State;
use offpay_api::{ErrorBody, NoteRefusal, RefusalAnswer, RefusalStatus};
use offpay_ledger::offline::refusal;
use offpay_protocol::note::NoteDecoder;

use super::offline::OfflineApiError;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

pub const NOTE_REFUSALS: &str = "/v1/notes/refusals";

/// `POST /v1/notes/refusals`.
#[utoipa::path(post, path = "/v1/notes/refusals", operation_id = "refuseNote",
    summary = "Tell the server that a device of the payee refused a payment note at its counter: it is never paid, or what it paid goes back to the payer",
    description = "Only the note's payee may refuse it. Idempotent by note hash: the first outcome is answered again and nothing more moves. Not paid yet: `voided`, and an upload of the note is refused as `refused_by_payee`; its money goes back to the payer with the purse's remainder. Paid: `refunded`, what it paid goes back to the payer in one `transfer` entry from the payee's wallet.",
    security(("bearer" = [])),
    request_body = NoteRefusal,
    responses(
        (status = 200, description = "The refusal's outcome (the same for every refusal of this note)", body = RefusalAnswer),
        (status = 400, description = "`invalid_request`: not a payment note, or one that would never be paid (device signature, chain start, cap or purse amount)", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 403, description = "`not_payee`: the note pays another account, or is drawn on the caller's own purse; `account_frozen`: the payee's account is frozen and the note was paid (try again once unfrozen)", body = ErrorBody),
        (status = 404, description = "`unknown_purse`: no purse of this server has this note's certificate", body = ErrorBody),
        (status = 408, description = "`request_timeout`", body = ErrorBody),
        (status = 409, description = "`too_many_refusals`: 1,000 refusals of this purse are kept for this account already; `note_held`: the note is not paid in full yet (try again later); `refund_not_possible`: the operator paid fraud loss for the note's purse, nothing of it is given back", body = ErrorBody),
        (status = 422, description = "`insufficient_funds`: the note was paid and the payee's balance is now lower than it (try again later)", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`)", body = ErrorBody),
    ))]
pub(super) async fn refuse(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<NoteRefusal>,
) -> Result<Json<RefusalAnswer>, OfflineApiError> {
    let mut decoder = NoteDecoder::decoding_certificates_with(offpay_ledger::offline::decode_certificate);
    let note = decoder
        .from_text(&body.note)
        .map_err(|e| ApiError::InvalidRequest(format!("note: not a payment note ({e})")))?;
    let outcome = state.store.offline().refuse_note(auth.user.id, note, state.now_ms()).await?;
    Ok(Json(RefusalAnswer {
        note: outcome.note.to_hex(),
        status: match outcome.status {
            refusal::RefusalStatus::Voided => RefusalStatus::Voided,
            refusal::RefusalStatus::Refunded => RefusalStatus::Refunded,
        },
        amount: u64::try_from(outcome.amount).unwrap_or(0),
        payer: outcome.payer.0.to_string(),
        entry_id: outcome.entry_id.map(|id| offpay_api::EntryId(id.0)),
    }))
}
