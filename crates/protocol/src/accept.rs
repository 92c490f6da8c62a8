//! The payee's offline acceptance check, as a pure function: given a note, who I am, my open
//! requests, what I already accepted from the note's purse, the cached issuer keys and
//! revocations, and the time, either accept (returning the updated per-purse tally to store)
//! or say which check failed. The order of the checks is part of the protocol
//! (docs/PROTOCOL.md, "Acceptance").

use std::collections::BTreeMap;

use crate::Amount;
use crate::ids::{AccountNumber, Hash256, Nonce, PurseId, UnixTime};
use crate::keys::{IssuerKeys, Revocations};
use crate::note::{NoteFields, PaymentNote};
use crate::reject::RejectReason;
use crate::text::Encoded;

/// A payment request this device made and still expects to be paid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenRequest {
    pub nonce: Nonce,
    pub amount: Amount,
    pub expires_at: UnixTime,
    /// Set by the wallet once a note paying this request was accepted.
    pub paid: bool,
}

/// One note accepted from a purse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TallyEntry {
    pub hash: Hash256,
    pub prev_hash: Hash256,
    pub cumulative: Amount,
    pub amount: Amount,
}

/// Everything this payee accepted from one purse, by sequence number. It bounds what a cloned
/// purse can take from this payee to the purse amount, and catches forks seen here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurseTally {
    pub purse_id: PurseId,
    pub notes: BTreeMap<u32, TallyEntry>,
}

impl PurseTally {
    pub fn new(purse_id: PurseId) -> PurseTally {
        PurseTally { purse_id, notes: BTreeMap::new() }
    }

    /// Total accepted from this purse; `None` on overflow (never for a tally built by
    /// [`accept_note`], whose total stays within the purse amount).
    pub fn taken(&self) -> Option<Amount> {
        self.notes.values().try_fold(Amount::ZERO, |sum, e| sum.checked_add(e.amount))
    }

    /// The part of the acceptance check that depends on what this payee already holds from the
    /// note's purse (checks 10 and 11 of [`accept_note`], after the purse's own cumulative
    /// limit): my total from the purse stays within the purse amount (`over_purse_amount`), and
    /// the note agrees with every note in the tally, so never a second note with the same
    /// sequence number (`inconsistent_with_earlier_note`). Returns the entry to add.
    ///
    /// The payee's device runs it through [`accept_note`]; the server runs the same rule for
    /// every payee *account* at settlement (docs/PROTOCOL.md section 10), so no account is paid
    /// for a note that an honest payee holding that account's settled notes would have refused.
    pub fn admit(&self, note: &PaymentNote) -> Result<TallyEntry, RejectReason> {
        let entry = PurseTally::within_purse(self.taken(), note)?;
        let seq = note.seq();
        if !self.notes.iter().all(|(&earlier_seq, earlier)| consistent(earlier_seq, earlier, seq, &entry)) {
            return Err(RejectReason::InconsistentWithEarlierNote);
        }
        Ok(entry)
    }

    /// The first half of [`PurseTally::admit`], for a tally that has taken `taken` (`None`:
    /// past `Amount::MAX`): `over_purse_amount` when the note would take the payee past the purse
    /// amount; otherwise the note's entry, to be checked for consistency with the tally.
    pub fn within_purse(taken: Option<Amount>, note: &PaymentNote) -> Result<TallyEntry, RejectReason> {
        let f = note.fields();
        let purse_amount = note.certificate().fields().amount;
        let my_total = taken.and_then(|t| t.checked_add(f.amount));
        if my_total.is_none_or(|t| t > purse_amount) {
            return Err(RejectReason::OverPurseAmount);
        }
        Ok(TallyEntry { hash: note.hash(), prev_hash: f.prev_hash, cumulative: f.cumulative, amount: f.amount })
    }
}

/// The payee's side of the check.
#[derive(Debug, Clone, Copy)]
pub struct AcceptContext<'a> {
    /// My account number: the note must pay it.
    pub me: AccountNumber,
    /// My requests, paid or not; the note's nonce must name one of them.
    pub open_requests: &'a [OpenRequest],
    pub issuer_keys: &'a IssuerKeys,
    pub revocations: &'a Revocations,
    pub now: UnixTime,
}

/// A note that passed every check. Store `tally` and the note, and mark the request paid,
/// durably, before showing success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub note_hash: Hash256,
    pub purse_id: PurseId,
    pub payer: AccountNumber,
    pub seq: u32,
    pub amount: Amount,
    pub nonce: Nonce,
    pub tally: PurseTally,
    /// The end of the payer's purse (its certificate's `valid_until`). Uploaded before it, the
    /// note is also before its settlement deadline (`valid_until` + the server's grace), after
    /// which it is paid only if the payer's balance covers it: what a payee is told to beat.
    pub valid_until: UnixTime,
}

/// [`accept_note`] on the text (QR) form; a text that does not parse gives `malformed`.
pub fn accept_note_text(
    text: &str,
    tally: Option<&PurseTally>,
    ctx: &AcceptContext<'_>,
) -> Result<(PaymentNote, Accepted), RejectReason> {
    let note = PaymentNote::from_text(text)?;
    let accepted = accept_note(&note, tally, ctx)?;
    Ok((note, accepted))
}

