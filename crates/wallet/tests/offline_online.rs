//! The online half of offline payment (purse load, sync, close) over real HTTP, against a small
//! in-test server that follows docs/API-OFFLINE.md (the real server's offline endpoints are
//! built separately; this checks the wallet's side of the contract): the load's idempotency key
//! is stored before the call and reused after a lost answer, notes are uploaded and their
//! results recorded, revocations stop a revoked device, and a close is signed and sent.

#![allow(clippy::unwrap_used, clippy::panic)]

mod offline_support;

use std::sync::{Arc, Mutex};

use offline_support::{amt, issuer};
use offpay_protocol::testkit::{DAY, bytes16};
use offpay_protocol::{
    AccountId, Amount, CertificateFields, CloseStatement, CurrencyCode, Encoded, PaymentNote, PurseCertificate, PurseId,
};
use offpay_wallet::ServerUrl;
use offpay_wallet::Wallet;
use offpay_wallet::offline::api::OfflineApi;
use offpay_wallet::offline::{OfflineError, OnlineSession, PurseStatus, UploadStatus, unix_now};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    idempotency_key: Option<String>,
    body: Value,
}

#[derive(Default)]
struct ServerState {
    seen: Vec<Seen>,
    /// Drop the connection instead of answering the next `POST /v1/purses`.
    lose_next_load: bool,
    /// Certificates issued, by idempotency key (a replayed key gets the same one).
    loads: Vec<(String, String)>,
    settled: Vec<String>,
    revoked_devices: Vec<String>,
    closed: Vec<String>,
}

type Shared = Arc<Mutex<ServerState>>;

fn account_of(token: &str) -> Option<(&'static str, u64)> {
    match token {
        "tok-alice" => Some(("alice", 1001)),
        "tok-bob" => Some(("bob", 2002)),
        _ => None,
    }
}

/// Answers one request: `None` means drop the connection without answering.
fn answer(state: &Shared, seen: &Seen, token: Option<&str>) -> Option<(u16, Value)> {
    let mut s = state.lock().unwrap();
    s.seen.push(seen.clone());
    let me = token.and_then(account_of);
    let now = unix_now();
    let unauthorized = (401, json!({"error": {"code": "unauthorized", "message": "log in"}}));
    Some(match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/v1/config") => (
            200,
            json!({"currency": "INR", "decimals": 2,
            "offline": {"per_payment_cap": 20000, "purse_max": 200000, "validity_secs": 3 * DAY, "grace_secs": DAY,
            "loss_allowance": 0, "max_open_purses": 4}}),
        ),
        ("GET", "/v1/issuer-keys") => {
            let key = issuer().verifying_key();
            (
                200,
                json!({"keys": [{"key_id": offpay_protocol::crypto::key_id(&key).to_hex(),
                "public_key": hex::encode(key.as_bytes()), "not_before": now - DAY, "not_after": now + 30 * DAY}]}),
            )
        }
        ("GET", "/v1/revocations") => (200, json!({"purses": [], "devices": s.revoked_devices})),
        (_, _) if me.is_none() => unauthorized,
        ("GET", "/v1/me") => {
            let (handle, account) = me.unwrap();
            (200, json!({"handle": handle, "account": account, "balance": 100000, "currency": "INR", "frozen": false}))
        }
        ("POST", "/v1/devices") => (201, json!({"public_key": seen.body["public_key"], "status": "active"})),
        ("POST", "/v1/purses") => {
            if s.lose_next_load {
                s.lose_next_load = false;
                return None;
            }
            let key = seen.idempotency_key.clone().unwrap();
            let text = match s.loads.iter().find(|(k, _)| *k == key) {
                Some((_, text)) => text.clone(),
                None => {
                    let mut device = [0u8; 32];
                    hex::decode_to_slice(seen.body["device_public_key"].as_str().unwrap(), &mut device).unwrap();
                    let amount = seen.body["amount"].as_u64().unwrap();
                    let fields = CertificateFields {
                        purse_id: PurseId::from_bytes(bytes16(&key)),
                        account: AccountId(me.unwrap().1),
                        device_key: offpay_protocol::VerifyingKey::from_bytes(&device).unwrap(),
                        currency: CurrencyCode::INR,
                        amount: amt(amount),
                        per_payment_cap: amt(amount.min(20_000)),
                        valid_from: now - 60,
                        valid_until: now + 3 * DAY,
                    };
                    let text = PurseCertificate::issue(fields, &issuer()).unwrap().to_text();
                    s.loads.push((key, text.clone()));
                    text
                }
            };
            let cert = PurseCertificate::from_text(&text).unwrap();
            (
                201,
                json!({"purse_id": cert.purse_id().to_hex(), "certificate": text, "amount": cert.fields().amount.minor(),
                "device_public_key": seen.body["device_public_key"], "settled": 0, "returned": 0,
                "held": cert.fields().amount.minor(), "recovered": 0, "fraud_loss": 0, "loss_allowance": 0,
                "notes_held": 0, "state": "open",
                "per_payment_cap": 20000, "valid_from": cert.fields().valid_from, "valid_until": cert.fields().valid_until,
                "balance": 50000}),
            )
        }
        ("GET", "/v1/purses") => {
            let purses: Vec<Value> = s
                .loads
                .iter()
                .map(|(_, text)| {
                    let cert = PurseCertificate::from_text(text).unwrap();
                    let id = cert.purse_id().to_hex();
                    let state = if s.closed.contains(&id) { "closed" } else { "open" };
                    json!({"purse_id": id, "device_public_key": "", "amount": cert.fields().amount.minor(),
                        "per_payment_cap": 20000, "settled": 0, "returned": 0, "held": 0, "recovered": 0,
                        "fraud_loss": 0, "loss_allowance": 0, "notes_held": 0, "state": state,
                        "valid_from": cert.fields().valid_from, "valid_until": cert.fields().valid_until})
                })
                .collect();
            (200, json!({"purses": purses}))
        }
        ("POST", "/v1/notes") => {
            let mut results = Vec::new();
            for text in seen.body["notes"].as_array().unwrap() {
                let note = PaymentNote::from_text(text.as_str().unwrap()).unwrap();
                let hash = note.hash().to_hex();
                let status = if s.settled.contains(&hash) { "duplicate" } else { "settled" };
                s.settled.push(hash.clone());
                results.push(json!({"note": hash, "status": status, "reason": null, "amount": note.amount().minor()}));
            }
            (200, json!({"results": results}))
        }
        ("POST", path) if path.starts_with("/v1/purses/") && path.ends_with("/close") => {
            let close = CloseStatement::from_text(seen.body["close"].as_str().unwrap()).unwrap();
            let id = close.fields().purse_id;
            s.closed.push(id.to_hex());
            let cert = s
                .loads
                .iter()
                .map(|(_, t)| PurseCertificate::from_text(t).unwrap())
                .find(|c| c.purse_id() == id)
                .unwrap();
            close.verify(&cert).unwrap();
            let amount = cert.fields().amount.minor() - close.fields().total_spent.minor();
            (200, json!({"returned": amount, "held": 0, "balance": 100000, "fraud": false}))
        }
        _ => (404, json!({"error": {"code": "not_found", "message": "no such endpoint"}})),
    })
}

