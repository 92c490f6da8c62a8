//! Wallet homes for offline tests through the real `offpay` binary with no server at all
//! (`offline_cli`, `offline_pay_once`): a temporary home whose offline store was given an
//! identity, the test issuer key and, on demand, a purse (the server's part, played with the
//! protocol testkit through the wallet library). Use with `mod offline_home;`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use offpay_protocol::testkit;
use offpay_protocol::{
    AccountNumber, Amount, CertificateFields, Currency, CurrencyCode, Handle, IssuerKey, IssuerKeys, PurseCertificate,
    PurseId,
};
use offpay_wallet::offline::{Identity, OfflineStore, unix_now};
use serde_json::Value;

pub const ALICE: AccountNumber = AccountNumber(1001);
pub const BOB: AccountNumber = AccountNumber(2002);
pub const CAROL: AccountNumber = AccountNumber(3003);
pub const DAY: u64 = 86_400;

pub fn offpay(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_offpay"));
    for var in ["OFFPAY_HOME", "OFFPAY_SERVER", "OFFPAY_PASSWORD"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null()).arg("wallet").arg("--home").arg(home);
    cmd
}

/// A wallet home in a temporary folder (removed when dropped).
pub struct Home {
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Home {
    /// A home whose offline store knows `handle`/`account` and the test issuer key.
    pub fn new(handle: &str, account: AccountNumber) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home");
        let mut store = OfflineStore::open(&path).unwrap();
        store
            .set_identity(&Identity {
                server: "http://127.0.0.1:1".into(),
                handle: Handle::parse(handle).unwrap(),
                account,
                currency: Currency::INR,
            })
            .unwrap();
        let now = unix_now();
        let keys =
            IssuerKeys::new([IssuerKey::new(issuer().verifying_key(), now - 365 * DAY, now + 365 * DAY)]).unwrap();
        store.replace_issuer_keys(&keys, 0).unwrap();
        Home { _dir: dir, path }
    }

    /// Installs a purse of `minor` (cap 200.00) for this home's device, as the issuer would.
    pub fn load(&self, account: AccountNumber, minor: u64) {
        let mut store = OfflineStore::open(&self.path).unwrap();
        let now = unix_now();
        let fields = CertificateFields {
            purse_id: PurseId::from_bytes(testkit::bytes16(&format!("cli-purse-{}", self.path.display()))),
            account,
            device_key: store.device_public_key(),
            currency: CurrencyCode::INR,
            amount: Amount::from_minor(minor).unwrap(),
            per_payment_cap: Amount::from_minor(20_000).unwrap(),
            valid_from: now - 3600,
            valid_until: now + 7 * DAY,
        };
        store.install_purse(&PurseCertificate::issue(fields, &issuer()).unwrap(), 0).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Output {
        offpay(&self.path).args(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should have failed: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn request(&self, amount: &str) -> String {
        single_line(&self.ok(&["request", amount]), "OPR1:")
    }

    pub fn pay(&self, request: &str) -> String {
        single_line(&self.ok(&["pay", request, "--yes"]), "OPN1:")
    }

    pub fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["purse", "status", "--json"])).unwrap()
    }
}

pub fn issuer() -> offpay_protocol::SigningKey {
    testkit::signing_key("cli-offline-tests/issuer")
}

/// stdout must be exactly one line, the text.
pub fn single_line(stdout: &str, prefix: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must hold the text alone: {stdout:?}");
    assert!(lines[0].starts_with(prefix), "{stdout:?}");
    lines[0].to_string()
}
