//! A payee's refusal of a note at its counter (docs/decisions/counter-refusals.md): the payee
//! account tells the server that one of its devices refused a note, so that the payer, who may
//! have paid again another way, is not charged for it.
//!
//! - Not paid yet: the refusal is recorded and the note is never paid; an upload of it is
//!   refused as [`REFUSED_BY_PAYEE`] (not stored, like every refusal of the payee rules), and its
//!   money goes back to the payer with the purse's remainder (close or expiry).
//! - Paid already: what the note paid the payee goes back to the payer in one `transfer` entry
//!   from the payee's wallet (memo [`REFUND_MEMO`]), once. A note still owed in part (*held*)
//!   waits until it is paid in full ([`OfflineError::NoteHeld`]), and no note of a purse the
//!   operator has paid fraud loss for is refunded this way ([`OfflineError::RefundNotPossible`]):
//!   that money was the operator's, not the payer's, whichever branch of the fork it paid. (A
//!   refund before the fork is found is the payer's money: the fork is then recovered from the
//!   payer's balance first, and beyond it the loss bound holds as for any double spend.)
//! - A refunded note no longer counts as paid for its request (the request totals and the
//!   audit subtract what refusals gave back), so a payee's honest note for the same request is
//!   still paid in full.
//!
//! Idempotent per note hash: the first outcome is kept and answered again. Only the note's payee
//! may refuse it, never on its own purse: a refusal can only stop or return money paid to the
//! caller's own account by someone else. At most [`REFUSALS_PER_PURSE_AND_PAYEE`] are kept per
//! purse and payee, each of a note that would be paid.

use offpay_protocol::{AccountNumber, Hash256, PaymentNote};
use serde::{Deserialize, Serialize};

use super::plan::{Accounts, EntryPlan, Writes, next_id};
use super::{OfflineError, Purse, UserRef};
use crate::error::LedgerError;
use crate::model::{EntryId, TimestampMs, UserId};
use crate::plan::{Party, plan_transfer};

/// Reason code of an uploaded note its payee refused at the counter.
pub const REFUSED_BY_PAYEE: &str = "refused_by_payee";
/// The memo of the entry that gives a refused note's money back.
pub const REFUND_MEMO: &str = offpay_api::money::COUNTER_REFUND_MEMO;

/// What a refusal came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalStatus {
    /// The note was not paid: it never will be.
    Voided,
    /// The note was paid: `amount` went back to the payer.
    Refunded,
}

/// The answer to a refusal (the first one, for every refusal of the same note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalOutcome {
    pub note: Hash256,
    pub status: RefusalStatus,
    /// Minor units given back (0 when voided).
    pub amount: i64,
    /// The purse's owner.
    pub payer: AccountNumber,
    /// The refund's journal entry.
    pub entry_id: Option<EntryId>,
}

impl RefusalOutcome {
    /// The outcome kept for a note refused before: `amount` given back by `entry_id`, if any.
    pub fn again(note: Hash256, purse: &Purse, entry_id: Option<EntryId>, amount: i64) -> RefusalOutcome {
        let status = if entry_id.is_some() { RefusalStatus::Refunded } else { RefusalStatus::Voided };
        RefusalOutcome { note, status, amount, payer: purse.certificate.fields().account, entry_id }
    }
}

/// A stored note as a refusal needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidNote {
    pub payee: UserId,
    pub from_reserve: i64,
    pub from_payer: i64,
    pub from_loss: i64,
    pub held: i64,
}

/// The refusal row to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalInsert {
    pub note: Hash256,
    pub purse_id: offpay_protocol::PurseId,
    pub payee: UserId,
    pub payer: UserId,
    pub amount: i64,
    pub entry_id: Option<EntryId>,
}

/// Most refusals kept per (purse, payee): as many notes as a purse may sign, all an honest
/// counter could ever refuse of it; so no account can fill the table with refusals of notes
/// signed for the purpose.
pub const REFUSALS_PER_PURSE_AND_PAYEE: i64 = offpay_protocol::MAX_NOTES_PER_PURSE as i64;

