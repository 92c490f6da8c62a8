//! Card notes this counter refused though the server would pay them (a clock was off, the note is
//! for a retired card of this home, its issuer key is not known here, its purse is revoked:
//! [`fit_to_keep`]), kept to
//! be given back (docs/decisions/counter-refusals.md). The payer's phone signed the note, so the
//! server would pay it to the shop when that phone syncs, and a customer told "refused" pays
//! again another way: twice. So the counter keeps the note, in the same transaction that looks
//! for it among those accepted, before the refusal is shown; refuses it for good if shown again
//! (`refused_here_before`), even once the clocks agree; and `sync` sends it to
//! `POST /v1/notes/refusals`, which voids it (never paid) or gives back what it paid.
//!
//! Besides the clock's refusals, a note for one of this home's retired cards, a note whose
//! issuer key this device does not know and a note of a revoked purse are kept ([`fit_to_keep`]); a note for another card of
//! the shop (`wrong_card`) may be taken at the right counter, the same note shown twice
//! (`nonce_replayed`) is one payment. A kept note passed every other check of the counter with
//! the note's own time as the clock.

use offpay_protocol::{
    Accepted, AccountNumber, Amount, CardAcceptContext, Encoded, Hash256, IssuerKeys, PaymentNote, PurseId, PurseTally,
    RejectReason, Revocations, ShopCard, UnixTime, accept_card_note, card_note_fits_but_for_issuer,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::error::OfflineError;
use super::online::{OnlineSession, session_error};
use super::shop::retired_card;
use super::store::{OfflineStore, OfflineStoreError, amount_from_sql, corrupt, sql_amount};
use crate::client::ClientError;
use crate::wallet::Wallet;
use crate::wire::RefusalStatus;

/// Server codes after which a refusal is sent again at the next sync: the note is not paid in
/// full yet, the shop's balance is lower than what goes back, or its account is frozen.
pub const REFUSAL_RETRY_CODES: &[&str] = &["note_held", "insufficient_funds", "account_frozen"];

/// Where a kept refusal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalState {
    /// To be sent at the next sync.
    Pending,
    /// The server will never pay the note.
    Voided,
    /// What the note paid this shop went back to the payer.
    Refunded,
    /// The server refused to take it back (`failure` says why): settle with the payer yourself.
    Failed,
}

impl RefusalState {
    /// The state as stored and as `sync --json` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalState::Pending => "pending",
            RefusalState::Voided => "voided",
            RefusalState::Refunded => "refunded",
            RefusalState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<RefusalState> {
        Some(match text {
            "pending" => RefusalState::Pending,
            "voided" => RefusalState::Voided,
            "refunded" => RefusalState::Refunded,
            "failed" => RefusalState::Failed,
            _ => return None,
        })
    }
}

/// A card note this counter refused and keeps to give back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRefusal {
    pub note_hash: Hash256,
    pub text: String,
    /// The shop account the note pays.
    pub payee: AccountNumber,
    pub payer: AccountNumber,
    pub amount: Amount,
    pub refused_at: UnixTime,
    pub state: RefusalState,
    /// What went back to the payer from the shop's balance (refunded).
    pub returned: Amount,
    /// The server's reason, when it refused to take the note back.
    pub failure: Option<String>,
}

/// Keeps `note`, refused at the counter at `now`, inside the transaction `tx` that found it
/// fit for every other check (so that it cannot be accepted and kept at once).
/// Its nonce counts as seen from then on (`shop.rs` `seen_nonces`, [`COUNTS_AS_SEEN`]) unless it
/// was kept for an unknown issuer key: a second note with the same nonce is refused (and kept
/// too when otherwise fit: [`fit_to_keep`]), or a payer could have one taken and the kept one
/// given back, and the server, which pays one note per (payee, nonce), would then pay neither.
pub(crate) fn keep(
    tx: &Connection,
    note: &PaymentNote,
    reason: &RejectReason,
    now: UnixTime,
) -> Result<(), OfflineStoreError> {
    let f = note.fields();
    tx.execute(
        "INSERT INTO counter_refusals (note_hash, text, payee, payer, amount, nonce, reason, refused_at, state, purse_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9) ON CONFLICT (note_hash) DO NOTHING",
        params![
            note.hash().to_hex(),
            note.to_text(),
            i64::try_from(f.payee.0).unwrap_or(i64::MAX),
            i64::try_from(note.certificate().fields().account.0).unwrap_or(i64::MAX),
            sql_amount(f.amount),
            f.nonce.to_hex(),
            reason.code(),
            i64::try_from(now).unwrap_or(i64::MAX),
            note.purse_id().to_hex()
        ],
    )?;
    Ok(())
}

