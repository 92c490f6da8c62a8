//! The SQLite write commands. Each runs on the writer thread inside the batch transaction, so
//! it sees every earlier command of the batch, and can be refused without affecting them
//! (`writer.rs` undoes a refused command's writes; refusing before writing is cheapest). The
//! writer is the only writer, so "read, check, write" here is race-free without further locking:
//! the account rows are effectively locked for the whole batch, and commands apply one after
//! another in queue order.

use offpay_protocol::{Amount, Handle};
use rusqlite::{Connection, OptionalExtension, params};

use super::reads::{posted_by_entry, session_from_row};
use super::schema::FUNDING_ACCOUNT;
use crate::error::LedgerError;
use crate::model::*;
use crate::plan::{
    self, LockedAccount, OPERATOR_SCOPE, Party, Plan, check_amount, deposit_fingerprint, plan_deposit, plan_transfer,
    transfer_fingerprint, user_scope,
};

pub fn create_user(
    conn: &Connection,
    handle: &Handle,
    password_hash: &str,
    now_ms: TimestampMs,
) -> Result<User, LedgerError> {
    let taken: Option<i64> = conn
        .prepare_cached("SELECT id FROM users WHERE handle = ?1")?
        .query_row([handle.as_str()], |r| r.get(0))
        .optional()?;
    if taken.is_some() {
        return Err(LedgerError::HandleTaken);
    }
    conn.prepare_cached(
        "INSERT INTO accounts (kind, balance, head, created_at_ms) VALUES ('wallet', 0, zeroblob(32), ?1)",
    )?
    .execute([now_ms])?;
    let account_id = AccountId(conn.last_insert_rowid());
    conn.prepare_cached(
        "INSERT INTO users (handle, password_hash, account_id, frozen, created_at_ms) VALUES (?1, ?2, ?3, 0, ?4)",
    )?
    .execute(params![handle.as_str(), password_hash, account_id, now_ms])?;
    let id = UserId(conn.last_insert_rowid());
    Ok(User {
        id,
        handle: handle.clone(),
        password_hash: password_hash.to_string(),
        account_id,
        frozen: false,
        created_at_ms: now_ms,
    })
}

pub fn set_frozen(conn: &Connection, user: UserId, frozen: bool) -> Result<(), LedgerError> {
    let n = conn.prepare_cached("UPDATE users SET frozen = ?2 WHERE id = ?1")?.execute(params![user, frozen])?;
    if n == 0 { Err(LedgerError::UnknownUser) } else { Ok(()) }
}

pub fn create_session(conn: &Connection, s: &Session) -> Result<(), LedgerError> {
    // Housekeeping: sessions past their absolute expiry can go (indexed).
    conn.prepare_cached("DELETE FROM sessions WHERE expires_at_ms <= ?1")?.execute([s.created_at_ms])?;
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, user_id, created_at_ms, last_seen_ms, idle_timeout_ms, expires_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        &s.token_hash[..],
        s.user_id,
        s.created_at_ms,
        s.last_seen_ms,
        s.idle_timeout_ms,
        s.expires_at_ms
    ])?;
    // At most SESSIONS_PER_USER per account: the least recently used beyond go (by sessions_by_user).
    conn.prepare_cached(
        "DELETE FROM sessions WHERE token_hash IN
           (SELECT token_hash FROM sessions WHERE user_id = ?1
            ORDER BY last_seen_ms DESC, created_at_ms DESC, token_hash LIMIT -1 OFFSET ?2)",
    )?
    .execute(params![s.user_id, crate::model::SESSIONS_PER_USER])?;
    Ok(())
}

/// [`create_session`] only while `session`'s user still has the password hash `checked_hash`
/// (`Store::create_session_if_password`); the writer is alone, so the hash read here cannot
/// change before the insert.
pub fn create_session_if_password(
    conn: &Connection,
    session: &Session,
    checked_hash: &str,
) -> Result<bool, LedgerError> {
    let user = super::reads::user_by_id(conn, session.user_id)?;
    if user.is_none_or(|u| u.password_hash != checked_hash) {
        return Ok(false);
    }
    create_session(conn, session)?;
    Ok(true)
}

