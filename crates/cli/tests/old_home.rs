//! A wallet home of the two-file layout (before the one store: `wallet.sqlite3` for the session
//! and outbox, `offline.sqlite3` for the device key, purses and notes) opened by this build
//! through the real `offpay` binary and a real server (docs/decisions/one-wallet-store.md).
//!
//! Alice's home is made the ordinary way, with a purse, a paid note not yet uploaded, an
//! accepted note and an open request; then its one file is split into the two old files,
//! written with the old schemas (copied below as they were). The first command run on it
//! must move everything into `wallet.sqlite3`, delete `offline.sqlite3`, and go on: the next
//! note continues the purse's chain, the open request can still be paid and accepted, and a
//! sync uploads and settles every note with the books balanced. And two commands started
//! together on an old home (no server) move it once and both pay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod offline_home;
#[allow(dead_code)]
mod offline_support;
mod wallet_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use offline_support::{accept, assert_books_balance, balances, pay, request, sync};
use offpay_protocol::{Encoded, PaymentNote};
use rusqlite::Connection;
use wallet_support::{Server, WalletHome};

/// `wallet.sqlite3` as the online store's schema 2 wrote it.
const OLD_WALLET_SCHEMA_2: &str = "CREATE TABLE settings (
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
     CREATE INDEX outbox_pending ON outbox (server, account, id) WHERE state = 'pending';";

/// `offline.sqlite3` as the offline store's schema 2 wrote it (schema 1, then the paid notes'
/// request nonce).
const OLD_OFFLINE_SCHEMA_2: &str = "CREATE TABLE meta (
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
     CREATE TABLE revoked_devices (public_key TEXT PRIMARY KEY NOT NULL) STRICT;
     ALTER TABLE paid ADD COLUMN nonce TEXT;
     CREATE INDEX paid_by_nonce ON paid (nonce);";

