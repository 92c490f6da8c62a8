//! The wallet's local durable store: one SQLite file per wallet home, `<home>/wallet.sqlite3`.
//!
//! It holds what the device must not forget: the session (server URL, handle, token), the
//! deployment's currency, the last balance the device saw, the live-event cursor, and the outbox
//! of sends (each send written with its own idempotency key before it leaves, so that an
//! explicit retry reuses that key and never moves money twice); and, in the same file, the
//! offline tables (device key, purses, notes, requests, caches), read and written by
//! [`crate::offline::store`].
//!
//! Durability: WAL journal with `synchronous=FULL`, so a write that returned is on disk.
//! Privacy: the home directory is created `0700` and the database file is `0600` (it holds the
//! session token and the device's private key); SQLite gives its `-wal`/`-shm` files the
//! database file's permissions.
//!
//! Several `offpay wallet` processes may run on one home at once (a script starting two
//! commands together). When the last connection to a WAL database closes, SQLite checkpoints
//! and removes the WAL file under an exclusive lock; a process that opens the file at that
//! moment can be answered `SQLITE_BUSY` by the journal-mode pragma without its busy handler
//! being consulted (two `offpay wallet pay` processes started together failed so in about one
//! run in three; `crates/cli/tests/offline_pay_once.rs` starts them). So the configuration
//! steps of an open are retried, with a short sleep, on busy or locked answers until the busy
//! timeout has passed; any other error is returned at once.
//!
//! Layout: `migrations.rs` (the one schema history), `legacy_offline.rs` (moving an old home's
//! `offline.sqlite3` in), [`settings`] (typed key/value settings), [`outbox`] (every send, its
//! key and its outcome).

mod legacy_offline;
pub(crate) mod migrations;
pub mod outbox;
pub mod settings;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

pub use legacy_offline::LEGACY_OFFLINE_FILE_NAME;
pub use outbox::{KeyedSend, OutboxEntry, OutboxState, PendingSend, SendTerms};
pub use settings::{Session, Settings};

/// The name of the database file inside the wallet home.
pub const DB_FILE_NAME: &str = "wallet.sqlite3";

/// Why the local store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the wallet folder {path}")]
    CreateHome { path: PathBuf, source: std::io::Error },
    #[error("cannot set the permissions of {path}")]
    Permissions { path: PathBuf, source: std::io::Error },
    #[error("the wallet store at {path} cannot be opened")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the wallet store failed")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the wallet store was written by a newer offpay (schema version {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("the wallet store holds a bad value for {key}: {value:?}")]
    BadValue { key: String, value: String },
    #[error("the old offline store {path} could not be moved into the wallet store; it was left as it was")]
    LegacyOffline { path: PathBuf, source: legacy_offline::ReadError },
}

/// How long an open waits for another process holding the file's write lock.
const BUSY: Duration = Duration::from_secs(10);

/// Opens `home/file_name` (creating both privately if missing) and configures the connection.
pub(crate) fn open_private(home: &Path, file_name: &str, busy: Duration) -> Result<(Connection, PathBuf), StoreError> {
    create_private_dir(home)?;
    let path = home.join(file_name);
    create_private_file(&path)?;
    let open_err = |source| StoreError::Open { path: path.clone(), source };
    let conn = Connection::open(&path).map_err(open_err)?;
    conn.busy_timeout(busy).map_err(open_err)?;
    let deadline = Instant::now() + busy;
    retry_while_busy(deadline, || conn.pragma_update(None, "journal_mode", "WAL")).map_err(open_err)?;
    retry_while_busy(deadline, || conn.pragma_update(None, "synchronous", "FULL")).map_err(open_err)?;
    Ok((conn, path))
}

/// Runs `step` until it succeeds, fails with something other than busy/locked, or the deadline
/// passes (then the last busy error is returned).
fn retry_while_busy<T>(deadline: Instant, mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    loop {
        match step() {
            Err(e) if is_busy(&e) && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            other => return other,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::CreateHome { path: dir.to_path_buf(), source })
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateHome { path: dir.to_path_buf(), source })
}

/// Creates the file with mode 0600 if missing, and tightens it to 0600 if it exists.
#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let perm_err = |source| StoreError::Permissions { path: path.to_path_buf(), source };
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(perm_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(perm_err)
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// The open wallet store. Not `Sync`: one per task/thread.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `home`, creating `home` with mode 0700 if it
    /// does not exist, and the database file with mode 0600. Runs pending migrations and moves
    /// an old home's `offline.sqlite3` in.
    pub fn open(home: &Path) -> Result<Store, StoreError> {
        let (mut conn, path) = open_private(home, DB_FILE_NAME, BUSY)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|source| StoreError::Open { path: path.clone(), source })?;
        migrations::run(&mut conn)?;
        legacy_offline::import(&mut conn, home, BUSY)?;
        Ok(Store { conn, path })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Milliseconds since the Unix epoch, from the system clock (the wallet may read the clock; the
/// protocol crate may not).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn opens_twice_and_keeps_schema() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        {
            let store = Store::open(&home).unwrap();
            assert_eq!(store.path(), home.join(DB_FILE_NAME));
        }
        let store = Store::open(&home).unwrap();
        let version: i64 = store.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, migrations::LATEST);
        let mode: String = store.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store.conn().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
    }

    #[cfg(unix)]
    #[test]
    fn home_is_0700_and_db_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("nested").join("home");
        let mut store = Store::open(&home).unwrap();
        // Write something so that the WAL file exists.
        store.set_server_url("http://127.0.0.1:1").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join(DB_FILE_NAME)), 0o600);
        let wal = home.join(format!("{DB_FILE_NAME}-wal"));
        assert!(wal.exists());
        assert_eq!(mode(&wal), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn tightens_an_existing_loose_db_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Store::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.conn().pragma_update(None, "user_version", migrations::LATEST + 1).unwrap();
        }
        assert!(matches!(Store::open(dir.path()), Err(StoreError::TooNew { .. })));
    }
}
