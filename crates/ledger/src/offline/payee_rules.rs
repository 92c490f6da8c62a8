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
//! what it adds beyond what was already paid for that request, so an honest payer that paid one
//! request from two devices pays once, and a payee whose own accepted note arrives after a
//! smaller note the payer signed for the same request still gets its full amount. Money only
//! *held* on a note (owed by a payer whose purse was overspent, `held.rs`) does not count as
//! paid: otherwise a payer with a used-up forked purse could sign a note for a shop's request and
//! upload it before the shop does, so that the shop's honest note from a clean purse was refused
//! and its payer got the money back. What another note pays for the request is taken off the
//! held claim instead, when that comes to be paid.

use std::collections::HashMap;
use std::ops::Bound;

use offpay_protocol::accept::consistent;
use offpay_protocol::{Amount, PaymentNote, PurseId, PurseTally, RejectReason, TallyEntry};

use super::held::RequestsPaid;
use super::plan::Snapshot;
use crate::model::UserId;

/// Reason code of a note for a request that was already paid as much.
pub const REQUEST_ALREADY_PAID: &str = "request_already_paid";

/// What each payee account holds, built from the stored notes, updated as a batch is planned.
#[derive(Debug, Default)]
pub struct PayeeRules {
    /// Every note of each (purse, payee account).
    tallies: HashMap<(PurseId, UserId), Tally>,
    /// The notes each payee account uploaded itself, per purse.
    own: HashMap<(PurseId, UserId), Tally>,
    /// Paid so far for each (payee account, request nonce), over all purses.
    requests: RequestsPaid,
}

/// A note that passed the rules: the entry to add to its payee's tally and what it is owed.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    entry: TallyEntry,
    pub due: i64,
}

impl PayeeRules {
    /// From every stored note of `snapshots` (each counts in its payee's tally) and what the
    /// backend read was paid per (payee account, request nonce) for the batch's requests.
    pub fn new(snapshots: &HashMap<PurseId, Snapshot>, requests: RequestsPaid) -> PayeeRules {
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
            None => Tally::new(note.purse_id()).admit(note),
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

    /// Adds an admitted note to its payee's tallies, and what it was paid (not what is held on
    /// it) to its request's total.
    pub fn record(&mut self, note: &PaymentNote, payee: UserId, uploader: UserId, admitted: Admitted, paid: i64) {
        add(&mut self.tallies, note.purse_id(), payee, note.seq(), admitted.entry);
        if uploader == payee {
            add(&mut self.own, note.purse_id(), payee, note.seq(), admitted.entry);
        }
        *self.requests.entry((payee, note.fields().nonce)).or_insert(0) += paid;
    }
}

/// Adds `entry` at `seq` to the (purse, payee) tally, keeping an entry already there.
fn add(tallies: &mut HashMap<(PurseId, UserId), Tally>, purse: PurseId, payee: UserId, seq: u32, entry: TallyEntry) {
    tallies.entry((purse, payee)).or_insert_with(|| Tally::new(purse)).insert(seq, entry);
}

/// A payee account's tally of one purse, with what judging a note needs kept up to date, so that
/// judging costs O(log n) instead of [`PurseTally::admit`]'s O(n). Without it a purse paid in many
/// small notes made every upload to it check each new note against every stored one: a batch of
/// 500 notes to a purse holding 20,000 spent a third of a second of the SQLite writer on this
/// alone (`cargo run --release -p offpay-ledger --example long_purse`, docs/PERFORMANCE.md).
///
/// Same answers as `PurseTally::admit`, because of what `consistent` means: when every two
/// entries with no entry between them are consistent (`chained`), every two entries are (each
/// note in between pays at least one minor unit, and links and totals add up along the chain).
/// So a new note is consistent with all of them exactly when it is consistent with the entry at
/// its own sequence number if there is one (same hash), or else with its nearest neighbours. A
/// tally that is not chained (it holds a fork) is judged by `PurseTally::admit` itself. The test
/// `judging_a_kept_tally_answers_as_admit` compares the two on random tallies with forks.
#[derive(Debug)]
struct Tally {
    tally: PurseTally,
    /// `tally.taken()`, kept as entries are added (`None` past `Amount::MAX`).
    taken: Option<Amount>,
    /// Every two entries with no entry between them are `consistent`, and every entry pays at
    /// least one minor unit. Only ever goes from true to false.
    chained: bool,
}

impl Tally {
    fn new(purse: PurseId) -> Tally {
        Tally { tally: PurseTally::new(purse), taken: Some(Amount::ZERO), chained: true }
    }

    /// Adds `entry` at `seq` unless an entry is there already (as `add` always did).
    fn insert(&mut self, seq: u32, entry: TallyEntry) {
        if self.tally.notes.contains_key(&seq) {
            return;
        }
        if self.chained {
            self.chained = !entry.amount.is_zero() && self.fits_between_neighbours(seq, &entry);
        }
        self.taken = self.taken.and_then(|t| t.checked_add(entry.amount));
        self.tally.notes.insert(seq, entry);
    }

