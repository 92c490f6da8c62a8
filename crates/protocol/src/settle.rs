//! The server's settlement rule for one purse, as a pure function: from the certificate, every
//! note known for the purse (any order, duplicates allowed) and the close statement if any,
//! decide which notes are payable, which are duplicates, which are refused, and which pairs
//! prove a fork (double spending), each proof carrying both signed objects.
//!
//! Notes that a payee following the rules could have accepted are payable even when the purse
//! forked: payees accepted them in good faith. What the reserve cannot cover is reported as
//! `uncovered` for the ledger to recover from the payer (or book as a fraud loss).

use std::collections::{BTreeMap, BTreeSet};

use crate::Amount;
use crate::accept::{TallyEntry, consistent};
use crate::certificate::PurseCertificate;
use crate::close::CloseStatement;
use crate::ids::Hash256;
use crate::note::PaymentNote;
use crate::reject::RejectReason;

/// Signed evidence that the purse's device broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FraudProof {
    /// Two different notes with the same sequence number.
    SameSequence { first: PaymentNote, second: PaymentNote },
    /// Two notes that cannot both belong to one chain (wrong link or cumulative totals).
    BrokenChain { earlier: PaymentNote, later: PaymentNote },
    /// A note the close statement does not account for.
    BeyondClose { close: CloseStatement, note: PaymentNote },
}

impl FraudProof {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            FraudProof::SameSequence { .. } => "same_sequence",
            FraudProof::BrokenChain { .. } => "broken_chain",
            FraudProof::BeyondClose { .. } => "beyond_close",
        }
    }
}

/// The outcome of [`settle_purse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Distinct notes to credit to their payees, by (sequence number, hash).
    pub payable: Vec<PaymentNote>,
    /// Extra copies of a payable note (same note hash; possibly another valid signature).
    pub duplicates: Vec<PaymentNote>,
    /// Notes no payee should have accepted, with the reason.
    pub rejected: Vec<(PaymentNote, RejectReason)>,
    /// Proofs of double spending; non-empty means: revoke the device and purse, freeze the
    /// account.
    pub fraud: Vec<FraudProof>,
    /// Part of the payable total the purse's reserve covers (at most the purse amount).
    pub covered: Amount,
    /// Part of the payable total beyond the purse amount (only possible with fraud); saturates
    /// at [`Amount::MAX`].
    pub uncovered: Amount,
}

/// Settles one purse. The close statement, if given, must verify against the certificate.
/// Checks every device signature one by one; a server settling many notes checks them in a
/// batch first ([`crate::note::verify_device_signatures`]) and calls [`settle_purse_prechecked`].
pub fn settle_purse(
    certificate: &PurseCertificate,
    notes: &[PaymentNote],
    close: Option<&CloseStatement>,
) -> Result<Settlement, RejectReason> {
    let signature_ok: Vec<bool> = notes.iter().map(|n| n.verify_device_signature().is_ok()).collect();
    settle_purse_prechecked(certificate, notes, &signature_ok, close)
}

/// [`settle_purse`] with each note's device-signature outcome already known:
/// `signature_ok[i]` must equal `notes[i].verify_device_signature().is_ok()` (from
/// [`crate::note::verify_device_signatures`], or `true` for a note the caller stored after such
/// a check). A missing entry counts as a bad signature. The result is the same as
/// [`settle_purse`]'s.
pub fn settle_purse_prechecked(
    certificate: &PurseCertificate,
    notes: &[PaymentNote],
    signature_ok: &[bool],
    close: Option<&CloseStatement>,
) -> Result<Settlement, RejectReason> {
    if let Some(close) = close {
        close.verify(certificate)?;
    }
    let mut out = Settlement::default();
    let mut seen: BTreeSet<Hash256> = BTreeSet::new();
    let mut by_seq: BTreeMap<u32, Vec<(Hash256, &PaymentNote)>> = BTreeMap::new();
    for (i, note) in notes.iter().enumerate() {
        // Check before deduplicating: the note hash does not cover the signature, so a copy
        // with a bad signature must not shadow the genuine note.
        let signed = signature_ok.get(i).copied().unwrap_or(false);
        if let Err(reason) = check_note_prechecked(certificate, note, signed) {
            out.rejected.push((note.clone(), reason));
            continue;
        }
        let hash = note.hash();
        if seen.insert(hash) {
            by_seq.entry(note.seq()).or_default().push((hash, note));
        } else {
            out.duplicates.push(note.clone());
        }
    }
    for group in by_seq.values_mut() {
        group.sort_by_key(|(hash, _)| *hash);
    }

    // Forks at one sequence number.
    for group in by_seq.values() {
        if let Some(((_, first), rest)) = group.split_first() {
            for (_, second) in rest {
                out.fraud.push(FraudProof::SameSequence { first: (*first).clone(), second: (*second).clone() });
            }
        }
    }
    // Chain consistency between neighbouring sequence numbers present: one proof for each note
    // that is inconsistent with some note of the other group, paired with the first such note.
    out.fraud.extend(broken_chains(&by_seq));
    // Notes the close statement does not account for.
    if let Some(close) = close {
        let c = close.fields();
        for (hash, note) in by_seq.values().flatten() {
            let f = note.fields();
            let beyond = f.seq > c.last_seq
                || f.cumulative > c.total_spent
                || (f.seq == c.last_seq && (*hash != c.last_hash || f.cumulative != c.total_spent));
            if beyond {
                out.fraud.push(FraudProof::BeyondClose { close: close.clone(), note: (*note).clone() });
            }
        }
    }

    let mut total: u128 = 0;
    for (_, note) in by_seq.values().flatten() {
        total += u128::from(note.amount().minor());
        out.payable.push((*note).clone());
    }
    let purse = u128::from(certificate.fields().amount.minor());
    let to_amount = |v: u128| Amount::from_minor(u64::try_from(v).unwrap_or(u64::MAX)).unwrap_or(Amount::MAX);
    out.covered = to_amount(total.min(purse));
    out.uncovered = to_amount(total.saturating_sub(purse));
    Ok(out)
}

