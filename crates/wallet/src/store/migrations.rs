//! The one migration history of the wallet's one SQLite file (`<home>/wallet.sqlite3`): each
//! step takes the schema from version `i` to `i + 1`; pending steps run in order inside one
//! `BEGIN IMMEDIATE` transaction, and the version is `PRAGMA user_version`. Append new steps;
//! never edit a released one.
//!
//! Why not a migrations crate: `rusqlite_migration` (2.6.0) and `refinery` (0.10) do not yet
//! build with rusqlite 0.43, one build can link only one SQLite, and moving the workspace back to
//! rusqlite 0.40 would bundle an older SQLite (docs/decisions/migrations-crate.md). This runner
//! counts versions the way `rusqlite_migration` does (the number of steps applied, in
//! `user_version`), so these steps can become its `M::up` list unchanged; but it reads the
//! version inside `BEGIN IMMEDIATE`, which `rusqlite_migration` does not, and several processes
//! open one home at once (same record).
//!
//! Steps 1-2 are the online store's history before the two files became one; step 3 adds the
//! offline tables (they were `offline.sqlite3`'s schema 2); step 4 the shop card and accepted
//! receipts; step 5 the account a send's payee must be; step 6 the shop card a send pays at a
//! counter; step 7 the account a purse load is for; step 8 the card notes this counter refused, to be
//! given back; step 9 the shop cards this home replaced; step 10 the purse of each kept note. A home that still has the old
//! `offline.sqlite3` has its rows moved in by `legacy_offline.rs` right after these steps.

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
    // 3: the offline tables (until now a file of their own, `offline.sqlite3`): device key,
    //    meta (identity, cache ages), purse loads, purses with their chain state, requests,
    //    accepted notes and tallies, paid notes with their request nonce, issuer keys and
    //    revocations.
    OFFLINE_TABLES,
    // 4: shops (issue 14, docs/decisions/shop-card.md): this home's one shop card (a new card
    //    replaces the row, which retires the old card), the entry ids of the server receipts
    //    accepted, so that one receipt is accepted once, and the card notes paid under a
    //    caller's idempotency key (`pay-shop --idempotency-key`), so that a key pays once.
    "CREATE TABLE shop_card (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        text          TEXT NOT NULL,
        created_at    INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE receipts (
        entry_id      INTEGER PRIMARY KEY NOT NULL,
        text          TEXT NOT NULL,
        payer         INTEGER NOT NULL,
        amount        INTEGER NOT NULL,
        accepted_at   INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE card_payments (
        idempotency_key TEXT PRIMARY KEY NOT NULL,
        card_hash     TEXT NOT NULL,
        amount        INTEGER NOT NULL,
        note_hash     TEXT NOT NULL,
        created_at    INTEGER NOT NULL
     ) STRICT;",
    // 5: a send may name the account its payee must be (a shop card's account, docs/API.md
    //    `to_account`), kept so that a retry after a lost answer is checked the same way.
    "ALTER TABLE outbox ADD COLUMN to_account INTEGER;",
    // 6: a shop payment names the card paid at the counter (its nonce prefix, hex), kept so
    //    that a retry sends the same request (docs/API.md `card`).
    "ALTER TABLE outbox ADD COLUMN card TEXT;",
    // 7: a purse load names the account it is for, so that another account signed in on the
    //    same home never finishes (or takes over) its pending load. Loads written before have
    //    none and match any account, as they did.
    "ALTER TABLE purse_loads ADD COLUMN account TEXT;",
    // 8: card notes this counter refused because the payer's clock was off, to be given back to
    //    the payer at sync (`offline/counter_refusals.rs`, docs/decisions/counter-refusals.md);
    //    their nonces count as seen.
    "CREATE TABLE counter_refusals (
        note_hash     TEXT PRIMARY KEY NOT NULL,
        text          TEXT NOT NULL,
        payee         INTEGER NOT NULL,
        payer         INTEGER NOT NULL,
        amount        INTEGER NOT NULL CHECK (amount > 0),
        nonce         TEXT NOT NULL,
        reason        TEXT NOT NULL,
        refused_at    INTEGER NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'voided', 'refunded', 'failed')),
        returned      INTEGER NOT NULL DEFAULT 0,
        failure       TEXT
     ) STRICT;",
    // 9: the shop cards this home made and replaced, so that a note for one of them is kept
    //    to be given back (only this device ever took notes for them; the server still pays
    //    them) instead of being refused and paid anyway (`offline/counter_refusals.rs`).
    "CREATE TABLE retired_cards (
        nonce_prefix  TEXT PRIMARY KEY NOT NULL,
        text          TEXT NOT NULL,
        retired_at    INTEGER NOT NULL
     ) STRICT;",
    // 10: the purse of each card note kept to give back, so that the notes kept for an issuer
    //    key this device did not know are read by purse when a note of that purse is checked
    //    (`counter_refusals::tally_with_kept`) rather than all of them at every check. Rows kept
    //    before have none (none of them was kept for an unknown key).
    "ALTER TABLE counter_refusals ADD COLUMN purse_id TEXT;
     CREATE INDEX counter_refusals_unchecked ON counter_refusals (purse_id) WHERE reason = 'unknown_issuer_key';",
];

/// The offline tables, as `offline.sqlite3` had them at its last schema (2).
pub(crate) const OFFLINE_TABLES: &str = "CREATE TABLE meta (
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
        nonce         TEXT,
        UNIQUE (purse_id, seq)
     ) STRICT;
     CREATE INDEX paid_by_nonce ON paid (nonce);
     CREATE TABLE issuer_keys (
        key_id        TEXT PRIMARY KEY NOT NULL,
        public_key    TEXT NOT NULL,
        not_before    INTEGER NOT NULL,
        not_after     INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE revoked_purses (purse_id TEXT PRIMARY KEY NOT NULL) STRICT;
     CREATE TABLE revoked_devices (public_key TEXT PRIMARY KEY NOT NULL) STRICT;";

/// The offline tables in the order `legacy_offline.rs` copies them.
pub(crate) const OFFLINE_TABLE_NAMES: &[&str] = &[
    "meta",
    "device",
    "purse_loads",
    "purses",
    "requests",
    "accepted",
    "tallies",
    "paid",
    "issuer_keys",
    "revoked_purses",
    "revoked_devices",
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
