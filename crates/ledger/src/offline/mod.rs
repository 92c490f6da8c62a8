//! # Offline purses and settlement
//!
//! The ledger side of offline payments (docs/PROTOCOL.md, docs/API-OFFLINE.md): registered device
//! keys, purses (money moved from a wallet into the operator's reserve account when a signed
//! certificate is issued), uploaded payment notes settled exactly once, fraud proofs, revocations,
//! closing and expiry. One interface ([`OfflineStore`]) implemented by both backends, reached
//! from any [`crate::Store`] through [`crate::Store::offline`].
//!
//! ## Money rules
//! - Loading a purse is one journal entry `purse_load`: wallet -A, reserve +A.
//! - A newly payable note is one entry `offline_settle` crediting the payee by what it is owed
//!   (its amount, less what was already paid for the same request), paid from the purse's part
//!   of the reserve first, then recovered from the payer's wallet (as much as it holds), then
//!   booked on the fraud-loss account up to the purse's loss allowance; the rest is *held* on
//!   the note and paid from the payer's wallet when money reaches it. Nothing is dropped.
//! - Before any of that, each payee account is held to its own device's rules
//!   (`payee_rules`): a note an honest payee holding the account's notes could not have
//!   accepted is refused and nothing moves.
//! - Closing or expiry returns what the purse still holds (minus what a close statement says
//!   pending notes need) in an entry `purse_return`: the purse's reserve -R, wallet +R.
//! - Per purse: `amount = settled + returned + held`, where `held` is what the reserve still
//!   holds for it; each reserve account's balance is the sum of `held` over the purses it holds
//!   (one purse each since purses got their own reserve account; the shared one holds the
//!   older purses, docs/LEDGER.md). `verify` checks both (and that each purse's `settled`,
//!   `recovered`, `fraud_loss` equal its notes').
//!
//! ## Layout
//! - this file: records, errors, the [`OfflineStore`] trait;
//! - `payee_rules`: the payee's own rules applied to every payee account at settlement (one
//!   note per sequence number, at most the purse amount per purse, one paid request per nonce);
//! - `audit`: the offline part of `verify`;
//! - `held`: notes beyond the loss bound, held and paid later from the payer's balance;
//! - `plan`: pure planning of loads, settlements, closes and expiries, shared by both backends;
//! - `signatures`: the batched device-signature check of an upload, before the database work;
//! - `refusal`: a payee's refusal of a note at its counter (never paid, or given back);
//! - `settle_events`: one live event per payee and per payer for each upload;
//! - `stored_note`: the form a settled note is kept in (without its purse's certificate).
//! - `read_equivalence` (tests only): an upload decided on the notes around its own is decided as
//!   on every note of its purse.

pub(crate) mod audit;
pub(crate) mod certificates;
pub(crate) mod held;
pub(crate) mod payee_rules;
pub(crate) mod plan;
#[cfg(test)]
mod read_equivalence;
pub mod refusal;
pub(crate) mod settle_events;
pub(crate) mod signatures;
pub(crate) mod stored_note;

pub use certificates::decode as decode_certificate;
pub use plan::{FRAUD_LOSS_ACCOUNT, RESERVE_ACCOUNT};

use std::collections::BTreeSet;

use async_trait::async_trait;
use offpay_protocol::{
    Amount, CloseStatement, Handle, Hash256, KeyId, PaymentNote, PurseCertificate, PurseId, UnixTime,
};
use serde::Serialize;

use crate::error::LedgerError;
use crate::model::{AccountId, IdempotencyKey, TimestampMs, UserId};