/// The `broken_chain` proofs between neighbouring sequence numbers present in `by_seq` (each
/// group sorted by hash). Every note that is inconsistent with at least one note of a
/// neighbouring group is in a proof, as it would be if every inconsistent pair were listed;
/// but each note gets one proof per neighbouring group, with the first inconsistent note of
/// that group (in hash order), so that a purse forked `k` times gives about `k` proofs per
/// sequence number and not `k²`. Each later note is paired first; an earlier note that those
/// proofs do not name yet is then paired with its first inconsistent later note.
fn broken_chains(by_seq: &BTreeMap<u32, Vec<(Hash256, &PaymentNote)>>) -> Vec<FraudProof> {
    let mut proofs = Vec::new();
    let groups: Vec<(&u32, &Vec<(Hash256, &PaymentNote)>)> = by_seq.iter().collect();
    for pair in groups.windows(2) {
        let [(lo_seq, lo), (hi_seq, hi)] = pair else { continue };
        let ok = |(lo_hash, earlier): &(Hash256, &PaymentNote), (hi_hash, later): &(Hash256, &PaymentNote)| {
            consistent(**lo_seq, &entry(*lo_hash, earlier), **hi_seq, &entry(*hi_hash, later))
        };
        let mut named: BTreeSet<Hash256> = BTreeSet::new();
        for later in hi.iter() {
            if let Some(earlier) = lo.iter().find(|earlier| !ok(earlier, later)) {
                named.insert(earlier.0);
                proofs.push(FraudProof::BrokenChain { earlier: earlier.1.clone(), later: later.1.clone() });
            }
        }
        for earlier in lo.iter().filter(|(hash, _)| !named.contains(hash)) {
            if let Some(later) = hi.iter().find(|later| !ok(earlier, later)) {
                proofs.push(FraudProof::BrokenChain { earlier: earlier.1.clone(), later: later.1.clone() });
            }
        }
    }
    proofs
}

/// The checks a note must pass on its own to be payable, in order: it carries this purse's
/// certificate (`wrong_purse`), its device signature (`bad_device_signature`), a first note
/// links to the certificate (`bad_chain_start`), per-payment cap (`over_payment_cap`), `seq`
/// at most [`crate::MAX_NOTES_PER_PURSE`] (`over_note_limit`), cumulative within the purse
/// (`over_purse_amount`).
pub fn check_note(certificate: &PurseCertificate, note: &PaymentNote) -> Result<(), RejectReason> {
    if note.certificate() != certificate {
        return Err(RejectReason::WrongPurse);
    }
    check_note_prechecked(certificate, note, note.verify_device_signature().is_ok())
}

/// [`check_note`] with the device signature's outcome given (`signature_ok`).
fn check_note_prechecked(
    certificate: &PurseCertificate,
    note: &PaymentNote,
    signature_ok: bool,
) -> Result<(), RejectReason> {
    if note.certificate() != certificate {
        return Err(RejectReason::WrongPurse);
    }
    if !signature_ok {
        return Err(RejectReason::BadDeviceSignature);
    }
    note.check_chain_start()?;
    note.check_limits()
}

fn entry(hash: Hash256, note: &PaymentNote) -> TallyEntry {
    let f = note.fields();
    TallyEntry { hash, prev_hash: f.prev_hash, cumulative: f.cumulative, amount: f.amount }
}
