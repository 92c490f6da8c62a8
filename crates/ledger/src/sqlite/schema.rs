//! SQLite schema and migrations, applied at open. The schema version is SQLite's `user_version`;
//! each migration runs once, in its own `BEGIN IMMEDIATE` transaction, so two processes opening
//! the same file cannot both apply it.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::LedgerError;
use crate::model::AccountId;

/// Account ids of the operator's accounts, created by the first migration.
pub const FUNDING_ACCOUNT: AccountId = AccountId(1);

/// A migration: its SQL, and a step in Rust run after it in the same transaction.
type Migration = (&'static str, Option<fn(&Connection) -> Result<(), LedgerError>>);

const MIGRATIONS: &[Migration] = &[
    (MIGRATION_1, None),
    // 2: offline payments (devices, purses, notes, fraud proofs), see `offline.rs`.
    (super::offline::MIGRATION, None),
    // 3: notes indexed by (purse, hash) only, see `offline.rs`.
    (super::offline::NOTES_BY_PURSE_MIGRATION, None),
    // 4: the loss bound: allowances, held notes, request nonces (filled in from the notes).
    (super::offline::LOSS_BOUND_MIGRATION, Some(super::offline::fill_note_nonces)),
    // 5: notes found by request through an integer key, see `offline.rs`.
    (super::offline::REQUEST_KEY_MIGRATION, Some(super::offline::fill_request_keys)),
    // 6: offline journal entries name their note, see `offline.rs`.
    (super::offline::ENTRY_NOTE_MIGRATION, None),
    // 7: login throttling that forgets, guess budgets, device tokens, see `login.rs`.
    (super::login::MIGRATION, None),
    // 8: failure rows say when they may be forgotten, and are pruned, see `login.rs`.
    (super::login::FORGET_MIGRATION, None),
    // 9: the shop card each payment's receipts name (`Store::receipt_card`).
    (RECEIPT_CARDS_MIGRATION, None),
    // 10: notes by (purse, payee), for the partial read of a revoked purse.
    (super::offline::NOTES_BY_PAYEE_MIGRATION, None),
    // 11: notes by (purse, sequence number), for an upload's read of the notes around its own;
    //     fraud proofs by purse.
    (super::offline::NOTES_BY_SEQ_MIGRATION, None),
    // 12: every purse loaded from now on keeps its reserve in its own account, see `offline.rs`.
    (super::offline::PURSE_RESERVE_MIGRATION, None),
    // 13: refusals remembered under the transfer's idempotency key (`LedgerError::remembered_code`).
    (REFUSED_REQUESTS_MIGRATION, None),
    // 14: sessions found by account (log out everywhere, the per-account cap).
    ("CREATE INDEX sessions_by_user ON sessions (user_id);", None),
    // 15: each purse's settlement deadline, stored at load (`Purse::settle_by`).
    ("ALTER TABLE purses ADD COLUMN settle_by INTEGER;", None),
    // 16: the revocation list read through partial indexes, not by scanning purses and devices.
    (
        "CREATE INDEX purses_revoked ON purses (valid_until) WHERE state = 'revoked';
         CREATE INDEX devices_revoked ON devices (public_key) WHERE revoked = 1;",
        None,
    ),
    // 17: a payer's purses that hold notes, read by every upload (`held_purses`).
    ("CREATE INDEX purses_holding ON purses (user_id) WHERE notes_held > 0;", None),
    // 18: notes refused by their payee at the counter, see `offline/refusal.rs`.
    (super::offline::REFUSALS_MIGRATION, None),
];

const REFUSED_REQUESTS_MIGRATION: &str = "
    CREATE TABLE refused_requests (
        scope         TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        request_hash  BLOB    NOT NULL,
        refusal       TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;";

const RECEIPT_CARDS_MIGRATION: &str = "
    CREATE TABLE receipt_cards (
        entry_id      INTEGER PRIMARY KEY REFERENCES journal (id),
        card          BLOB    NOT NULL CHECK (length(card) = 4),
        created_at_ms INTEGER NOT NULL
    );";

const MIGRATION_1: &str =
    // 1: accounts, users, journal, postings, idempotency, events, sessions, throttle, security.
    r#"
    CREATE TABLE accounts (
        id            INTEGER PRIMARY KEY,
        kind          TEXT    NOT NULL CHECK (kind IN ('wallet', 'funding', 'reserve', 'fraud_loss')),
        balance       INTEGER NOT NULL DEFAULT 0,
        head          BLOB    NOT NULL,
        created_at_ms INTEGER NOT NULL,
        CHECK (kind <> 'wallet' OR balance >= 0)
    );
    INSERT INTO accounts (id, kind, balance, head, created_at_ms) VALUES
        (1, 'funding',    0, zeroblob(32), 0),
        (2, 'reserve',    0, zeroblob(32), 0),
        (3, 'fraud_loss', 0, zeroblob(32), 0);

    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        handle        TEXT    NOT NULL UNIQUE,
        password_hash TEXT    NOT NULL,
        account_id    INTEGER NOT NULL UNIQUE REFERENCES accounts (id),
        frozen        INTEGER NOT NULL DEFAULT 0,
        created_at_ms INTEGER NOT NULL
    );

    CREATE TABLE journal (
        id            INTEGER PRIMARY KEY,
        kind          TEXT    NOT NULL,
        amount        INTEGER NOT NULL CHECK (amount > 0),
        memo          TEXT,
        from_user     INTEGER REFERENCES users (id),
        to_user       INTEGER NOT NULL REFERENCES users (id),
        created_at_ms INTEGER NOT NULL,
        hash          BLOB    NOT NULL
    );

    CREATE TABLE postings (
        entry_id   INTEGER NOT NULL REFERENCES journal (id),
        account_id INTEGER NOT NULL REFERENCES accounts (id),
        delta      INTEGER NOT NULL,
        prev_hash  BLOB    NOT NULL,
        PRIMARY KEY (entry_id, account_id)
    ) WITHOUT ROWID;
    CREATE INDEX postings_by_account ON postings (account_id, entry_id);

    CREATE TABLE idempotency (
        scope         TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        request_hash  BLOB    NOT NULL,
        entry_id      INTEGER NOT NULL REFERENCES journal (id),
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;

    CREATE TABLE events (
        seq           INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        kind          TEXT    NOT NULL,
        payload       TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX events_by_user ON events (user_id, seq);

    CREATE TABLE sessions (
        token_hash      BLOB    PRIMARY KEY,
        user_id         INTEGER NOT NULL REFERENCES users (id),
        created_at_ms   INTEGER NOT NULL,
        last_seen_ms    INTEGER NOT NULL,
        idle_timeout_ms INTEGER NOT NULL,
        expires_at_ms   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

    CREATE TABLE login_throttle (
        key             TEXT    PRIMARY KEY,
        failures        INTEGER NOT NULL,
        locked_until_ms INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE security_events (
        id            INTEGER PRIMARY KEY,
        kind          TEXT    NOT NULL,
        detail        TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    "#;

/// Sets the connection options every connection uses.
pub fn configure(conn: &Connection) -> Result<(), LedgerError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Without the query planner stability guarantee, SQLite marks some cached statements for
    // re-preparation whenever their parameters are bound again: measured as a fifth of the
    // writer's time, and on the read connections a tenth of all the server's CPU under transfer
    // load (`sqlite3Reprepare` below `query_row`). Plans here never depend on parameter values.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// Applies every migration the file has not seen yet.
pub fn migrate(conn: &mut Connection) -> Result<(), LedgerError> {
    for (index, (sql, step)) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index + 1).map_err(|_| LedgerError::Storage("too many migrations".into()))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if current < version {
            tx.execute_batch(sql)?;
            if let Some(step) = step {
                step(&tx)?;
            }
            tx.pragma_update(None, "user_version", version)?;
        }
        tx.commit()?;
    }
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > MIGRATIONS.len() as i64 {
        return Err(LedgerError::Storage(
            format!("the database has schema version {current}, newer than this program knows ({})", MIGRATIONS.len())
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::Connection;

    use super::MIGRATIONS;

    /// Schema 3 keeps every stored note and still refuses a second copy of a note.
    #[test]
    fn notes_migration_keeps_rows_and_uniqueness() {
        let conn = Connection::open_in_memory().unwrap();
        // Rows without their purse, user and journal parents: this test is about the notes table.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        conn.execute_batch(MIGRATIONS[0].0).unwrap();
        conn.execute_batch(MIGRATIONS[1].0).unwrap();
        let insert = "INSERT INTO notes (hash, purse_id, seq, payee, amount, encoded, from_reserve, from_payer,
                      from_loss, entry_id, uploaded_by, created_at_ms)
                      VALUES (?1, ?2, ?3, 7, 100, x'00', 100, 0, 0, NULL, 7, 0)";
        for (hash, purse, seq) in [([1u8; 32], [9u8; 16], 1), ([2u8; 32], [9u8; 16], 2), ([3u8; 32], [8u8; 16], 1)] {
            conn.execute(insert, rusqlite::params![&hash[..], &purse[..], seq]).unwrap();
        }
        conn.execute_batch(MIGRATIONS[2].0).unwrap();
        let rows: Vec<(Vec<u8>, i64)> = conn
            .prepare("SELECT hash, seq FROM notes WHERE purse_id = ?1 ORDER BY seq")
            .unwrap()
            .query_map([&[9u8; 16][..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![(vec![1u8; 32], 1), (vec![2u8; 32], 2)]);
        let again = conn.execute(insert, rusqlite::params![&[2u8; 32][..], &[9u8; 16][..], 2]);
        assert!(again.is_err(), "a second copy of a stored note must be refused");
        let plan: String = conn
            .query_row("EXPLAIN QUERY PLAN SELECT encoded FROM notes WHERE purse_id = x'09'", [], |r| r.get(3))
            .unwrap();
        assert!(plan.contains("USING INDEX"), "{plan}");
    }

    /// Schema 4 fills in every stored note's request nonce from the note itself (full and
    /// compact forms), gives existing purses their booked loss as allowance, and holds nothing;
    /// schema 5 fills in the request keys from those nonces.
    #[test]
    fn loss_bound_migrations_fill_nonces_request_keys_and_allowances() {
        use offpay_protocol::purse::{PurseState, prepare_next};
        use offpay_protocol::testkit::{Fixture, NOW};

        use crate::offline::stored_note::compact;

        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        for (sql, _) in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        let fx = Fixture::new();
        let cert = &fx.certificate;
        let state = PurseState::new(cert);
        let (state, first) = prepare_next(cert, &state, &fx.payer_device, &fx.request(1_000, "first"), NOW).unwrap();
        let (_, second) = prepare_next(cert, &state, &fx.payer_device, &fx.request(2_000, "second"), NOW).unwrap();
        conn.execute(
            "INSERT INTO purses (id, user_id, device_key, amount, valid_until, certificate, state, fraud_loss,
                                 load_entry_id, created_at_ms)
             VALUES (?1, 1, x'00', 5000, 0, ?2, 'revoked', 700, 1, 0)",
            rusqlite::params![&cert.purse_id().as_bytes()[..], cert.encode()],
        )
        .unwrap();
        for (note, stored) in [(&first, first.encode()), (&second, compact(&second.encode()))] {
            conn.execute(
                "INSERT INTO notes (hash, purse_id, seq, payee, amount, encoded, from_reserve, from_payer, from_loss,
                                    entry_id, uploaded_by, created_at_ms)
                 VALUES (?1, ?2, ?3, 7, ?4, ?5, ?4, 0, 0, NULL, 7, 0)",
                rusqlite::params![
                    &note.hash().as_bytes()[..],
                    &cert.purse_id().as_bytes()[..],
                    note.seq(),
                    note.amount().minor() as i64,
                    stored
                ],
            )
            .unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        super::migrate(&mut conn).unwrap();
        let nonces: Vec<Vec<u8>> = conn
            .prepare("SELECT nonce FROM notes ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(nonces, vec![first.fields().nonce.as_bytes().to_vec(), second.fields().nonce.as_bytes().to_vec()]);
        let (allowance, held): (i64, i64) = conn
            .query_row("SELECT loss_allowance, notes_held FROM purses", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((allowance, held), (700, 0));
        // Schema 5: each note's request key is its nonce's first eight bytes, and the lookup by
        // request goes through the key's index.
        let keys: Vec<i64> = conn
            .prepare("SELECT request_key FROM notes ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<i64> = [&first, &second]
            .iter()
            .map(|n| i64::from_be_bytes(n.fields().nonce.as_bytes()[..8].try_into().unwrap()))
            .collect();
        assert_eq!(keys, expected);
        assert_ne!(keys[0], 0, "the key must come from the nonce, not the column default");
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT sum(held) FROM notes WHERE request_key = 1 AND payee = 7 AND nonce = x'00'",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("notes_by_request_key"), "{plan}");
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    /// Schema 11: an upload's read of the notes around its own seeks the (purse, sequence number)
    /// index for each number and its neighbours; no step walks the purse's notes (an earlier
    /// form of the query read every note of the purse once per number, and cost grew with them).
    /// A purse's fraud proofs are found on their index, not by reading every proof.
    #[test]
    fn reading_around_seeks_the_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::super::offline::AROUND_SQL))
            .unwrap()
            .query_map(rusqlite::params![&[9u8; 16][..], "[1, 2]"], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let on_notes: Vec<&String> = plan.iter().filter(|step| step.contains("notes")).collect();
        assert_eq!(on_notes.len(), 3, "{plan:#?}");
        for (step, seek) in on_notes.iter().zip(["seq<?", "seq>?", "seq=?"]) {
            assert!(step.starts_with("SEARCH") && step.contains(&format!("(purse_id=? AND {seek})")), "{plan:#?}");
        }
        let proofs: String = conn
            .query_row(&format!("EXPLAIN QUERY PLAN {}", super::super::offline::PROOFS_SQL), [&[9u8; 16][..]], |r| {
                r.get(3)
            })
            .unwrap();
        assert!(proofs.contains("SEARCH fraud_proofs USING INDEX fraud_proofs_by_purse"), "{proofs}");
    }

    /// Schema 8: failure rows written before it may be forgotten a day after their last failure,
    /// or when their lock ends if that is later; the pruning query uses the new index.
    #[test]
    fn old_login_failures_get_a_time_to_be_forgotten() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (sql, _) in &MIGRATIONS[..7] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO login_throttle (key, failures, locked_until_ms, last_failure_ms) VALUES
                 ('ip:192.0.2.1', 3, 0, 1000),
                 ('pair:alice 192.0.2.1', 10, 900000000, 1000);",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        super::migrate(&mut conn).unwrap();
        let forget: Vec<i64> = conn
            .prepare("SELECT forget_at_ms FROM login_throttle ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(forget, [1000 + 86_400_000, 900_000_000]);
        let plan: String = conn
            .query_row("EXPLAIN QUERY PLAN SELECT key FROM login_throttle WHERE forget_at_ms <= 5 LIMIT 100", [], |r| {
                r.get(3)
            })
            .unwrap();
        assert!(plan.contains("login_throttle_by_forget"), "{plan}");
    }
}
