//! SQLite reads: a small pool of read-only connections used from `spawn_blocking`, and the
//! read queries (also used by the writer thread, which passes its own connection). In WAL mode
//! readers never block the writer and always see the last committed batch.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use offpay_protocol::{Amount, Handle};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use super::schema::configure;
use crate::chain::{EntryFields, PostingFields};
use crate::error::LedgerError;
use crate::model::*;
use crate::model::{amount_of, card_prefix, entry_kind, handle_of, note_hash};
use crate::verify::{StoredAccount, Verifier};

/// Read connections open at once. Reads beyond this wait for a connection instead of opening
/// a new one (opening means parsing the schema and preparing statements again: measured as the
/// largest cost of a transfer under load when connections were opened and closed freely).
const READERS_MAX: usize = 8;

/// A pool of read connections to one database file.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

impl Readers {
    pub fn new(path: PathBuf) -> Arc<Readers> {
        Arc::new(Readers { path, idle: Mutex::new(Vec::new()), permits: tokio::sync::Semaphore::new(READERS_MAX) })
    }

    fn take(&self) -> Result<Connection, LedgerError> {
        let pooled = self.idle.lock().map_err(|_| LedgerError::Storage("reader pool poisoned".into()))?.pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                configure(&conn)?;
                conn.pragma_update(None, "query_only", "ON")?;
                // Every read's statements stay prepared (`configure` keeps them from being
                // re-prepared on each bind).
                conn.set_prepared_statement_cache_capacity(64);
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < READERS_MAX
        {
            idle.push(conn);
        }
    }

    /// Runs a read of one or a few rows found by a key (the session of a request, a balance) on
    /// the calling thread. On a warm page cache such a read takes microseconds, less than
    /// handing it to a blocking thread and waiting for the answer: with every transfer's
    /// session read done here, transfers over HTTP ran 16-18% faster (docs/PERFORMANCE.md, "The
    /// writer without a savepoint per command"). Anything that may read many rows (history,
    /// audits, `verify`) goes through [`Readers::read`].
    pub async fn read_by_key<T, F>(self: &Arc<Self>, work: F) -> Result<T, LedgerError>
    where
        F: FnOnce(&Connection) -> Result<T, LedgerError>,
    {
        let _permit = self.permits.acquire().await.map_err(|_| LedgerError::Storage("reader pool closed".into()))?;
        self.with_connection(work)
    }

    /// Runs `work` on a read connection off the async threads.
    pub async fn read<T, F>(self: &Arc<Self>, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| LedgerError::Storage("reader pool closed".into()))?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || readers.with_connection(work))
            .await
            .map_err(|e| LedgerError::storage("sqlite read task failed", e))?
    }

    /// Runs `work` on a pooled connection (the caller holds a permit), and puts the connection
    /// back unless `work` left a transaction open on it.
    fn with_connection<T>(&self, work: impl FnOnce(&Connection) -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let conn = self.take()?;
        let result = work(&conn);
        if conn.is_autocommit() {
            self.give_back(conn);
        }
        result
    }
}

