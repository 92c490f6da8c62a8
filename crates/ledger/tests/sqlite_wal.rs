//! The SQLite store's WAL: copied into the database file by a thread of its own once it holds
//! `WAL_CHECKPOINT_PAGES` pages, without waiting for another write, and bounded under a long run
//! of writes. SQLite starts the WAL over only when a copy has reached its end before the next
//! write begins; a copy on another thread never catches up with a writer that keeps committing
//! (tried on 2026-11-30: this test's WAL grew to 60 MB over 1,500 commits), so past
//! `WAL_RESTART_PAGES` the writer copies it itself (`src/sqlite/writer.rs`). The long run has
//! enough commits for a WAL that is never started over to grow far past the bound (to 209 MB
//! when checked with every copy turned off).
#![allow(clippy::unwrap_used)]

use offpay_ledger::sqlite::{WAL_CHECKPOINT_PAGES, WAL_RESTART_PAGES};
use offpay_ledger::{IdempotencyKey, Store, TransferRequest, User, open_store};
use offpay_protocol::{Amount, Handle};

const NOW: i64 = 1_764_000_000_000;
const COMMITS: usize = 5000;
/// A WAL frame is a 4 KiB page and a 24-byte header; the last commit before a copy may add a
/// few hundred frames past the threshold.
const FRAME_BYTES: u64 = 4096 + 24;
const WAL_LIMIT_BYTES: u64 = (WAL_RESTART_PAGES as u64 + 500) * FRAME_BYTES;

/// A store in a fresh folder with Alice (funded) and Bob.
async fn alice_and_bob() -> (tempfile::TempDir, std::sync::Arc<dyn Store>, User) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(Some(dir.path()), None).await.unwrap();
    let alice = store.create_user(&Handle::parse("alice").unwrap(), "hash", NOW).await.unwrap();
    store.create_user(&Handle::parse("bob").unwrap(), "hash", NOW).await.unwrap();
    let fund = IdempotencyKey::parse("wal-deposit").unwrap();
    store.deposit(&alice.handle, Amount::from_minor(1_000_000).unwrap(), &fund, NOW).await.unwrap();
    (dir, store, alice)
}

/// One transfer of 0.01 from Alice to Bob: its own commit.
async fn pay_bob(store: &dyn Store, alice: &User, key: &str) {
    let request = TransferRequest {
        from: alice.id,
        to: Handle::parse("bob").unwrap(),
        amount: Amount::from_minor(1).unwrap(),
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        memo: None,
        card: None,
    };
    store.transfer(&request, NOW).await.unwrap();
}

#[tokio::test]
async fn the_wal_stays_bounded_under_a_long_run_of_commits() {
    let (dir, store, alice) = alice_and_bob().await;
    // One at a time: each transfer is its own commit.
    for i in 0..COMMITS {
        pay_bob(store.as_ref(), &alice, &format!("wal-{i:06}")).await;
    }
    // The WAL file keeps its largest size when SQLite starts it over, so this is the most it held.
    let wal = std::fs::metadata(dir.path().join("offpay.sqlite3-wal")).unwrap().len();
    assert!(wal < WAL_LIMIT_BYTES, "the WAL grew to {wal} bytes over {COMMITS} commits");
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.entries, COMMITS as u64 + 1);
}

/// Once the WAL holds `WAL_CHECKPOINT_PAGES` pages it is copied into the database file with no
/// further write (the writer itself copies only past `WAL_RESTART_PAGES`, far from here): the
/// database file grows by the copied pages.
#[tokio::test]
async fn the_wal_is_copied_by_its_own_thread() {
    let (dir, store, alice) = alice_and_bob().await;
    let (db, wal) = (dir.path().join("offpay.sqlite3"), dir.path().join("offpay.sqlite3-wal"));
    let db_before = std::fs::metadata(&db).unwrap().len();
    let mut i = 0;
    while std::fs::metadata(&wal).unwrap().len() < (WAL_CHECKPOINT_PAGES as u64 + 50) * FRAME_BYTES {
        assert!(i < COMMITS, "the WAL did not reach {WAL_CHECKPOINT_PAGES} pages in {COMMITS} commits");
        pay_bob(store.as_ref(), &alice, &format!("copy-{i:06}")).await;
        i += 1;
    }
    // One more commit tells the writer the WAL's length; then no write at all.
    pay_bob(store.as_ref(), &alice, "copy-last").await;
    let mut copied = false;
    for _ in 0..200 {
        if std::fs::metadata(&db).unwrap().len() > db_before {
            copied = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(copied, "the database file stayed at {db_before} bytes: the WAL was not copied");
    assert!(store.verify().await.unwrap().problems.is_empty());
}
