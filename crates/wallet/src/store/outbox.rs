//! The outbox of online sends: each send is written here, with a fresh random idempotency key,
//! *before* the request goes to the server, and marked `done` or `failed` once the server gives
//! a definitive answer. A send that timed out or crashed stays `pending`; the next identical
//! send (same server, account, payee, amount and memo) reuses its key, so the server replays
//! the first outcome instead of moving the money twice.

use offpay_protocol::{Amount, Handle};
use rand::RngCore;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{Store, StoreError};

/// Where a send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Written; the server's answer is not known yet.
    Pending,
    /// The server posted it (or replayed an earlier posting).
    Done,
    /// The server refused it; no money moved.
    Failed,
}

impl OutboxState {
    fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Done => "done",
            OutboxState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<OutboxState> {
        match text {
            "pending" => Some(OutboxState::Pending),
            "done" => Some(OutboxState::Done),
            "failed" => Some(OutboxState::Failed),
            _ => None,
        }
    }
}

/// A send ready to go to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSend {
    pub idempotency_key: String,
    /// True when the key comes from an earlier attempt that got no definitive answer.
    pub reused: bool,
}

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub idempotency_key: String,
    pub server: String,
    pub account: String,
    pub to: String,
    pub amount: Amount,
    pub memo: Option<String>,
    pub state: OutboxState,
    pub attempts: u32,
    pub entry_id: Option<i64>,
    pub failure_code: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A fresh idempotency key: 128 random bits as 32 lower-case hex characters.
pub fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

const COLUMNS: &str = "idempotency_key, server, account, to_handle, amount, memo, state, attempts, \
                       entry_id, failure_code, created_at_ms, updated_at_ms";

impl Store {
    /// Prepares a send: reuses the key of a pending identical send if there is one, otherwise
    /// records a new pending send with a fresh key. Durable when it returns.
    pub fn outbox_prepare(
        &mut self,
        server: &str,
        account: &Handle,
        to: &Handle,
        amount: Amount,
        memo: Option<&str>,
        now_ms: i64,
    ) -> Result<PendingSend, StoreError> {
        let amount_sql = amount_to_sql(amount)?;
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT idempotency_key FROM outbox
                 WHERE state = 'pending' AND server = ?1 AND account = ?2 AND to_handle = ?3
                   AND amount = ?4 AND memo IS ?5
                 ORDER BY id LIMIT 1",
                params![server, account.as_str(), to.as_str(), amount_sql, memo],
                |row| row.get(0),
            )
            .optional()?;
        let pending = match existing {
            Some(key) => {
                tx.execute(
                    "UPDATE outbox SET attempts = attempts + 1, updated_at_ms = ?2 WHERE idempotency_key = ?1",
                    params![key, now_ms],
                )?;
                PendingSend { idempotency_key: key, reused: true }
            }
            None => {
                let key = new_idempotency_key();
                tx.execute(
                    "INSERT INTO outbox (idempotency_key, server, account, to_handle, amount, memo, state,
                                         attempts, created_at_ms, updated_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 1, ?7, ?7)",
                    params![key, server, account.as_str(), to.as_str(), amount_sql, memo, now_ms],
                )?;
                PendingSend { idempotency_key: key, reused: false }
            }
        };
        tx.commit()?;
        Ok(pending)
    }

    /// Records that the server posted the send as journal entry `entry_id`.
    pub fn outbox_mark_done(&mut self, key: &str, entry_id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET state = 'done', entry_id = ?2, failure_code = NULL, updated_at_ms = ?3
             WHERE idempotency_key = ?1",
            params![key, entry_id, now_ms],
        )?;
        Ok(())
    }

    /// Records that the server refused the send with error `code` (no money moved).
    pub fn outbox_mark_failed(&mut self, key: &str, code: &str, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET state = 'failed', failure_code = ?2, updated_at_ms = ?3
             WHERE idempotency_key = ?1 AND state = 'pending'",
            params![key, code, now_ms],
        )?;
        Ok(())
    }

    /// One outbox entry by key.
    pub fn outbox_entry(&self, key: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE idempotency_key = ?1");
        let raw = self.conn().query_row(&sql, [key], RawEntry::from_row).optional()?;
        raw.map(RawEntry::into_entry).transpose()
    }

    /// Every send still waiting for a definitive answer, oldest first (for a later sync step).
    pub fn outbox_pending(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE state = 'pending' ORDER BY id");
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], RawEntry::from_row)?;
        let mut out = Vec::new();
        for raw in rows {
            out.push(raw?.into_entry()?);
        }
        Ok(out)
    }
}

fn amount_to_sql(amount: Amount) -> Result<i64, StoreError> {
    i64::try_from(amount.minor()).map_err(|_| StoreError::BadValue { key: "amount".into(), value: amount.minor().to_string() })
}