/// A session from a row whose columns from `first` on are `user_id, created_at_ms, last_seen_ms,
/// idle_timeout_ms, expires_at_ms`.
pub fn session_from_row(r: &rusqlite::Row<'_>, token_hash: &[u8; 32], first: usize) -> rusqlite::Result<Session> {
    Ok(Session {
        token_hash: *token_hash,
        user_id: r.get(first)?,
        created_at_ms: r.get(first + 1)?,
        last_seen_ms: r.get(first + 2)?,
        idle_timeout_ms: r.get(first + 3)?,
        expires_at_ms: r.get(first + 4)?,
    })
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<(UserId, String, String, AccountId, bool, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn to_user(row: (UserId, String, String, AccountId, bool, i64)) -> Result<User, LedgerError> {
    let (id, handle, password_hash, account_id, frozen, created_at_ms) = row;
    Ok(User { id, handle: handle_of(&handle)?, password_hash, account_id, frozen, created_at_ms })
}

const USER_COLUMNS: &str = "id, handle, password_hash, account_id, frozen, created_at_ms";

pub fn user_by_id(conn: &Connection, id: UserId) -> Result<Option<User>, LedgerError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    conn.prepare_cached(&sql)?.query_row([id], user_from_row).optional()?.map(to_user).transpose()
}

/// The stored session with this token hash and its user, as they are (no expiry check, no
/// write): the one read of a signed-in request.
pub fn session_user(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<(Session, User)>, LedgerError> {
    const SQL: &str = "SELECT u.id, u.handle, u.password_hash, u.account_id, u.frozen, u.created_at_ms,
            s.user_id, s.created_at_ms, s.last_seen_ms, s.idle_timeout_ms, s.expires_at_ms
        FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1";
    let found = conn
        .prepare_cached(SQL)?
        .query_row([&token_hash[..]], |r| Ok((session_from_row(r, token_hash, 6)?, user_from_row(r)?)))
        .optional()?;
    found.map(|(session, user)| Ok((session, to_user(user)?))).transpose()
}

pub fn user_by_handle(conn: &Connection, handle: &Handle) -> Result<Option<User>, LedgerError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE handle = ?1");
    conn.prepare_cached(&sql)?.query_row([handle.as_str()], user_from_row).optional()?.map(to_user).transpose()
}

/// The `Posted` of a committed entry (for idempotent replays).
pub fn posted_by_entry(conn: &Connection, entry_id: EntryId) -> Result<Posted, LedgerError> {
    let (kind, amount, created_at_ms, from, to): (String, i64, i64, Option<String>, String) = conn
        .prepare_cached(
            "SELECT j.kind, j.amount, j.created_at_ms, f.handle, t.handle
             FROM journal j LEFT JOIN users f ON f.id = j.from_user JOIN users t ON t.id = j.to_user
             WHERE j.id = ?1",
        )?
        .query_row([entry_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
    Ok(Posted {
        entry_id,
        kind: entry_kind(&kind)?,
        from: from.as_deref().map(handle_of).transpose()?,
        to: handle_of(&to)?,
        amount: amount_of(amount)?,
        created_at_ms,
        replayed: false,
    })
}

pub fn login_throttle(conn: &Connection, key: &str) -> Result<LoginThrottle, LedgerError> {
    let row: Option<(i64, i64, i64)> = conn
        .prepare_cached("SELECT failures, locked_until_ms, last_failure_ms FROM login_throttle WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row
        .map(|(failures, locked_until_ms, last_failure_ms)| LoginThrottle {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            locked_until_ms,
            last_failure_ms,
        })
        .unwrap_or_default())
}

pub fn security_events(conn: &Connection, limit: u32) -> Result<Vec<SecurityEvent>, LedgerError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, kind, detail, created_at_ms FROM security_events ORDER BY id DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit.min(crate::SECURITY_EVENTS_MAX)], |r| {
        Ok(SecurityEvent { id: r.get(0)?, kind: r.get(1)?, detail: r.get(2)?, created_at_ms: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn balance(conn: &Connection, user: UserId) -> Result<Amount, LedgerError> {
    let balance: Option<i64> = conn
        .prepare_cached("SELECT a.balance FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?;
    amount_of(balance.ok_or(LedgerError::UnknownUser)?)
}

/// The card bound to the receipts of `entry_id`, if any (`Store::receipt_card`).
pub fn receipt_card(conn: &Connection, entry_id: EntryId) -> Result<Option<[u8; 4]>, LedgerError> {
    let card: Option<Vec<u8>> = conn
        .prepare_cached("SELECT card FROM receipt_cards WHERE entry_id = ?1")?
        .query_row([entry_id], |r| r.get(0))
        .optional()?;
    card.map(|c| card_prefix(&c)).transpose()
}

pub fn transfer_entry(
    conn: &Connection,
    user: UserId,
    entry_id: EntryId,
) -> Result<Option<TransferEntry>, LedgerError> {
    let row = conn
        .prepare_cached(
            "SELECT j.from_user, f.handle, j.to_user, t.handle, j.amount, j.created_at_ms
         FROM journal j JOIN users f ON f.id = j.from_user JOIN users t ON t.id = j.to_user
         WHERE j.id = ?1 AND j.kind = 'transfer' AND (j.from_user = ?2 OR j.to_user = ?2)",
        )?
        .query_row(params![entry_id, user], |r| {
            Ok((
                r.get::<_, UserId>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, UserId>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    let Some((from, from_handle, to, to_handle, amount, created_at_ms)) = row else { return Ok(None) };
    Ok(Some(TransferEntry {
        entry_id,
        from,
        from_handle: handle_of(&from_handle)?,
        to,
        to_handle: handle_of(&to_handle)?,
        amount: amount_of(amount)?,
        created_at_ms,
    }))
}

pub fn history(
    conn: &Connection,
    user: UserId,
    before: Option<EntryId>,
    limit: u32,
) -> Result<Vec<HistoryItem>, LedgerError> {
    let account: Option<i64> = conn
        .prepare_cached("SELECT account_id FROM users WHERE id = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?;
    let account = account.ok_or(LedgerError::UnknownUser)?;
    let mut stmt = conn.prepare_cached(
        "SELECT j.id, j.kind, p.delta, c.handle, j.memo, j.created_at_ms, j.note
         FROM postings p JOIN journal j ON j.id = p.entry_id
         LEFT JOIN users c ON c.id = (CASE WHEN j.from_user = ?1 THEN j.to_user ELSE j.from_user END)
         WHERE p.account_id = ?2 AND p.entry_id < ?3
         ORDER BY p.entry_id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![user, account, before.unwrap_or(EntryId(i64::MAX)), limit.min(crate::HISTORY_MAX)],
        |r| {
            Ok((
                r.get::<_, EntryId>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get::<_, Option<Vec<u8>>>(6)?,
            ))
        },
    )?;
    let mut items = Vec::new();
    for row in rows {
        let (entry_id, kind, delta, counterparty, memo, created_at_ms, note) = row?;
        items.push(HistoryItem {
            entry_id,
            kind: entry_kind(&kind)?,
            delta,
            counterparty: counterparty.as_deref().map(handle_of).transpose()?,
            memo,
            created_at_ms,
            note: note.as_deref().map(note_hash).transpose()?,
        });
    }
    Ok(items)
}

pub fn events_after(conn: &Connection, user: UserId, after: i64, limit: u32) -> Result<Vec<Event>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, payload, created_at_ms FROM events WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![user, after, limit.min(crate::EVENTS_MAX)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, kind, payload, created_at_ms) = row?;
        let payload =
            serde_json::from_str(&payload).map_err(|e| LedgerError::storage(format!("event {seq}: bad payload"), e))?;
        events.push(Event { seq, user_id: user, kind, payload, created_at_ms });
    }
    Ok(events)
}

pub fn latest_event_seq(conn: &Connection) -> Result<i64, LedgerError> {
    Ok(conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?.query_row([], |r| r.get(0))?)
}

/// The whole audit, in one read transaction (one consistent snapshot).
pub fn verify(conn: &Connection) -> Result<VerifyReport, LedgerError> {
    conn.execute_batch("BEGIN")?;
    let result = verify_in_snapshot(conn);
    conn.execute_batch("COMMIT")?;
    result
}

fn verify_in_snapshot(conn: &Connection) -> Result<VerifyReport, LedgerError> {
    let mut stmt = conn.prepare("SELECT id, kind, balance, head FROM accounts ORDER BY id")?;
    let accounts = stmt
        .query_map([], |r| Ok(StoredAccount { id: r.get(0)?, kind: r.get(1)?, balance: r.get(2)?, head: r.get(3)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut verifier = Verifier::new(accounts);
    let mut stmt = conn.prepare(
        "SELECT j.id, j.kind, j.amount, j.memo, j.from_user, j.to_user, j.created_at_ms, j.hash,
                p.account_id, p.delta, p.prev_hash
         FROM journal j LEFT JOIN postings p ON p.entry_id = j.id
         ORDER BY j.id, p.account_id",
    )?;
    let mut rows = stmt.query([])?;
    let mut current: Option<(EntryFields, Vec<u8>, Vec<PostingFields>)> = None;
    while let Some(r) = rows.next()? {
        let id: EntryId = r.get(0)?;
        if current.as_ref().is_none_or(|(e, _, _)| e.id != id) {
            if let Some((e, h, p)) = current.take() {
                verifier.entry(&e, &h, &p);
            }
            let entry = EntryFields {
                id,
                kind: r.get(1)?,
                amount: r.get(2)?,
                memo: r.get(3)?,
                from_user: r.get(4)?,
                to_user: r.get(5)?,
                created_at_ms: r.get(6)?,
            };
            current = Some((entry, r.get(7)?, Vec::new()));
        }
        let account: Option<AccountId> = r.get(8)?;
        if let (Some(account_id), Some((_, _, postings))) = (account, current.as_mut()) {
            postings.push(PostingFields { account_id, delta: r.get(9)?, prev_hash: r.get(10)? });
        }
    }
    if let Some((e, h, p)) = current.take() {
        verifier.entry(&e, &h, &p);
    }
    let orphans: i64 =
        conn.query_row("SELECT count(*) FROM postings WHERE entry_id NOT IN (SELECT id FROM journal)", [], |r| {
            r.get(0)
        })?;
    verifier.orphan_postings(u64::try_from(orphans).unwrap_or(0));
    let mut report = verifier.finish();
    report.problems.extend(super::offline::audit(conn)?);
    Ok(report)
}