/// The stored session with this token hash, as it is (no expiry check, no write).
pub fn session(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<Session>, LedgerError> {
    let row = conn
        .prepare_cached(
            "SELECT user_id, created_at_ms, last_seen_ms, idle_timeout_ms, expires_at_ms FROM sessions WHERE token_hash = ?1",
        )?
        .query_row([&token_hash[..]], |r| session_from_row(r, token_hash, 0))
        .optional()?;
    Ok(row)
}

pub fn touch_session(
    conn: &Connection,
    token_hash: &[u8; 32],
    now_ms: TimestampMs,
) -> Result<Option<Session>, LedgerError> {
    let Some(mut session) = session(conn, token_hash)? else {
        return Ok(None);
    };
    if session.is_expired(now_ms) {
        conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?.execute([&token_hash[..]])?;
        return Ok(None);
    }
    session.last_seen_ms = session.last_seen_ms.max(now_ms);
    conn.prepare_cached("UPDATE sessions SET last_seen_ms = ?2 WHERE token_hash = ?1")?
        .execute(params![&token_hash[..], session.last_seen_ms])?;
    Ok(Some(session))
}

pub fn delete_session(conn: &Connection, token_hash: &[u8; 32]) -> Result<(), LedgerError> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?.execute([&token_hash[..]])?;
    Ok(())
}

/// See [`crate::Store::end_sessions`].
pub fn end_sessions(
    conn: &Connection,
    user: UserId,
    keep: Option<[u8; 32]>,
    new_password_hash: Option<&str>,
) -> Result<Vec<[u8; 32]>, LedgerError> {
    if let Some(hash) = new_password_hash {
        let changed = conn
            .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
            .execute(rusqlite::params![user, hash])?;
        if changed == 0 {
            return Err(LedgerError::UnknownUser);
        }
    }
    let keep = keep.map(|k| k.to_vec()).unwrap_or_default();
    let mut stmt =
        conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2 RETURNING token_hash")?;
    let rows = stmt.query_map(rusqlite::params![user, keep], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|row| token_hash_from_db(&row?)).collect()
}

/// Binds `card` to the receipts of `entry_id` unless a card is bound already; returns the card
/// bound now (`Store::receipt_card`).
pub fn bind_receipt_card(
    conn: &Connection,
    entry_id: EntryId,
    card: [u8; 4],
    now_ms: TimestampMs,
) -> Result<Option<[u8; 4]>, LedgerError> {
    conn.prepare_cached(
        "INSERT INTO receipt_cards (entry_id, card, created_at_ms) VALUES (?1, ?2, ?3) ON CONFLICT (entry_id) DO NOTHING",
    )?
    .execute(params![entry_id, &card[..], now_ms])?;
    super::reads::receipt_card(conn, entry_id)
}

pub fn clear_login_failures(conn: &Connection, key: &str) -> Result<(), LedgerError> {
    conn.prepare_cached("DELETE FROM login_throttle WHERE key = ?1")?.execute([key])?;
    Ok(())
}

pub fn record_security_event(
    conn: &Connection,
    kind: &str,
    detail: &str,
    now_ms: TimestampMs,
) -> Result<(), LedgerError> {
    conn.prepare_cached("INSERT INTO security_events (kind, detail, created_at_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![kind, detail, now_ms])?;
    Ok(())
}

/// See [`crate::Store::forget_security_events`].
pub fn forget_security_events(conn: &Connection, before_ms: TimestampMs) -> Result<u64, LedgerError> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM security_events WHERE id IN (
                SELECT id FROM (SELECT id, created_at_ms FROM security_events ORDER BY id LIMIT ?2)
                WHERE created_at_ms < ?1)",
        )?
        .execute(params![before_ms, crate::SECURITY_FORGET_MAX])?;
    Ok(deleted as u64)
}

