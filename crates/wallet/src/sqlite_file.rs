//! Opening the wallet's SQLite file (`<home>/wallet.sqlite3`, `crate::store`): the home folder
//! created `0700`, the file `0600`, a busy timeout, WAL journal and `synchronous=FULL`
//! (so a write that returned is on disk).
//!
//! Several `offpay wallet` processes may run on one home at once (a script starting two
//! commands together). When the last connection to a WAL database closes, SQLite checkpoints
//! and removes the WAL file under an exclusive lock; a process that opens the file at that
//! moment can be answered `SQLITE_BUSY` by the journal-mode pragma without its busy handler
//! being consulted (two `offpay wallet pay` processes started together failed so in about one
//! run in three; `crates/cli/tests/offline_pay_once.rs` starts them). So the configuration steps are retried, with a short sleep, on busy or
//! locked answers until the busy timeout has passed; any other error is returned at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

/// Why the wallet's SQLite file could not be opened (mapped into `StoreError`).
#[derive(Debug)]
pub(crate) enum OpenFailure {
    CreateHome { path: PathBuf, source: std::io::Error },
    Permissions { path: PathBuf, source: std::io::Error },
    Open { path: PathBuf, source: rusqlite::Error },
}

/// Opens `home/file_name` (creating both privately if missing) and configures the connection.
pub(crate) fn open_private(home: &Path, file_name: &str, busy: Duration) -> Result<(Connection, PathBuf), OpenFailure> {
    create_private_dir(home)?;
    let path = home.join(file_name);
    create_private_file(&path)?;
    let open_err = |source| OpenFailure::Open { path: path.clone(), source };
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
fn create_private_dir(dir: &Path) -> Result<(), OpenFailure> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| OpenFailure::CreateHome { path: dir.to_path_buf(), source })
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), OpenFailure> {
    std::fs::create_dir_all(dir).map_err(|source| OpenFailure::CreateHome { path: dir.to_path_buf(), source })
}

/// Creates the file with mode 0600 if missing, and tightens it to 0600 if it exists.
#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), OpenFailure> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let perm_err = |source| OpenFailure::Permissions { path: path.to_path_buf(), source };
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(perm_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(perm_err)
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), OpenFailure> {
    Ok(())
}