/// A row as SQLite returns it, before its values are checked.
struct RawEntry {
    key: String,
    server: String,
    account: String,
    to: String,
    amount: i64,
    memo: Option<String>,
    state: String,
    attempts: i64,
    entry_id: Option<i64>,
    failure_code: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl RawEntry {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawEntry> {
        Ok(RawEntry {
            key: row.get(0)?,
            server: row.get(1)?,
            account: row.get(2)?,
            to: row.get(3)?,
            amount: row.get(4)?,
            memo: row.get(5)?,
            state: row.get(6)?,
            attempts: row.get(7)?,
            entry_id: row.get(8)?,
            failure_code: row.get(9)?,
            created_at_ms: row.get(10)?,
            updated_at_ms: row.get(11)?,
        })
    }

    fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        let bad = |key: &str, value: String| StoreError::BadValue { key: key.into(), value };
        let amount = u64::try_from(self.amount)
            .ok()
            .and_then(Amount::from_minor)
            .ok_or_else(|| bad("outbox.amount", self.amount.to_string()))?;
        let state = OutboxState::parse(&self.state).ok_or_else(|| bad("outbox.state", self.state.clone()))?;
        Ok(OutboxEntry {
            idempotency_key: self.key,
            server: self.server,
            account: self.account,
            to: self.to,
            amount,
            memo: self.memo,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            entry_id: self.entry_id,
            failure_code: self.failure_code,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

impl OutboxEntry {
    /// The state as stored (`pending`, `done`, `failed`).
    pub fn state_str(&self) -> &'static str {
        self.state.as_str()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SERVER: &str = "http://127.0.0.1:8080";

    fn h(s: &str) -> Handle {
        Handle::parse(s).unwrap()
    }

    fn amt(minor: u64) -> Amount {
        Amount::from_minor(minor).unwrap()
    }

    #[test]
    fn keys_are_32_hex_and_distinct() {
        let a = new_idempotency_key();
        let b = new_idempotency_key();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn pending_identical_send_reuses_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(25_000), Some("lunch"), 1).unwrap();
        assert!(!first.reused);
        // The process dies here; a new process opens the store and sends again.
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        let second = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(25_000), Some("lunch"), 2).unwrap();
        assert!(second.reused);
        assert_eq!(second.idempotency_key, first.idempotency_key);
        let entry = store.outbox_entry(&first.idempotency_key).unwrap().unwrap();
        assert_eq!(entry.attempts, 2);
        assert_eq!(entry.state, OutboxState::Pending);
        assert_eq!(entry.updated_at_ms, 2);
        assert_eq!(store.outbox_pending().unwrap().len(), 1);
    }

    #[test]
    fn different_sends_get_different_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let base = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(100), None, 1).unwrap();
        let variants = [
            store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(101), None, 1).unwrap(),
            store.outbox_prepare(SERVER, &h("alice"), &h("carol"), amt(100), None, 1).unwrap(),
            store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(100), Some("x"), 1).unwrap(),
            store.outbox_prepare(SERVER, &h("dave"), &h("bob"), amt(100), None, 1).unwrap(),
            store.outbox_prepare("http://elsewhere:1", &h("alice"), &h("bob"), amt(100), None, 1).unwrap(),
        ];
        for v in &variants {
            assert!(!v.reused);
            assert_ne!(v.idempotency_key, base.idempotency_key);
        }
        // A memo-less identical send still finds the memo-less one (NULL-safe comparison).
        let again = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(100), None, 1).unwrap();
        assert_eq!(again.idempotency_key, base.idempotency_key);
    }

    #[test]
    fn resolved_sends_are_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(100), None, 1).unwrap();
        store.outbox_mark_done(&first.idempotency_key, 7, 2).unwrap();
        let done = store.outbox_entry(&first.idempotency_key).unwrap().unwrap();
        assert_eq!((done.state, done.entry_id), (OutboxState::Done, Some(7)));

        let second = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(100), None, 3).unwrap();
        assert!(!second.reused);
        assert_ne!(second.idempotency_key, first.idempotency_key);
        store.outbox_mark_failed(&second.idempotency_key, "insufficient_funds", 4).unwrap();
        let failed = store.outbox_entry(&second.idempotency_key).unwrap().unwrap();
        assert_eq!(failed.state, OutboxState::Failed);
        assert_eq!(failed.failure_code.as_deref(), Some("insufficient_funds"));

        let third = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(100), None, 5).unwrap();
        assert!(!third.reused);
        assert!(store.outbox_pending().unwrap().iter().all(|e| e.idempotency_key == third.idempotency_key));
    }

    #[test]
    fn a_done_send_is_never_marked_failed_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let p = store.outbox_prepare(SERVER, &h("alice"), &h("bob"), amt(100), None, 1).unwrap();
        store.outbox_mark_done(&p.idempotency_key, 9, 2).unwrap();
        store.outbox_mark_failed(&p.idempotency_key, "internal", 3).unwrap();
        assert_eq!(store.outbox_entry(&p.idempotency_key).unwrap().unwrap().state, OutboxState::Done);
    }
}
