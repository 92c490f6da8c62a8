//! Login throttling tables beyond `login_throttle`: sliding-window guess budgets
//! (`login_guesses`) and device tokens (`login_devices`). Every function runs on the writer
//! thread, so each is atomic.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::LedgerError;
use crate::model::{FailureRule, LOGIN_PRUNE_MAX, LoginGuess, LoginThrottle, TimestampMs, UserId};

/// Migration: failures are forgotten after a while (`last_failure_ms`), guess budgets per key,
/// device tokens from successful logins.
pub const MIGRATION: &str = r#"
    ALTER TABLE login_throttle ADD COLUMN last_failure_ms INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE login_guesses (
        id            INTEGER PRIMARY KEY,
        key           TEXT    NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    CREATE INDEX login_guesses_by_key ON login_guesses (key, expires_at_ms);
    CREATE INDEX login_guesses_by_expiry ON login_guesses (expires_at_ms);

    CREATE TABLE login_devices (
        token_hash    BLOB    PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        created_at_ms INTEGER NOT NULL,
        last_used_ms  INTEGER NOT NULL,
        failures      INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX login_devices_by_user ON login_devices (user_id, last_used_ms);
"#;

/// Migration: each failure row says when it may be forgotten (`forget_at_ms`: the later of the end
/// of its lock and its last failure plus the rule's forget-after), so that rows left by addresses
/// that never come back are removed (`record_login_failure` prunes a few at each failure). Rows
/// written before it get a day after their last failure.
pub const FORGET_MIGRATION: &str = r#"
    ALTER TABLE login_throttle ADD COLUMN forget_at_ms INTEGER NOT NULL DEFAULT 0;
    UPDATE login_throttle SET forget_at_ms = max(locked_until_ms, last_failure_ms + 86400000);
    CREATE INDEX login_throttle_by_forget ON login_throttle (forget_at_ms);
"#;

/// Adds a failure to `key` (from 1 again when its last one is older than `forget_after_ms`) and
/// removes up to [`LOGIN_PRUNE_MAX`] rows of other keys that may be forgotten by now.
pub fn record_login_failure(
    conn: &Connection,
    key: &str,
    now_ms: TimestampMs,
    forget_after_ms: i64,
    lock_ms: i64,
) -> Result<LoginThrottle, LedgerError> {
    conn.prepare_cached(
        "DELETE FROM login_throttle WHERE key IN
           (SELECT key FROM login_throttle WHERE forget_at_ms <= ?1 LIMIT ?2)",
    )?
    .execute(params![now_ms, LOGIN_PRUNE_MAX])?;
    let rule = FailureRule::new(now_ms, forget_after_ms, lock_ms);
    let (failures, locked_until_ms, last_failure_ms): (i64, i64, i64) = conn
        .prepare_cached(
            "INSERT INTO login_throttle (key, failures, locked_until_ms, last_failure_ms, forget_at_ms)
             VALUES (?1, 1, ?2, ?3, ?5)
             ON CONFLICT (key) DO UPDATE
             SET failures = CASE WHEN last_failure_ms < ?4 THEN 1 ELSE failures + 1 END,
                 locked_until_ms = excluded.locked_until_ms, last_failure_ms = excluded.last_failure_ms,
                 forget_at_ms = excluded.forget_at_ms
             RETURNING failures, locked_until_ms, last_failure_ms",
        )?
        .query_row(params![key, rule.locked_until_ms, now_ms, rule.forget_before_ms, rule.forget_at_ms], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(LoginThrottle { failures: u32::try_from(failures).unwrap_or(u32::MAX), locked_until_ms, last_failure_ms })
}

pub fn take_login_guess(
    conn: &Connection,
    key: &str,
    now_ms: TimestampMs,
    window_ms: i64,
    limit: u32,
) -> Result<LoginGuess, LedgerError> {
    conn.prepare_cached("DELETE FROM login_guesses WHERE expires_at_ms <= ?1")?.execute([now_ms])?;
    let (live, oldest): (i64, Option<i64>) = conn
        .prepare_cached("SELECT count(*), min(expires_at_ms) FROM login_guesses WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if live >= i64::from(limit) {
        return Ok(LoginGuess::Refused { retry_at_ms: oldest.unwrap_or(now_ms) });
    }
    let expires = now_ms.saturating_add(window_ms.max(0));
    let id: i64 = conn
        .prepare_cached("INSERT INTO login_guesses (key, expires_at_ms) VALUES (?1, ?2) RETURNING id")?
        .query_row(params![key, expires], |r| r.get(0))?;
    Ok(LoginGuess::Granted { id })
}

pub fn return_login_guess(conn: &Connection, key: &str, id: i64) -> Result<(), LedgerError> {
    conn.prepare_cached("DELETE FROM login_guesses WHERE id = ?1 AND key = ?2")?.execute(params![id, key])?;
    Ok(())
}

pub fn create_login_device(
    conn: &Connection,
    token_hash: &[u8; 32],
    user: UserId,
    now_ms: TimestampMs,
    keep: u32,
) -> Result<(), LedgerError> {
    conn.prepare_cached(
        "INSERT INTO login_devices (token_hash, user_id, created_at_ms, last_used_ms, failures)
         VALUES (?1, ?2, ?3, ?3, 0)",
    )?
    .execute(params![&token_hash[..], user, now_ms])?;
    conn.prepare_cached(
        "DELETE FROM login_devices WHERE user_id = ?1 AND token_hash NOT IN
           (SELECT token_hash FROM login_devices WHERE user_id = ?1
            ORDER BY last_used_ms DESC, created_at_ms DESC LIMIT ?2)",
    )?
    .execute(params![user, i64::from(keep.max(1))])?;
    Ok(())
}

pub fn take_device_guess(
    conn: &Connection,
    token_hash: &[u8; 32],
    user: UserId,
    used_since_ms: TimestampMs,
    max_failures: u32,
) -> Result<Option<u32>, LedgerError> {
    let failures: Option<i64> = conn
        .prepare_cached(
            "UPDATE login_devices SET failures = failures + 1
             WHERE token_hash = ?1 AND user_id = ?2 AND last_used_ms >= ?3 AND failures < ?4
             RETURNING failures",
        )?
        .query_row(params![&token_hash[..], user, used_since_ms, i64::from(max_failures)], |r| r.get(0))
        .optional()?;
    Ok(failures.map(|f| u32::try_from(f).unwrap_or(u32::MAX)))
}

pub fn device_login_succeeded(
    conn: &Connection,
    token_hash: &[u8; 32],
    now_ms: TimestampMs,
) -> Result<(), LedgerError> {
    conn.prepare_cached("UPDATE login_devices SET failures = 0, last_used_ms = ?2 WHERE token_hash = ?1")?
        .execute(params![&token_hash[..], now_ms])?;
    Ok(())
}