/// The refusals the counter keeps to give back for a clock: a note the server would still pay,
/// refused only by this device's clock: its time too far from it (`stale_note`), or its purse not
/// valid by it (`certificate_expired`, `certificate_not_yet_valid`) while valid at the note's own
/// time. [`fit_to_keep`] also keeps a note for this home's retired card (`wrong_card`), one
/// whose issuer key this device does not know (`unknown_issuer_key`) and one from a revoked purse
/// or device (`revoked`).
pub(crate) const KEPT_REASONS: &[RejectReason] =
    &[RejectReason::StaleNote, RejectReason::CertificateExpired, RejectReason::CertificateNotYetValid];

/// Which kept refusals' nonces count as seen (an SQL condition on `counter_refusals`): not those
/// kept for an unknown issuer key, whose certificate is unchecked, so anyone can make one with
/// the nonce copied from a customer's genuine code, which must still be taken.
pub(crate) const COUNTS_AS_SEEN: &str = "reason <> 'unknown_issuer_key'";

/// A card note refused at the counter that is kept to give back.
pub(crate) struct Kept {
    /// The refusal to report and store: the one the counter made, or `wrong_card` when it was a
    /// clock's and the note was made for a retired card of this home (then the old card is what
    /// the shop and the payer must hear about).
    pub(crate) reason: RejectReason,
    /// The note accepted by every check with the time set aside, its purse's tally with it; none
    /// when its certificate could not be checked (an unknown issuer key), so its tally is not
    /// stored: a forged certificate could name another payer's purse.
    pub(crate) checked: Option<Accepted>,
}

/// Whether the card note refused by `ctx` for `reason` is kept to give back, and how it was
/// checked. The note must pass every other check of the counter with the note's own time as the
/// clock (no honest payer's phone signs outside its purse's dates):
/// - refused for a clock ([`KEPT_REASONS`]): checked with my card;
/// - `wrong_card` for a card this home made and replaced (only this device ever took notes for
///   it, so no other counter will): checked with that card;
/// - `unknown_issuer_key` (this device has not synced since the operator added a key): checked
///   without the issuer checks (`card_note_fits_but_for_issuer`); the server checks it in full;
/// - `revoked` (the payer spent the purse twice): the server still pays notes of a revoked purse
///   (from its reserve, then the payer's balance, then the operator's loss allowance), so a note
///   refused here and paid anyway would take money honest payees of that purse need. Voided
///   before it is paid, it takes nothing.
///
/// Every check runs without the revocation list (a revoked note is kept; for the others the
/// list has already been checked: it comes before every check but the issuer's and the
/// purse's dates).
///
/// A note for another card (another counter may take it), a replayed nonce (the same payment
/// shown twice; see [`keep_a_repeat`] for one only kept notes hold) and every other refusal (the
/// server refuses the note too) are not kept. The error is the refusal to show (or the store's).
pub(crate) fn fit_to_keep(
    conn: &Connection,
    note: &PaymentNote,
    tally: Option<&PurseTally>,
    ctx: &CardAcceptContext<'_>,
    reason: &RejectReason,
) -> Result<Kept, OfflineError> {
    let refuse = |r: &RejectReason| Err(OfflineError::Rejected(r.clone()));
    let no_revocations = Revocations::default();
    let at_its_time =
        CardAcceptContext { window: u64::MAX, now: note.fields().time, revocations: &no_revocations, ..*ctx };
    let with_card = |card: &ShopCard, verify_issuer: bool| {
        let ctx = CardAcceptContext { card, ..at_its_time };
        if verify_issuer {
            accept_card_note(note, tally, &ctx)
        } else {
            card_note_fits_but_for_issuer(note, tally, &ctx)
        }
    };
    // A note drawn on the shop's own account pays the shop from itself: nothing to give back
    // (the server refuses such a refusal, `not_payee`), and an unchecked one may be forged.
    if note.certificate().fields().account == ctx.card.fields().payee {
        return refuse(reason);
    }
    if *reason == RejectReason::NonceReplayed {
        return keep_a_repeat(conn, note, &at_its_time, tally);
    }
    let verify_issuer = *reason != RejectReason::UnknownIssuerKey;
    if verify_issuer
        && !matches!(reason, RejectReason::WrongCard | RejectReason::Revoked)
        && !KEPT_REASONS.contains(reason)
    {
        return refuse(reason);
    }
    let mut told = reason.clone();
    let checked = match with_card(ctx.card, verify_issuer) {
        Err(RejectReason::WrongCard) => {
            let prefix = note.fields().nonce.as_bytes()[..4].try_into().unwrap_or([0; 4]);
            match retired_card(conn, prefix)? {
                Some(retired) => {
                    // Refused first for a clock, the payer must above all scan the current card;
                    // an unknown key or a revocation says more and is kept as it is.
                    if KEPT_REASONS.contains(reason) {
                        told = RejectReason::WrongCard;
                    }
                    with_card(&retired, verify_issuer)
                }
                // Another card's note with a checked certificate is told as such (what the shop
                // must hear: hand over nothing, the other counter may take it); an unchecked
                // one's card means nothing.
                None if verify_issuer => return refuse(&RejectReason::WrongCard),
                None => return refuse(reason),
            }
        }
        other => other,
    };
    match checked {
        Ok(accepted) => Ok(Kept { reason: told, checked: verify_issuer.then_some(accepted) }),
        Err(_) => refuse(reason),
    }
}

