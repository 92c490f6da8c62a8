//! Support for this backend's unit tests: a client of a fresh database with every migration
//! applied, and the plans PostgreSQL makes for prepared statements.

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use crate::testing::{TestDbGuard, fresh_postgres};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fresh, migrated database and a client of it; the database is dropped by [`MigratedDb::close`].
pub struct MigratedDb {
    pub client: Client,
    driver: JoinHandle<Result<(), tokio_postgres::Error>>,
    _db: TestDbGuard,
}

/// `None` when PostgreSQL cannot be reached and `CI` is not `true` (see [`fresh_postgres`]).
pub async fn migrated() -> Result<Option<MigratedDb>, Box<dyn std::error::Error>> {
    let Some((url, db)) = fresh_postgres().await else { return Ok(None) };
    let config: tokio_postgres::Config = url.parse()?;
    super::schema::migrate(&config).await?;
    let (client, connection) = config.connect(NoTls).await?;
    Ok(Some(MigratedDb { client, driver: tokio::spawn(connection), _db: db }))
}

impl MigratedDb {
    /// Closes the connection, then drops the database.
    pub async fn close(self) -> TestResult {
        drop(self.client);
        self.driver.await??;
        Ok(())
    }
}

/// The plan of `EXPLAIN EXECUTE <call>` (a prepared statement's name and its arguments).
pub async fn explain(client: &Client, call: &str) -> Result<String, tokio_postgres::Error> {
    let rows = client.query(&format!("EXPLAIN EXECUTE {call}"), &[]).await?;
    rows.iter().map(|row| row.try_get::<_, String>(0)).collect::<Result<Vec<_>, _>>().map(|lines| lines.join("\n"))
}
