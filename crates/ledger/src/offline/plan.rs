//! Offline money rules as pure functions shared by both backends: given what a backend read
//! (and locked) — purses with their stored notes and proofs, users, account rows — decide every
//! row to write: journal entries with their postings and hash-chain links, final balances, notes,
//! purse updates, fraud proofs, revocations, freezes and live events ([`Writes`]).
//!
//! Settlement runs the protocol's `settle_purse` over the stored notes a backend read for a
//! purse ([`NotesRead`]: those that decide the upload's notes, which gives what every stored note
//! would) and the new ones, so the rule lives in one place; the money planning after that is
//! sequential.

use std::collections::{HashMap, HashSet};

use offpay_protocol::{CloseStatement, Hash256, Nonce, PaymentNote, PurseId, Settlement, settle_purse_prechecked};
use sha2::{Digest, Sha256};

use super::held::{HELD_REASON, HeldNote, NoteUpdate, RequestsPaid, release_note};
use super::payee_rules::PayeeRules;
use super::settle_events::{SettleEvents, SettledNote};
use super::{
    CloseOutcome, EVENT_ACCOUNT_FROZEN, EVENT_PURSE_RETURNED, ExpiryOutcome, KIND_OFFLINE_SETTLE, KIND_PURSE_LOAD,
    KIND_PURSE_RETURN, NoteResult, NoteStatus, OfflineError, Purse, PurseState, UserRef,
};
use crate::chain::{EntryFields, PostingFields, entry_hash, request_fingerprint};
use crate::error::LedgerError;
use crate::model::{AccountId, AccountKind, EntryId, TimestampMs, UserId};
use crate::plan::{LockedAccount, NewEvent, WALLET_MAX};

/// The shared reserve account (created by the first migration of both backends): the reserve of
/// every purse loaded before purses got their own ([`Purse::reserve_account`]; docs/LEDGER.md,
/// "One reserve account per purse").
pub const RESERVE_ACCOUNT: AccountId = AccountId(2);
/// The operator's fraud-loss account.
pub const FRAUD_LOSS_ACCOUNT: AccountId = AccountId(3);

/// One journal entry to insert.
#[derive(Debug, Clone)]
pub struct EntryPlan {
    pub entry: EntryFields,
    pub hash: [u8; 32],
    pub postings: Vec<PostingFields>,
    /// The payment note an `offline_settle` entry pays (stored beside the entry, not hashed
    /// into it: the notes table is the record of what was paid, this is the link to show it).
    pub note: Option<Hash256>,
}

/// A note row to insert.
#[derive(Debug, Clone)]
pub struct NoteInsert {
    pub hash: Hash256,
    pub purse_id: PurseId,
    pub seq: u32,
    /// The note's payee (`UserId(-1)` for an account number no user can have).
    pub payee: UserId,
    pub amount: i64,
    pub encoded: Vec<u8>,
    pub from_reserve: i64,
    pub from_payer: i64,
    pub from_loss: i64,
    /// Owed but not paid yet (see `held`).
    pub held: i64,
    pub nonce: Nonce,
    pub entry_id: Option<EntryId>,
}

/// A fraud proof row to insert (unique by `fingerprint`).
#[derive(Debug, Clone)]
pub struct ProofInsert {
    pub fingerprint: [u8; 32],
    pub purse_id: PurseId,
    pub user_id: UserId,
    pub kind: &'static str,
    pub first: Vec<u8>,
    pub second: Vec<u8>,
}

/// Everything one offline command writes, in one transaction.
#[derive(Debug, Default)]
pub struct Writes {
    pub entries: Vec<EntryPlan>,
    /// Final (balance, head) of every account an entry touched.
    pub accounts: Vec<(AccountId, i64, Vec<u8>)>,
    pub notes: Vec<NoteInsert>,
    /// Stored notes that received held money.
    pub note_updates: Vec<NoteUpdate>,
    /// Purses whose row changed (full new values).
    pub purses: Vec<Purse>,
    pub proofs: Vec<ProofInsert>,
    /// Device keys to revoke, each with its owner (the revoked purse's user).
    pub revoke_devices: Vec<([u8; 32], UserId)>,
    pub freeze_users: Vec<UserId>,
    pub events: Vec<NewEvent>,
    /// (kind, detail) security events for the operator.
    pub security: Vec<(String, String)>,
}

/// Locked accounts as the plan goes (balances and heads move with each planned entry).
pub type Accounts = HashMap<AccountId, LockedAccount>;

impl Writes {
    /// Freezes `user` with these writes (once in the list, however often asked).
    fn freeze(&mut self, user: UserId) {
        if !self.freeze_users.contains(&user) {
            self.freeze_users.push(user);
        }
    }

    /// Fills `accounts` with the final state of every touched account.
    pub fn finish_accounts(&mut self, accounts: &Accounts) {
        let mut touched: Vec<AccountId> =
            self.entries.iter().flat_map(|e| e.postings.iter().map(|p| p.account_id)).collect();
        touched.sort_unstable();
        touched.dedup();
        self.accounts =
            touched.into_iter().filter_map(|id| accounts.get(&id).map(|a| (id, a.balance, a.head.clone()))).collect();
    }
}

/// Idempotency fingerprint of a purse load: the amount and the device key.
pub fn load_fingerprint(amount: u64, device_key: &[u8; 32]) -> [u8; 32] {
    request_fingerprint(&[b"purse_load", &amount.to_be_bytes(), device_key])
}

/// The idempotency scope and fingerprint of purse load `req` ([`offline_scope`],
/// [`load_fingerprint`]): what its key is claimed, answered and refused under.
pub fn load_idempotency(req: &super::LoadRequest) -> (String, [u8; 32]) {
    let cert = req.certificate.fields();
    (offline_scope(req.user), load_fingerprint(cert.amount.minor(), &cert.device_key.to_bytes()))
}

/// How a kept load refusal starts in `offline_idempotency.response` (a loaded purse's id in
/// hex is kept there otherwise, and never starts so).
const REFUSED_LOAD: &str = "refused:";

/// The text kept under a load's idempotency key for a refusal that depends on the state (the
/// wallet's balance or frozen flag, the purses not yet expired), so that the same key gets the
/// same refusal even if an earlier attempt of that load was still on its way and the state has
/// changed since (docs/LEDGER.md, "Idempotency"). `None` for other refusals, which are not kept.
pub fn kept_load_refusal(refusal: &OfflineError) -> Option<String> {
    let code = match refusal {
        OfflineError::Ledger(e) => e.remembered_code()?.to_string(),
        OfflineError::TooManyPurses(limit) => format!("too_many_purses {limit}"),
        _ => return None,
    };
    Some(format!("{REFUSED_LOAD}{code}"))
}

/// What a load's idempotency key holds: the purse it loaded, or (as `Err`) the refusal kept by
/// [`kept_load_refusal`].
pub fn kept_load_answer(text: &str) -> Result<PurseId, OfflineError> {
    let Some(code) = text.strip_prefix(REFUSED_LOAD) else {
        return PurseId::from_hex(text).map_err(|e| LedgerError::storage("idempotent purse id", e).into());
    };
    match code.strip_prefix("too_many_purses ") {
        Some(limit) => {
            Err(OfflineError::TooManyPurses(limit.parse().map_err(|e| LedgerError::storage("kept purse limit", e))?))
        }
        None => Err(LedgerError::remembered(code).into()),
    }
}