/// A card note refused as `nonce_replayed` whose nonce only notes kept here to give back hold
/// (never an accepted note or a request): nothing was received for that nonce. A note fit for
/// every other check (with its time set aside, its nonce set aside) is kept too, so that it is
/// given back if it was paid: else a payer with any purse who copied the nonce of a customer's
/// genuine code, and had a note with it kept first, would have that code refused and still
/// paid, and the customer, who pays again, charged twice.
/// Refused, it is `RepeatsARefusedCode`, not "already received": nothing was received for it.
fn keep_a_repeat(
    conn: &Connection,
    note: &PaymentNote,
    at_its_time: &CardAcceptContext<'_>,
    tally: Option<&PurseTally>,
) -> Result<Kept, OfflineError> {
    let nonce = note.fields().nonce;
    if !held_only_by_kept(conn, &nonce.to_hex())? {
        return Err(OfflineError::Rejected(RejectReason::NonceReplayed));
    }
    let mut seen = at_its_time.seen_nonces.clone();
    seen.remove(&nonce);
    let ctx = CardAcceptContext { seen_nonces: &seen, ..*at_its_time };
    match accept_card_note(note, tally, &ctx) {
        Ok(accepted) => Ok(Kept { reason: RejectReason::NonceReplayed, checked: Some(accepted) }),
        Err(_) => Err(OfflineError::RepeatsARefusedCode { payer: note.certificate().fields().account.0 }),
    }
}

/// The tally of `purse` as this counter knows it: `stored`, with each note kept for an issuer
/// key this device did not know whose certificate the keys it knows now verify. Such a note is
/// genuine, so a fork of it must be refused here like a fork of any kept note; before its key
/// was known it could not join the tally (a forged certificate can name any purse). A kept note
/// that does not fit the tally (itself another branch of a note taken here) is left out.
pub(crate) fn tally_with_kept(
    conn: &Connection,
    purse: PurseId,
    stored: Option<PurseTally>,
    issuer_keys: &IssuerKeys,
) -> Result<Option<PurseTally>, OfflineStoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT text FROM counter_refusals WHERE reason = 'unknown_issuer_key' AND purse_id = ?1")?;
    let texts = stmt.query_map([purse.to_hex()], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    let mut tally = stored;
    for note in texts.iter().filter_map(|t| PaymentNote::from_text(t).ok()) {
        if note.certificate().verify_issuer(issuer_keys).is_err() {
            continue;
        }
        let t = tally.get_or_insert_with(|| PurseTally::new(purse));
        if t.notes.get(&note.seq()).is_some_and(|e| e.hash == note.hash()) {
            continue;
        }
        if let Ok(entry) = t.admit(&note) {
            t.notes.insert(note.seq(), entry);
        }
    }
    Ok(tally)
}

/// Whether `nonce` is seen here only because of notes this counter refused and keeps (whose
/// nonce [`COUNTS_AS_SEEN`]): no accepted note and no request of this home has it.
fn held_only_by_kept(conn: &Connection, nonce: &str) -> Result<bool, OfflineStoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT EXISTS (SELECT 1 FROM counter_refusals WHERE nonce = ?1 AND {COUNTS_AS_SEEN})
         AND NOT EXISTS (SELECT 1 FROM accepted WHERE nonce = ?1)
         AND NOT EXISTS (SELECT 1 FROM requests WHERE nonce = ?1)"
    ))?;
    Ok(stmt.query_row([nonce], |r| r.get(0))?)
}

