//! The server's data directory and SQLite files are private to the operator's user: the
//! database holds password and session hashes (issue: abuse resistance, docs/OPERATIONS.md).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use offpay_ledger::open_store;
use offpay_protocol::Handle;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_new_data_directory_is_0700_and_the_database_files_0600() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let store = open_store(Some(&dir), None).await.unwrap();
    // A write, so that the WAL and shared-memory files exist too.
    store.create_user(&Handle::parse("asha").unwrap(), "hash", 1).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["offpay.sqlite3", "offpay.sqlite3-wal", "offpay.sqlite3-shm"] {
        let path = dir.join(name);
        assert!(path.exists(), "{name} exists");
        assert_eq!(mode(&path), 0o600, "{name}");
    }
}

#[tokio::test]
async fn an_existing_world_readable_database_is_tightened_to_0600() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_store(Some(dir.path()), None).await.unwrap());
    let db = dir.path().join("offpay.sqlite3");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = open_store(Some(dir.path()), None).await.unwrap();
    store.create_user(&Handle::parse("ravi").unwrap(), "hash", 1).await.unwrap();
    assert_eq!(mode(&db), 0o600);
}
