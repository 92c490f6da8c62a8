//! Login throttling tables beyond `login_throttle`: sliding-window guess budgets
//! (`login_guesses`, one key at a time under a transaction-scoped advisory lock, so two servers
//! never both take the last guess) and device tokens (`login_devices`, single-statement updates).

use deadpool_postgres::Pool;

use crate::error::LedgerError;
use crate::model::{FailureRule, LOGIN_PRUNE_MAX, LoginGuess, LoginThrottle, TimestampMs, UserId};

/// Migration: failures are forgotten after a while (`last_failure_ms`), guess budgets per key,
/// device tokens from successful logins.
pub const MIGRATION: &str = r#"
    ALTER TABLE login_throttle ADD COLUMN last_failure_ms BIGINT NOT NULL DEFAULT 0;

    CREATE TABLE login_guesses (
        id            BIGSERIAL PRIMARY KEY,
        key           TEXT   NOT NULL,
        expires_at_ms BIGINT NOT NULL
    );
    CREATE INDEX login_guesses_by_key ON login_guesses (key, expires_at_ms);
    CREATE INDEX login_guesses_by_expiry ON login_guesses (expires_at_ms);

    CREATE TABLE login_devices (
        token_hash    BYTEA  PRIMARY KEY,
        user_id       BIGINT NOT NULL REFERENCES users (id),
        created_at_ms BIGINT NOT NULL,
        last_used_ms  BIGINT NOT NULL,
        failures      BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX login_devices_by_user ON login_devices (user_id, last_used_ms);
"#;

/// Migration: each failure row says when it may be forgotten (`forget_at_ms`), so that rows left
/// by addresses that never come back are removed (see `record_login_failure`). Rows written
/// before it get a day after their last failure.
pub const FORGET_MIGRATION: &str = r#"
    ALTER TABLE login_throttle ADD COLUMN forget_at_ms BIGINT NOT NULL DEFAULT 0;
    UPDATE login_throttle SET forget_at_ms = greatest(locked_until_ms, last_failure_ms + 86400000);
    CREATE INDEX login_throttle_by_forget ON login_throttle (forget_at_ms);
"#;

/// Adds a failure to `key` (from 1 again when its last one is older than `forget_after_ms`) and
/// removes up to [`LOGIN_PRUNE_MAX`] rows of other keys that may be forgotten by now (rows another
/// transaction holds are left for a later call).
pub async fn record_login_failure(
    pool: &Pool,
    key: &str,
    now_ms: TimestampMs,
    forget_after_ms: i64,
    lock_ms: i64,
) -> Result<LoginThrottle, LedgerError> {
    let client = pool.get().await?;
    client
        .execute(
            "DELETE FROM login_throttle WHERE key IN
               (SELECT key FROM login_throttle WHERE forget_at_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&now_ms, &LOGIN_PRUNE_MAX],
        )
        .await?;
    let rule = FailureRule::new(now_ms, forget_after_ms, lock_ms);
    let row = client
        .query_one(
            "INSERT INTO login_throttle (key, failures, locked_until_ms, last_failure_ms, forget_at_ms)
             VALUES ($1, 1, $2, $3, $5)
             ON CONFLICT (key) DO UPDATE
             SET failures = CASE WHEN login_throttle.last_failure_ms < $4 THEN 1
                                 ELSE login_throttle.failures + 1 END,
                 locked_until_ms = EXCLUDED.locked_until_ms, last_failure_ms = EXCLUDED.last_failure_ms,
                 forget_at_ms = EXCLUDED.forget_at_ms
             RETURNING failures, locked_until_ms, last_failure_ms",
            &[&key, &rule.locked_until_ms, &now_ms, &rule.forget_before_ms, &rule.forget_at_ms],
        )
        .await?;
    Ok(LoginThrottle {
        failures: u32::try_from(row.try_get::<_, i64>(0)?).unwrap_or(u32::MAX),
        locked_until_ms: row.try_get(1)?,
        last_failure_ms: row.try_get(2)?,
    })
}

pub async fn take_login_guess(
    pool: &Pool,
    key: &str,
    now_ms: TimestampMs,
    window_ms: i64,
    limit: u32,
) -> Result<LoginGuess, LedgerError> {
    let mut client = pool.get().await?;
    // Expired guesses of any key; rows another transaction holds are left for later.
    client
        .execute(
            "DELETE FROM login_guesses WHERE id IN
               (SELECT id FROM login_guesses WHERE expires_at_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&now_ms, &LOGIN_PRUNE_MAX],
        )
        .await?;
    let tx = client.transaction().await?;
    // One key at a time: the count below sees every guess committed before the lock was granted.
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1101))", &[&key]).await?;
    tx.execute("DELETE FROM login_guesses WHERE key = $1 AND expires_at_ms <= $2", &[&key, &now_ms]).await?;
    let row = tx.query_one("SELECT count(*), min(expires_at_ms) FROM login_guesses WHERE key = $1", &[&key]).await?;
    let live: i64 = row.try_get(0)?;
    let oldest: Option<i64> = row.try_get(1)?;
    if live >= i64::from(limit) {
        tx.commit().await?;
        return Ok(LoginGuess::Refused { retry_at_ms: oldest.unwrap_or(now_ms) });
    }
    let expires = now_ms.saturating_add(window_ms.max(0));
    let id: i64 = tx
        .query_one("INSERT INTO login_guesses (key, expires_at_ms) VALUES ($1, $2) RETURNING id", &[&key, &expires])
        .await?
        .try_get(0)?;
    tx.commit().await?;
    Ok(LoginGuess::Granted { id })
}

pub async fn return_login_guess(pool: &Pool, key: &str, id: i64) -> Result<(), LedgerError> {
    let client = pool.get().await?;
    client.execute("DELETE FROM login_guesses WHERE id = $1 AND key = $2", &[&id, &key]).await?;
    Ok(())
}

pub async fn create_login_device(
    pool: &Pool,
    token_hash: &[u8; 32],
    user: UserId,
    now_ms: TimestampMs,
    keep: u32,
) -> Result<(), LedgerError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO login_devices (token_hash, user_id, created_at_ms, last_used_ms, failures)
         VALUES ($1, $2, $3, $3, 0)",
        &[&&token_hash[..], &user, &now_ms],
    )
    .await?;
    tx.execute(
        "DELETE FROM login_devices WHERE user_id = $1 AND token_hash NOT IN
           (SELECT token_hash FROM login_devices WHERE user_id = $1
            ORDER BY last_used_ms DESC, created_at_ms DESC LIMIT $2)",
        &[&user, &i64::from(keep.max(1))],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn take_device_guess(
    pool: &Pool,
    token_hash: &[u8; 32],
    user: UserId,
    used_since_ms: TimestampMs,
    max_failures: u32,
) -> Result<Option<u32>, LedgerError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "UPDATE login_devices SET failures = failures + 1
             WHERE token_hash = $1 AND user_id = $2 AND last_used_ms >= $3 AND failures < $4
             RETURNING failures",
            &[&&token_hash[..], &user, &used_since_ms, &i64::from(max_failures)],
        )
        .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(u32::try_from(row.try_get::<_, i64>(0)?).unwrap_or(u32::MAX))),
    }
}

pub async fn device_login_succeeded(
    pool: &Pool,
    token_hash: &[u8; 32],
    now_ms: TimestampMs,
) -> Result<(), LedgerError> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE login_devices SET failures = 0, last_used_ms = $2 WHERE token_hash = $1",
            &[&&token_hash[..], &now_ms],
        )
        .await?;
    Ok(())
}