/// A real HTTP/1.1 listener on 127.0.0.1, one request per connection.
async fn start_server(state: Shared) -> ServerUrl {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ServerUrl::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head, body) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        while buf.len() < end + 4 + length {
                            let n = socket.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, buf[end + 4..end + 4 + length].to_vec());
                    }
                };
                let mut lines = head.lines();
                let mut first = lines.next().unwrap().split(' ');
                let (method, path) = (first.next().unwrap().to_string(), first.next().unwrap().to_string());
                let header = |name: &str| {
                    head.lines().skip(1).find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let token = header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string));
                let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
                let seen = Seen { method, path, idempotency_key: header("idempotency-key"), body };
                let Some((status, json)) = answer(&state, &seen, token.as_deref()) else {
                    return; // drop the connection: the answer is lost
                };
                let body = json.to_string();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

fn session(url: &ServerUrl, token: &str, handle: &str) -> OnlineSession {
    OnlineSession {
        api: OfflineApi::new(url.clone(), token.to_string()).unwrap(),
        handle: offpay_protocol::Handle::parse(handle).unwrap(),
    }
}

#[tokio::test]
async fn load_pay_accept_sync_and_close_over_http() {
    let state: Shared = Arc::default();
    let url = start_server(state.clone()).await;
    let alice_dir = tempfile::tempdir().unwrap();
    let bob_dir = tempfile::tempdir().unwrap();
    let mut alice = Wallet::open(alice_dir.path()).unwrap();
    let mut bob = Wallet::open(bob_dir.path()).unwrap();
    let alice_online = session(&url, "tok-alice", "alice");
    let bob_online = session(&url, "tok-bob", "bob");

    // The first load's answer is lost: the outcome is unknown, the key stays pending.
    state.lock().unwrap().lose_next_load = true;
    let err = alice.load_purse_with(&alice_online, "500.00", unix_now()).await.unwrap_err();
    assert!(matches!(err, OfflineError::LoadUncertain { .. }), "{err:?}");
    assert!(alice.offline_store().purses().unwrap().is_empty());
    // A load of another amount must wait for that one.
    let err = alice.load_purse_with(&alice_online, "10.00", unix_now()).await.unwrap_err();
    assert!(matches!(err, OfflineError::LoadPending { amount: 50_000 }), "{err:?}");
    // Running the same load again finishes it with the same key.
    let loaded = alice.load_purse_with(&alice_online, "500.00", unix_now()).await.unwrap();
    assert!(loaded.resumed);
    assert_eq!(loaded.balance, Some(amt(50_000)));
    assert_eq!(alice.offline_balance(unix_now()).unwrap(), amt(50_000));
    {
        let s = state.lock().unwrap();
        let keys: Vec<_> = s
            .seen
            .iter()
            .filter(|r| r.path == "/v1/purses" && r.method == "POST")
            .map(|r| r.idempotency_key.clone().unwrap())
            .collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert_eq!(keys[0], keys[1]);
        assert_eq!(s.loads.len(), 1);
        let device = s.seen.iter().find(|r| r.path == "/v1/devices").unwrap();
        assert_eq!(device.body["public_key"], alice.offline_store().device_public_hex());
        // The private key never left: no request body carries more than the public key.
        let secret_hex = {
            let raw = rusqlite::Connection::open(alice.store().path()).unwrap();
            let secret: Vec<u8> = raw.query_row("SELECT secret FROM device", [], |r| r.get(0)).unwrap();
            hex::encode(secret)
        };
        assert!(s.seen.iter().all(|r| !r.body.to_string().contains(&secret_hex)));
    }
    // A new load gets a new key.
    alice.load_purse_with(&alice_online, "100.00", unix_now()).await.unwrap();
    assert_eq!(alice.offline_balance(unix_now()).unwrap(), amt(60_000));

    // Bob learns his identity and the keys, then they pay offline.
    let report = bob.sync_notes_with(&bob_online).await.unwrap();
    assert_eq!((report.uploaded, report.issuer_keys), (0, 1));
    assert_eq!(bob.offline_store().identity().unwrap().unwrap().account, AccountId(2002));
    let request = bob.request(amt(15_000), 600, unix_now()).unwrap();
    let note = alice.pay(&request.text, unix_now()).unwrap();
    bob.accept(&note.text, unix_now()).unwrap();

    // Bob's sync settles it; Alice's upload of the same note is a duplicate.
    let report = bob.sync_notes_with(&bob_online).await.unwrap();
    assert_eq!((report.uploaded, report.settled, report.pending), (1, 1, 0));
    assert_eq!(bob.offline_store().accepted_notes().unwrap()[0].status, UploadStatus::Settled);
    let report = alice.sync_notes_with(&alice_online).await.unwrap();
    assert_eq!((report.uploaded, report.duplicate, report.pending), (1, 1, 0));
    assert_eq!(alice.offline_store().paid_notes().unwrap()[0].status, UploadStatus::Duplicate);
    // Nothing left to upload.
    assert_eq!(bob.sync_notes_with(&bob_online).await.unwrap().uploaded, 0);

    // Alice closes: the statement is signed, sent, and the purses pay nothing more.
    let closed = alice.close_purses_with(&alice_online, unix_now()).await.unwrap();
    assert_eq!(closed.len(), 2);
    assert!(closed.iter().all(|c| c.outcome.is_ok()), "{closed:?}");
    let big = closed.iter().find(|c| c.spent == amt(15_000)).unwrap();
    assert_eq!(big.outcome, Ok((amt(35_000), Amount::ZERO)));
    assert!(alice.offline_store().purses().unwrap().iter().all(|p| p.status == PurseStatus::Closed));
    assert_eq!(alice.offline_balance(unix_now()).unwrap(), Amount::ZERO);
    let again = bob.request(amt(100), 600, unix_now()).unwrap();
    assert!(matches!(alice.pay(&again.text, unix_now()), Err(OfflineError::NoPurse)));
    assert_eq!(state.lock().unwrap().closed.len(), 2);
}