/// Most notes one [`OfflineStore::settle_notes`] call takes.
pub const NOTES_MAX: usize = 500;
/// Most purses one [`OfflineStore::expire_purses`] call returns money for.
pub const EXPIRE_MAX: usize = 1000;
/// The most fraud proofs kept per purse. One proof revokes the purse; more are kept as evidence
/// up to this many, so that a fraudster uploading forks again and again cannot grow what every
/// later upload to the purse reads back (docs/decisions/notes-per-purse.md, "Forks").
pub const MAX_PROOFS_PER_PURSE: usize = 1000;
/// Reason code of a note of a revoked purse that is not judged (nothing moves): uploaded by
/// someone who is neither its payee nor its payer, or by its payer when the payee holds many
/// notes of the purse; the payee's own upload settles it (docs/decisions/notes-per-purse.md).
pub const PAYEE_MUST_UPLOAD: &str = "payee_must_upload";
/// How many of a revoked purse's held notes (the oldest) an upload to it reads, to pay them
/// first from money that reached the payer (docs/decisions/notes-per-purse.md, "Forks").
pub const HELD_READ: i64 = 500;
/// How many notes of a revoked purse an upload by its payer reads for each payee it names: a
/// payee holding more is not judged for that upload (docs/decisions/notes-per-purse.md).
pub const NOTES_PER_PAYEE_READ: i64 = 32;
/// Most held notes one [`OfflineStore::release_held`] call looks at.
pub const RELEASE_MAX: usize = 1000;
/// Most new device keys one account registers in any 24 hours: a device registers once, so an
/// honest account never comes near it, and an account cannot fill the table with keys.
pub const DEVICES_PER_DAY: u32 = 20;
/// The window of [`DEVICES_PER_DAY`].
pub const DEVICE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Most rows the listing calls return.
pub const LIST_MAX: u32 = 1000;

/// Journal entry kinds written by offline payments.
pub const KIND_PURSE_LOAD: &str = "purse_load";
pub const KIND_PURSE_RETURN: &str = "purse_return";
pub const KIND_OFFLINE_SETTLE: &str = "offline_settle";

/// Live event kinds written by offline payments.
pub const EVENT_OFFLINE_IN: &str = "offline_in";
pub const EVENT_OFFLINE_OUT: &str = "offline_out";
pub const EVENT_PURSE_RETURNED: &str = "purse_returned";
pub const EVENT_ACCOUNT_FROZEN: &str = "account_frozen";

/// Errors of the offline operations.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("this device key is registered to another user")]
    DeviceTaken,
    #[error("this device key has been revoked")]
    DeviceRevoked,
    #[error("this device key is not registered to your account")]
    UnknownDevice,
    #[error("no such purse")]
    UnknownPurse,
    #[error("the purse is not open")]
    PurseNotOpen,
    #[error("invalid purse certificate: {0}")]
    InvalidCertificate(&'static str),
    #[error("invalid close statement: {0}")]
    InvalidClose(&'static str),
    #[error("too many notes in one upload (at most {NOTES_MAX})")]
    TooManyNotes,
    #[error("the server is checking many uploads at the moment; the notes are kept, try again in a few seconds")]
    Busy,
    #[error(
        "this account already has {0} offline purses that are not settled yet (a purse counts until its settlement deadline, even after it was closed)"
    )]
    TooManyPurses(u32),
    #[error(
        "this account registered {0} new devices in the last 24 hours, the most it may; use a device already registered, or try again tomorrow"
    )]
    TooManyDevices(u32),
    #[error("this payment note is drawn on your own purse: there is nothing to give back")]
    OwnPurse,
    #[error("this account already refused as many notes of this purse as a purse can sign")]
    TooManyRefusals,
    #[error("this payment note would never be paid ({0}): there is nothing to refuse")]
    UnpayableNote(&'static str),
    #[error("this payment note pays another account: only its payee can refuse it")]
    NotPayee,
    #[error(
        "this payment is not paid in full yet (the payer owes part of it); it can be given back once it is paid, try again later"
    )]
    NoteHeld,
    #[error(
        "this payment was paid in part by the operator because its payer spent the same money twice: it cannot be given back to the payer; contact the operator"
    )]
    RefundNotPossible,
}

impl OfflineError {
    /// True when retrying the same request can never succeed.
    pub fn is_definitive(&self) -> bool {
        match self {
            OfflineError::Ledger(e) => e.is_definitive(),
            _ => true,
        }
    }
}

