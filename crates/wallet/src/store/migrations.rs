//! Schema versions of the wallet store, applied in order inside one transaction each and
//! recorded in `PRAGMA user_version`. Append new steps; never edit a released one.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Each step takes the schema from version `i` to `i + 1`.
const STEPS: &[&str] = &[
    // 1: settings and the outbox of online sends.
    "CREATE TABLE settings (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
     ) STRICT;
     CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        server          TEXT NOT NULL,
        account         TEXT NOT NULL,
        to_handle       TEXT NOT NULL,
        amount          INTEGER NOT NULL CHECK (amount > 0),
        memo            TEXT,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        entry_id        INTEGER,
        failure_code    TEXT,
        created_at_ms   INTEGER NOT NULL,
        updated_at_ms   INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX outbox_pending ON outbox (server, account, to_handle, amount) WHERE state = 'pending';",
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = STEPS.len() as i64;

pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > LATEST {
        return Err(StoreError::TooNew { found, known: LATEST });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (index, step) in STEPS.iter().enumerate().skip(start) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