/// The kept refusal of the note `hash`, if this counter refused it.
pub(crate) fn refused_here(conn: &Connection, hash: Hash256) -> Result<Option<CounterRefusal>, OfflineStoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE note_hash = ?1"))?;
    stmt.query_row([hash.to_hex()], row).optional()?.transpose()
}

const SELECT: &str =
    "SELECT note_hash, text, payee, payer, amount, refused_at, state, returned, failure FROM counter_refusals";

type Row = Result<CounterRefusal, OfflineStoreError>;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let (hash, text, payee, payer, amount): (String, String, i64, i64, i64) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
    let (refused_at, state, returned, failure): (i64, String, i64, Option<String>) =
        (r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?);
    Ok((|| {
        let account = |v: i64| u64::try_from(v).map(AccountNumber).map_err(|e| corrupt("refusal account", e));
        Ok(CounterRefusal {
            note_hash: Hash256::from_hex(&hash).map_err(|e| corrupt("refusal note hash", e))?,
            text,
            payee: account(payee)?,
            payer: account(payer)?,
            amount: amount_from_sql(amount, "refusal amount")?,
            refused_at: u64::try_from(refused_at).map_err(|e| corrupt("refusal time", e))?,
            state: RefusalState::parse(&state).ok_or_else(|| corrupt("refusal state", &state))?,
            returned: amount_from_sql(returned, "refusal returned")?,
            failure,
        })
    })())
}

impl CounterRefusal {
    /// The refusal of this note when it is shown again, with what the shop should do.
    pub fn refused_again(&self) -> OfflineError {
        let payer = self.payer.0;
        let advice = match self.state {
            RefusalState::Pending => format!("it is given back to account {payer} at the next sync; ask the payer for a new code"),
            RefusalState::Voided | RefusalState::Refunded => {
                format!("it was given back to account {payer}; ask the payer for a new code")
            }
            RefusalState::Failed if self.is_a_double_spend() => {
                "the server would not give it back: the payer spent this purse's money twice and the operator covered it; keep it, and contact the operator if the payer asks".to_string()
            }
            RefusalState::Failed if self.is_never_paid() => format!(
                "the server says it is not a payment it would ever pay ({}): nothing is owed for it; ask the payer to pay another way",
                self.failure.as_deref().unwrap_or("no reason given")
            ),
            RefusalState::Failed => format!(
                "the server would not take it back ({}), so it may still be paid to this shop when the payer syncs: do not take a second payment for the same goods until it is settled with the payer",
                self.failure.as_deref().unwrap_or("no reason given")
            ),
        };
        OfflineError::RefusedHereBefore { payer, advice, given_back: self.state != RefusalState::Failed }
    }

    /// Failed because the server would never pay the note: no purse it issued has its
    /// certificate (`unknown_purse`: a forged certificate, say, kept for an issuer key this
    /// device did not know) or the note is not one it pays (`invalid_request`).
    pub fn is_never_paid(&self) -> bool {
        self.state == RefusalState::Failed
            && self
                .failure
                .as_deref()
                .is_some_and(|f| f.ends_with("(unknown_purse)") || f.ends_with("(invalid_request)"))
    }

    /// Failed because the server found the purse double-spent (`refund_not_possible`): the money
    /// is the operator's, not the payer's, so the shop must not give it back itself.
    pub fn is_a_double_spend(&self) -> bool {
        self.state == RefusalState::Failed
            && self.failure.as_deref().is_some_and(|f| f.ends_with("(refund_not_possible)"))
    }
}

impl OfflineStore {
    /// Every card note this counter refused and keeps, oldest first.
    pub fn counter_refusals(&self) -> Result<Vec<CounterRefusal>, OfflineStoreError> {
        let mut stmt = self.conn().prepare_cached(&format!("{SELECT} ORDER BY refused_at, note_hash"))?;
        let rows = stmt.query_map([], row)?;
        rows.map(|r| r.map_err(OfflineStoreError::from).and_then(|r| r)).collect()
    }

    /// Writes the server's answer about a pending refusal (never changes one already answered).
    fn answer_refusal(
        &self,
        hash: Hash256,
        state: RefusalState,
        returned: Amount,
        failure: Option<&str>,
    ) -> Result<(), OfflineStoreError> {
        self.conn().execute(
            "UPDATE counter_refusals SET state = ?2, returned = ?3, failure = ?4
             WHERE note_hash = ?1 AND state = 'pending'",
            params![hash.to_hex(), state.as_str(), sql_amount(returned), failure],
        )?;
        Ok(())
    }
}

