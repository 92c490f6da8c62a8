//! Moving an old home's `offline.sqlite3` into the one file (docs/decisions/one-wallet-store.md).
//!
//! Until the two stores became one, a wallet home held two SQLite files: `wallet.sqlite3`
//! (session, outbox) and `offline.sqlite3` (device key, purses with their chain state, notes
//! paid and accepted with their upload status, open requests, tallies, issuer keys,
//! revocations, identity). On the first open by this build, every row of the old file is
//! copied into the same tables of `wallet.sqlite3` inside one `BEGIN IMMEDIATE` transaction
//! that also writes a marker (`meta` key [`IMPORTED_KEY`]); only after that transaction has
//! committed is the old file (and its `-wal`/`-shm`) deleted.
//!
//! Two processes opening the same old home at once: the transaction's write lock on
//! `wallet.sqlite3` serializes them, and the one that gets it second finds the marker and
//! copies nothing (it only deletes the old file if it is still there). Only the holder of that
//! lock ever opens the old file, and never with "create", so an old file that is gone stays
//! gone. A failure (the old file is unreadable, newer than this build knows, holds a note that
//! does not decode, or its rows clash with offline data already in `wallet.sqlite3`) rolls the
//! transaction back: nothing was copied, the old file is left as it was, and the open fails
//! with [`StoreError::LegacyOffline`] naming the file, so the next open tries again.
//!
//! Why the old file is deleted and not kept: it holds the device's private key next to an old
//! chain state (last sequence number and hash); a copy put back by mistake would make this
//! device sign a sequence number twice, which the server treats as double spending.

use std::path::{Path, PathBuf};
use std::time::Duration;

use offpay_protocol::{Encoded, PaymentNote};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params_from_iter};

use super::StoreError;
use super::migrations::OFFLINE_TABLE_NAMES;

/// The old offline store's file name inside the wallet home.
pub const LEGACY_OFFLINE_FILE_NAME: &str = "offline.sqlite3";

/// The `meta` key written when the old file's rows were moved in (value: ms since the epoch).
pub(crate) const IMPORTED_KEY: &str = "legacy_offline_imported_ms";

/// The last schema version of the old `offline.sqlite3` (its own `user_version`).
const LEGACY_LATEST: i64 = 2;

/// Moves the rows of `home/offline.sqlite3`, if that file exists, into `conn` (the one file,
/// already at the latest schema), then deletes the old file. Does nothing when there is no old
/// file.
pub(crate) fn import(conn: &mut Connection, home: &Path, busy: Duration) -> Result<(), StoreError> {
    let old_path = home.join(LEGACY_OFFLINE_FILE_NAME);
    if !old_path.exists() {
        return Ok(());
    }
    let fail = |source: ReadError| StoreError::LegacyOffline { path: old_path.clone(), source };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let done: Option<String> =
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [IMPORTED_KEY], |r| r.get(0)).optional()?;
    if done.is_none() {
        let old = open_old(&old_path, busy).map_err(fail)?;
        copy_rows(&old, &tx).map_err(fail)?;
        fill_paid_nonces(&tx).map_err(fail)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            rusqlite::params![IMPORTED_KEY, super::now_ms().to_string()],
        )?;
        tx.commit()?;
        // Closing the last connection checkpoints the old WAL into the old file (and removes
        // the WAL): nothing of it is needed any more.
        drop(old);
    } else {
        drop(tx);
    }
    remove_old(&old_path);
    Ok(())
}

/// Why the old file could not be moved in.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("it was written by a newer offpay (schema version {0}, this build knows {LEGACY_LATEST})")]
    TooNew(i64),
    #[error("it holds a paid note {hash} that does not decode")]
    BadNote {
        hash: String,
        #[source]
        source: offpay_protocol::DecodeError,
    },
}

/// The old file's schema 2, on the copied rows: fills the `nonce` column of the notes paid
/// before it existed, from their texts.
fn fill_paid_nonces(conn: &Connection) -> Result<(), ReadError> {
    let mut stmt = conn.prepare("SELECT note_hash, text FROM paid WHERE nonce IS NULL")?;
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    for (hash, text) in rows {
        let note = PaymentNote::from_text(&text).map_err(|source| ReadError::BadNote { hash: hash.clone(), source })?;
        conn.execute(
            "UPDATE paid SET nonce = ?2 WHERE note_hash = ?1",
            rusqlite::params![hash, note.fields().nonce.to_hex()],
        )?;
    }
    Ok(())
}