/// What an earlier request with (scope, key) left: `None` when the key is new, its stored value
/// when the earlier request had the same fingerprint, `IdempotencyConflict` otherwise. `select`
/// reads `request_hash` and the value for `?1` = scope, `?2` = key (the online `idempotency`
/// table keeps an entry id, the offline one a response).
pub(super) fn earlier_result<T: rusqlite::types::FromSql>(
    conn: &Connection,
    select: &str,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
) -> Result<Option<T>, LedgerError> {
    let row: Option<(Vec<u8>, T)> =
        conn.prepare_cached(select)?.query_row([scope, key.as_str()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    match row {
        None => Ok(None),
        Some((hash, _)) if hash.as_slice() != fingerprint.as_slice() => Err(LedgerError::IdempotencyConflict),
        Some((_, value)) => Ok(Some(value)),
    }
}

/// `Some(result)` when the key was used before: a replay, or a conflict.
fn replay(
    conn: &Connection,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
) -> Result<Option<Posted>, LedgerError> {
    const SELECT: &str = "SELECT request_hash, entry_id FROM idempotency WHERE scope = ?1 AND key = ?2";
    let Some(entry_id) = earlier_result::<EntryId>(conn, SELECT, scope, key, fingerprint)? else {
        return Ok(None);
    };
    let mut posted = posted_by_entry(conn, entry_id)?;
    posted.replayed = true;
    Ok(Some(posted))
}

fn locked_account(conn: &Connection, account_id: AccountId) -> Result<LockedAccount, LedgerError> {
    let (kind, balance, head): (String, i64, Vec<u8>) = conn
        .prepare_cached("SELECT kind, balance, head FROM accounts WHERE id = ?1")?
        .query_row([account_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(LockedAccount { account_id, kind: crate::model::account_kind(&kind)?, balance, head })
}

/// A user with their account row and frozen flag, found by id or by handle in one query.
fn party(conn: &Connection, by: PartyKey<'_>) -> Result<Option<(Party, bool)>, LedgerError> {
    const COLUMNS: &str = "SELECT u.id, u.handle, u.frozen, a.id, a.kind, a.balance, a.head
        FROM users u JOIN accounts a ON a.id = u.account_id";
    let row = |r: &rusqlite::Row<'_>| {
        Ok((
            r.get::<_, UserId>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, AccountId>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Vec<u8>>(6)?,
        ))
    };
    let found = match by {
        PartyKey::Id(id) => {
            conn.prepare_cached(&format!("{COLUMNS} WHERE u.id = ?1"))?.query_row([id], row).optional()?
        }
        PartyKey::Handle(handle) => conn
            .prepare_cached(&format!("{COLUMNS} WHERE u.handle = ?1"))?
            .query_row([handle.as_str()], row)
            .optional()?,
    };
    let Some((user_id, handle, frozen, account_id, kind, balance, head)) = found else {
        return Ok(None);
    };
    let party = Party {
        user_id,
        handle: crate::model::handle_of(&handle)?,
        account: LockedAccount { account_id, kind: crate::model::account_kind(&kind)?, balance, head },
    };
    Ok(Some((party, frozen)))
}

#[derive(Clone, Copy)]
enum PartyKey<'a> {
    Id(UserId),
    Handle(&'a Handle),
}

fn next_entry_id(conn: &Connection) -> Result<EntryId, LedgerError> {
    Ok(conn.prepare_cached("SELECT coalesce(max(id), 0) + 1 FROM journal")?.query_row([], |r| r.get(0))?)
}

/// Writes a planned entry, its idempotency record and its events.
fn write_plan(
    conn: &Connection,
    plan: &Plan,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
    notices: &mut Vec<EventNotice>,
) -> Result<(), LedgerError> {
    let e = &plan.entry;
    let now = e.created_at_ms;
    conn.prepare_cached(
        "INSERT INTO journal (id, kind, amount, memo, from_user, to_user, created_at_ms, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![e.id, e.kind, e.amount, e.memo, e.from_user, e.to_user, now, &plan.hash[..]])?;
    let mut insert_posting =
        conn.prepare_cached("INSERT INTO postings (entry_id, account_id, delta, prev_hash) VALUES (?1, ?2, ?3, ?4)")?;
    for p in &plan.postings {
        insert_posting.execute(params![e.id, p.account_id, p.delta, p.prev_hash])?;
    }
    let mut update_account = conn.prepare_cached("UPDATE accounts SET balance = ?2, head = ?3 WHERE id = ?1")?;
    for (account_id, balance) in &plan.balances {
        update_account.execute(params![account_id, balance, &plan.hash[..]])?;
    }
    conn.prepare_cached(
        "INSERT INTO idempotency (scope, key, request_hash, entry_id, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![scope, key.as_str(), &fingerprint[..], e.id, now])?;
    let mut insert_event =
        conn.prepare_cached("INSERT INTO events (user_id, kind, payload, created_at_ms) VALUES (?1, ?2, ?3, ?4)")?;
    for ev in &plan.events {
        insert_event.execute(params![ev.user_id, ev.kind, ev.payload, now])?;
        notices.push(EventNotice { seq: conn.last_insert_rowid(), user_id: ev.user_id });
    }
    if let Some(card) = plan.card {
        conn.prepare_cached("INSERT INTO receipt_cards (entry_id, card, created_at_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![e.id, &card[..], now])?;
    }
    Ok(())
}

/// An operator deposit; the errors as for [`transfer`].
pub fn deposit(
    conn: &Connection,
    to: &Handle,
    amount: Amount,
    key: &IdempotencyKey,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<Result<Posted, LedgerError>, LedgerError> {
    let minor = check_amount(amount)?;
    let fingerprint = deposit_fingerprint(to, amount);
    if let Some(posted) = replay(conn, OPERATOR_SCOPE, key, &fingerprint)? {
        return Ok(Ok(posted));
    }
    if let Some(refusal) = earlier_refusal(conn, OPERATOR_SCOPE, key, &fingerprint)? {
        return Ok(Err(refusal));
    }
    let decided = (|| {
        let (receiver, _) = party(conn, PartyKey::Handle(to))?.ok_or(LedgerError::UnknownUser)?;
        let funding = locked_account(conn, FUNDING_ACCOUNT)?;
        plan_deposit(next_entry_id(conn)?, &funding, &receiver, minor, now_ms)
    })();
    let plan = match decided {
        Ok(plan) => plan,
        Err(refusal) => return remember_refusal(conn, OPERATOR_SCOPE, key, &fingerprint, refusal, now_ms),
    };
    write_plan(conn, &plan, OPERATOR_SCOPE, key, &fingerprint, notices)?;
    Ok(Ok(plan.posted))
}

/// The refusal kept under `key` in `scope` by an earlier request (`IdempotencyConflict` when
/// that request had other terms).
fn earlier_refusal(
    conn: &Connection,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
) -> Result<Option<LedgerError>, LedgerError> {
    const REFUSED: &str = "SELECT request_hash, refusal FROM refused_requests WHERE scope = ?1 AND key = ?2";
    Ok(earlier_result::<String>(conn, REFUSED, scope, key, fingerprint)?.map(|code| LedgerError::remembered(&code)))
}

/// Answers a keyed request's refusal: one that depends on the state
/// (`LedgerError::remembered_code`) is kept under the key, in the writer's transaction (so it is
/// the inner error: the writer keeps what the command wrote); any other is the outer error and
/// nothing is written.
fn remember_refusal<T>(
    conn: &Connection,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
    refusal: LedgerError,
    now_ms: TimestampMs,
) -> Result<Result<T, LedgerError>, LedgerError> {
    let Some(code) = refusal.remembered_code() else { return Err(refusal) };
    conn.prepare_cached(
        "INSERT INTO refused_requests (scope, key, request_hash, refusal, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![scope, key.as_str(), &fingerprint[..], code, now_ms])?;
    Ok(Err(refusal))
}

/// A transfer. The outer error is a refusal or failure that wrote nothing; the inner one a
/// refusal remembered under the request's key (`LedgerError::remembered_code`), whose row the
/// writer must keep.
pub fn transfer(
    conn: &Connection,
    request: &TransferRequest,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<Result<(Posted, Amount), LedgerError>, LedgerError> {
    let minor = plan::check_transfer(request)?;
    let scope = user_scope(request.from);
    let key = &request.idempotency_key;
    let fingerprint = transfer_fingerprint(request);
    if let Some(posted) = replay(conn, &scope, key, &fingerprint)? {
        return Ok(Ok((posted, super::reads::balance(conn, request.from)?)));
    }
    if let Some(refusal) = earlier_refusal(conn, &scope, key, &fingerprint)? {
        return Ok(Err(refusal));
    }
    let decided = (|| {
        let (sender, sender_frozen) = party(conn, PartyKey::Id(request.from))?.ok_or(LedgerError::UnknownUser)?;
        let (receiver, _) = party(conn, PartyKey::Handle(&request.to))?.ok_or(LedgerError::UnknownUser)?;
        if sender.user_id == receiver.user_id {
            return Err(LedgerError::SameAccount);
        }
        if sender_frozen {
            return Err(LedgerError::AccountFrozen);
        }
        let plan = plan_transfer(
            next_entry_id(conn)?,
            &sender,
            &receiver,
            minor,
            request.memo.as_deref(),
            request.card,
            now_ms,
        )?;
        Ok((sender, plan))
    })();
    let (sender, plan) = match decided {
        Ok(decided) => decided,
        Err(refusal) => return remember_refusal(conn, &scope, key, &fingerprint, refusal, now_ms),
    };
    write_plan(conn, &plan, &scope, key, &fingerprint, notices)?;
    let balance = plan.balance_after(sender.account.account_id).ok_or(LedgerError::UnknownUser)?;
    Ok(Ok((plan.posted, crate::model::amount_of(balance)?)))
}
