//! Schema versions of the offline store (`offline.sqlite3`), applied in order inside one
//! transaction and recorded in `PRAGMA user_version`. Append new steps; never edit a released
//! one. A step is SQL, optionally followed by a Rust pass that fills a new column from what
//! the store already holds (SQL cannot decode a note's text).

use rusqlite::{Connection, TransactionBehavior};

use super::{OfflineStoreError, notes};

/// A Rust pass run right after a step's SQL, inside the same transaction.
type Fill = fn(&Connection) -> Result<(), OfflineStoreError>;

/// Each step takes the schema from version `i` to `i + 1`.
const STEPS: &[(&str, Option<Fill>)] = &[
    // 1: device key, identity, purses, requests, accepted and paid notes, tallies, caches.
    (STEP_1, None),
    // 2: the request nonce of each paid note, so `pay` finds a request it already paid
    // (one payment per request); filled from the stored note texts.
    (
        "ALTER TABLE paid ADD COLUMN nonce TEXT;
         CREATE INDEX paid_by_nonce ON paid (nonce);",
        Some(notes::fill_paid_nonces),
    ),
];

const STEP_1: &str = "CREATE TABLE meta (
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
     CREATE TABLE revoked_devices (public_key TEXT PRIMARY KEY NOT NULL) STRICT;";

/// The schema version this build writes.
pub(crate) const LATEST: i64 = STEPS.len() as i64;

pub(crate) fn run(conn: &mut Connection) -> Result<(), OfflineStoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > LATEST {
        return Err(OfflineStoreError::TooNew { found, known: LATEST });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (index, (sql, fill)) in STEPS.iter().enumerate().skip(start) {
        tx.execute_batch(sql)?;
        if let Some(fill) = fill {
            fill(&tx)?;
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use offpay_protocol::testkit::{Fixture, NOW, amount};
    use offpay_protocol::{Encoded, NoteFields, PaymentNote};
    use rusqlite::params;

    use super::*;
    use crate::offline::{OfflineStore, OfflineStoreError};

    /// A home written by a schema-1 build: the `paid` table has no `nonce` column. Holds one
    /// paid note with this text (its other columns from `note` when given).
    fn schema_1_home(paid_text: &str, note: Option<&PaymentNote>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(super::super::OFFLINE_DB_FILE_NAME)).unwrap();
        conn.execute_batch(STEP_1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let (hash, purse) =
            note.map_or((String::from("00"), String::from("00")), |n| (n.hash().to_hex(), n.purse_id().to_hex()));
        conn.execute(
            "INSERT INTO paid (note_hash, text, purse_id, seq, amount, payee, paid_at) VALUES (?1, ?2, ?3, 1, 15000, 2002, 1)",
            params![hash, paid_text, purse],
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_schema_1_home_learns_the_nonces_of_its_paid_notes_and_pays_each_request_once() {
        let fixture = Fixture::new();
        let request = fixture.request(15_000, "paid-before-schema-2");
        let fields = NoteFields {
            seq: 1,
            prev_hash: fixture.certificate.hash(),
            cumulative: amount(15_000),
            amount: amount(15_000),
            payee: fixture.payee,
            nonce: request.fields().nonce,
            time: NOW,
        };
        let note = PaymentNote::sign(fixture.certificate.clone(), fields, &fixture.payer_device).unwrap();
        let dir = schema_1_home(&note.to_text(), Some(&note));

        let mut store = OfflineStore::open(dir.path()).unwrap();
        let version: i64 = store.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, LATEST);
        let nonce: String = store.conn().query_row("SELECT nonce FROM paid", [], |r| r.get(0)).unwrap();
        assert_eq!(nonce, request.fields().nonce.to_hex());

        let again = store.pay(&request.to_text(), NOW).unwrap();
        assert!(again.repeated);
        assert_eq!(again.text, note.to_text());
        assert_eq!(store.paid_notes().unwrap().len(), 1);
    }

    #[test]
    fn a_paid_note_that_does_not_decode_stops_the_upgrade_with_a_typed_error() {
        let dir = schema_1_home("OPN1:NOT A NOTE", None);
        assert!(matches!(OfflineStore::open(dir.path()), Err(OfflineStoreError::Corrupt { what: "paid note", .. })));
        // Nothing of the upgrade was kept: still schema 1.
        let conn = Connection::open(dir.path().join(super::super::OFFLINE_DB_FILE_NAME)).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 1);
    }
}