fn open_old(path: &Path, busy: Duration) -> Result<Connection, ReadError> {
    // No SQLITE_OPEN_CREATE: a file another process just removed is not made again, empty.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > LEGACY_LATEST {
        return Err(ReadError::TooNew(version));
    }
    Ok(conn)
}

/// Copies every row of every offline table the old file has into the same table of `to`,
/// column by column (the columns both have; `paid.nonce` is missing in a schema-1 file and is
/// filled afterwards from the note texts).
fn copy_rows(from: &Connection, to: &Connection) -> Result<(), ReadError> {
    for table in OFFLINE_TABLE_NAMES {
        let old_columns = columns(from, table)?;
        if old_columns.is_empty() {
            continue; // a file created but never migrated has no tables
        }
        let new_columns = columns(to, table)?;
        let shared: Vec<&String> = old_columns.iter().filter(|c| new_columns.contains(c)).collect();
        let list = shared.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let marks = (1..=shared.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut read = from.prepare(&format!("SELECT {list} FROM \"{table}\""))?;
        let mut write = to.prepare(&format!("INSERT INTO \"{table}\" ({list}) VALUES ({marks})"))?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let values = (0..shared.len()).map(|i| row.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>()?;
            write.execute(params_from_iter(values))?;
        }
    }
    Ok(())
}

/// The column names of `table` (empty when there is no such table).
fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |r| r.get(0))?;
    names.collect()
}

