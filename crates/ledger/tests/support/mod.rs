//! The one harness of the ledger's tests (`conformance.rs`, `offline_conformance.rs`,
//! `offline_attacks.rs`): a fresh store on SQLite or PostgreSQL (skipped with a notice when
//! PostgreSQL is unreachable, unless `CI=true`), raw access to its database, users with
//! deposits, purse loads, a payer's chain that signs notes as a device (or as a cheater with its
//! own key), the money checks run after every case, and row locks held on PostgreSQL so that
//! concurrent requests race (`row_hold.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod row_hold;

use std::sync::Arc;

use offpay_ledger::offline::*;
use offpay_ledger::testing::{TestDbGuard, fresh_postgres};
use offpay_ledger::*;
use offpay_protocol::testkit::{bytes16, signing_key};
use offpay_protocol::{
    AccountNumber, Amount, CertificateFields, CloseFields, CloseStatement, CurrencyCode, Handle, Hash256, Nonce,
    NoteFields, PaymentNote, PurseCertificate, PurseId, SigningKey,
};

/// Seconds; the ledger takes milliseconds.
pub const NOW_S: u64 = 1_767_225_600;
pub const NOW: i64 = NOW_S as i64 * 1000;
pub const DAY: u64 = 86_400;
pub const GRACE: u64 = 2 * DAY;

