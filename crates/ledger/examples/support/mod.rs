//! Shared by the ledger's examples: a payer with money, a registered device and a loaded purse
//! in a real store, and the CPU time of this process's threads (to report what the SQLite writer
//! spent).

#![allow(dead_code)]

use offpay_ledger::offline::LoadRequest;
use offpay_ledger::{IdempotencyKey, Store, User};
use offpay_protocol::testkit::{bytes16, signing_key};
use offpay_protocol::{
    AccountNumber, Amount, CertificateFields, CurrencyCode, Handle, Nonce, NoteFields, PaymentNote, PurseCertificate,
    PurseId, SigningKey,
};

pub const NOW_S: u64 = 1_767_225_600;
pub const NOW: i64 = NOW_S as i64 * 1000;

pub fn amount(minor: u64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

/// A new user `payer{label}` with `minor` deposited, its device `device-{label}` registered,
/// and a purse of all of it (per-payment cap 200.00) loaded for a day from [`NOW`].
pub async fn payer_with_purse(
    store: &dyn Store,
    issuer: &SigningKey,
    label: &str,
    minor: u64,
) -> (User, PurseCertificate, SigningKey) {
    let user = store.create_user(&Handle::parse(&format!("payer{label}")).unwrap(), "x", NOW).await.unwrap();
    let key = IdempotencyKey::parse(&format!("deposit-{label:0>8}")).unwrap();
    store.deposit(&user.handle, amount(minor), &key, NOW).await.unwrap();
    let device = signing_key(&format!("device-{label}"));
    store.offline().register_device(user.id, device.verifying_key().to_bytes(), NOW).await.unwrap();
    let fields = CertificateFields {
        purse_id: PurseId::from_bytes(bytes16(&format!("purse-{label}"))),
        account: user.id.account_number().unwrap(),
        device_key: device.verifying_key(),
        currency: CurrencyCode::INR,
        amount: amount(minor),
        per_payment_cap: amount(20_000.min(minor)),
        valid_from: NOW_S - 60,
        valid_until: NOW_S + 86_400,
    };
    let cert = PurseCertificate::issue(fields, issuer).unwrap();
    let request = LoadRequest {
        user: user.id,
        certificate: cert.clone(),
        idempotency_key: IdempotencyKey::parse(&format!("load-{label:0>8}")).unwrap(),
        loss_allowance: 200_000,
        max_open_purses: 1,
        grace_secs: 2 * 86_400,
    };
    store.offline().load_purse(&request, NOW).await.unwrap();
    (user, cert, device)
}

/// A chain of `count` notes of 0.01 from `cert` (sequence numbers 1 to `count`, each linked to
/// the one before), all to `payee`, with nonces `{tag}-{seq}`, signed by `device`.
pub fn chain_of_small_notes(
    cert: &PurseCertificate,
    device: &SigningKey,
    payee: AccountNumber,
    count: u32,
    tag: &str,
) -> Vec<PaymentNote> {
    let mut last = cert.hash();
    (1..=count)
        .map(|seq| {
            let fields = NoteFields {
                seq,
                prev_hash: last,
                cumulative: amount(u64::from(seq)),
                amount: amount(1),
                payee,
                nonce: Nonce::from_bytes(bytes16(&format!("{tag}-{seq}"))),
                time: NOW_S,
            };
            let note = PaymentNote::sign(cert.clone(), fields, device).unwrap();
            last = note.hash();
            note
        })
        .collect()
}

/// CPU seconds used so far by this process's threads whose name starts with `prefix` (Linux;
/// 0 elsewhere).
pub fn thread_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            total += stat_cpu_seconds(&task.path().join("stat"));
        }
    }
    total
}

/// CPU seconds so far (user and system) of every process whose command is `name` (processes
/// that already ended are not counted).
pub fn process_cpu_seconds(name: &str) -> f64 {
    let Ok(processes) = std::fs::read_dir("/proc") else { return 0.0 };
    let mut total = 0.0;
    for process in processes.flatten() {
        let comm = std::fs::read_to_string(process.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            total += stat_cpu_seconds(&process.path().join("stat"));
        }
    }
    total
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn stat_cpu_seconds(path: &std::path::Path) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the ")" that ends the command name: state is field 3; utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()) / ticks_per_second
}
