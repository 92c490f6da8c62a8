//! The storage interface. Both backends implement it and pass the same conformance suite
//! (`tests/conformance.rs`). Every method that changes money does so in one database
//! transaction: the journal entry, its postings (summing to zero), the balance updates, the
//! idempotency record and the live events commit together or not at all.

use async_trait::async_trait;
use offpay_protocol::{Amount, Handle};
use tokio::sync::broadcast;

use crate::error::LedgerError;
use crate::model::*;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- users --------------------------------------------------------------------------------
    /// Creates a user and their wallet account (balance 0). `HandleTaken` if the handle exists.
    async fn create_user(&self, handle: &Handle, password_hash: &str, now_ms: TimestampMs)
    -> Result<User, LedgerError>;
    async fn user_by_handle(&self, handle: &Handle) -> Result<Option<User>, LedgerError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, LedgerError>;
    /// Freezes or unfreezes a user's account (a frozen account cannot send). `UnknownUser` if
    /// there is no such user.
    async fn set_frozen(&self, user: UserId, frozen: bool) -> Result<(), LedgerError>;

    // --- sessions -----------------------------------------------------------------------------
    async fn create_session(&self, session: &Session) -> Result<(), LedgerError>;
    /// A sign-in's session, created only if the user's password hash is still `checked_hash`,
    /// the one the password was checked against; `false`, nothing created, when a password
    /// change stored another since. A change waiting on the user's row goes first or after as a
    /// whole: a session created before it is ended by it (`end_sessions` changes the hash, then
    /// ends the sessions), one after it is not created. So a sign-in with the old password that
    /// was still on its way never outlives the change.
    async fn create_session_if_password(&self, session: &Session, checked_hash: &str) -> Result<bool, LedgerError>;
    /// The live session with this token hash, after updating `last_seen_ms` to `now_ms`; `None`
    /// when unknown, idle too long or past its absolute expiry (expired rows are deleted).
    async fn touch_session(&self, token_hash: &[u8; 32], now_ms: TimestampMs) -> Result<Option<Session>, LedgerError>;
    /// What every signed-in request needs, in one call: the live session with this token hash
    /// (touched as by [`Store::touch_session`]) and its user. `None` when the session is
    /// unknown or has ended.
    async fn session_user(
        &self,
        token_hash: &[u8; 32],
        now_ms: TimestampMs,
    ) -> Result<Option<(Session, User)>, LedgerError>;
    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), LedgerError>;
    /// Ends every session of `user` except `keep` (log out everywhere: `keep` is `None`), and,
    /// with `new_password_hash`, sets the user's password in the same transaction (a password
    /// change ends every other session). Returns the token hashes of the ended sessions, so the
    /// caller can close their live sockets. `UnknownUser` if there is no such user.
    async fn end_sessions(
        &self,
        user: UserId,
        keep: Option<[u8; 32]>,
        new_password_hash: Option<String>,
    ) -> Result<Vec<[u8; 32]>, LedgerError>;

    // --- login throttling (shared by every server on the database) ---------------------------
    async fn login_throttle(&self, key: &str) -> Result<LoginThrottle, LedgerError>;
    /// Adds a failure (starting again from 1 when the last one was more than `forget_after_ms`
    /// before `now_ms`), sets `last_failure_ms` to `now_ms` and `locked_until_ms` to
    /// `now_ms + lock_ms`; returns the new state. Also removes a bounded number of other keys'
    /// rows that are past both their lock and their own forget-after, so that failures from
    /// addresses that never come back do not pile up (`login_throttle` then reads them as never
    /// failed, which is what they mean by then).
    async fn record_login_failure(
        &self,
        key: &str,
        now_ms: TimestampMs,
        forget_after_ms: i64,
        lock_ms: i64,
    ) -> Result<LoginThrottle, LedgerError>;
    async fn clear_login_failures(&self, key: &str) -> Result<(), LedgerError>;
    /// Takes one guess from `key`'s budget of `limit` guesses per `window_ms` (a sliding window:
    /// each guess counts until `now_ms + window_ms`), atomically: two servers never both get the
    /// last one. Forgets guesses whose window has passed.
    async fn take_login_guess(
        &self,
        key: &str,
        now_ms: TimestampMs,
        window_ms: i64,
        limit: u32,
    ) -> Result<LoginGuess, LedgerError>;
    /// Gives back a guess taken with `take_login_guess` (no effect when it is gone).
    async fn return_login_guess(&self, key: &str, id: i64) -> Result<(), LedgerError>;
    /// Stores a device token (its SHA-256) of `user` from a successful login, keeping at most
    /// `keep` tokens per user (the most recently used).
    async fn create_login_device(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        now_ms: TimestampMs,
        keep: u32,
    ) -> Result<(), LedgerError>;
    /// Counts a login attempt with a device token against the token, atomically, when the token
    /// is `user`'s, was used at or after `used_since_ms` and has fewer than `max_failures`
    /// failures; returns its failures with this attempt, or `None` (not a valid token for this
    /// login: the attempt is an untrusted one).
    async fn take_device_guess(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        used_since_ms: TimestampMs,
        max_failures: u32,
    ) -> Result<Option<u32>, LedgerError>;
    /// The token's owner signed in with it: its failures go back to 0, last use is `now_ms`.
    async fn device_login_succeeded(&self, token_hash: &[u8; 32], now_ms: TimestampMs) -> Result<(), LedgerError>;

    // --- security events ----------------------------------------------------------------------
    async fn record_security_event(&self, kind: &str, detail: &str, now_ms: TimestampMs) -> Result<(), LedgerError>;
    async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, LedgerError>;
    /// Deletes, among the [`crate::SECURITY_FORGET_MAX`] oldest events (by id), those written
    /// before `before_ms`; returns how many. Only the oldest rows are read, so a call costs the
    /// same however large the log is; call again while it returns the maximum.
    async fn forget_security_events(&self, before_ms: TimestampMs) -> Result<u64, LedgerError>;

    // --- money --------------------------------------------------------------------------------
    /// Operator deposit: funding account -> the user's wallet. Idempotent by `key`.
    async fn deposit(
        &self,
        to: &Handle,
        amount: Amount,
        key: &IdempotencyKey,
        now_ms: TimestampMs,
    ) -> Result<Posted, LedgerError>;
    /// User-to-user transfer. Idempotent by (`from`, `idempotency_key`): the same key with the
    /// same request returns the first `Posted` (with `replayed: true`); with a different request
    /// it is `IdempotencyConflict`. Locks both accounts in id order.
    async fn transfer(&self, request: &TransferRequest, now_ms: TimestampMs) -> Result<Posted, LedgerError> {
        Ok(self.transfer_and_balance(request, now_ms).await?.0)
    }
    /// [`Store::transfer`], also returning the sender's balance right after it (for a replay:
    /// the sender's balance now), so that answering a transfer takes one store call.
    async fn transfer_and_balance(
        &self,
        request: &TransferRequest,
        now_ms: TimestampMs,
    ) -> Result<(Posted, Amount), LedgerError>;
    async fn balance(&self, user: UserId) -> Result<Amount, LedgerError>;
    /// Newest first; entries with id < `before` when given; at most `limit` (capped at 200).
    async fn history(&self, user: UserId, before: Option<EntryId>, limit: u32)
    -> Result<Vec<HistoryItem>, LedgerError>;

    // --- live events --------------------------------------------------------------------------
    /// The transfer with this entry id, when `user` sent or received it; `None` when there is no
    /// such entry, it is not a transfer, or `user` is neither party (the same answer for all
    /// three, so an entry id tells nobody else anything).
    async fn transfer_entry(&self, user: UserId, entry_id: EntryId) -> Result<Option<TransferEntry>, LedgerError>;
    /// The shop card (its 4-byte nonce prefix) that the receipts of entry `entry_id` name. With
    /// `bind`, binds that card first when none is bound yet; the first binding stays for good,
    /// whoever asks and however often, so one payment's receipts name one card and can be shown
    /// at one shop counter only (docs/PROTOCOL.md 16.2). Returns the card bound now (`None`:
    /// none). The caller has checked that the entry is a transfer of the asking user.
    async fn receipt_card(
        &self,
        entry_id: EntryId,
        bind: Option<[u8; 4]>,
        now_ms: TimestampMs,
    ) -> Result<Option<[u8; 4]>, LedgerError>;
    /// This user's events with `seq > after`, oldest first, at most `limit`.
    async fn events_after(&self, user: UserId, after: i64, limit: u32) -> Result<Vec<Event>, LedgerError>;
    /// The newest event sequence number (0 when none).
    async fn latest_event_seq(&self) -> Result<i64, LedgerError>;
    /// Notices of new events committed by *any* process sharing this database.
    fn subscribe(&self) -> broadcast::Receiver<EventNotice>;

    // --- audit --------------------------------------------------------------------------------
    /// Recomputes the journal hash chain, checks every entry's postings sum to zero, recomputes
    /// every balance from the postings and compares; reports each mismatch.
    async fn verify(&self) -> Result<VerifyReport, LedgerError>;

    /// `"sqlite"` or `"postgres"` (for health checks and logs).
    fn backend(&self) -> &'static str;

    /// The offline purses and settlement of this store (same database).
    fn offline(&self) -> &dyn crate::offline::OfflineStore;
}
