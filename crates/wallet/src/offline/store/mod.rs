//! The offline tables of the wallet's one SQLite file (`<home>/wallet.sqlite3`, opened and
//! migrated by [`crate::store`]; an old home's separate `offline.sqlite3` is moved in on first
//! open, docs/decisions/one-wallet-store.md).
//!
//! They hold what offline payment must never forget: the device key, the purse certificates
//! with their chain state (last sequence number, last hash, total spent), my open payment
//! requests, the notes I accepted and the per-purse tallies, the notes I paid (until uploaded),
//! the cached issuer keys and revocation list, and my account identity.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a transaction that committed is on disk;
//! payments and acceptances are each one `BEGIN IMMEDIATE` transaction (see `payer.rs` and
//! `payee.rs`). Privacy: the home folder is created `0700` and the file `0600` (it holds the
//! device's private key); SQLite gives its `-wal`/`-shm` files the same permissions.
//!
//! Layout: `purses.rs` (certificates, chain state, loads, closes), `notes.rs` (requests,
//! accepted notes, tallies, paid notes, upload status), `cache.rs` (issuer keys, revocations,
//! identity).

mod cache;
pub(crate) mod notes;
pub(crate) mod purses;

use std::path::Path;

use offpay_protocol::SigningKey;
use rand::TryRngCore;
use rand::rngs::OsRng;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{Store, StoreError};

pub use cache::Identity;
pub(crate) use cache::verifying_key_from_hex;
pub use notes::{AcceptedRecord, OpenRequestRecord, PaidRecord, UploadSide, UploadStatus};
pub use purses::{PurseLoad, PurseRecord, PurseStatus};

/// Why the offline store failed.
#[derive(Debug, thiserror::Error)]
pub enum OfflineStoreError {
    /// The wallet's file could not be opened, migrated, or an old `offline.sqlite3` moved in.
    #[error(transparent)]
    Open(#[from] StoreError),
    #[error("the offline store failed")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the offline store holds a bad value ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// The wallet's one store with this device's key loaded: the offline tables' rows in and out.
/// Not `Sync`: one per task/thread. Every method that changes money state commits before it
/// returns. It dereferences to the [`Store`] it wraps (settings, outbox): one connection.
pub struct OfflineStore {
    store: Store,
    device: SigningKey,
}

impl std::ops::Deref for OfflineStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl std::ops::DerefMut for OfflineStore {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

impl std::fmt::Debug for OfflineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineStore")
            .field("path", &self.store.path())
            .field("device", &hex::encode(self.device.verifying_key().as_bytes()))
            .finish_non_exhaustive()
    }
}

impl OfflineStore {
    /// Opens (creating if needed) the wallet's one file in `home`, creating `home` (mode 0700)
    /// and the file (mode 0600) if missing, running migrations (and moving an old home's
    /// `offline.sqlite3` in), and making the device key on first use (32 bytes from the
    /// operating system's generator).
    pub fn open(home: &Path) -> Result<OfflineStore, OfflineStoreError> {
        OfflineStore::from_store(Store::open(home)?)
    }

    /// The store with this device's key loaded (made on first use).
    pub fn from_store(store: Store) -> Result<OfflineStore, OfflineStoreError> {
        let device = load_or_make_device(store.conn())?;
        Ok(OfflineStore { store, device })
    }

    /// This device's signing key. It never leaves the device: only its public half is sent.
    pub(crate) fn device(&self) -> &SigningKey {
        &self.device
    }

    /// This device's public key (what the server registers and certificates name).
    pub fn device_public_key(&self) -> offpay_protocol::VerifyingKey {
        self.device.verifying_key()
    }

    /// The device public key as lowercase hex (the API's form).
    pub fn device_public_hex(&self) -> String {
        hex::encode(self.device.verifying_key().as_bytes())
    }

    pub(crate) fn conn(&self) -> &Connection {
        self.store.conn()
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        self.store.conn_mut()
    }
}

/// 16 or 32 random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], OfflineStoreError> {
    let mut bytes = [0u8; N];
    OsRng.try_fill_bytes(&mut bytes).map_err(|e| OfflineStoreError::Random(e.to_string()))?;
    Ok(bytes)
}