/// The offline acceptance check. `tally` is what I accepted earlier from this note's purse
/// (`None` if nothing). Checks, in this order (first failure wins):
///
/// 1. issuer key known, valid at `valid_from`, signature: `unknown_issuer_key`,
///    `issuer_key_not_valid`, `bad_issuer_signature`;
/// 2. certificate window contains `now`: `certificate_not_yet_valid`, `certificate_expired`;
/// 3. device signature: `bad_device_signature`;
/// 4. purse or device revoked: `revoked`;
/// 5. a first note links to its certificate with `cumulative == amount`: `bad_chain_start`;
/// 6. payee is me: `wrong_payee`;
/// 7. same note already in the tally: `already_accepted`;
/// 8. the nonce names one of my requests: `unknown_request`; not yet paid:
///    `request_already_paid`; not expired: `request_expired`; same amount: `amount_mismatch`;
/// 9. amount within the per-payment cap: `over_payment_cap`; `seq` at most
///    [`crate::MAX_NOTES_PER_PURSE`]: `over_note_limit`;
/// 10. cumulative within the purse amount, and my total from this purse within the purse
///     amount: `over_purse_amount`;
/// 11. consistent with every note in the tally: `inconsistent_with_earlier_note`.
pub fn accept_note(
    note: &PaymentNote,
    tally: Option<&PurseTally>,
    ctx: &AcceptContext<'_>,
) -> Result<Accepted, RejectReason> {
    let shared = Shared {
        me: ctx.me,
        issuer_keys: ctx.issuer_keys,
        revocations: ctx.revocations,
        now: ctx.now,
        verify_issuer: true,
    };
    accept_with(note, tally, &shared, |f| {
        let request = ctx.open_requests.iter().find(|r| r.nonce == f.nonce).ok_or(RejectReason::UnknownRequest)?;
        if request.paid {
            return Err(RejectReason::RequestAlreadyPaid);
        }
        if ctx.now > request.expires_at {
            return Err(RejectReason::RequestExpired);
        }
        if request.amount != f.amount {
            return Err(RejectReason::AmountMismatch);
        }
        Ok(())
    })
}

/// The inputs every acceptance check shares, with or without a request.
pub(crate) struct Shared<'a> {
    pub(crate) me: AccountNumber,
    pub(crate) issuer_keys: &'a IssuerKeys,
    pub(crate) revocations: &'a Revocations,
    pub(crate) now: UnixTime,
    /// Check the certificate's issuer signature (always, except when a refused note is kept to
    /// be given back: [`crate::accept_card::card_note_fits_but_for_issuer`]).
    pub(crate) verify_issuer: bool,
}

/// The acceptance check with its middle step given: checks 1 to 7 of [`accept_note`], then
/// `answers` (what binds the note to this payee: an open request, or a shop card), then checks 9
/// to 11. Shared by [`accept_note`] and [`crate::accept_card::accept_card_note`] so that every
/// other rule is the same for both.
pub(crate) fn accept_with(
    note: &PaymentNote,
    tally: Option<&PurseTally>,
    ctx: &Shared<'_>,
    answers: impl FnOnce(&NoteFields) -> Result<(), RejectReason>,
) -> Result<Accepted, RejectReason> {
    let purse_id = note.purse_id();
    let empty = PurseTally::new(purse_id);
    let tally = tally.unwrap_or(&empty);
    if tally.purse_id != purse_id {
        return Err(RejectReason::TallyMismatch);
    }
    let certificate = note.certificate();
    let cert = certificate.fields();
    let f = note.fields();

    if ctx.verify_issuer {
        certificate.verify_issuer(ctx.issuer_keys)?;
    }
    certificate.check_window(ctx.now)?;
    note.verify_device_signature()?;
    if ctx.revocations.is_revoked(purse_id, &cert.device_key) {
        return Err(RejectReason::Revoked);
    }
    note.check_chain_start()?;
    if f.payee != ctx.me {
        return Err(RejectReason::WrongPayee);
    }
    let hash = note.hash();
    if tally.notes.get(&f.seq).is_some_and(|e| e.hash == hash) {
        return Err(RejectReason::AlreadyAccepted);
    }
    answers(f)?;
    note.check_limits()?;
    let entry = tally.admit(note)?;

    let mut updated = tally.clone();
    updated.notes.insert(f.seq, entry);
    Ok(Accepted {
        note_hash: hash,
        purse_id,
        payer: cert.account,
        seq: f.seq,
        amount: f.amount,
        nonce: f.nonce,
        tally: updated,
        valid_until: cert.valid_until,
    })
}

/// Whether two different notes `a` (sequence `sa`) and `b` (sequence `sb`) of one purse can
/// both be true: distinct sequence numbers, cumulative totals that grow by at least each
/// note's amount, and exact links between neighbours.
pub fn consistent(sa: u32, a: &TallyEntry, sb: u32, b: &TallyEntry) -> bool {
    if sa == sb {
        return a.hash == b.hash;
    }
    let (lo_seq, lo, hi_seq, hi) = if sa < sb { (sa, a, sb, b) } else { (sb, b, sa, a) };
    // What the purse had spent before the later note.
    let Some(before_hi) = hi.cumulative.checked_sub(hi.amount) else {
        return false;
    };
    if lo_seq.checked_add(1) == Some(hi_seq) {
        return hi.prev_hash == lo.hash && before_hi == lo.cumulative;
    }
    // Each note in between pays at least one minor unit.
    let between = u64::from(hi_seq - lo_seq - 1);
    before_hi.checked_sub(lo.cumulative).is_some_and(|gap| gap.minor() >= between)
}
