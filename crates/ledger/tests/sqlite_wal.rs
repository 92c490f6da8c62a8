//! The SQLite store's WAL file stays bounded under a long run of writes. SQLite starts the WAL
//! over only when a checkpoint has copied all of it before the next write begins: the writer
//! thread's automatic checkpoint (`src/sqlite/writer.rs`) does that. A checkpoint on a thread of
//! its own, tried on 2026-11-30 to take that work off the writer, never caught up with a writer
//! that keeps committing: this test's WAL grew to 60 MB over 1,500 commits (docs/PERFORMANCE.md).
//! The writer copies the WAL once it holds `WAL_CHECKPOINT_PAGES` pages; the test runs enough
//! commits for a WAL that is never started over to grow far past the bound (to 209 MB
//! when checked with the automatic copy turned off).
#![allow(clippy::unwrap_used)]

use offpay_ledger::sqlite::WAL_CHECKPOINT_PAGES;
use offpay_ledger::{IdempotencyKey, TransferRequest, open_store};
use offpay_protocol::{Amount, Handle};

const NOW: i64 = 1_764_000_000_000;
const COMMITS: usize = 5000;
/// A WAL frame is a 4 KiB page and a 24-byte header; the last commit before a copy may add a
/// few hundred frames past the threshold.
const WAL_LIMIT_BYTES: u64 = (WAL_CHECKPOINT_PAGES as u64 + 500) * (4096 + 24);

#[tokio::test]
async fn the_wal_stays_bounded_under_a_long_run_of_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(Some(dir.path()), None).await.unwrap();
    let alice = store.create_user(&Handle::parse("alice").unwrap(), "hash", NOW).await.unwrap();
    store.create_user(&Handle::parse("bob").unwrap(), "hash", NOW).await.unwrap();
    let fund = IdempotencyKey::parse("wal-deposit").unwrap();
    store.deposit(&alice.handle, Amount::from_minor(1_000_000).unwrap(), &fund, NOW).await.unwrap();
    // One at a time: each transfer is its own commit.
    for i in 0..COMMITS {
        let request = TransferRequest {
            from: alice.id,
            to: Handle::parse("bob").unwrap(),
            amount: Amount::from_minor(1).unwrap(),
            idempotency_key: IdempotencyKey::parse(&format!("wal-{i:06}")).unwrap(),
            memo: None,
        };
        store.transfer(&request, NOW).await.unwrap();
    }
    // The WAL file keeps its largest size when SQLite starts it over, so this is the most it held.
    let wal = std::fs::metadata(dir.path().join("offpay.sqlite3-wal")).unwrap().len();
    assert!(wal < WAL_LIMIT_BYTES, "the WAL grew to {wal} bytes over {COMMITS} commits");
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.entries, COMMITS as u64 + 1);
}
