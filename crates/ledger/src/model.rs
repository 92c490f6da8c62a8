//! Records the ledger stores and returns, and the checked reading of stored values back into
//! them (`amount_of`, `account_kind`, ...: a stored value that does not fit is a storage error,
//! never a panic). Times are milliseconds since the Unix epoch, passed in by the caller (the
//! ledger reads no clock, so tests control time).

use crate::error::LedgerError;
use offpay_protocol::{Amount, Handle, Hash256};
use serde::{Deserialize, Serialize};

pub use crate::ids::{AccountId, EntryId, UserId};
/// Milliseconds since the Unix epoch.
pub type TimestampMs = i64;

/// A client-chosen key that makes a mutating request safe to retry: 8 to 128 characters of
/// `A-Z a-z 0-9 - _`. Scoped per user (and per operator for deposits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Option<IdempotencyKey> {
        let ok_len = (8..=128).contains(&text.len());
        let ok_chars = text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (ok_len && ok_chars).then(|| IdempotencyKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an account is for. Exactly one `Funding` and one `FraudLoss` account exist per
/// deployment; every user has one `Wallet`; `Reserve` accounts are the shared one of older purses
/// and one per purse loaded since (docs/LEDGER.md, "One reserve account per purse").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A user's spendable balance. Never negative.
    Wallet,
    /// The operator's account through which money enters and leaves; its balance is minus the
    /// money in the system.
    Funding,
    /// Money set aside for offline purses: a purse's own, or the shared one of older purses.
    Reserve,
    /// Offline fraud the operator absorbed (booked, never silently dropped).
    FraudLoss,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub handle: Handle,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub account_id: AccountId,
    pub frozen: bool,
    pub created_at_ms: TimestampMs,
}

/// Most sessions one account keeps: a new one ends the account's least recently used beyond
/// this, so that logins (each makes a session that lasts up to its absolute expiry) cannot grow
/// the sessions table, and the account's log-out-everywhere, without bound.
pub const SESSIONS_PER_USER: i64 = 100;

/// A login session. Only the SHA-256 of the token is stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: [u8; 32],
    pub user_id: UserId,
    pub created_at_ms: TimestampMs,
    pub last_seen_ms: TimestampMs,
    /// The session ends this long after `last_seen_ms` with no use.
    pub idle_timeout_ms: i64,
    /// The session ends at this time whatever happens.
    pub expires_at_ms: TimestampMs,
}

/// A session token hash as read back from the database (a BLOB/BYTEA column), checked to be 32
/// bytes.
pub(crate) fn token_hash_from_db(bytes: &[u8]) -> Result<[u8; 32], LedgerError> {
    <[u8; 32]>::try_from(bytes).map_err(|e| LedgerError::storage("session token hash", e))
}

impl Session {
    /// True when the session has ended at `now_ms`: idle for `idle_timeout_ms` or more since
    /// `last_seen_ms`, or at or past `expires_at_ms`.
    /// True when `last_seen_ms` is recent enough that a use at `now_ms` need not be written:
    /// within an eighth of the idle timeout, and at most 30 seconds. Skipping those writes keeps
    /// every authenticated request from costing a database commit, at the price of a session
    /// ending up to that much earlier than its exact idle timeout.
    pub fn seen_recently(&self, now_ms: TimestampMs) -> bool {
        let interval_ms = (self.idle_timeout_ms / 8).min(30_000);
        now_ms >= self.last_seen_ms && now_ms - self.last_seen_ms < interval_ms
    }

    pub fn is_expired(&self, now_ms: TimestampMs) -> bool {
        now_ms >= self.expires_at_ms || now_ms >= self.last_seen_ms.saturating_add(self.idle_timeout_ms)
    }
}

/// Failed-login bookkeeping for one throttle key (an account and address, or an address).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginThrottle {
    pub failures: u32,
    /// No login attempt is checked before this time (0: not locked).
    pub locked_until_ms: TimestampMs,
    /// When the last failure was counted (0: never); older failures are forgotten.
    pub last_failure_ms: TimestampMs,
}

/// Most rows of other keys a login call removes, on both backends: forgettable failure rows
/// (`record_login_failure`) and, on PostgreSQL, expired guesses. More than the one row a call
/// adds, so a flood from ever new addresses cannot grow the tables beyond their windows.
pub(crate) const LOGIN_PRUNE_MAX: i64 = 100;

