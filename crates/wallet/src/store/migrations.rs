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
    // 2: sends are no longer matched by their terms (each send is a new intent); pending sends
    //    are listed per account and server, oldest first (`pending`, `sync`, `balance`).
    "DROP INDEX outbox_pending;
     CREATE INDEX outbox_pending ON outbox (server, account, id) WHERE state = 'pending';",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_version_1_store_keeps_its_pending_sends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite3");
        let mut conn = Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(STEPS[0]).unwrap();
        tx.pragma_update(None, "user_version", 1).unwrap();
        tx.execute(
            "INSERT INTO outbox (idempotency_key, server, account, to_handle, amount, state, attempts, created_at_ms, updated_at_ms)
             VALUES ('k1k1k1k1', 'http://s', 'alice', 'bob', 100, 'pending', 1, 1, 1)",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
        run(&mut conn).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, LATEST);
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE state = 'pending' AND server = 'http://s' AND account = 'alice' ORDER BY id",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("outbox_pending"), "{plan}");
        let pending: i64 =
            conn.query_row("SELECT count(*) FROM outbox WHERE state = 'pending'", [], |r| r.get(0)).unwrap();
        assert_eq!(pending, 1);
    }
}
