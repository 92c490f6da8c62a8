//! The payee's own rules, applied by the server to every payee *account* at settlement
//! (docs/PROTOCOL.md section 10, "Per payee account"). A payee device that follows the
//! acceptance check never holds two different notes with the same (purse, sequence number),
//! never more than the purse amount from one purse, and never two notes for one of its
//! requests. Accounts are free to make and a payer can sign whatever it likes with its own key,
//! so the server holds each account to the same rules, with the account's stored notes as its
//! tally: a note that an honest payee holding them could not have accepted is refused and
//! nothing moves (the fraud proof it makes is still recorded by the caller).
//!
//! Whose notes are the tally: a note the payee account uploads itself is judged against the
//! notes the account itself uploaded (what its devices accepted and vouch for); a note anyone
//! else uploads (the payer) is judged against every note of the account. So a payer cannot cut a
//! payee's accepted note by uploading a cheaper fork of it to the same account first: the
//! payee's own upload of its note is still paid (the fork's proof is recorded and the payer
//! frozen; with the same request nonce, only the difference is paid, see below).
//!
//! One request, one payment: for a (payee account, request nonce) the payee is owed the largest
//! amount among the notes for it, never the sum. A later note for the same request is paid only
//! what it adds beyond what was already paid (or held) for that request, so an honest payer that
//! paid one request from two devices pays once, and a payee whose own accepted note arrives after
//! a smaller note the payer signed for the same request still gets its full amount.

use std::collections::HashMap;

use offpay_protocol::{Nonce, PaymentNote, PurseId, PurseTally, RejectReason, TallyEntry};

use super::plan::Snapshot;
use crate::model::UserId;

/// Reason code of a note for a request that was already paid as much.
pub const REQUEST_ALREADY_PAID: &str = "request_already_paid";

/// What each payee account holds, built from the stored notes, updated as a batch is planned.
#[derive(Debug, Default)]
pub struct PayeeRules {
    /// Every note of each (purse, payee account).
    tallies: HashMap<(PurseId, UserId), PurseTally>,
    /// The notes each payee account uploaded itself, per purse.
    own: HashMap<(PurseId, UserId), PurseTally>,
    /// Paid or held so far for each (payee account, request nonce), over all purses.
    requests: HashMap<(UserId, Nonce), i64>,
}

/// A note that passed the rules: the entry to add to its payee's tally and what it is owed.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    entry: TallyEntry,
    pub due: i64,
}

impl PayeeRules {
    /// From every stored note of `snapshots` (each counts in its payee's tally) and what the
    /// backend read was paid or held per (payee account, request nonce) for the batch's requests.
    pub fn new(snapshots: &HashMap<PurseId, Snapshot>, requests: HashMap<(UserId, Nonce), i64>) -> PayeeRules {
        let mut rules = PayeeRules { requests, ..PayeeRules::default() };
        for (id, snap) in snapshots {
            for (note, state) in snap.stored.iter().zip(&snap.states) {
                let Some(payee) = UserId::of_account(note.fields().payee) else { continue };
                let f = note.fields();
                let entry =
                    TallyEntry { hash: state.hash, prev_hash: f.prev_hash, cumulative: f.cumulative, amount: f.amount };
                add(&mut rules.tallies, *id, payee, f.seq, entry);
                if state.uploaded_by == payee {
                    add(&mut rules.own, *id, payee, f.seq, entry);
                }
            }
        }
        rules
    }

    /// Judges a new note for `payee` uploaded by `uploader`: `Ok` with what it is owed, or the
    /// refusal's reason code. Nothing changes until [`PayeeRules::record`].
    pub fn judge(&self, note: &PaymentNote, payee: UserId, uploader: UserId) -> Result<Admitted, &'static str> {
        let tallies = if uploader == payee { &self.own } else { &self.tallies };
        let tally = tallies.get(&(note.purse_id(), payee));
        let entry = match tally {
            Some(tally) => tally.admit(note),
            None => PurseTally::new(note.purse_id()).admit(note),
        }
        .map_err(|r: RejectReason| r.code())?;
        let amount = i64::try_from(note.amount().minor()).unwrap_or(i64::MAX);
        let already = self.requests.get(&(payee, note.fields().nonce)).copied().unwrap_or(0);
        let due = amount.saturating_sub(already);
        if due <= 0 {
            return Err(REQUEST_ALREADY_PAID);
        }
        Ok(Admitted { entry, due })
    }

    /// Adds an admitted note to its payee's tallies and request total.
    pub fn record(&mut self, note: &PaymentNote, payee: UserId, uploader: UserId, admitted: Admitted) {
        add(&mut self.tallies, note.purse_id(), payee, note.seq(), admitted.entry);
        if uploader == payee {
            add(&mut self.own, note.purse_id(), payee, note.seq(), admitted.entry);
        }
        *self.requests.entry((payee, note.fields().nonce)).or_insert(0) += admitted.due;
    }
}

/// Adds `entry` at `seq` to the (purse, payee) tally, keeping an entry already there.
fn add(
    tallies: &mut HashMap<(PurseId, UserId), PurseTally>,
    purse: PurseId,
    payee: UserId,
    seq: u32,
    entry: TallyEntry,
) {
    tallies.entry((purse, payee)).or_insert_with(|| PurseTally::new(purse)).notes.entry(seq).or_insert(entry);
}