const ONLINE_TABLES: &[&str] = &["settings", "outbox"];
const OFFLINE_TABLES: &[&str] = &[
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

/// Rewrites `home` (whose commands have all ended) in the old two-file layout, each file made
/// with its old schema and version and holding its tables' rows.
fn split_into_old_layout(home: &Path) {
    let one = home.join("wallet.sqlite3");
    let conn = Connection::open(&one).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(conn);
    let source = home.join("source.sqlite3");
    std::fs::rename(&one, &source).unwrap();
    for leftover in ["wallet.sqlite3-wal", "wallet.sqlite3-shm"] {
        std::fs::remove_file(home.join(leftover)).ok();
    }
    for (file, schema, tables) in [
        ("wallet.sqlite3", OLD_WALLET_SCHEMA_2, ONLINE_TABLES),
        ("offline.sqlite3", OLD_OFFLINE_SCHEMA_2, OFFLINE_TABLES),
    ] {
        let path = home.join(file);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(schema).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS source", [source.to_str().unwrap()]).unwrap();
        for table in tables {
            // The old table's own columns: newer builds add columns (the outbox's `to_account`).
            let columns: Vec<String> = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}', 'main')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let columns = columns.join(", ");
            conn.execute(&format!("INSERT INTO main.{table} ({columns}) SELECT {columns} FROM source.{table}"), [])
                .unwrap();
        }
        conn.execute("DETACH DATABASE source", []).unwrap();
        drop(conn);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::remove_file(&source).unwrap();
}

/// The device key's public half and the purse chain state (last seq, last hash, spent) kept in
/// `file` of `home`.
fn device_and_chain(home: &Path, file: &str) -> (String, Vec<(i64, String, i64)>) {
    let conn = Connection::open(home.join(file)).unwrap();
    let device: String = conn.query_row("SELECT public_key FROM device", [], |r| r.get(0)).unwrap();
    let mut stmt = conn.prepare("SELECT last_seq, last_hash, spent FROM purses ORDER BY purse_id").unwrap();
    let chain = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    (device, chain)
}

fn count(home: &Path, sql: &str) -> i64 {
    Connection::open(home.join("wallet.sqlite3")).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn an_old_two_file_home_moves_into_one_file_and_keeps_paying_accepting_and_syncing() {
    let server = Server::start();
    let alice = WalletHome::new("alice");
    let bob = WalletHome::new("bob");
    alice.register(&server);
    bob.register(&server);
    server.admin(&["deposit", "alice", "1000.00"]);
    server.admin(&["deposit", "bob", "500.00"]);
    alice.ok(&["purse", "load", "500.00"]);
    bob.ok(&["purse", "load", "300.00"]);

    // Alice pays Bob (her note 1, not uploaded), accepts a note from Bob, and leaves a request
    // open.
    let first = pay(&alice, &request(&bob, "150.00"));
    accept(&bob, &first, "150.00");
    let from_bob = pay(&bob, &request(&alice, "40.00"));
    accept(&alice, &from_bob, "40.00");
    let open_request = request(&alice, "10.00");
    let status_before = alice.json(&["purse", "status"]);
    let (device, chain) = device_and_chain(&alice.home, "wallet.sqlite3");
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].0, 1);

    split_into_old_layout(&alice.home);
    assert_eq!(device_and_chain(&alice.home, "offline.sqlite3"), (device.clone(), chain.clone()));
    let old_tables = count(&alice.home, "SELECT count(*) FROM sqlite_master WHERE name = 'purses'");
    assert_eq!(old_tables, 0, "the old wallet.sqlite3 has no offline tables");

    // The first command moves the offline data in and deletes the old file.
    assert_eq!(alice.json(&["purse", "status"]), status_before);
    assert!(!alice.home.join("offline.sqlite3").exists());
    assert!(!alice.home.join("offline.sqlite3-wal").exists());
    assert_eq!(device_and_chain(&alice.home, "wallet.sqlite3"), (device, chain.clone()));
    let mode = std::fs::metadata(alice.home.join("wallet.sqlite3")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(count(&alice.home, "SELECT count(*) FROM paid WHERE sync_status IS NULL"), 1);
    assert_eq!(count(&alice.home, "SELECT count(*) FROM accepted WHERE sync_status IS NULL"), 1);
    assert_eq!(count(&alice.home, "SELECT count(*) FROM requests WHERE paid = 0"), 1);
    assert_eq!(count(&alice.home, "SELECT count(*) FROM issuer_keys"), 1);
    assert_eq!(count(&alice.home, "PRAGMA user_version"), 10);

    // Paying goes on with note 2, linked to note 1.
    let second = pay(&alice, &request(&bob, "20.00"));
    accept(&bob, &second, "20.00");
    let (first, second) = (PaymentNote::from_text(&first).unwrap(), PaymentNote::from_text(&second).unwrap());
    assert_eq!(second.seq(), 2);
    assert_eq!(second.fields().prev_hash, first.hash());
    assert_eq!(second.fields().prev_hash.to_hex(), chain[0].1);
    assert_eq!(second.fields().cumulative.minor(), 17_000);

    // The open request and Bob's purse tally came along: Bob's second note is accepted.
    accept(&alice, &pay(&bob, &open_request), "10.00");

    // Alice's sync uploads her two paid notes and her two accepted ones; all settle.
    let synced = sync(&alice);
    assert_eq!((synced["uploaded"].as_u64(), synced["settled"].as_u64()), (Some(4), Some(4)), "{synced}");
    assert_eq!(synced["pending"], 0, "{synced}");
    sync(&bob);
    assert_eq!(balances(&alice), (50_000 + 4_000 + 1_000, 33_000));
    assert_eq!(balances(&bob), (20_000 + 15_000 + 2_000, 25_000));
    assert_books_balance(&server, &[&alice, &bob], 150_000);
}

#[test]
fn two_pays_started_together_on_an_old_home_move_it_once_and_both_pay() {
    for round in 0..3 {
        let payer = offline_home::Home::new("alice", offline_home::ALICE);
        payer.load(offline_home::ALICE, 50_000);
        let payee = offline_home::Home::new("bob", offline_home::BOB);
        let requests = [payee.request("10.00"), payee.request("20.00")];
        let (device, _) = device_and_chain(&payer.path, "wallet.sqlite3");
        split_into_old_layout(&payer.path);

        let children: Vec<_> = requests
            .iter()
            .map(|r| {
                offline_home::offpay(&payer.path)
                    .args(["pay", r, "--yes"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut seqs = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round}: {stderr}");
            let note = offline_home::single_line(&String::from_utf8(out.stdout).unwrap(), "OPN1:");
            seqs.push(PaymentNote::from_text(&note).unwrap().seq());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2], "round {round}");
        assert!(!payer.path.join("offline.sqlite3").exists(), "round {round}");
        let (after, chain) = device_and_chain(&payer.path, "wallet.sqlite3");
        assert_eq!(after, device, "round {round}: the device key moved, not made anew");
        assert_eq!(chain.len(), 1);
        assert_eq!((chain[0].0, chain[0].2), (2, 3_000), "round {round}");
        assert_eq!(count(&payer.path, "SELECT count(*) FROM paid"), 2);
    }
}