impl From<rusqlite::Error> for OfflineError {
    fn from(error: rusqlite::Error) -> OfflineError {
        OfflineError::Ledger(error.into())
    }
}

impl From<tokio_postgres::Error> for OfflineError {
    fn from(error: tokio_postgres::Error) -> OfflineError {
        OfflineError::Ledger(error.into())
    }
}

impl From<deadpool_postgres::PoolError> for OfflineError {
    fn from(error: deadpool_postgres::PoolError) -> OfflineError {
        OfflineError::Ledger(error.into())
    }
}

/// A registered device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    #[serde(with = "hex32")]
    pub public_key: [u8; 32],
    pub user_id: UserId,
    pub revoked: bool,
    pub created_at_ms: TimestampMs,
}

/// Where a purse stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurseState {
    /// Spendable offline until `valid_until`.
    Open,
    /// The device signed a close statement; the rest was returned.
    Closed,
    /// Past `valid_until` plus the grace period; the remainder was returned.
    Expired,
    /// Caught double spending: purse and device revoked, account frozen.
    Revoked,
}

impl PurseState {
    pub fn as_str(self) -> &'static str {
        match self {
            PurseState::Open => "open",
            PurseState::Closed => "closed",
            PurseState::Expired => "expired",
            PurseState::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<PurseState> {
        Some(match text {
            "open" => PurseState::Open,
            "closed" => PurseState::Closed,
            "expired" => PurseState::Expired,
            "revoked" => PurseState::Revoked,
            _ => return None,
        })
    }
}

/// A purse as stored. Amounts are minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purse {
    pub id: PurseId,
    pub user_id: UserId,
    pub certificate: PurseCertificate,
    pub state: PurseState,
    /// True once the remainder was returned at expiry (whatever `state` says).
    pub expired: bool,
    /// Paid to payees from this purse's reserve.
    pub settled: i64,
    /// Returned to the owner's wallet (close, expiry).
    pub returned: i64,
    /// Paid to payees from the owner's wallet because the reserve was used up (fraud, late notes).
    pub recovered: i64,
    /// Paid to payees by the operator's fraud-loss account.
    pub fraud_loss: i64,
    /// The most this purse may ever book as fraud loss (the operator's allowance when it was
    /// loaded; docs/OFFLINE.md, "The loss bound").
    pub loss_allowance: i64,
    /// Owed to payees for held notes: beyond reserve, recovery and allowance, paid from the
    /// payer's balance in upload order when money reaches it.
    pub notes_held: i64,
    /// The close statement, once closed.
    pub close: Option<CloseStatement>,
    pub created_at_ms: TimestampMs,
    /// The account that holds this purse's reserve: its own, created at load, or the shared
    /// [`plan::RESERVE_ACCOUNT`] for a purse loaded before purses had their own
    /// (docs/LEDGER.md, "One reserve account per purse").
    pub reserve_account: AccountId,
    /// The settlement deadline (Unix seconds): `valid_until` plus the grace in force when the
    /// purse was loaded. Past it the purse books no fraud loss, even before the expiry pass has
    /// run (`expired`). `None` for a purse loaded before 2026-12-01: the expiry pass ends it.
    pub settle_by: Option<i64>,
}

/// A purse's money, as the API and the operator's tools show it (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurseMoney {
    pub amount: i64,
    pub settled: i64,
    pub returned: i64,
    /// What the reserve still holds: `amount - settled - returned`.
    pub held: i64,
    pub recovered: i64,
    pub fraud_loss: i64,
    pub loss_allowance: i64,
    pub notes_held: i64,
}

impl Purse {
    pub fn money(&self) -> PurseMoney {
        PurseMoney {
            amount: self.amount(),
            settled: self.settled,
            returned: self.returned,
            held: self.held(),
            recovered: self.recovered,
            fraud_loss: self.fraud_loss,
            loss_allowance: self.loss_allowance,
            notes_held: self.notes_held,
        }
    }