/// The times one recorded login failure writes (both backends compute them here).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FailureRule {
    pub locked_until_ms: TimestampMs,
    /// A previous failure before this is forgotten: the count starts again from 1.
    pub forget_before_ms: TimestampMs,
    /// After this, the row says nothing any more (no lock, failures forgotten) and may go.
    pub forget_at_ms: TimestampMs,
}

impl FailureRule {
    pub(crate) fn new(now_ms: TimestampMs, forget_after_ms: i64, lock_ms: i64) -> Self {
        let locked_until_ms = now_ms.saturating_add(lock_ms.max(0));
        let forget_after_ms = forget_after_ms.max(0);
        FailureRule {
            locked_until_ms,
            forget_before_ms: now_ms.saturating_sub(forget_after_ms),
            forget_at_ms: now_ms.saturating_add(forget_after_ms).max(locked_until_ms),
        }
    }
}

/// The answer of [`crate::Store::take_login_guess`]: a guess from a key's budget, or when the
/// budget has room again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginGuess {
    /// Counted; `id` gives it back with `return_login_guess` (the password was right).
    Granted { id: i64 },
    /// The budget is spent; the oldest guess leaves the window at `retry_at_ms`.
    Refused { retry_at_ms: TimestampMs },
}

/// What kind of journal entry moved the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Operator funding -> user wallet.
    Deposit,
    /// User wallet -> user wallet.
    Transfer,
    /// User wallet -> reserve (an offline purse was loaded).
    PurseLoad,
    /// Reserve -> user wallet (a purse's remainder, at close or expiry).
    PurseReturn,
    /// Reserve (then payer wallet, then fraud loss) -> payee wallet (an offline note settled).
    OfflineSettle,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Deposit => "deposit",
            EntryKind::Transfer => "transfer",
            EntryKind::PurseLoad => "purse_load",
            EntryKind::PurseReturn => "purse_return",
            EntryKind::OfflineSettle => "offline_settle",
        }
    }
}

/// A money movement to perform between two users.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub from: UserId,
    pub to: Handle,
    pub amount: Amount,
    pub idempotency_key: IdempotencyKey,
    /// Free text shown in both histories; at most 140 characters.
    pub memo: Option<String>,
    /// The shop card paid (its 4-byte nonce prefix), when the payer pays a shop's counter: the
    /// payment's receipt is bound to that card in the transfer's own transaction, and the
    /// payee's `money_in` event names it, so that only that counter announces the payment and
    /// takes its receipt (docs/PROTOCOL.md section 16).
    pub card: Option<[u8; 4]>,
}

/// The outcome of a posted journal entry (deposit or transfer), as the caller first saw it. A
/// retry with the same idempotency key returns the same `Posted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub entry_id: EntryId,
    pub kind: EntryKind,
    pub from: Option<Handle>,
    pub to: Handle,
    pub amount: Amount,
    pub created_at_ms: TimestampMs,
    /// True when this result was replayed from an earlier request with the same key.
    #[serde(default)]
    pub replayed: bool,
}

/// A user-to-user transfer as a receipt names it: both parties, the amount and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferEntry {
    pub entry_id: EntryId,
    pub from: UserId,
    pub from_handle: Handle,
    pub to: UserId,
    pub to_handle: Handle,
    pub amount: Amount,
    pub created_at_ms: TimestampMs,
}

/// One line of a user's history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub entry_id: EntryId,
    pub kind: EntryKind,
    /// Change of this user's balance in minor units: negative when money left.
    pub delta: i64,
    /// The other user, when there is one.
    pub counterparty: Option<Handle>,
    pub memo: Option<String>,
    pub created_at_ms: TimestampMs,
    /// For an `offline_settle` entry: the hash of the payment note it pays (one note can be
    /// paid by several entries: at settlement, then from the payer when money held for it is
    /// recovered). Lets a device match the entry to the note it paid or accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Hash256>,
}

/// A live event for one user, kept in the database with a global, increasing sequence number
/// so a client that reconnects can catch up from its cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    pub user_id: UserId,
    /// `money_in`, `money_out`, ...
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at_ms: TimestampMs,
}