/// Idempotency fingerprint of a close: the close statement's hash.
pub fn close_fingerprint(close: &CloseStatement) -> [u8; 32] {
    request_fingerprint(&[b"purse_close", close.hash().as_bytes()])
}

/// Idempotency scope of a user's offline requests (separate from transfers' keys).
pub fn offline_scope(user: UserId) -> String {
    format!("o:{user}")
}

/// What `account` (a wallet) can still be credited before it holds [`WALLET_MAX`].
pub(crate) fn wallet_room(accounts: &Accounts, account: AccountId) -> i64 {
    WALLET_MAX.saturating_sub(balance_of(accounts, account).max(0))
}

/// Plans one journal entry moving `deltas` (merged per account, zeros dropped) and applies it
/// to `accounts`: checked arithmetic, no negative wallet and none above [`WALLET_MAX`]
/// (`AmountOverflow`), postings summing to zero, hash chain.
#[allow(clippy::too_many_arguments)]
pub fn plan_entry(
    accounts: &mut Accounts,
    id: EntryId,
    kind: &str,
    amount: i64,
    from_user: Option<UserId>,
    to_user: UserId,
    deltas: &[(AccountId, i64)],
    now_ms: TimestampMs,
) -> Result<EntryPlan, LedgerError> {
    let mut merged: Vec<(AccountId, i64)> = Vec::new();
    for &(account, delta) in deltas {
        match merged.iter_mut().find(|(a, _)| *a == account) {
            Some((_, d)) => *d = d.checked_add(delta).ok_or(LedgerError::AmountOverflow)?,
            None => merged.push((account, delta)),
        }
    }
    merged.retain(|(_, d)| *d != 0);
    merged.sort_by_key(|(a, _)| *a);
    let sum: i128 = merged.iter().map(|(_, d)| i128::from(*d)).sum();
    if sum != 0 || merged.len() < 2 || amount <= 0 {
        return Err(LedgerError::Storage(format!("internal error: unbalanced {kind} entry planned").into()));
    }
    let mut postings = Vec::with_capacity(merged.len());
    let mut after = Vec::with_capacity(merged.len());
    for (account_id, delta) in &merged {
        let account = accounts
            .get(account_id)
            .ok_or_else(|| LedgerError::Storage(format!("internal error: account {account_id} not locked").into()))?;
        let balance = account.balance.checked_add(*delta).ok_or(LedgerError::AmountOverflow)?;
        if account.kind == AccountKind::Wallet && balance < 0 {
            return Err(LedgerError::InsufficientFunds);
        }
        if account.kind == AccountKind::Wallet && balance > WALLET_MAX {
            return Err(LedgerError::AmountOverflow);
        }
        postings.push(PostingFields { account_id: *account_id, delta: *delta, prev_hash: account.head.clone() });
        after.push((*account_id, balance));
    }
    let entry =
        EntryFields { id, kind: kind.to_string(), amount, memo: None, from_user, to_user, created_at_ms: now_ms };
    let hash = entry_hash(&entry, &postings);
    for (account_id, balance) in after {
        if let Some(account) = accounts.get_mut(&account_id) {
            account.balance = balance;
            account.head = hash.to_vec();
        }
    }
    Ok(EntryPlan { entry, hash, postings, note: None })
}

pub(crate) fn next_id(ids: &mut dyn Iterator<Item = EntryId>) -> Result<EntryId, LedgerError> {
    ids.next().ok_or_else(|| LedgerError::Storage("internal error: ran out of entry ids".into()))
}

/// A purse's own reserve account as it is created: empty, its chain not started.
pub fn new_reserve_account(id: AccountId) -> LockedAccount {
    LockedAccount { account_id: id, kind: AccountKind::Reserve, balance: 0, head: crate::chain::GENESIS.to_vec() }
}

/// The accounts a settlement of `batch` against `snapshots` may post to besides its users'
/// wallets: each purse's reserve account, and the fraud-loss account only when some purse could
/// book a loss, that is when it has loss allowance left and the batch's notes to it exceed what
/// its reserve still holds. Every note pays at most its amount and the reserve is drawn first, so
/// a batch within the reserve never reaches the fraud-loss account: honest uploads do not lock
/// that one shared row (docs/PERFORMANCE.md, "Single-note uploads on PostgreSQL").
pub fn operator_accounts(snapshots: &HashMap<PurseId, Snapshot>, batch: &[PaymentNote]) -> Vec<AccountId> {
    let mut ids: Vec<AccountId> = snapshots.values().map(|s| s.purse.reserve_account).collect();
    let mut sent: HashMap<PurseId, i128> = HashMap::new();
    for note in batch {
        *sent.entry(note.purse_id()).or_default() += i128::from(note.fields().amount.minor());
    }
    let may_lose = snapshots.values().any(|s| {
        loss_allowance_left(&s.purse) > 0 && sent.get(&s.purse.id).copied().unwrap_or(0) > i128::from(s.purse.held())
    });
    if may_lose {
        ids.push(FRAUD_LOSS_ACCOUNT);
    }
    ids
}

fn balance_of(accounts: &Accounts, id: AccountId) -> i64 {
    accounts.get(&id).map_or(0, |a| a.balance)
}

/// What a backend read (under the wallet's lock) to decide a purse load.
#[derive(Debug, Clone, Copy)]
pub struct LoadFacts {
    pub frozen: bool,
    /// The device key's row: (owner, revoked).
    pub device: Option<(UserId, bool)>,
    /// The user's purses before their settlement deadline (not yet expired).
    pub unsettled: i64,
}

/// A decided purse load: the entry to write and the purse row's amount and `valid_until`.
#[derive(Debug, Clone)]
pub struct PlannedLoad {
    pub entry: EntryPlan,
    pub amount: i64,
    pub valid_until: i64,
    pub loss_allowance: i64,
    /// `valid_until` plus the grace: the purse's settlement deadline ([`Purse::settle_by`]).
    pub settle_by: i64,
}