pub struct Fx {
    pub store: Arc<dyn Store>,
    /// The PostgreSQL database's URL (a second server opens it too).
    pub url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDbGuard>,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Fx {
    pub async fn new(kind: Kind) -> Option<Fx> {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = open_store(Some(dir.path()), None).await.unwrap();
                Some(Fx { store, url: None, _dir: Some(dir), _db: None })
            }
            Kind::Postgres => {
                let (url, guard) = fresh_postgres().await?;
                let store = open_store(None, Some(&url)).await.unwrap();
                Some(Fx { store, url: Some(url), _dir: None, _db: Some(guard) })
            }
        }
    }

    pub fn off(&self) -> &dyn OfflineStore {
        self.store.offline()
    }

    /// Runs `sql` on the database behind the store's back, as an intruder editing the
    /// database would.
    pub async fn tamper(&self, sql: &str) {
        match (&self.url, &self._dir) {
            (Some(url), _) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
                let driver = tokio::spawn(conn);
                client.batch_execute(sql).await.unwrap();
                drop(client);
                let _ = driver.await;
            }
            (None, Some(dir)) => {
                let conn = rusqlite::Connection::open(dir.path().join(offpay_ledger::open::SQLITE_FILE)).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                conn.execute_batch(sql).unwrap();
            }
            (None, None) => unreachable!("a store has a file or a URL"),
        }
    }

    /// The one integer `sql` selects, read behind the store's back (as `tamper` writes).
    pub async fn count(&self, sql: &str) -> i64 {
        self.one(sql).await
    }

    /// The one blob `sql` selects, read behind the store's back (as `tamper` writes).
    pub async fn blob(&self, sql: &str) -> Vec<u8> {
        self.one(sql).await
    }

    /// The one value `sql` selects, read behind the store's back.
    async fn one<T>(&self, sql: &str) -> T
    where
        T: for<'a> tokio_postgres::types::FromSql<'a> + rusqlite::types::FromSql,
    {
        match (&self.url, &self._dir) {
            (Some(url), _) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
                let driver = tokio::spawn(conn);
                let value: T = client.query_one(sql, &[]).await.unwrap().get(0);
                drop(client);
                let _ = driver.await;
                value
            }
            (None, Some(dir)) => {
                let conn = rusqlite::Connection::open(dir.path().join(offpay_ledger::open::SQLITE_FILE)).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                conn.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            (None, None) => unreachable!("a store has a file or a URL"),
        }
    }

    /// `bytes` as a literal of this backend's SQL, for `tamper`.
    pub fn blob_literal(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if self.url.is_some() { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") }
    }

    /// The problems `verify` reports.
    pub async fn problems(&self) -> Vec<String> {
        self.store.verify().await.unwrap().problems
    }

    /// A second store on the same PostgreSQL database, as a second server would open it.
    pub async fn second_server(&self) -> Arc<dyn Store> {
        let url = self.url.as_deref().expect("a second server needs PostgreSQL");
        open_store(None, Some(url)).await.unwrap()
    }

    /// `verify` finds no problem, and every live event stored so far is one the API documents;
    /// the report.
    pub async fn verify_report(&self) -> VerifyReport {
        let report = self.store.verify().await.unwrap();
        assert!(report.problems.is_empty(), "verify found problems: {:#?}", report.problems);
        self.events_fit_the_api().await;
        report
    }

    /// Every stored event of every user reads as the API's `LiveEvent` (its kind one of the
    /// documented kinds and its payload exactly that kind's shape), as the server sends it.
    pub async fn events_fit_the_api(&self) {
        let users = self.count("SELECT COALESCE(MAX(id), 0) FROM users").await;
        let mut misfits = Vec::new();
        for user in 1..=users {
            let mut after = 0;
            loop {
                let events = self.store.events_after(UserId(user), after, EVENTS_MAX).await.unwrap();
                for event in &events {
                    let stored = serde_json::json!({
                        "seq": event.seq,
                        "kind": event.kind,
                        "payload": event.payload,
                        "created_at_ms": event.created_at_ms,
                    });
                    match event.to_live_event() {
                        Err(error) => misfits.push(format!("{stored}: {error}")),
                        // Nothing the API does not name: the typed event says all the stored one does.
                        Ok(live) if serde_json::to_value(&live).unwrap() != stored => {
                            misfits.push(format!("{stored}: has fields the API does not name"))
                        }
                        Ok(_) => {}
                    }
                }
                match events.last() {
                    Some(last) if events.len() == EVENTS_MAX as usize => after = last.seq,
                    _ => break,
                }
            }
        }
        assert!(misfits.is_empty(), "stored events that do not fit the API: {misfits:#?}");
    }

    /// An operator deposit of `minor` to the user called `name`, with a fresh idempotency key.
    pub async fn fund(&self, name: &str, minor: u64) -> Posted {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let key = key(&format!("fund-{name}-{minor}-{}", N.fetch_add(1, Ordering::Relaxed)));
        self.store.deposit(&Handle::parse(name).unwrap(), amount(minor), &key, NOW).await.unwrap()
    }

    /// An operator deposit to `user` (the idempotency key names `label`).
    pub async fn deposit(&self, user: &User, minor: u64, label: &str) {
        self.store.deposit(&user.handle, amount(minor), &key(&format!("dep-{label}")), NOW).await.unwrap();
    }

    pub async fn user(&self, name: &str, deposit_minor: u64) -> User {
        let user = self.store.create_user(&Handle::parse(name).unwrap(), "$argon2id$test", NOW).await.unwrap();
        if deposit_minor > 0 {
            self.store
                .deposit(&user.handle, amount(deposit_minor), &key(&format!("dep-{name}-0001")), NOW)
                .await
                .unwrap();
        }
        user
    }

    /// An online transfer of `minor` from `from` to `to`.
    pub async fn transfer(&self, from: &User, to: &User, minor: u64) {
        let request = TransferRequest {
            from: from.id,
            to: to.handle.clone(),
            amount: amount(minor),
            idempotency_key: key(&format!("transfer-{}-{}-{minor}", from.id, to.id)),
            memo: None,
            card: None,
        };
        self.store.transfer(&request, NOW).await.unwrap();
    }

    pub async fn balance(&self, user: &User) -> u64 {
        self.store.balance(user.id).await.unwrap().minor()
    }

    /// `verify` passes and the money in the system is what was deposited.
    pub async fn verify_clean(&self, deposited: u64) {
        let report = self.verify_report().await;
        assert_eq!(report.money_in_system, deposited as i64);
    }

    /// Registers the device and loads a purse of `minor` valid for `validity` seconds.
    pub async fn load(
        &self,
        user: &User,
        device: &SigningKey,
        minor: u64,
        validity: u64,
        label: &str,
    ) -> PurseCertificate {
        self.off().register_device(user.id, device.verifying_key().to_bytes(), NOW).await.unwrap();
        let cert = certificate(user, device, minor, validity, label);
        let loaded =
            self.off().load_purse(&load_request(user.id, cert.clone(), &format!("load-{label}")), NOW).await.unwrap();
        assert!(!loaded.replayed);
        assert_eq!(loaded.purse.certificate, cert);
        cert
    }

    pub async fn settle(&self, uploader: &User, notes: &[PaymentNote], now: i64) -> Vec<NoteResult> {
        self.off().settle_notes(uploader.id, notes.to_vec(), now).await.unwrap()
    }

    pub async fn purse(&self, cert: &PurseCertificate) -> Purse {
        self.off().purse(cert.purse_id()).await.unwrap().unwrap()
    }
}

