//! Schema versions of the offline store (`offline.sqlite3`), applied in order inside one
//! transaction each and recorded in `PRAGMA user_version`. Append new steps; never edit a
//! released one.

use rusqlite::{Connection, TransactionBehavior};

use super::OfflineStoreError;

/// Each step takes the schema from version `i` to `i + 1`.
const STEPS: &[&str] = &[
    // 1: device key, identity, purses, requests, accepted and paid notes, tallies, caches.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
     ) STRICT;
     CREATE TABLE device (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        secret        BLOB NOT NULL CHECK (length(secret) = 32),
        public_key    TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE purse_loads (
        idempotency_key TEXT PRIMARY KEY NOT NULL,
        server          TEXT NOT NULL,
        amount          INTEGER NOT NULL CHECK (amount > 0),
        state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
        purse_id        TEXT,
        failure_code    TEXT,
        created_at_ms   INTEGER NOT NULL,
        updated_at_ms   INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE purses (
        purse_id      TEXT PRIMARY KEY NOT NULL,
        certificate   TEXT NOT NULL,
        amount        INTEGER NOT NULL,
        valid_until   INTEGER NOT NULL,
        last_seq      INTEGER NOT NULL,
        last_hash     TEXT NOT NULL,
        spent         INTEGER NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed', 'expired', 'revoked')),
        close_text    TEXT,
        close_key     TEXT,
        settled       INTEGER NOT NULL DEFAULT 0,
        returned      INTEGER NOT NULL DEFAULT 0,
        installed_at_ms INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE requests (
        nonce         TEXT PRIMARY KEY NOT NULL,
        amount        INTEGER NOT NULL CHECK (amount > 0),
        expires_at    INTEGER NOT NULL,
        paid          INTEGER NOT NULL DEFAULT 0,
        text          TEXT NOT NULL,
        created_at    INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE accepted (
        note_hash     TEXT PRIMARY KEY NOT NULL,
        text          TEXT NOT NULL,
        purse_id      TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        amount        INTEGER NOT NULL,
        payer         INTEGER NOT NULL,
        nonce         TEXT NOT NULL,
        accepted_at   INTEGER NOT NULL,
        sync_status   TEXT,
        sync_reason   TEXT
     ) STRICT;
     CREATE TABLE tallies (
        purse_id      TEXT PRIMARY KEY NOT NULL,
        tally         TEXT NOT NULL
     ) STRICT;
     CREATE TABLE paid (
        note_hash     TEXT PRIMARY KEY NOT NULL,
        text          TEXT NOT NULL,
        purse_id      TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        amount        INTEGER NOT NULL,
        payee         INTEGER NOT NULL,
        paid_at       INTEGER NOT NULL,
        sync_status   TEXT,
        sync_reason   TEXT,
        UNIQUE (purse_id, seq)
     ) STRICT;
     CREATE TABLE issuer_keys (
        key_id        TEXT PRIMARY KEY NOT NULL,
        public_key    TEXT NOT NULL,
        not_before    INTEGER NOT NULL,
        not_after     INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE revoked_purses (purse_id TEXT PRIMARY KEY NOT NULL) STRICT;
     CREATE TABLE revoked_devices (public_key TEXT PRIMARY KEY NOT NULL) STRICT;",
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = STEPS.len() as i64;

pub(crate) fn run(conn: &mut Connection) -> Result<(), OfflineStoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > LATEST {
        return Err(OfflineStoreError::TooNew { found, known: LATEST });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (index, step) in STEPS.iter().enumerate().skip(start) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
