//! Opening the configured store: the operator tools and the server take either `--data DIR`
//! (SQLite file `DIR/offpay.sqlite3`, the directory is created) or `--database-url URL`
//! (`postgres://` or `postgresql://`). A database URL wins when both are given.

use std::path::Path;
use std::sync::Arc;

use crate::error::LedgerError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::Store;

/// File name of the SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "offpay.sqlite3";

/// Opens the store described by the command-line options.
pub async fn open_store(data_dir: Option<&Path>, database_url: Option<&str>) -> Result<Arc<dyn Store>, LedgerError> {
    match (database_url, data_dir) {
        (Some(url), _) => {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(LedgerError::Storage(
                    format!("unsupported database URL {:?}: expected postgres://...", redact(url)).into(),
                ));
            }
            Ok(Arc::new(PostgresStore::connect(url).await?))
        }
        (None, Some(dir)) => {
            create_private_dir(dir)
                .map_err(|e| LedgerError::storage(format!("cannot create data directory {}", dir.display()), e))?;
            let path = dir.join(SQLITE_FILE);
            make_private_files(&path).map_err(|e| {
                LedgerError::storage(format!("cannot make the database file {} private", path.display()), e)
            })?;
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await
                .map_err(|e| LedgerError::storage("opening the sqlite store failed", e))??;
            Ok(Arc::new(store))
        }
        (None, None) => Err(LedgerError::Storage("no data directory or database URL given".into())),
    }
}

/// Creates the data directory (mode 0700 on Unix) if it is missing; an existing directory is left
/// as the operator made it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// The database file holds password and session hashes: it is created 0600 before SQLite opens it
/// (SQLite gives its `-wal` and `-shm` files the database file's mode), and an existing database,
/// WAL or shared-memory file is tightened to 0600.
fn make_private_files(db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(db)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let path = std::path::PathBuf::from(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

/// The database URL as it may be shown in messages and logs: the password of the user part and a
/// `password` query parameter (both forms libpq accepts) become `***`. A URL that does not parse
/// is not shown at all, since where its password is cannot be known.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "(a database URL that does not parse)".to_string();
    };
    if parsed.password().is_some() {
        // Cannot fail: a URL with a password has a host.
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query_pairs().any(|(name, _)| name == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if name == "password" { "***".to_string() } else { value.into_owned() };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden_wherever_the_url_puts_them() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/offpay"), "postgres://app:***@db:5432/offpay");
        assert_eq!(redact("postgresql://app@db/offpay"), "postgresql://app@db/offpay");
        assert_eq!(
            redact("postgres://db/offpay?user=app&password=s3cret&sslmode=require"),
            "postgres://db/offpay?user=app&password=***&sslmode=require"
        );
        // An @ in the password (percent-encoded, as URLs require) does not leak its tail.
        assert!(!redact("postgres://app:p%40ss@db/offpay").contains("ss@"));
        assert!(!redact("postgres://app:s3cret@[::1/x").contains("s3cret"));
    }
}