/// The loss allowance and open-purse limit the tests load with (the server's defaults).
pub const ALLOWANCE: i64 = 200_000;
pub const MAX_OPEN: u32 = 2;

/// A load request with the default allowance and open-purse limit.
pub fn load_request(user: UserId, certificate: PurseCertificate, idempotency_key: &str) -> LoadRequest {
    LoadRequest {
        user,
        certificate,
        idempotency_key: key(idempotency_key),
        loss_allowance: ALLOWANCE,
        max_open_purses: MAX_OPEN,
        grace_secs: GRACE,
    }
}

pub fn amount(minor: u64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

pub fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

pub fn issuer() -> SigningKey {
    signing_key("issuer-1")
}

pub fn certificate(user: &User, device: &SigningKey, minor: u64, validity: u64, label: &str) -> PurseCertificate {
    let fields = CertificateFields {
        purse_id: PurseId::from_bytes(bytes16(label)),
        account: AccountNumber(user.id.0 as u64),
        device_key: device.verifying_key(),
        currency: CurrencyCode::INR,
        amount: amount(minor),
        per_payment_cap: amount(20_000.min(minor)),
        valid_from: NOW_S - 60,
        valid_until: NOW_S + validity,
    };
    PurseCertificate::issue(fields, &issuer()).unwrap()
}

/// The payer's chain state, as a device keeps it.
pub struct Chain {
    pub cert: PurseCertificate,
    pub device: SigningKey,
    pub seq: u32,
    pub last: Hash256,
    pub spent: u64,
}

impl Chain {
    pub fn new(cert: &PurseCertificate, device: &SigningKey) -> Chain {
        Chain { cert: cert.clone(), device: device.clone(), seq: 0, last: cert.hash(), spent: 0 }
    }

    pub fn pay(&mut self, payee: &User, minor: u64, nonce: &str) -> PaymentNote {
        self.pay_nonce(payee, minor, Nonce::from_bytes(bytes16(nonce)))
    }

    /// A note for the request with exactly this nonce.
    pub fn pay_nonce(&mut self, payee: &User, minor: u64, nonce: Nonce) -> PaymentNote {
        self.seq += 1;
        self.spent += minor;
        let fields = NoteFields {
            seq: self.seq,
            prev_hash: self.last,
            cumulative: amount(self.spent),
            amount: amount(minor),
            payee: AccountNumber(payee.id.0 as u64),
            nonce,
            time: NOW_S,
        };
        let note = PaymentNote::sign(self.cert.clone(), fields, &self.device).unwrap();
        self.last = note.hash();
        note
    }

    pub fn close(&self) -> CloseStatement {
        let fields = CloseFields {
            purse_id: self.cert.purse_id(),
            last_seq: self.seq,
            last_hash: self.last,
            total_spent: amount(self.spent),
            time: NOW_S,
        };
        CloseStatement::sign(fields, &self.device).unwrap()
    }
}

pub fn statuses(results: &[NoteResult]) -> Vec<(NoteStatus, Option<&str>, u64)> {
    results.iter().map(|r| (r.status, r.reason.as_deref(), r.amount)).collect()
}

/// One `#[tokio::test]` per case and backend: `mod sqlite { fn case() }` and `mod postgres { fn
/// case() }`, each running `case(Fx)` on a fresh store (PostgreSQL skipped with a notice when
/// unreachable, unless `CI=true`).
macro_rules! on_both_backends {
    ([$($case:ident),* $(,)?]) => {
        on_both_backends!(@one sqlite, Sqlite, [$($case),*]);
        on_both_backends!(@one postgres, Postgres, [$($case),*]);
    };
    (@one $backend:ident, $kind:ident, [$($case:ident),*]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(fx) = super::Fx::new(super::Kind::$kind).await {
                        super::$case(fx).await;
                    }
                }
            )*
        }
    };
}