    pub fn amount(&self) -> i64 {
        i64::try_from(self.certificate.fields().amount.minor()).unwrap_or(i64::MAX)
    }

    /// What the reserve still holds for this purse.
    pub fn held(&self) -> i64 {
        self.amount() - self.settled - self.returned
    }

    pub fn device_key(&self) -> [u8; 32] {
        self.certificate.fields().device_key.to_bytes()
    }

    pub fn valid_until(&self) -> UnixTime {
        self.certificate.fields().valid_until
    }

    pub fn issuer_key_id(&self) -> KeyId {
        self.certificate.issuer_key_id()
    }
}

/// A purse load: the certificate the server signed for it (purse id, account = the user id,
/// device key, amount, cap, window). On a replay the first purse is returned instead.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub user: UserId,
    pub certificate: PurseCertificate,
    pub idempotency_key: IdempotencyKey,
    /// The operator's loss allowance for this purse (minor units), stored with it.
    pub loss_allowance: i64,
    /// Most purses the account may have before their settlement deadline (`TooManyPurses`).
    pub max_open_purses: u32,
    /// The settlement grace (seconds after `valid_until`) in force: the purse's deadline,
    /// stored with it ([`Purse::settle_by`]).
    pub grace_secs: u64,
}

#[derive(Debug, Clone)]
pub struct LoadedPurse {
    pub purse: Purse,
    /// The wallet balance after the load.
    pub balance: Amount,
    pub replayed: bool,
}

/// What an uploaded note came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    /// The payee was credited by this upload.
    Settled,
    /// Known already (or a copy earlier in the same upload): nothing moved.
    Duplicate,
    /// Refused (reason given); nothing moved.
    Rejected,
    /// Part of a fraud proof; `amount` says what this upload credited the payee.
    Fraud,
    /// Stored, but (part of) it is not paid yet: the purse's reserve, what could be recovered
    /// from the payer and the operator's loss allowance are used up. Paid in upload order when
    /// money reaches the payer; `amount` says what this upload credited.
    Held,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteResult {
    /// The note hash.
    pub note: Hash256,
    pub status: NoteStatus,
    pub reason: Option<String>,
    /// Credited to the payee by this upload (minor units).
    pub amount: u64,
}

/// The outcome of closing a purse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CloseOutcome {
    /// Returned to the wallet now.
    pub returned: i64,
    /// Kept in the reserve for notes not uploaded yet.
    pub held: i64,
    /// Wallet balance after.
    pub balance: i64,
    /// True when a fraud proof was found while closing (nothing returned then).
    #[serde(default)]
    pub fraud: bool,
    #[serde(default)]
    pub replayed: bool,
}

/// The outcome of one pass paying held notes from their payers' balances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// Notes that received money.
    pub notes: u64,
    /// What they received, in all (minor units).
    pub paid: i64,
}

/// The outcome of one expiry sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryOutcome {
    pub purses: u64,
    pub returned: i64,
}

/// A stored fraud proof: two signed objects (`first`, `second`, encoded) that conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudProofRecord {
    pub id: i64,
    pub purse_id: PurseId,
    pub user_id: UserId,
    /// `same_sequence`, `broken_chain` or `beyond_close`.
    pub kind: String,
    /// A note (or, for `beyond_close`, the close statement).
    pub first: Vec<u8>,
    /// A note.
    pub second: Vec<u8>,
    pub created_at_ms: TimestampMs,
}

/// A stored note with money still held on it (docs/OFFLINE.md, "The loss bound").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldNoteRecord {
    pub purse_id: PurseId,
    pub note: Hash256,
    /// The purse's owner, who owes it.
    pub payer: UserId,
    pub payee: UserId,
    pub amount: i64,
    /// Paid so far (reserve, payer, operator).
    pub paid: i64,
    /// Still owed.
    pub held: i64,
    pub uploaded_at_ms: TimestampMs,
}

