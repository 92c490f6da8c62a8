//! Test support for this crate's and other crates' tests: a fresh, randomly named PostgreSQL
//! database per test, dropped when the guard drops.
//!
//! The server is `postgres://postgres@127.0.0.1:5432` (trust auth) unless the environment
//! variable `OFFPAY_TEST_PG` gives another admin URL (without a database name). When the server
//! cannot be reached, [`fresh_postgres`] prints a notice and returns `None` so the caller can
//! skip, except when `CI=true`: then a missing PostgreSQL fails the test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// Drops its database (terminating leftover connections) when dropped.
#[derive(Debug)]
pub struct TestDbGuard {
    admin_url: String,
    name: String,
}

impl TestDbGuard {
    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDbGuard {
    fn drop(&mut self) {
        let admin = format!("{}/postgres", self.admin_url);
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop may run inside or outside a runtime; a private thread with its own runtime works
        // in both cases.
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                    let driver = tokio::spawn(conn);
                    if let Err(e) = client.batch_execute(&sql).await {
                        eprintln!("testing: could not drop test database: {e}");
                    }
                    drop(client);
                    let _ = driver.await;
                }
            });
        });
        let _ = worker.join();
    }
}

fn admin_url() -> String {
    std::env::var("OFFPAY_TEST_PG").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string()).trim_end_matches('/').to_string()
}

fn random_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    format!("offpay_test_{}", hex::encode(&h.finalize()[..8]))
}

/// True when `CI=true`: a missing PostgreSQL must then fail the test instead of skipping it.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Creates a fresh database and returns its URL and the guard that drops it. `None` (after a
/// notice on stderr) when PostgreSQL is unreachable and `CI` is not `true`.
///
/// # Panics
/// When PostgreSQL is unreachable and `CI=true`, or when the database cannot be created.
#[allow(clippy::panic)]
pub async fn fresh_postgres() -> Option<(String, TestDbGuard)> {
    let admin = admin_url();
    let (client, conn) = match tokio_postgres::connect(&format!("{admin}/postgres"), NoTls).await {
        Ok(pair) => pair,
        Err(e) => {
            if ci() {
                panic!("CI=true but PostgreSQL at {admin} is unreachable: {e}");
            }
            eprintln!("NOTICE: PostgreSQL at {admin} is unreachable ({e}); skipping the PostgreSQL part of this test");
            return None;
        }
    };
    let driver = tokio::spawn(conn);
    let name = random_name();
    if let Err(e) = client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await {
        panic!("cannot create test database {name}: {e}");
    }
    drop(client);
    let _ = driver.await;
    Some((format!("{admin}/{name}"), TestDbGuard { admin_url: admin, name }))
}