/// Deletes the old file and its WAL and shared-memory files; a file already gone (another
/// process deleted it) is fine. Best effort: the marker already says the rows moved.
fn remove_old(old_path: &Path) {
    let mut paths: Vec<PathBuf> = vec![old_path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = old_path.as_os_str().to_owned();
        name.push(suffix);
        paths.push(PathBuf::from(name));
    }
    for path in paths {
        std::fs::remove_file(&path).ok();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use offpay_protocol::testkit::{Fixture, NOW, amount};
    use offpay_protocol::{Encoded, NoteFields, PaymentNote, SigningKey};
    use rusqlite::params;

    use super::*;
    use crate::offline::{OfflineStore, OfflineStoreError};
    use crate::store::{DB_FILE_NAME, Store};

    /// `offline.sqlite3` as a schema-1 build wrote it (copied from that build's schema: the
    /// `paid` table has no `nonce` column yet).
    const OLD_OFFLINE_SCHEMA_1: &str = "CREATE TABLE meta (
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

    /// An old home whose `offline.sqlite3` is at schema 1 and holds one device key and one
    /// paid note with this text (its other columns from `note` when given). No `wallet.sqlite3`.
    fn schema_1_home(paid_text: &str, note: Option<&PaymentNote>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(LEGACY_OFFLINE_FILE_NAME)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(OLD_OFFLINE_SCHEMA_1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO device (id, secret, public_key, created_at_ms) VALUES (1, ?1, 'old-device', 7)",
            [[7u8; 32].as_slice()],
        )
        .unwrap();
        let (hash, purse) =
            note.map_or((String::from("00"), String::from("00")), |n| (n.hash().to_hex(), n.purse_id().to_hex()));
        conn.execute(
            "INSERT INTO paid (note_hash, text, purse_id, seq, amount, payee, paid_at) VALUES (?1, ?2, ?3, 1, 15000, 2002, 1)",
            params![hash, paid_text, purse],
        )
        .unwrap();
        dir
    }

    fn paid_note(fixture: &Fixture, request: &offpay_protocol::PaymentRequest) -> PaymentNote {
        let fields = NoteFields {
            seq: 1,
            prev_hash: fixture.certificate.hash(),
            cumulative: amount(15_000),
            amount: amount(15_000),
            payee: fixture.payee,
            nonce: request.fields().nonce,
            time: NOW,
        };
        PaymentNote::sign(fixture.certificate.clone(), fields, &fixture.payer_device).unwrap()
    }

    #[test]
    fn a_schema_1_offline_file_moves_in_learns_its_nonces_and_is_deleted() {
        let fixture = Fixture::new();
        let request = fixture.request(15_000, "paid-before-schema-2");
        let note = paid_note(&fixture, &request);
        let dir = schema_1_home(&note.to_text(), Some(&note));

        let mut wallet = crate::Wallet::open(dir.path()).unwrap();
        let store = wallet.offline_store();
        assert_eq!(store.path(), dir.path().join(DB_FILE_NAME));
        assert_eq!(store.device_public_hex(), hex::encode(SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes()));
        let nonce: String = store.conn().query_row("SELECT nonce FROM paid", [], |r| r.get(0)).unwrap();
        assert_eq!(nonce, request.fields().nonce.to_hex());
        for suffix in ["", "-wal", "-shm"] {
            let old = dir.path().join(format!("{LEGACY_OFFLINE_FILE_NAME}{suffix}"));
            assert!(!old.exists(), "{} is still there", old.display());
        }

        // One payment per request still holds across the move.
        let again = wallet.pay(&request.to_text(), NOW).unwrap();
        assert!(again.repeated);
        assert_eq!(again.text, note.to_text());
        assert_eq!(wallet.offline_store().paid_notes().unwrap().len(), 1);
    }

    #[test]
    fn a_paid_note_that_does_not_decode_stops_the_move_and_leaves_the_old_file() {
        let dir = schema_1_home("OPN1:NOT A NOTE", None);
        let err = OfflineStore::open(dir.path()).unwrap_err();
        let OfflineStoreError::Open(StoreError::LegacyOffline { source: cause, .. }) = &err else { panic!("{err:?}") };
        assert!(err.to_string().contains("it was left as it was"), "{err}");
        // The cause is kept as the error's source: which note, and the protocol's own refusal.
        assert!(matches!(cause, ReadError::BadNote { .. }), "{cause:?}");
        assert!(
            std::error::Error::source(cause)
                .is_some_and(|e| e.downcast_ref::<offpay_protocol::DecodeError>().is_some())
        );
        // Nothing was copied: the one file has no device and no paid note, and no marker.
        let conn = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
        let copied: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM device) + (SELECT count(*) FROM paid) + (SELECT count(*) FROM meta)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(copied, 0);
        // The old file is as it was (still schema 1, still its note) and is tried again.
        let old = Connection::open(dir.path().join(LEGACY_OFFLINE_FILE_NAME)).unwrap();
        let version: i64 = old.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 1);
        drop(old);
        assert!(matches!(Store::open(dir.path()), Err(StoreError::LegacyOffline { .. })));
    }

    #[test]
    fn an_old_file_newer_than_this_build_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join(LEGACY_OFFLINE_FILE_NAME)).unwrap();
        old.pragma_update(None, "user_version", 3).unwrap();
        drop(old);
        let err = Store::open(dir.path()).err().unwrap();
        // As the CLI prints it: the error and its causes.
        let chain: Vec<String> = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect();
        assert!(chain.join(": ").contains("schema version 3"), "{chain:?}");
        assert!(dir.path().join(LEGACY_OFFLINE_FILE_NAME).exists());
    }

    #[test]
    fn two_processes_opening_one_old_home_at_once_move_it_once() {
        let fixture = Fixture::new();
        let request = fixture.request(15_000, "raced");
        let note = paid_note(&fixture, &request);
        for _ in 0..5 {
            let dir = schema_1_home(&note.to_text(), Some(&note));
            let home = dir.path().to_path_buf();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let openers: Vec<_> = (0..4)
                .map(|i| {
                    let (home, barrier) = (home.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        if i % 2 == 0 {
                            OfflineStore::open(&home).map(|s| s.device_public_hex()).map_err(|e| e.to_string())
                        } else {
                            Store::open(&home).map(|_| String::new()).map_err(|e| e.to_string())
                        }
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap();
            }
            let store = OfflineStore::open(&home).unwrap();
            assert_eq!(store.paid_notes().unwrap().len(), 1);
            let devices: i64 = store.conn().query_row("SELECT count(*) FROM device", [], |r| r.get(0)).unwrap();
            assert_eq!(devices, 1);
            assert!(!home.join(LEGACY_OFFLINE_FILE_NAME).exists());
        }
    }

    #[test]
    fn a_home_without_an_old_file_gets_no_marker() {
        let dir = tempfile::tempdir().unwrap();
        let store = OfflineStore::open(dir.path()).unwrap();
        let marker: Option<String> = store
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [IMPORTED_KEY], |r| r.get(0))
            .optional()
            .unwrap();
        assert_eq!(marker, None);
    }
}
