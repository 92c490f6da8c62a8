//! Where the ledger lives, as `serve` and `admin` take it: `--data DIR` (SQLite, default
//! `./offpay-data`) or `--database-url URL` (PostgreSQL; `OFFPAY_DATABASE_URL` is used when
//! neither option is given); and where the issuer key file is by default.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use offpay_ledger::Store;

pub const DEFAULT_DATA_DIR: &str = "./offpay-data";
pub const DATABASE_URL_ENV: &str = "OFFPAY_DATABASE_URL";
/// Environment variable naming the issuer key file.
pub const ISSUER_KEYS_ENV: &str = "OFFPAY_ISSUER_KEYS";

/// The issuer key file `serve` and `rotate-issuer-key` use when none is given: `issuer-keys.json`
/// in the SQLite data directory (or `./offpay-data` with PostgreSQL).
pub fn default_issuer_keys(store: &StoreArgs) -> PathBuf {
    let dir = store.data.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    offpay_server::issuer::Issuer::default_path(&dir)
}

#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory of the SQLite database [default: ./offpay-data]
    #[arg(long, value_name = "DIR", global = true, conflicts_with = "database_url")]
    pub data: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host/db); OFFPAY_DATABASE_URL is used when neither
    /// --data nor --database-url is given
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
}

/// The chosen store, before opening.
pub enum StoreChoice {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreArgs {
    pub fn choice(&self) -> StoreChoice {
        if let Some(url) = &self.database_url {
            return StoreChoice::Postgres(url.clone());
        }
        if let Some(dir) = &self.data {
            return StoreChoice::Sqlite(dir.clone());
        }
        match std::env::var(DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => StoreChoice::Postgres(url),
            _ => StoreChoice::Sqlite(PathBuf::from(DEFAULT_DATA_DIR)),
        }
    }

    /// Opens the store (running its migrations) and describes it for messages.
    pub async fn open(&self) -> anyhow::Result<(Arc<dyn Store>, String)> {
        match self.choice() {
            StoreChoice::Sqlite(dir) => {
                let label = format!("sqlite {}", dir.join(offpay_ledger::open::SQLITE_FILE).display());
                let store = offpay_ledger::open_store(Some(&dir), None)
                    .await
                    .with_context(|| format!("cannot open the database in {}", dir.display()))?;
                Ok((store, label))
            }
            StoreChoice::Postgres(url) => {
                let shown = offpay_ledger::open::redact(&url);
                let store = offpay_ledger::open_store(None, Some(&url))
                    .await
                    .with_context(|| format!("cannot open the database {shown}"))?;
                Ok((store, format!("postgres {shown}")))
            }
        }
    }
}