/// What can be checked of a refusal before any database work (off the SQLite writer and before
/// any PostgreSQL lock): only its payee refuses it (`NotPayee`), not on its own purse (`OwnPurse`:
/// nothing to give back), and the note passes the checks of a note on its own against the
/// certificate it carries (device signature, chain start, cap, purse amount: else it is never
/// paid, `UnpayableNote`).
pub fn precheck_refusal(note: &PaymentNote, caller: UserId) -> Result<(), OfflineError> {
    let payee = note.fields().payee;
    if UserId::of_account(payee) != Some(caller) {
        return Err(OfflineError::NotPayee);
    }
    if note.certificate().fields().account == payee {
        return Err(OfflineError::OwnPurse);
    }
    offpay_protocol::settle::check_note(note.certificate(), note).map_err(|r| OfflineError::UnpayableNote(r.code()))
}

/// Under the purse's lock: the note's purse as read, if it is one this server issued with the
/// note's certificate (`UnknownPurse` otherwise).
pub fn issued_purse(note: &PaymentNote, purse: Option<Purse>) -> Result<Purse, OfflineError> {
    purse.filter(|p| &p.certificate == note.certificate()).ok_or(OfflineError::UnknownPurse)
}

/// Under the purse's lock, for a note not refused before: the payee keeps fewer than
/// [`REFUSALS_PER_PURSE_AND_PAYEE`] refusals of the purse (`TooManyRefusals` otherwise).
pub fn check_room(refusals_kept: i64) -> Result<(), OfflineError> {
    if refusals_kept >= REFUSALS_PER_PURSE_AND_PAYEE {
        return Err(OfflineError::TooManyRefusals);
    }
    Ok(())
}

/// Plans a refusal checked by [`precheck_refusal`], [`issued_purse`] and [`check_room`], with the
/// stored note (if any), the payee (the caller, with its frozen flag) and the purse's owner (not
/// the payee: [`precheck_refusal`]), whose wallets `accounts` holds locked.
#[allow(clippy::too_many_arguments)]
pub fn plan_refusal(
    note: &PaymentNote,
    purse: &Purse,
    stored: Option<PaidNote>,
    payee: (&UserRef, bool),
    payer: &UserRef,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
    now_ms: TimestampMs,
) -> Result<(Writes, RefusalInsert, RefusalOutcome), OfflineError> {
    let (payee, payee_frozen) = payee;
    let mut w = Writes::default();
    let hash = note.hash();
    let mut insert =
        RefusalInsert { note: hash, purse_id: purse.id, payee: payee.id, payer: payer.id, amount: 0, entry_id: None };
    let paid = match stored {
        Some(s) if s.payee == payee.id => {
            if s.held > 0 {
                return Err(OfflineError::NoteHeld);
            }
            // Money the operator paid for this purse's double spending is not the payer's: had
            // this note not been paid, the other branch would have been paid from the reserve
            // instead (whatever order they were uploaded in), so nothing goes back to the payer.
            if s.from_loss > 0 || purse.fraud_loss > 0 {
                return Err(OfflineError::RefundNotPossible);
            }
            s.from_reserve.checked_add(s.from_payer).ok_or(LedgerError::AmountOverflow)?
        }
        // Stored for another payee cannot be (the hash covers the payee); stored unpaid, or not
        // stored: nothing to give back.
        _ => 0,
    };
    if paid > 0 {
        if payee_frozen {
            return Err(LedgerError::AccountFrozen.into());
        }
        let party = |user: &UserRef| -> Result<Party, OfflineError> {
            let account = accounts.get(&user.account_id).cloned().ok_or_else(|| {
                LedgerError::Storage(format!("internal error: account {} not locked", user.account_id).into())
            })?;
            Ok(Party { user_id: user.id, handle: user.handle.clone(), account })
        };
        let (from, to) = (party(payee)?, party(payer)?);
        let id = next_id(ids)?;
        let plan = plan_transfer(id, &from, &to, paid, Some(REFUND_MEMO), None, now_ms)?;
        for (account, balance) in &plan.balances {
            if let Some(locked) = accounts.get_mut(account) {
                locked.balance = *balance;
                locked.head = plan.hash.to_vec();
            }
        }
        w.entries.push(EntryPlan { entry: plan.entry, hash: plan.hash, postings: plan.postings, note: None });
        w.events.extend(plan.events);
        w.finish_accounts(accounts);
        insert.amount = paid;
        insert.entry_id = Some(id);
    }
    let outcome = RefusalOutcome::again(hash, purse, insert.entry_id, insert.amount);
    Ok((w, insert, outcome))
}