impl Event {
    /// The event as the API sends it (`GET /v1/ws`): an error when its kind is not one the API
    /// names or its payload does not have that kind's shape (which the ledger never writes).
    pub fn to_live_event(&self) -> Result<offpay_api::LiveEvent, serde_json::Error> {
        let body: offpay_api::EventBody =
            serde_json::from_value(serde_json::json!({"kind": self.kind, "payload": self.payload}))?;
        Ok(offpay_api::LiveEvent { seq: self.seq, body, created_at_ms: self.created_at_ms })
    }
}

/// A signal that events up to `seq` exist for `user_id`; receivers read the events themselves
/// (notifications carry ids, not rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventNotice {
    pub seq: i64,
    pub user_id: UserId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub id: i64,
    /// `login_failed`, `login_locked`, `rate_limited`, `forbidden`, ...
    pub kind: String,
    pub detail: String,
    pub created_at_ms: TimestampMs,
}

/// The result of `verify`: empty `problems` means the journal chain and every balance check out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub accounts: u64,
    /// Sum over user wallets (and reserve, fraud loss) which must equal minus the funding balance.
    pub money_in_system: i64,
    pub problems: Vec<String>,
}

/// A stored (non-negative) minor-unit count as an [`Amount`].
pub fn amount_of(minor: i64) -> Result<Amount, LedgerError> {
    u64::try_from(minor)
        .ok()
        .and_then(Amount::from_minor)
        .ok_or_else(|| LedgerError::Storage(format!("stored amount {minor} is out of range").into()))
}

pub fn entry_kind(text: &str) -> Result<EntryKind, LedgerError> {
    match text {
        "deposit" => Ok(EntryKind::Deposit),
        "transfer" => Ok(EntryKind::Transfer),
        "purse_load" => Ok(EntryKind::PurseLoad),
        "purse_return" => Ok(EntryKind::PurseReturn),
        "offline_settle" => Ok(EntryKind::OfflineSettle),
        other => Err(LedgerError::Storage(format!("unknown journal entry kind {other:?}").into())),
    }
}

pub fn account_kind(text: &str) -> Result<AccountKind, LedgerError> {
    match text {
        "wallet" => Ok(AccountKind::Wallet),
        "funding" => Ok(AccountKind::Funding),
        "reserve" => Ok(AccountKind::Reserve),
        "fraud_loss" => Ok(AccountKind::FraudLoss),
        other => Err(LedgerError::Storage(format!("unknown account kind {other:?}").into())),
    }
}

pub fn handle_of(text: &str) -> Result<Handle, LedgerError> {
    Handle::parse(text).map_err(|e| LedgerError::storage(format!("stored handle {text:?} is invalid"), e))
}

/// A stored shop card nonce prefix (4 bytes) read back.
pub fn card_prefix(bytes: &[u8]) -> Result<[u8; 4], LedgerError> {
    bytes
        .try_into()
        .map_err(|_| LedgerError::Storage(format!("stored receipt card has {} bytes, not 4", bytes.len()).into()))
}

/// A stored note hash (32 bytes) read back.
pub fn note_hash(bytes: &[u8]) -> Result<Hash256, LedgerError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| LedgerError::Storage(format!("stored note hash has {} bytes, not 32", bytes.len()).into()))?;
    Ok(Hash256::from_bytes(bytes))
}

#[cfg(test)]
mod session_tests {
    use super::{Session, UserId};

    fn session(last_seen_ms: i64, idle_timeout_ms: i64) -> Session {
        Session {
            token_hash: [0; 32],
            user_id: UserId(1),
            created_at_ms: 0,
            last_seen_ms,
            idle_timeout_ms,
            expires_at_ms: i64::MAX,
        }
    }

    #[test]
    fn a_use_soon_after_the_last_is_not_written() {
        let s = session(1_000_000, 30 * 60_000);
        assert!(s.seen_recently(1_000_000));
        assert!(s.seen_recently(1_029_999));
        assert!(!s.seen_recently(1_030_000), "at most 30 s without a write");
        assert!(!s.seen_recently(999_999), "a clock that went back is written");
        // Short idle timeouts: an eighth of it.
        let short = session(0, 800);
        assert!(short.seen_recently(99));
        assert!(!short.seen_recently(100));
    }
}