impl Wallet {
    /// Sends every pending refusal of notes paying `account` to the server, oldest first, and
    /// keeps its answers: voided or refunded; kept pending on [`REFUSAL_RETRY_CODES`], a busy or
    /// failing server, or no answer (then the rest wait for the next sync too); failed on any
    /// other refusal. Returns the refusals this call got an answer for.
    pub async fn give_back_refused_with(
        &mut self,
        session: &OnlineSession,
        account: AccountNumber,
    ) -> Result<Vec<CounterRefusal>, OfflineError> {
        let (client, token) = (session.api.client(), session.api.token());
        let pending: Vec<CounterRefusal> = self
            .store
            .counter_refusals()?
            .into_iter()
            .filter(|r| r.state == RefusalState::Pending && r.payee == account)
            .collect();
        let mut answered = Vec::new();
        for refusal in pending {
            match client.refuse_note(token, &refusal.text).await {
                Ok(answer) if answer.note == refusal.note_hash.to_hex() => {
                    let state = match answer.status {
                        RefusalStatus::Voided => RefusalState::Voided,
                        RefusalStatus::Refunded => RefusalState::Refunded,
                    };
                    let returned = Amount::from_minor(answer.amount).unwrap_or(Amount::ZERO);
                    self.store.answer_refusal(refusal.note_hash, state, returned, None)?;
                    answered.push(CounterRefusal { state, returned, ..refusal });
                }
                // An answer about another note proves nothing: sent again next time.
                Ok(_) => break,
                Err(e) if e.is_session_ended() => return Err(session_error(e, session)),
                Err(ClientError::Api(e)) if final_refusal(e.status, &e.code) => {
                    let failure = format!("{} ({})", e.message, e.code);
                    self.store.answer_refusal(refusal.note_hash, RefusalState::Failed, Amount::ZERO, Some(&failure))?;
                    answered.push(CounterRefusal { state: RefusalState::Failed, failure: Some(failure), ..refusal });
                }
                Err(ClientError::Api(_)) => {}
                Err(_) => break,
            }
        }
        Ok(answered)
    }
}

/// Whether the server's refusal (`status`, `code`) is final for a refused note: a 4xx that is
/// not a reason to try again later.
fn final_refusal(status: u16, code: &str) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 408 | 429) && !REFUSAL_RETRY_CODES.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(state: RefusalState, failure: Option<&str>) -> CounterRefusal {
        CounterRefusal {
            note_hash: Hash256::from_bytes([1; 32]),
            text: String::new(),
            payee: AccountNumber(2),
            payer: AccountNumber(1001),
            amount: Amount::from_minor(12_000).unwrap_or(Amount::ZERO),
            refused_at: 0,
            state,
            returned: Amount::ZERO,
            failure: failure.map(str::to_string),
        }
    }

    /// Shown again, a kept note says what the shop should do: never "give it back yourself" for
    /// a double spender's purse, never "ask for a new code" while it may still be paid.
    #[test]
    fn a_note_shown_again_says_what_to_do_by_where_its_refusal_stands() {
        let advice = |r: CounterRefusal| r.refused_again().to_string();
        assert!(advice(refusal(RefusalState::Pending, None)).contains("next sync"));
        assert!(advice(refusal(RefusalState::Refunded, None)).contains("was given back to account 1001"));
        let spent_twice = refusal(RefusalState::Failed, Some("cannot be given back (refund_not_possible)"));
        assert!(spent_twice.is_a_double_spend());
        assert!(advice(spent_twice).contains("keep it"));
        let forged = refusal(RefusalState::Failed, Some("no such purse (unknown_purse)"));
        assert!(!forged.is_a_double_spend() && forged.is_never_paid());
        assert!(advice(forged).contains("nothing is owed"));
        let other = refusal(RefusalState::Failed, Some("the account is closed (account_closed)"));
        assert!(!other.is_a_double_spend() && !other.is_never_paid());
        let said = advice(other);
        assert!(said.contains("do not take a second payment") && !said.contains("new code"), "{said}");
    }

    #[test]
    fn only_lasting_refusals_are_final() {
        for code in REFUSAL_RETRY_CODES {
            assert!(!final_refusal(409, code), "{code}");
        }
        assert!(!final_refusal(429, "rate_limited"));
        assert!(!final_refusal(408, "request_timeout"));
        assert!(!final_refusal(503, "busy"));
        assert!(!final_refusal(500, "internal"));
        for code in ["not_payee", "unknown_purse", "refund_not_possible", "invalid_request"] {
            assert!(final_refusal(403, code), "{code}");
        }
    }
}