/// Revoked purses and device keys (what wallets must refuse offline).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    pub purses: BTreeSet<PurseId>,
    pub devices: BTreeSet<[u8; 32]>,
}

/// A user as the offline code needs it.
#[derive(Debug, Clone)]
pub struct UserRef {
    pub id: UserId,
    pub handle: Handle,
    pub account_id: AccountId,
}

#[async_trait]
pub trait OfflineStore: Send + Sync + 'static {
    /// Registers `public_key` for `user` (idempotent). `DeviceTaken` when another user has it,
    /// `DeviceRevoked` when it was revoked.
    async fn register_device(
        &self,
        user: UserId,
        public_key: [u8; 32],
        now_ms: TimestampMs,
    ) -> Result<Device, OfflineError>;

    /// Loads a purse: wallet -> reserve, stores the purse. Idempotent by (user, key).
    async fn load_purse(&self, request: &LoadRequest, now_ms: TimestampMs) -> Result<LoadedPurse, OfflineError>;

    async fn purse(&self, id: PurseId) -> Result<Option<Purse>, OfflineError>;

    /// The user's purses (all purses when `None`), newest first, at most `limit` (capped).
    async fn purses(&self, user: Option<UserId>, limit: u32) -> Result<Vec<Purse>, OfflineError>;

    /// Settles uploaded notes (at most [`NOTES_MAX`]) in one transaction; one result per note,
    /// in order.
    async fn settle_notes(
        &self,
        uploader: UserId,
        notes: Vec<PaymentNote>,
        now_ms: TimestampMs,
    ) -> Result<Vec<NoteResult>, OfflineError>;

    /// Closes `user`'s purse with a device-signed close statement. Idempotent by (user, key).
    async fn close_purse(
        &self,
        user: UserId,
        close: &CloseStatement,
        key: &IdempotencyKey,
        now_ms: TimestampMs,
    ) -> Result<CloseOutcome, OfflineError>;

    /// Returns the remainder of every purse with `valid_until + grace_secs < now_secs` not yet
    /// expired (at most [`EXPIRE_MAX`] per call).
    async fn expire_purses(
        &self,
        now_secs: UnixTime,
        grace_secs: u64,
        now_ms: TimestampMs,
    ) -> Result<ExpiryOutcome, OfflineError>;

    /// Pays held notes (oldest upload first, at most [`RELEASE_MAX`] per call) from their
    /// payers' balances, as far as the balances go.
    async fn release_held(&self, now_ms: TimestampMs) -> Result<ReleaseOutcome, OfflineError>;

    /// Unfreezes `user` unless it owes held notes (on any of its purses); returns what it owes
    /// (0: unfrozen). One transaction, under the account's lock on PostgreSQL: an upload that
    /// holds a note of the user's meanwhile comes wholly before or after it.
    async fn unfreeze_unless_held(&self, user: UserId) -> Result<i64, OfflineError>;

    /// Revoked device keys, and revoked purses still valid at `now_secs` (a payee refuses a note
    /// of a purse past its `valid_until` anyway, so the list does not grow with every purse ever
    /// revoked). Both read through partial indexes.
    async fn revocations(&self, now_secs: u64) -> Result<RevocationList, OfflineError>;

    /// Notes with money still held on them, oldest upload first, at most `limit` (capped).
    async fn held_notes(&self, limit: u32) -> Result<Vec<HeldNoteRecord>, OfflineError>;

    /// Newest first, at most `limit` (capped).
    /// The payee `user` refused `note` at its counter (`refusal.rs`): never paid from now on, or
    /// what it paid given back to the payer, once; the first outcome answers every later call.
    async fn refuse_note(
        &self,
        user: UserId,
        note: PaymentNote,
        now_ms: TimestampMs,
    ) -> Result<refusal::RefusalOutcome, OfflineError>;

    async fn fraud_proofs(&self, limit: u32) -> Result<Vec<FraudProofRecord>, OfflineError>;
}

mod hex32 {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }
}