/// A purse load, checked in this order: the account is not frozen, the certificate names it,
/// the device key is registered to it and not revoked, the account has fewer than
/// `max_open_purses` purses before their settlement deadline, the amount fits; then
/// wallet -> the purse's own reserve account `reserve`, which the backend creates (empty, see
/// [`new_reserve_account`]) in the same transaction when the plan is accepted.
#[allow(clippy::too_many_arguments)]
pub fn plan_load(
    accounts: &mut Accounts,
    entry_id: EntryId,
    reserve: AccountId,
    user: &UserRef,
    request: &super::LoadRequest,
    facts: LoadFacts,
    now_ms: TimestampMs,
) -> Result<PlannedLoad, OfflineError> {
    let cert = request.certificate.fields();
    if facts.frozen {
        return Err(LedgerError::AccountFrozen.into());
    }
    if user.id.account_number() != Some(cert.account) {
        return Err(OfflineError::InvalidCertificate("the certificate names another account"));
    }
    match facts.device {
        None => return Err(OfflineError::UnknownDevice),
        Some((owner, _)) if owner != user.id => return Err(OfflineError::UnknownDevice),
        Some((_, true)) => return Err(OfflineError::DeviceRevoked),
        Some(_) => {}
    }
    if facts.unsettled >= i64::from(request.max_open_purses) {
        return Err(OfflineError::TooManyPurses(request.max_open_purses));
    }
    let amount = crate::plan::check_amount(cert.amount)?;
    let valid_until =
        i64::try_from(cert.valid_until).map_err(|_| OfflineError::InvalidCertificate("valid_until is too large"))?;
    accounts.insert(reserve, new_reserve_account(reserve));
    let entry = load_entry(accounts, entry_id, reserve, user, amount, now_ms)?;
    let settle_by = valid_until.saturating_add(i64::try_from(request.grace_secs).unwrap_or(i64::MAX));
    Ok(PlannedLoad { entry, amount, valid_until, loss_allowance: request.loss_allowance.max(0), settle_by })
}

fn load_entry(
    accounts: &mut Accounts,
    entry_id: EntryId,
    reserve: AccountId,
    user: &UserRef,
    amount: i64,
    now_ms: TimestampMs,
) -> Result<EntryPlan, LedgerError> {
    plan_entry(
        accounts,
        entry_id,
        KIND_PURSE_LOAD,
        amount,
        None,
        user.id,
        &[(user.account_id, -amount), (reserve, amount)],
        now_ms,
    )
}

/// What a backend read for one purse (under its lock).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub purse: Purse,
    /// The stored notes read for the purse ([`NotesRead`]: every one, or those the upload
    /// needs), oldest upload first.
    pub stored: Vec<PaymentNote>,
    /// For each of `stored` (same order): what is recovered from the payer for it and still
    /// held on it.
    pub states: Vec<StoredState>,
    /// Fingerprints of the purse's stored fraud proofs.
    pub proofs: HashSet<[u8; 32]>,
    /// How `stored` was read: every note, the notes around the batch's (which decide it unless its
    /// settlement finds a fraud, [`read_in_full`]), or what an upload to a revoked purse needs
    /// (docs/decisions/notes-per-purse.md, "Forks").
    pub read: NotesRead,
    /// In a partial snapshot that read only the oldest [`super::HELD_READ`] of more held notes: the
    /// last of them. Money reaching the payer pays held notes in upload order up to this one;
    /// the background pass pays the rest.
    pub release_until: Option<Hash256>,
}

/// Which stored notes of a purse an upload reads. Every note is read only to close a purse, for
/// a purse that holds held notes, and when the notes read show a fraud; an upload to any other
/// purse reads what decides its notes (docs/decisions/settlement-reads-neighbours.md), so that a
/// purse's 1,000th note costs what its first did.
#[derive(Debug, Clone)]
pub enum NotesRead {
    /// Every stored note.
    All,
    /// A purse never revoked and holding no held notes, with at most [`AROUND_MAX`] of its notes
    /// in the batch: for each sequence number of the batch,
    /// the stored notes at it and at the nearest stored sequence number below and above it (the
    /// only notes `settle_purse` can pair a new note with). If the settlement over them finds a
    /// fraud, the purse is read again in full and settled again ([`read_in_full`]): the payee
    /// rules then need every note of the payee.
    Around { seqs: Vec<u32> },
    /// A revoked purse: [`NotesNeeded`].
    Revoked(NotesNeeded),
}