#[tokio::test]
async fn a_revoked_device_learns_it_at_sync_and_merchants_refuse_it() {
    let state: Shared = Arc::default();
    let url = start_server(state.clone()).await;
    let alice_dir = tempfile::tempdir().unwrap();
    let bob_dir = tempfile::tempdir().unwrap();
    let mut alice = Wallet::open(alice_dir.path()).unwrap();
    let mut bob = Wallet::open(bob_dir.path()).unwrap();
    let alice_online = session(&url, "tok-alice", "alice");
    let bob_online = session(&url, "tok-bob", "bob");
    alice.load_purse_with(&alice_online, "500.00", unix_now()).await.unwrap();
    bob.sync_notes_with(&bob_online).await.unwrap();

    state.lock().unwrap().revoked_devices.push(alice.offline_store().device_public_hex());
    let report = bob.sync_notes_with(&bob_online).await.unwrap();
    assert_eq!(report.revoked_devices, 1);
    assert!(!report.device_revoked);
    // Alice has not synced: her wallet still pays, but Bob refuses.
    let request = bob.request(amt(1_000), 600, unix_now()).unwrap();
    let note = alice.pay(&request.text, unix_now()).unwrap();
    match bob.accept(&note.text, unix_now()) {
        Err(OfflineError::Rejected(reason)) => assert_eq!(reason.code(), "revoked"),
        other => panic!("expected revoked, got {other:?}"),
    }
    // After her sync, Alice's wallet knows and pays nothing more.
    let report = alice.sync_notes_with(&alice_online).await.unwrap();
    assert!(report.device_revoked);
    assert_eq!(alice.offline_store().purses().unwrap()[0].status, PurseStatus::Revoked);
    assert_eq!(alice.offline_balance(unix_now()).unwrap(), Amount::ZERO);

    // A dead session is a clear error.
    let stranger = session(&url, "tok-nobody", "nobody");
    let err = bob.sync_notes_with(&stranger).await.unwrap_err();
    assert!(matches!(err, OfflineError::SessionEnded { .. }), "{err:?}");
}