fn load_or_make_device(conn: &Connection) -> Result<SigningKey, OfflineStoreError> {
    // INSERT OR IGNORE: two processes opening a fresh home at once end up with one key.
    let existing: Option<Vec<u8>> =
        conn.query_row("SELECT secret FROM device WHERE id = 1", [], |r| r.get(0)).optional()?;
    if existing.is_none() {
        let secret = random_bytes::<32>()?;
        let key = SigningKey::from_bytes(&secret);
        conn.execute(
            "INSERT OR IGNORE INTO device (id, secret, public_key, created_at_ms) VALUES (1, ?1, ?2, ?3)",
            params![secret.as_slice(), hex::encode(key.verifying_key().as_bytes()), crate::store::now_ms()],
        )?;
    }
    let secret: Vec<u8> = conn.query_row("SELECT secret FROM device WHERE id = 1", [], |r| r.get(0))?;
    let secret: [u8; 32] = secret
        .try_into()
        .map_err(|_| OfflineStoreError::Corrupt { what: "device key", detail: "not 32 bytes".into() })?;
    Ok(SigningKey::from_bytes(&secret))
}

/// Amount to SQLite integer (amounts are at most 2^53 - 1, so this never fails for an Amount).
pub(crate) fn sql_amount(amount: offpay_protocol::Amount) -> i64 {
    i64::try_from(amount.minor()).unwrap_or(i64::MAX)
}

/// SQLite integer to Amount, or a typed corruption error.
pub(crate) fn amount_from_sql(value: i64, what: &'static str) -> Result<offpay_protocol::Amount, OfflineStoreError> {
    u64::try_from(value)
        .ok()
        .and_then(offpay_protocol::Amount::from_minor)
        .ok_or_else(|| OfflineStoreError::Corrupt { what, detail: format!("amount {value}") })
}

pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> OfflineStoreError {
    OfflineStoreError::Corrupt { what, detail: detail.to_string() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn device_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = OfflineStore::open(dir.path()).unwrap().device_public_hex();
        let again = OfflineStore::open(dir.path()).unwrap().device_public_hex();
        assert_eq!(first, again);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(first, OfflineStore::open(other.path()).unwrap().device_public_hex());
    }

    #[test]
    fn wal_full_sync_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = OfflineStore::open(dir.path()).unwrap();
        let mode: String = store.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store.conn().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let version: i64 = store.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, crate::store::migrations::LATEST);
    }

    /// Alice's load lost its answer; Bob signs in on the same home and loads the same amount: his
    /// load gets its own key (the server scopes keys per account, so Alice's key would make a new
    /// purse of Bob's and mark Alice's unfinished load done, her purse never installed here).
    #[test]
    fn a_pending_load_is_only_its_own_account_s() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = OfflineStore::open(dir.path()).unwrap();
        let amount = offpay_protocol::Amount::from_minor(10_000).unwrap();
        let server = "http://127.0.0.1:1";
        let alice = store.purse_load_prepare(server, "alice", amount, 1).unwrap().unwrap();
        let bob = store.purse_load_prepare(server, "bob", amount, 2).unwrap().unwrap();
        assert_ne!(bob.idempotency_key, alice.idempotency_key);
        assert!(!bob.reused);
        let again = store.purse_load_prepare(server, "alice", amount, 3).unwrap().unwrap();
        assert_eq!((again.idempotency_key, again.reused), (alice.idempotency_key, true));
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let store = OfflineStore::open(&home).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(store.path()), 0o600);
    }

    #[test]
    fn a_corrupt_device_key_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = OfflineStore::open(dir.path()).unwrap();
            store
                .conn()
                .execute_batch("PRAGMA ignore_check_constraints = ON; UPDATE device SET secret = x'00'")
                .unwrap();
        }
        assert!(matches!(OfflineStore::open(dir.path()), Err(OfflineStoreError::Corrupt { .. })));
    }
}