impl NotesRead {
    /// What an upload of `batch` by `uploader` reads of `purse`.
    pub fn for_upload(batch: &[PaymentNote], purse: &Purse, uploader: UserId) -> NotesRead {
        if let Some(needed) = NotesNeeded::for_upload(batch, purse, uploader) {
            return NotesRead::Revoked(needed);
        }
        if purse.notes_held > 0 {
            return NotesRead::All;
        }
        let mut seqs: Vec<u32> = batch.iter().filter(|n| n.purse_id() == purse.id).map(PaymentNote::seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        if seqs.len() > AROUND_MAX {
            return NotesRead::All;
        }
        NotesRead::Around { seqs }
    }

    /// What an upload to a revoked purse needs, when read that way (a partial read: the rules of
    /// [`NotesNeeded`] apply).
    pub fn needed(&self) -> Option<&NotesNeeded> {
        match self {
            NotesRead::Revoked(needed) => Some(needed),
            NotesRead::All | NotesRead::Around { .. } => None,
        }
    }
}

/// The most sequence numbers of one purse an upload reads around ([`NotesRead::Around`]); with
/// more, it reads the purse's notes in full (at most [`offpay_protocol::MAX_NOTES_PER_PURSE`] of
/// a purse never revoked). Three index seeks per number cost more than reading a purse whose
/// notes arrive in large batches: `settle_bench` (batches of 100 notes per purse) ran 10 to 25%
/// slower with every batch read around (docs/PERFORMANCE.md).
pub const AROUND_MAX: usize = 16;

/// The purses read around the batch ([`NotesRead::Around`]) whose settlement found a fraud: the
/// backend reads them again in full and settles again before planning, so that the payee rules
/// judge the notes of this upload against every note of their payees.
pub fn read_in_full(
    snapshots: &HashMap<PurseId, Snapshot>,
    settlements: &HashMap<PurseId, Settlement>,
) -> Vec<PurseId> {
    let mut ids: Vec<PurseId> = settlements
        .iter()
        .filter(|(id, s)| {
            !s.fraud.is_empty() && snapshots.get(id).is_some_and(|snap| matches!(snap.read, NotesRead::Around { .. }))
        })
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Which stored notes of a revoked purse an upload needs (docs/decisions/notes-per-purse.md,
/// "Forks"). Of a revoked purse a note is judged only when its payee uploads it, or when its
/// payer (the purse's owner) does and the payee holds at most [`super::NOTES_PER_PAYEE_READ`]
/// notes of the purse (a payee holding more has been uploading them itself); others get
/// [`super::PAYEE_MUST_UPLOAD`]. So the upload needs: the uploader's notes (its payee rules
/// judge a note against them: one chain of at most 1,000 from each of its own uploads and the
/// payer's); for the payer's upload, up to that many notes of each payee it names; the notes
/// with the upload's hashes (a copy is a duplicate); and the oldest [`super::HELD_READ`] held
/// notes (paid first when money reached the payer). Nothing else: the purse is revoked
/// already, and reading every note of it would let colluding accounts make each upload to it
/// slower without end. While held notes remain, new notes wait behind them.
#[derive(Debug, Clone)]
pub struct NotesNeeded {
    pub uploader: UserId,
    /// For the payer's upload, the other payees it names.
    pub payees: Vec<UserId>,
    pub hashes: Vec<Hash256>,
}

impl NotesNeeded {
    /// What an upload of `batch` by `uploader` needs of `purse` when the purse is revoked; `None`
    /// when it is not ([`NotesRead::for_upload`] decides then).
    pub fn for_upload(batch: &[PaymentNote], purse: &Purse, uploader: UserId) -> Option<NotesNeeded> {
        if purse.state != PurseState::Revoked {
            return None;
        }
        let mut needed = NotesNeeded { uploader, payees: Vec::new(), hashes: Vec::new() };
        for note in batch.iter().filter(|n| n.purse_id() == purse.id) {
            needed.hashes.push(note.hash());
            if uploader == purse.user_id {
                needed.payees.extend(UserId::of_account(note.fields().payee).filter(|p| *p != uploader));
            }
        }
        needed.payees.sort_unstable();
        needed.payees.dedup();
        needed.hashes.sort_unstable();
        needed.hashes.dedup();
        Some(needed)
    }

    /// The payees of a partial read that hold more notes of the purse than were read for them:
    /// those the payer's upload is not judged for.
    pub fn crowded(&self, stored: &[PaymentNote]) -> HashSet<UserId> {
        let mut counts: HashMap<UserId, i64> = HashMap::new();
        for payee in stored.iter().filter_map(|n| UserId::of_account(n.fields().payee)) {
            *counts.entry(payee).or_insert(0) += 1;
        }
        self.payees
            .iter()
            .filter(|p| counts.get(p).copied().unwrap_or(0) > super::NOTES_PER_PAYEE_READ)
            .copied()
            .collect()
    }
}

/// The money state of a stored note that `settle_purse` does not need.
#[derive(Debug, Clone, Copy)]
pub struct StoredState {
    /// The note's hash, as stored beside it (read once, not recomputed per use).
    pub hash: Hash256,
    pub from_payer: i64,
    pub held: i64,
    /// Who uploaded it (the payee's own upload vouches for it: `payee_rules`).
    pub uploaded_by: UserId,
}

/// Runs `settle_purse_prechecked` for every purse that has notes in `batch`, over stored + new
/// notes. `signature_ok[i]` is the device-signature outcome of `batch[i]` (checked in a batch
/// before the database work, see `offline::signatures`); stored notes passed that check when
/// they were stored, so they are not checked again.
pub fn settle_all(
    snapshots: &HashMap<PurseId, Snapshot>,
    batch: &[PaymentNote],
    signature_ok: &[bool],
) -> Result<HashMap<PurseId, Settlement>, OfflineError> {
    let mut per_purse: HashMap<PurseId, (Vec<PaymentNote>, Vec<bool>)> = HashMap::new();
    for (i, note) in batch.iter().enumerate() {
        if let Some(snap) = snapshots.get(&note.purse_id()) {
            let (notes, ok) = per_purse
                .entry(note.purse_id())
                .or_insert_with(|| (snap.stored.clone(), vec![true; snap.stored.len()]));
            notes.push(note.clone());
            ok.push(signature_ok.get(i).copied().unwrap_or(false));
        }
    }
    let mut map = HashMap::with_capacity(per_purse.len());
    for (id, (notes, ok)) in per_purse {
        let Some(snap) = snapshots.get(&id) else {
            continue;
        };
        let settlement = settle_purse_prechecked(&snap.purse.certificate, &notes, &ok, snap.purse.close.as_ref())
            .map_err(|r| {
                LedgerError::Storage(
                    format!("stored close statement of purse {id} does not verify: {}", r.code()).into(),
                )
            })?;
        map.insert(id, settlement);
    }
    Ok(map)
}

/// The users a settlement needs (sorted, once each): purse owners, the batch's payees, and the
/// payees of stored notes with money still held (paid first if the owner has money again).
pub fn users_wanted(snapshots: &HashMap<PurseId, Snapshot>, batch: &[PaymentNote]) -> Vec<UserId> {
    let mut wanted: Vec<UserId> = snapshots.values().map(|s| s.purse.user_id).collect();
    wanted.extend(batch.iter().filter_map(|n| UserId::of_account(n.fields().payee)));
    for snap in snapshots.values().filter(|s| s.purse.notes_held > 0) {
        for (note, state) in snap.stored.iter().zip(&snap.states) {
            if state.held > 0
                && let Some(payee) = UserId::of_account(note.fields().payee)
            {
                wanted.push(payee);
            }
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    wanted
}

/// Query (both backends) for [`super::OfflineStore::held_notes`], given the backend's upload
/// order column and limit parameter.
pub fn held_notes_sql(upload_order: &str, limit_param: &str) -> String {
    format!(
        "SELECT n.purse_id, n.hash, p.user_id, n.payee, n.amount,
                n.from_reserve + n.from_payer + n.from_loss, n.held, n.created_at_ms
         FROM notes n JOIN purses p ON p.id = n.purse_id WHERE n.held > 0
         ORDER BY {upload_order} LIMIT {limit_param}"
    )
}

/// The distinct (payee, request nonce) pairs of a batch and of the held notes its snapshots
/// read (whose release is capped by what their requests were paid), sorted.
pub fn requests_of(batch: &[PaymentNote], snapshots: &HashMap<PurseId, Snapshot>) -> Vec<(UserId, Nonce)> {
    let held = snapshots
        .values()
        .filter(|s| s.purse.notes_held > 0)
        .flat_map(|s| s.stored.iter().zip(&s.states).filter(|(_, state)| state.held > 0).map(|(note, _)| note));
    let mut keys: Vec<(UserId, Nonce)> = batch
        .iter()
        .chain(held)
        .filter_map(|n| Some((UserId::of_account(n.fields().payee)?, n.fields().nonce)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The fingerprint a proof is stored under (each proof once).
pub fn proof_fingerprint(kind: &str, first: &[u8], second: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [kind.as_bytes(), first, second] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The hashes of the notes a proof names.
fn proof_notes(proof: &offpay_protocol::FraudProof) -> Vec<Hash256> {
    use offpay_protocol::FraudProof::*;
    match proof {
        SameSequence { first, second } => vec![first.hash(), second.hash()],
        BrokenChain { earlier, later } => vec![earlier.hash(), later.hash()],
        BeyondClose { note, .. } => vec![note.hash()],
    }
}

/// The two signed objects of a proof, encoded as they are stored.
fn proof_parts(proof: &offpay_protocol::FraudProof) -> (Vec<u8>, Vec<u8>) {
    use offpay_protocol::FraudProof::*;
    match proof {
        SameSequence { first, second } => (first.encode(), second.encode()),
        BrokenChain { earlier, later } => (earlier.encode(), later.encode()),
        BeyondClose { close, note } => (close.encode(), note.encode()),
    }
}

/// Records the settlement's fraud proofs for `purse` (new ones only), freezes the owner and,
/// the first time, revokes purse and device. Returns the hashes of notes in any proof
/// with the proof's code.
fn record_fraud(
    w: &mut Writes,
    snap: &mut Snapshot,
    settlement: &Settlement,
    owner_frozen: bool,
) -> HashMap<Hash256, &'static str> {
    let mut fraud_notes = HashMap::new();
    if settlement.fraud.is_empty() {
        return fraud_notes;
    }
    let purse = &mut snap.purse;
    for proof in &settlement.fraud {
        for h in proof_notes(proof) {
            fraud_notes.entry(h).or_insert(proof.code());
        }
        // Past the most proofs kept, a proof is not even encoded (a purse forked many times
        // gives a proof per fork on every upload).
        if snap.proofs.len() >= super::MAX_PROOFS_PER_PURSE {
            continue;
        }
        let (first, second) = proof_parts(proof);
        let fingerprint = proof_fingerprint(proof.code(), &first, &second);
        if snap.proofs.insert(fingerprint) {
            w.proofs.push(ProofInsert {
                fingerprint,
                purse_id: purse.id,
                user_id: purse.user_id,
                kind: proof.code(),
                first,
                second,
            });
        }
    }
    // Every fraud found freezes the owner, also on a purse revoked before: the operator may have
    // unfrozen the account since, and on PostgreSQL `owner_frozen` was read before the account's
    // lock (an unfreeze committed meanwhile would otherwise leave it unfrozen). Freezing twice
    // changes nothing.
    w.freeze(purse.user_id);
    if purse.state == PurseState::Revoked && !owner_frozen {
        tell_frozen_again(w, purse.user_id, purse.id);
    }
    if purse.state != PurseState::Revoked {
        let code = settlement.fraud.first().map_or("fraud", |p| p.code());
        purse.state = PurseState::Revoked;
        w.revoke_devices.push((purse.device_key(), purse.user_id));
        w.security.push((
            "offline_fraud".into(),
            format!("purse {} of user {}: {code}; purse and device revoked, account frozen", purse.id, purse.user_id),
        ));
        w.events.push(NewEvent {
            user_id: purse.user_id,
            kind: EVENT_ACCOUNT_FROZEN,
            payload: serde_json::json!({
                "reason": format!("offline double spending detected ({code}) on purse {}", purse.id),
                "purse_id": purse.id.to_hex(),
            })
            .to_string(),
        });
    }
    fraud_notes
}

/// An owner frozen again (the operator had unfrozen it; a new fraud or held note of a purse
/// revoked before freezes it) is told as at the first freeze: an `account_frozen` event and a
/// security event, once per upload.
fn tell_frozen_again(w: &mut Writes, user: UserId, purse: PurseId) {
    if w.events.iter().any(|e| e.user_id == user && e.kind == EVENT_ACCOUNT_FROZEN) {
        return;
    }
    w.security.push((
        "offline_fraud".into(),
        format!("purse {purse} of user {user}: double spending found again after an unfreeze; account frozen again"),
    ));
    w.events.push(NewEvent {
        user_id: user,
        kind: EVENT_ACCOUNT_FROZEN,
        payload: serde_json::json!({
            "reason": format!("offline double spending found again on purse {purse}"),
            "purse_id": purse.to_hex(),
        })
        .to_string(),
    });
}

/// Inputs of [`plan_settlement`] besides the accounts.
pub struct SettleInput<'a> {
    pub batch: &'a [PaymentNote],
    pub snapshots: &'a mut HashMap<PurseId, Snapshot>,
    pub settlements: &'a HashMap<PurseId, Settlement>,
    /// Purse owners and note payees that exist, by user id, with their frozen flag.
    pub users: &'a HashMap<UserId, (UserRef, bool)>,
    /// Paid so far (held money not counted) per (payee, request nonce) of [`requests_of`],
    /// over all purses, read after the payees' accounts were locked.
    pub requests: RequestsPaid,
    /// Who uploads the batch.
    pub uploader: UserId,
    /// Purse owners with notes held on a purse that is not in this batch, read after their
    /// wallets were locked ([`owners_of`]): their money goes to those notes first (by the
    /// background pass), so no new note of theirs takes any of it.
    pub held_elsewhere: &'a HashSet<UserId>,
    /// The batch's notes that their payee refused at its counter (`refusal.rs`): never paid.
    pub refused: &'a HashSet<Hash256>,
    pub now_ms: TimestampMs,
}

/// The owners of the purses of `snapshots`, sorted, once each: whose held notes on other
/// purses a settlement must know of ([`SettleInput::held_elsewhere`]).
pub fn owners_of(snapshots: &HashMap<PurseId, Snapshot>) -> Vec<UserId> {
    let mut owners: Vec<UserId> = snapshots.values().map(|s| s.purse.user_id).collect();
    owners.sort_unstable();
    owners.dedup();
    owners
}

/// Of `held` (owner, purse) pairs with notes held, the owners whose purse is not in `snapshots`.
pub fn held_elsewhere(
    held: impl IntoIterator<Item = (UserId, PurseId)>,
    snapshots: &HashMap<PurseId, Snapshot>,
) -> HashSet<UserId> {
    held.into_iter().filter(|(_, purse)| !snapshots.contains_key(purse)).map(|(owner, _)| owner).collect()
}

/// Plans a settlement batch. `accounts` must hold the reserve, fraud-loss, and every owner's
/// and payee's wallet, locked.
pub fn plan_settlement(
    input: SettleInput<'_>,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
) -> Result<(Writes, Vec<NoteResult>), OfflineError> {
    let SettleInput { batch, snapshots, settlements, users, mut requests, uploader, held_elsewhere, refused, now_ms } =
        input;
    let mut w = Writes::default();
    let mut events = SettleEvents::default();

    struct Work {
        /// Stored notes by hash: what is still held on each.
        stored: HashMap<Hash256, i64>,
        rejected: HashMap<Vec<u8>, &'static str>,
        fraud_notes: HashMap<Hash256, &'static str>,
        /// Sequence numbers that have a stored note (or one stored by this upload).
        seqs: HashSet<u32>,
        /// Of a partial snapshot: the payees holding more notes than were read for them.
        crowded: HashSet<UserId>,
    }
    let mut works: HashMap<PurseId, Work> = HashMap::new();
    let mut changed: HashSet<PurseId> = HashSet::new();
    // Held money this upload paid to stored notes, by note (reported to a copy in the upload).
    let mut released: HashMap<Hash256, i64> = HashMap::new();
    let mut ordered: Vec<PurseId> = settlements.keys().copied().collect();
    ordered.sort_unstable();
    // Owners whose held notes lie on more than one purse (another in this batch, or one not in
    // it): this upload pays none of them. Only the background pass, in upload order across all
    // purses, decides which comes first; paying one purse's here would let an accomplice who
    // uploads its held notes again be paid ahead of older honest ones on another purse.
    let mut holding_purses: HashMap<UserId, usize> = HashMap::new();
    for snap in snapshots.values().filter(|s| s.purse.notes_held > 0) {
        *holding_purses.entry(snap.purse.user_id).or_default() += 1;
    }
    let pass_pays =
        |owner: &UserId| held_elsewhere.contains(owner) || holding_purses.get(owner).is_some_and(|n| *n > 1);
    for id in ordered {
        let (Some(settlement), Some(snap)) = (settlements.get(&id), snapshots.get_mut(&id)) else {
            continue;
        };
        let owner_frozen = users.get(&snap.purse.user_id).is_none_or(|(_, frozen)| *frozen);
        let fraud_notes = record_fraud(&mut w, snap, settlement, owner_frozen);
        if !settlement.fraud.is_empty() {
            changed.insert(id);
        }
        // Money that reached the payer since goes to the purse's held notes first, oldest
        // upload first, before any new note of this batch (a partial snapshot: up to the
        // oldest it read; new notes then wait behind the rest, below).
        if snap.purse.notes_held > 0 && !pass_pays(&snap.purse.user_id) {
            changed.insert(id);
            let paid = release_stored(&mut w, &mut events, snap, users, accounts, ids, &mut requests, now_ms)?;
            released.extend(paid);
        }
        works.insert(
            id,
            Work {
                stored: snap.states.iter().map(|s| (s.hash, s.held)).collect(),
                rejected: settlement.rejected.iter().map(|(n, r)| (n.encode(), r.code())).collect(),
                fraud_notes,
                seqs: snap.stored.iter().map(PaymentNote::seq).collect(),
                crowded: snap.read.needed().map(|n| n.crowded(&snap.stored)).unwrap_or_default(),
            },
        );
    }
    let mut rules = PayeeRules::new(snapshots, requests);
    // Owners who still owe held notes after the releases above, on any purse: no new note takes
    // their money while any is held (docs/decisions/notes-per-purse.md), whichever purse it is
    // drawn on.
    let mut owes_held: HashSet<UserId> = held_elsewhere.clone();
    owes_held.extend(snapshots.values().filter(|s| s.purse.notes_held > 0).map(|s| s.purse.user_id));

    let mut results = Vec::with_capacity(batch.len());
    let mut seen: HashSet<Hash256> = HashSet::new();
    for note in batch {
        let hash = note.hash();
        let encoded = note.encode();
        let result = |status, reason: Option<&str>, amount: i64| NoteResult {
            note: hash,
            status,
            reason: reason.map(str::to_string),
            amount: u64::try_from(amount).unwrap_or(0),
        };
        let pid = note.purse_id();
        let (Some(snap), Some(work)) = (snapshots.get_mut(&pid), works.get_mut(&pid)) else {
            results.push(result(NoteStatus::Rejected, Some("unknown_purse"), 0));
            continue;
        };
        if let Some(reason) = work.rejected.get(&encoded) {
            results.push(result(NoteStatus::Rejected, Some(reason), 0));
            continue;
        }
        if let Some(held) = work.stored.get(&hash).copied().or_else(|| (!seen.insert(hash)).then_some(0)) {
            // A copy of a note this upload refused (and did not store) is refused for the same
            // reason: "duplicate" would read as settled to a wallet, which would stop sending a
            // note that a later upload may still have paid.
            if !work.stored.contains_key(&hash)
                && let Some(earlier) = results.iter().find(|r| r.note == hash && r.status == NoteStatus::Rejected)
            {
                let again =
                    NoteResult { note: hash, status: NoteStatus::Rejected, reason: earlier.reason.clone(), amount: 0 };
                results.push(again);
                continue;
            }
            // A note refused for its unknown payee is stored (it holds its place in the purse's
            // chain); a copy is refused for the same reason, not reported as a duplicate, which
            // wallets take for "settled". A held note is reported held until it is paid in full
            // (with what this upload paid it, if anything), then settled.
            let payee_known = UserId::of_account(note.fields().payee).is_some_and(|id| users.contains_key(&id));
            let paid_now = released.remove(&hash).unwrap_or(0);
            if !payee_known {
                results.push(result(NoteStatus::Rejected, Some("unknown_payee"), 0));
            } else if held > 0 {
                results.push(result(NoteStatus::Held, Some(HELD_REASON), paid_now));
            } else if paid_now > 0 {
                results.push(result(NoteStatus::Settled, None, paid_now));
            } else {
                results.push(result(NoteStatus::Duplicate, None, 0));
            }
            continue;
        }
        let f = note.fields();
        let amount = i64::try_from(f.amount.minor()).map_err(|_| LedgerError::AmountOverflow)?;
        let mut insert = NoteInsert {
            hash,
            purse_id: pid,
            seq: f.seq,
            payee: UserId::of_account(f.payee).unwrap_or(UserId(-1)),
            amount,
            encoded: super::stored_note::compact(&encoded),
            from_reserve: 0,
            from_payer: 0,
            from_loss: 0,
            held: 0,
            nonce: f.nonce,
            entry_id: None,
        };
        let fraud = work.fraud_notes.get(&hash).copied();
        let payee = users.get(&insert.payee).map(|(u, _)| u);
        let owner = users.get(&snap.purse.user_id).map(|(u, _)| u);
        let (Some(payee), Some(owner)) = (payee, owner) else {
            // Stored, paying nothing, to hold its place in the purse's chain (a fork of it is
            // then proven), but only at a sequence number no stored note holds yet: one more at
            // a taken number proves nothing the stored one does not, and would let the payer
            // grow the notes every upload to the purse reads back (at most 1,000 this way).
            if snap.read.needed().is_none() && work.seqs.insert(f.seq) {
                changed.insert(pid);
                work.stored.insert(hash, 0);
                w.notes.push(insert);
            }
            results.push(result(NoteStatus::Rejected, Some("unknown_payee"), 0));
            continue;
        };
        // Of a revoked purse, only the payee's upload, or the payer's when the payee holds few
        // notes of it, is judged (`NotesNeeded`).
        let partial = snap.read.needed().is_some();
        if partial && payee.id != uploader && (owner.id != uploader || work.crowded.contains(&payee.id)) {
            results.push(result(NoteStatus::Rejected, Some(super::PAYEE_MUST_UPLOAD), 0));
            continue;
        }
        // Refused by its payee at the counter: never paid, not stored (its money goes back to the
        // payer with the purse's remainder).
        if refused.contains(&hash) {
            results.push(result(NoteStatus::Rejected, Some(super::refusal::REFUSED_BY_PAYEE), 0));
            continue;
        }
        // The payee account's own rules: refused notes are not stored and move nothing.
        let admitted = match rules.judge(note, payee.id, uploader) {
            Ok(admitted) => admitted,
            Err(reason) => {
                results.push(result(NoteStatus::Rejected, Some(reason), 0));
                continue;
            }
        };
        let due = admitted.due;
        // Held notes come first for the payer's money: those of this purse that this upload did
        // not read, and those of the payer's other purses.
        let behind_held = (partial && snap.purse.notes_held > 0) || owes_held.contains(&owner.id);
        let purse = &mut snap.purse;
        let from_reserve = due.min(purse.held().max(0));
        let rest = due - from_reserve;
        if late_and_uncovered(purse, fraud.is_some(), owner, payee, rest, accounts) {
            results.push(result(NoteStatus::Rejected, Some(SETTLEMENT_DEADLINE_PASSED), 0));
            continue;
        }
        if due > wallet_room(accounts, payee.account_id) {
            results.push(result(NoteStatus::Rejected, Some(PAYEE_BALANCE_FULL), 0));
            continue;
        }
        changed.insert(pid);
        let (from_payer, from_loss, held) = if owner.id == payee.id {
            // Paying oneself: what the reserve does not cover is the payer's own money already.
            (0, 0, 0)
        } else {
            let recover = if behind_held { 0 } else { rest.min(balance_of(accounts, owner.account_id).max(0)) };
            let loss = (rest - recover).min(loss_allowance_left_at(purse, now_ms));
            (recover, loss, rest - recover - loss)
        };
        let credited = from_reserve + from_payer + from_loss;
        rules.record(note, payee.id, uploader, admitted, credited);
        if credited > 0 {
            let id = next_id(ids)?;
            let entry = plan_entry(
                accounts,
                id,
                KIND_OFFLINE_SETTLE,
                credited,
                Some(owner.id),
                payee.id,
                &[
                    (purse.reserve_account, -from_reserve),
                    (owner.account_id, -from_payer),
                    (FRAUD_LOSS_ACCOUNT, -from_loss),
                    (payee.account_id, credited),
                ],
                now_ms,
            )?;
            w.entries.push(EntryPlan { note: Some(hash), ..entry });
            insert.entry_id = Some(id);
            events.add(SettledNote { note: hash.to_hex(), amount: credited, payer: owner, payee });
        }
        purse.settled += from_reserve;
        purse.recovered += from_payer;
        purse.fraud_loss += from_loss;
        purse.notes_held += held;
        if held > 0 {
            owes_held.insert(owner.id);
            // Money held for payees means a double spender: frozen (again, if the operator
            // unfroze it), whatever this upload read of its frozen flag.
            w.freeze(owner.id);
            if users.get(&owner.id).is_some_and(|(_, frozen)| !*frozen) {
                tell_frozen_again(&mut w, owner.id, pid);
            }
        }
        insert.from_reserve = from_reserve;
        insert.from_payer = from_payer;
        insert.from_loss = from_loss;
        insert.held = held;
        work.seqs.insert(f.seq);
        work.stored.insert(hash, held);
        w.notes.push(insert);
        if held > 0 {
            results.push(result(NoteStatus::Held, Some(HELD_REASON), credited));
        } else if let Some(code) = fraud {
            results.push(result(NoteStatus::Fraud, Some(code), credited));
        } else {
            results.push(result(NoteStatus::Settled, None, credited));
        }
    }
    w.events.extend(events.finish(|account| balance_of(accounts, account)));
    let mut changed: Vec<PurseId> = changed.into_iter().collect();
    changed.sort_unstable();
    for id in changed {
        if let Some(snap) = snapshots.get(&id) {
            w.purses.push(snap.purse.clone());
        }
    }
    w.finish_accounts(accounts);
    Ok((w, results))
}

/// What the operator may still lose on `purse`: its allowance less the loss booked, and nothing
/// once its remainder went back at expiry (the settlement deadline), so that no purse past its
/// deadline adds to an account's loss (docs/OFFLINE.md, "The loss bound"). Whatever the time:
/// used to know which accounts to lock, so it is never less than [`loss_allowance_left_at`].
fn loss_allowance_left(purse: &Purse) -> i64 {
    if purse.expired {
        return 0;
    }
    purse.loss_allowance.saturating_sub(purse.fraud_loss).max(0)
}

/// [`loss_allowance_left`] at `now_ms`: also nothing once the purse is past its settlement
/// deadline ([`Purse::settle_by`]), whether or not the expiry pass has run yet (it runs every
/// minute, and may be late or skip a purse).
fn loss_allowance_left_at(purse: &Purse, now_ms: TimestampMs) -> i64 {
    if purse.settle_by.is_some_and(|deadline| now_ms.div_euclid(1000) > deadline) {
        return 0;
    }
    loss_allowance_left(purse)
}

/// Pays the held notes stored for `snap`'s purse from its owner's balance, oldest first (less
/// what their requests were paid by other notes since, `requests`); returns what each note
/// received.
#[allow(clippy::too_many_arguments)]
fn release_stored(
    w: &mut Writes,
    events: &mut SettleEvents,
    snap: &mut Snapshot,
    users: &HashMap<UserId, (UserRef, bool)>,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
    requests: &mut RequestsPaid,
    now_ms: TimestampMs,
) -> Result<HashMap<Hash256, i64>, OfflineError> {
    let mut released = HashMap::new();
    let Some((owner, _)) = users.get(&snap.purse.user_id) else {
        return Ok(released);
    };
    // A partial snapshot read the oldest held notes only: none after the last of them is paid.
    let until = snap.release_until;
    let mut past_until = false;
    for (note, state) in snap.stored.iter().zip(snap.states.iter_mut()) {
        if past_until {
            break;
        }
        past_until = until == Some(state.hash);
        if state.held <= 0 {
            continue;
        }
        let Some((payee, _)) = UserId::of_account(note.fields().payee).and_then(|id| users.get(&id)) else {
            continue;
        };
        let mut held = HeldNote {
            purse_id: snap.purse.id,
            hash: state.hash,
            payee: payee.id,
            from_payer: state.from_payer,
            held: state.held,
            amount: i64::try_from(note.amount().minor()).unwrap_or(i64::MAX),
            nonce: Some(note.fields().nonce),
        };
        let paid = release_note(w, events, &mut held, &mut snap.purse, owner, payee, accounts, ids, requests, now_ms)?;
        state.from_payer = held.from_payer;
        state.held = held.held;
        if paid > 0 {
            released.insert(held.hash, paid);
        }
        if held.held > 0 {
            // The owner's money ran out before this note was paid in full: later ones wait.
            break;
        }
    }
    Ok(released)
}

/// Reason code of a note refused, not stored and nothing moved, because paying it would take
/// the payee's wallet past [`WALLET_MAX`] (as an online transfer to it is refused with
/// `amount_overflow`). Judged again when uploaded again, once the payee has spent some.
pub const PAYEE_BALANCE_FULL: &str = "payee_balance_full";

/// Reason code of a note refused because it arrived after the settlement deadline.
pub const SETTLEMENT_DEADLINE_PASSED: &str = "settlement_deadline_passed";

/// The settlement deadline (docs/OFFLINE.md, "Expiry"): once a purse's remainder went back to
/// its owner at expiry (`valid_until` + grace), a note that is not part of a fraud is paid only
/// if the payer's own balance covers what the reserve no longer holds, in full; otherwise it is
/// refused and nothing moves (it is not stored, so uploading it again later is judged again). A
/// late upload must never become an operator loss: the payer may have spent the returned money
/// in good faith, and a payer and payee acting together could otherwise be paid twice.
fn late_and_uncovered(
    purse: &Purse,
    fraud: bool,
    owner: &UserRef,
    payee: &UserRef,
    rest: i64,
    accounts: &Accounts,
) -> bool {
    purse.expired && !fraud && owner.id != payee.id && rest > balance_of(accounts, owner.account_id).max(0)
}

fn plan_return(
    w: &mut Writes,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
    purse: &mut Purse,
    owner: &UserRef,
    amount: i64,
    now_ms: TimestampMs,
) -> Result<(), OfflineError> {
    if amount <= 0 {
        return Ok(());
    }
    let id = next_id(ids)?;
    let entry = plan_entry(
        accounts,
        id,
        KIND_PURSE_RETURN,
        amount,
        None,
        owner.id,
        &[(purse.reserve_account, -amount), (owner.account_id, amount)],
        now_ms,
    )?;
    w.entries.push(entry);
    purse.returned += amount;
    w.events.push(NewEvent {
        user_id: owner.id,
        kind: EVENT_PURSE_RETURNED,
        payload: serde_json::json!({
            "entry_id": id,
            "purse_id": purse.id.to_hex(),
            "amount": amount,
            "balance": balance_of(accounts, owner.account_id),
        })
        .to_string(),
    });
    Ok(())
}

/// Whether `user` may close `purse` (as read, `None` when it does not exist) with `close`: the
/// purse is theirs (`UnknownPurse`), open and not expired (`PurseNotOpen`), and the statement
/// verifies against its certificate (`InvalidClose`).
pub fn check_close(purse: Option<Purse>, user: UserId, close: &CloseStatement) -> Result<Purse, OfflineError> {
    let purse = purse.filter(|p| p.user_id == user).ok_or(OfflineError::UnknownPurse)?;
    if purse.state != PurseState::Open || purse.expired {
        return Err(OfflineError::PurseNotOpen);
    }
    close.verify(&purse.certificate).map_err(|r| OfflineError::InvalidClose(r.code()))?;
    Ok(purse)
}

/// Plans closing a purse (checked by [`check_close`]): the protocol's settlement of the stored
/// notes against the close statement, then the return of what the notes do not need.
#[allow(clippy::too_many_arguments)]
pub fn plan_close(
    snap: &mut Snapshot,
    close: &CloseStatement,
    owner: &UserRef,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
    now_ms: TimestampMs,
) -> Result<(Writes, CloseOutcome), OfflineError> {
    let settlement = offpay_protocol::settle_purse(&snap.purse.certificate, &snap.stored, Some(close))
        .map_err(|r| OfflineError::InvalidClose(r.code()))?;
    let settlement = &settlement;
    let mut w = Writes::default();
    snap.purse.close = Some(close.clone());
    let fraud = !settlement.fraud.is_empty();
    let mut returned = 0;
    if fraud {
        // A close is of an open purse: its fraud is the purse's first, told as such.
        record_fraud(&mut w, snap, settlement, true);
    } else {
        let stored_total: i64 = snap.stored.iter().map(|n| i64::try_from(n.amount().minor()).unwrap_or(i64::MAX)).sum();
        let total_spent = i64::try_from(close.fields().total_spent.minor()).map_err(|_| LedgerError::AmountOverflow)?;
        let held = snap.purse.held().max(0);
        let keep = total_spent.saturating_sub(stored_total).clamp(0, held);
        returned = held - keep;
        plan_return(&mut w, accounts, ids, &mut snap.purse, owner, returned, now_ms)?;
        snap.purse.state = PurseState::Closed;
    }
    w.purses.push(snap.purse.clone());
    w.finish_accounts(accounts);
    let outcome = CloseOutcome {
        returned,
        held: snap.purse.held(),
        balance: balance_of(accounts, owner.account_id),
        fraud,
        replayed: false,
    };
    Ok((w, outcome))
}

/// Plans the expiry of `purses` (each past `valid_until + grace`, not expired yet).
pub fn plan_expiry(
    purses: &mut [Purse],
    owners: &HashMap<UserId, UserRef>,
    accounts: &mut Accounts,
    ids: &mut dyn Iterator<Item = EntryId>,
    now_ms: TimestampMs,
) -> Result<(Writes, ExpiryOutcome), OfflineError> {
    let mut w = Writes::default();
    let mut outcome = ExpiryOutcome::default();
    for purse in purses.iter_mut() {
        let owner = owners
            .get(&purse.user_id)
            .ok_or_else(|| LedgerError::Storage(format!("purse {} has no owner", purse.id).into()))?;
        let held = purse.held().max(0);
        if held > wallet_room(accounts, owner.account_id) {
            // The owner's wallet cannot take it back now: the purse waits for a later pass.
            continue;
        }
        plan_return(&mut w, accounts, ids, purse, owner, held, now_ms)?;
        purse.expired = true;
        if purse.state == PurseState::Open {
            purse.state = PurseState::Expired;
        }
        outcome.purses += 1;
        outcome.returned += held;
        w.purses.push(purse.clone());
    }
    w.finish_accounts(accounts);
    Ok((w, outcome))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use offpay_protocol::testkit::Fixture;
    use offpay_protocol::{AccountNumber, Amount, NoteFields};

    use super::*;

    /// The fraud-loss account is among the accounts an upload locks exactly when a purse with
    /// loss allowance left gets notes for more than its reserve still holds.
    #[test]
    fn the_fraud_loss_account_is_locked_only_when_a_purse_could_book_a_loss() {
        // The fixture's purse holds 2,000.00; 1,997.00 of it is paid out already.
        let fx = Fixture::new();
        let cert = fx.certificate.clone();
        let reserve = AccountId(77);
        let purse = Purse {
            id: cert.purse_id(),
            user_id: UserId(1001),
            certificate: cert.clone(),
            state: PurseState::Open,
            expired: false,
            settled: 199_700,
            returned: 0,
            recovered: 0,
            fraud_loss: 0,
            loss_allowance: 100,
            notes_held: 0,
            close: None,
            created_at_ms: 0,
            reserve_account: reserve,
            settle_by: None,
        };
        let (mut prev, mut cumulative) = (cert.hash(), 0);
        let notes: Vec<PaymentNote> = (1..=2u32)
            .map(|seq| {
                cumulative += 200;
                let fields = NoteFields {
                    seq,
                    prev_hash: prev,
                    cumulative: Amount::from_minor(cumulative).unwrap(),
                    amount: Amount::from_minor(200).unwrap(),
                    payee: AccountNumber(2001),
                    nonce: Nonce::from_bytes([seq as u8; 16]),
                    time: 0,
                };
                let note = PaymentNote::sign(cert.clone(), fields, &fx.payer_device).unwrap();
                prev = note.hash();
                note
            })
            .collect();
        let locked = |purse: &Purse, batch: &[PaymentNote]| {
            let snap = Snapshot {
                purse: purse.clone(),
                stored: vec![],
                states: vec![],
                proofs: HashSet::new(),
                read: NotesRead::All,
                release_until: None,
            };
            operator_accounts(&HashMap::from([(purse.id, snap)]), batch)
        };
        // Within the reserve (300 left): only the purse's own reserve account.
        assert_eq!(locked(&purse, &notes[..1]), vec![reserve]);
        // 400 against 300: the rest could be booked as loss.
        assert_eq!(locked(&purse, &notes), vec![reserve, FRAUD_LOSS_ACCOUNT]);
        // No allowance left, or none after expiry: nothing can reach the fraud-loss account.
        let used_up = Purse { fraud_loss: 100, ..purse.clone() };
        assert_eq!(locked(&used_up, &notes), vec![reserve]);
        let expired = Purse { expired: true, ..purse.clone() };
        assert_eq!(locked(&expired, &notes), vec![reserve]);
        // A purse loaded before purses had their own reserve posts to the shared one.
        let older = Purse { reserve_account: RESERVE_ACCOUNT, ..purse };
        assert_eq!(locked(&older, &notes[..1]), vec![RESERVE_ACCOUNT]);
    }
}
