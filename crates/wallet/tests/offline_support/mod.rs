//! Shared fixtures for the offline tests: wallet homes in temporary folders with a known
//! identity and cached test issuer key, and purse certificates issued by that key (the
//! server's role, played with the protocol testkit).

#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

use offpay_protocol::testkit::{self, DAY, NOW};
use offpay_protocol::{
    AccountNumber, Amount, CertificateFields, Currency, CurrencyCode, Handle, IssuerKey, IssuerKeys, PurseCertificate,
    PurseId, SigningKey,
};
use offpay_wallet::Wallet;
use offpay_wallet::offline::Identity;

pub const ALICE: AccountNumber = AccountNumber(1001);
pub const BOB: AccountNumber = AccountNumber(2002);
pub const CAROL: AccountNumber = AccountNumber(3003);

pub fn issuer() -> SigningKey {
    testkit::signing_key("wallet-offline-tests/issuer")
}

pub fn issuer_keys() -> IssuerKeys {
    IssuerKeys::new([IssuerKey::new(issuer().verifying_key(), NOW - 365 * DAY, NOW + 365 * DAY)]).unwrap()
}

pub fn amt(minor: u64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

/// A wallet home in a temporary folder.
pub struct Home {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Home {
    /// A home whose offline store knows `handle`/`account` and caches the test issuer key.
    pub fn new(handle: &str, account: AccountNumber) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home");
        let home = Home { _dir: dir, path };
        let mut store = home.open();
        store
            .offline_store_mut()
            .set_identity(&Identity {
                server: "http://127.0.0.1:1".into(),
                handle: Handle::parse(handle).unwrap(),
                account,
                currency: Currency::INR,
            })
            .unwrap();
        store.offline_store_mut().replace_issuer_keys(&issuer_keys(), 0).unwrap();
        home
    }

    pub fn open(&self) -> Wallet {
        Wallet::open(&self.path).unwrap()
    }

    /// A copy of this home's files (the store must be closed): a cloned device.
    pub fn clone_device(&self) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home");
        copy_dir(&self.path, &path);
        Home { _dir: dir, path }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The fields of a purse for `store`'s device: `amount` with a 200.00 cap, valid from an hour
/// before NOW for a week.
pub fn purse_fields(store: &Wallet, account: AccountNumber, amount_minor: u64, label: &str) -> CertificateFields {
    CertificateFields {
        purse_id: PurseId::from_bytes(testkit::bytes16(label)),
        account,
        device_key: store.offline_store().device_public_key(),
        currency: CurrencyCode::INR,
        amount: amt(amount_minor),
        per_payment_cap: amt(20_000),
        valid_from: NOW - 3600,
        valid_until: NOW + 7 * DAY,
    }
}

/// Issues (as the test issuer) and installs a purse on `store`'s device.
pub fn load(store: &mut Wallet, account: AccountNumber, amount_minor: u64, label: &str) -> PurseCertificate {
    let certificate = PurseCertificate::issue(purse_fields(store, account, amount_minor, label), &issuer()).unwrap();
    store.offline_store_mut().install_purse(&certificate, 0).unwrap();
    certificate
}