    /// `entry` at `seq` (where the tally has no entry) is consistent with the nearest entry below
    /// and the nearest above.
    fn fits_between_neighbours(&self, seq: u32, entry: &TallyEntry) -> bool {
        let notes = &self.tally.notes;
        let below = notes.range(..seq).next_back();
        let above = notes.range((Bound::Excluded(seq), Bound::Unbounded)).next();
        below.is_none_or(|(&s, lo)| consistent(s, lo, seq, entry))
            && above.is_none_or(|(&s, hi)| consistent(seq, entry, s, hi))
    }

    /// [`PurseTally::admit`], in O(log n) when the tally is chained.
    fn admit(&self, note: &PaymentNote) -> Result<TallyEntry, RejectReason> {
        if !self.chained {
            return self.tally.admit(note);
        }
        let entry = PurseTally::within_purse(self.taken, note)?;
        let fits = match self.tally.notes.get(&note.seq()) {
            Some(there) => there.hash == entry.hash,
            None => self.fits_between_neighbours(note.seq(), &entry),
        };
        if !fits {
            return Err(RejectReason::InconsistentWithEarlierNote);
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use offpay_protocol::testkit::{Fixture, signing_key};
    use offpay_protocol::{AccountNumber, Hash256, Nonce, NoteFields, PaymentNote, PurseCertificate};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::{Amount, PurseTally, Tally};

    fn note(cert: &PurseCertificate, seq: u32, prev: Hash256, cumulative: u64, amount: u64, n: u64) -> PaymentNote {
        let fields = NoteFields {
            seq,
            prev_hash: prev,
            cumulative: Amount::from_minor(cumulative).unwrap(),
            amount: Amount::from_minor(amount).unwrap(),
            payee: AccountNumber(7),
            nonce: Nonce::from_bytes(n.to_be_bytes().repeat(2).try_into().unwrap()),
            time: 0,
        };
        PaymentNote::sign(cert.clone(), fields, &signing_key("payee-rules-device")).unwrap()
    }

    /// Random tallies (an honest chain with gaps, sometimes a fork, a wrong link or a total that
    /// does not add up, inserted in random order) and random new notes: the kept tally's answer is
    /// always `PurseTally::admit`'s on the same entries.
    #[test]
    fn judging_a_kept_tally_answers_as_admit() {
        let fx = Fixture::new();
        let cert = fx.certificate_with(&fx.issuer, |f| {
            f.amount = Amount::from_minor(300).unwrap();
            f.per_payment_cap = f.amount;
        });
        let mut rng = StdRng::seed_from_u64(13);
        let (mut chained_cases, mut forked_cases, mut refused) = (0, 0, 0);
        for case in 0..400u64 {
            // An honest chain of up to 12 notes of 1 to 40 minor units.
            let mut chain = Vec::new();
            let (mut prev, mut cumulative) = (cert.hash(), 0);
            for seq in 1..=rng.random_range(1..=12u32) {
                let amount = rng.random_range(1..=40);
                cumulative += amount;
                let n = note(&cert, seq, prev, cumulative, amount, case * 100 + u64::from(seq));
                prev = n.hash();
                chain.push(n);
            }
            // Keep a random part of it, and sometimes add a note that does not belong.
            let mut kept: Vec<PaymentNote> = chain.iter().filter(|_| rng.random_bool(0.6)).cloned().collect();
            if rng.random_bool(0.3) {
                let seq = rng.random_range(1..=14);
                let amount = rng.random_range(1..=40);
                let stray =
                    note(&cert, seq, Hash256::from_bytes([9; 32]), rng.random_range(amount..=400), amount, case);
                kept.push(stray);
            }
            for i in (1..kept.len()).rev() {
                kept.swap(i, rng.random_range(0..=i));
            }
            let mut tally = Tally::new(cert.purse_id());
            let mut plain = PurseTally::new(cert.purse_id());
            for n in &kept {
                let f = n.fields();
                let entry = offpay_protocol::TallyEntry {
                    hash: n.hash(),
                    prev_hash: f.prev_hash,
                    cumulative: f.cumulative,
                    amount: f.amount,
                };
                tally.insert(f.seq, entry);
                plain.notes.entry(f.seq).or_insert(entry);
            }
            assert_eq!(tally.tally, plain);
            assert_eq!(tally.taken, plain.taken());
            if tally.chained {
                chained_cases += 1
            } else {
                forked_cases += 1
            }
            // New notes: every note of the honest chain, and a few made up.
            let mut candidates = chain.clone();
            for k in 0..4 {
                let seq = rng.random_range(1..=14);
                let amount = rng.random_range(1..=40);
                let prev =
                    if rng.random_bool(0.5) { chain[rng.random_range(0..chain.len())].hash() } else { cert.hash() };
                candidates.push(note(
                    &cert,
                    seq,
                    prev,
                    rng.random_range(amount..=400),
                    amount,
                    1_000_000 + case * 10 + k,
                ));
            }
            for candidate in &candidates {
                let fast = tally.admit(candidate);
                assert_eq!(fast, plain.admit(candidate), "case {case}, seq {}", candidate.seq());
                refused += usize::from(fast.is_err());
            }
        }
        // The cases cover both paths and both answers.
        assert!(chained_cases > 100 && forked_cases > 20, "{chained_cases} chained, {forked_cases} forked");
        assert!(refused > 100, "{refused} refused");
    }
}
