//! Held notes (docs/OFFLINE.md, "The loss bound"): what a note is owed beyond its purse's
//! reserve, what could be recovered from the payer and the operator's loss allowance stays on
//! the note as `held` — stored, shown to the payee and the operator, never dropped — and is paid
//! from the payer's balance, oldest upload first, when money reaches it: at the next settlement
//! that touches the purse, and in the server's periodic pass ([`plan_release`]).
//!
//! A held note is a claim, not a payment: it does not count as paying its request. When another
//! note pays the same request (the payee's honest note from another purse, say), the payee is
//! still owed the request's largest note once, so what was paid for the request is taken off
//! the claim when it comes to be paid ([`release_note`]; docs/PROTOCOL.md section 10, "one
//! payment per request").

use std::collections::HashMap;

use offpay_protocol::{Hash256, Nonce, PurseId};

use super::plan::{Accounts, EntryPlan, Writes, next_id, plan_entry};
use super::settle_events::{SettleEvents, SettledNote};
use super::{KIND_OFFLINE_SETTLE, OfflineError, Purse, ReleaseOutcome, UserRef};
use crate::model::{EntryId, TimestampMs, UserId};

/// Reason code of a note (partly) held.
pub const HELD_REASON: &str = "loss_allowance_exhausted";

/// A stored note with money still held on it.
#[derive(Debug, Clone)]
pub struct HeldNote {
    pub purse_id: PurseId,
    pub hash: Hash256,
    pub payee: UserId,
    /// Recovered from the payer for it so far.
    pub from_payer: i64,
    /// Still owed.
    pub held: i64,
    /// The note's amount and request nonce (none for a note stored before notes kept it).
    pub amount: i64,
    pub nonce: Option<Nonce>,
}

/// Paid so far (from reserves, payers and the loss allowance; never held money) per (payee
/// account, request nonce), over all purses.
pub type RequestsPaid = HashMap<(UserId, Nonce), i64>;

/// The distinct (payee, request nonce) pairs of `notes`, sorted: the requests whose paid totals
/// [`plan_release`] needs.
pub fn requests_of(notes: &[HeldNote]) -> Vec<(UserId, Nonce)> {
    let mut keys: Vec<(UserId, Nonce)> = notes.iter().filter_map(|n| Some((n.payee, n.nonce?))).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// New values of a stored note after money was released to it.
#[derive(Debug, Clone)]
pub struct NoteUpdate {
    pub purse_id: PurseId,
    pub hash: Hash256,
    pub from_payer: i64,
    pub held: i64,
}

/// Pays `note` from its purse owner's balance as far as it goes (one `offline_settle` entry:
/// owner -> payee). First, what other notes paid for the note's request since it was held is
/// taken off the claim (`requests`: paid per request, updated with what this pays). Returns what
/// was paid (0 when the owner has nothing or nothing is owed any more).
#[allow(clippy::too_many_arguments)]
pub fn release_note(
    w: &mut Writes,
    events: &mut SettleEvents,
    note: &mut HeldNote,
    purse: &mut Purse,
    owner: &UserRef,
    payee: &UserRef,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
    requests: &mut RequestsPaid,
    now_ms: TimestampMs,
) -> Result<i64, OfflineError> {
    let held_before = note.held;
    let request = note.nonce.map(|nonce| (note.payee, nonce));
    if let Some(key) = request {
        // The payee is owed the request's largest note once: whatever was paid for the request
        // (this note's own part included) is not owed again on this one.
        let paid = requests.get(&key).copied().unwrap_or(0);
        let owed = note.amount.saturating_sub(paid).max(0);
        if note.held > owed {
            purse.notes_held -= note.held - owed;
            note.held = owed;
        }
    }
    let balance = accounts.get(&owner.account_id).map_or(0, |a| a.balance).max(0);
    // Never past what the payee's wallet can hold ([`crate::plan::WALLET_MAX`]): the rest stays held.
    let room = super::plan::wallet_room(accounts, payee.account_id);
    let pay = if owner.id == payee.id { 0 } else { note.held.min(balance).min(room).max(0) };
    if pay > 0 {
        let id = next_id(ids)?;
        let entry = plan_entry(
            accounts,
            id,
            KIND_OFFLINE_SETTLE,
            pay,
            Some(owner.id),
            payee.id,
            &[(owner.account_id, -pay), (payee.account_id, pay)],
            now_ms,
        )?;
        w.entries.push(EntryPlan { note: Some(note.hash), ..entry });
        note.from_payer += pay;
        note.held -= pay;
        purse.recovered += pay;
        purse.notes_held -= pay;
        if let Some(key) = request {
            *requests.entry(key).or_insert(0) += pay;
        }
        events.add(SettledNote { note: note.hash.to_hex(), amount: pay, payer: owner, payee });
    }
    if note.held != held_before {
        w.note_updates.push(NoteUpdate {
            purse_id: note.purse_id,
            hash: note.hash,
            from_payer: note.from_payer,
            held: note.held,
        });
    }
    Ok(pay)
}

/// The periodic pass: pays `notes` (oldest upload first) from their owners' balances. `purses`
/// holds every purse named (locked), `users` every owner and payee, `accounts` their wallets
/// (locked), `requests` what was paid for the notes' requests (read after those locks).
pub fn plan_release(
    notes: Vec<HeldNote>,
    purses: &mut HashMap<PurseId, Purse>,
    users: &HashMap<UserId, UserRef>,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
    mut requests: RequestsPaid,
    now_ms: TimestampMs,
) -> Result<(Writes, ReleaseOutcome), OfflineError> {
    let mut w = Writes::default();
    let mut events = SettleEvents::default();
    let mut outcome = ReleaseOutcome::default();
    for mut note in notes {
        let Some(purse) = purses.get_mut(&note.purse_id) else { continue };
        let (Some(owner), Some(payee)) = (users.get(&purse.user_id), users.get(&note.payee)) else { continue };
        let paid =
            release_note(&mut w, &mut events, &mut note, purse, owner, payee, accounts, ids, &mut requests, now_ms)?;
        if paid > 0 {
            outcome.notes += 1;
            outcome.paid += paid;
        }
    }
    let balance = |account| accounts.get(&account).map_or(0, |a| a.balance);
    w.events.extend(events.finish(balance));
    let mut changed: Vec<&Purse> = purses.values().collect();
    changed.sort_by_key(|p| p.id);
    w.purses.extend(changed.into_iter().cloned());
    w.finish_accounts(accounts);
    Ok((w, outcome))
}
