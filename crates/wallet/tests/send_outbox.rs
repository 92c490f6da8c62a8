//! The send path against a scripted HTTP server that can lose answers, fail and replay on cue:
//! what the real server cannot be made to do on demand. Checks that each send is a new payment
//! with its own idempotency key, that an explicit retry reuses the key of a send whose outcome
//! is unknown, and that a refusal closes it. (The same against the real server, through the
//! `offpay` binary: crates/cli/tests/wallet_sends.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use offpay_protocol::{Currency, Handle};
use offpay_wallet::store::{OutboxState, Session};
use offpay_wallet::{Freshness, ServerUrl, Wallet, WalletError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    idempotency_key: Option<String>,
    body: String,
}

fn response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn transfer_ok(entry_id: i64, balance: u64, replayed: bool) -> String {
    response(
        "201 Created",
        &format!(
            r#"{{"transfer":{{"entry_id":{entry_id},"kind":"transfer","from":"alice","to":"bob","amount":2500,"created_at_ms":1,"replayed":{replayed}}},"balance":{balance}}}"#
        ),
    )
}

/// Serves the given responses in order, one per connection, and records the requests.
async fn scripted(responses: Vec<String>) -> (ServerUrl, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ServerUrl::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for reply in responses {
            let (mut socket, _) = listener.accept().await.unwrap();
            let request = read_request(&mut socket).await;
            log.lock().unwrap().push(request);
            socket.write_all(reply.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
        }
    });
    (url, seen)
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed early");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    while buf.len() < header_end + length {
        let n = socket.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    Seen {
        line: head.lines().next().unwrap_or_default().to_string(),
        idempotency_key: header("idempotency-key"),
        body: String::from_utf8_lossy(&buf[header_end..header_end + length]).to_string(),
    }
}

/// A wallet logged in as alice on `server`, with INR cached (so no config request is made).
fn logged_in_wallet(dir: &std::path::Path, server: &ServerUrl) -> Wallet {
    let mut wallet = Wallet::open(dir).unwrap();
    let store = wallet.store_mut();
    store
        .begin_session(&Session {
            server_url: server.to_string(),
            handle: Handle::parse("alice").unwrap(),
            token: "tok".into(),
        })
        .unwrap();
    store.set_currency(Currency::INR).unwrap();
    wallet
}

fn only_outbox_entry(wallet: &Wallet) -> offpay_wallet::store::OutboxEntry {
    let key = {
        let conn = rusqlite::Connection::open(wallet.store().path()).unwrap();
        let keys: Vec<String> = conn
            .prepare("SELECT idempotency_key FROM outbox")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        keys[0].clone()
    };
    wallet.store().outbox_entry(&key).unwrap().unwrap()
}

fn keys_of(wallet: &Wallet) -> Vec<String> {
    let conn = rusqlite::Connection::open(wallet.store().path()).unwrap();
    conn.prepare("SELECT idempotency_key FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn an_unknown_outcome_stays_pending_a_new_send_is_new_and_the_retry_reuses_the_key() {
    let (url, seen) = scripted(vec![
        response("500 Internal Server Error", r#"{"error":{"code":"internal","message":"something went wrong"}}"#),
        transfer_ok(42, 5_000, false),
        transfer_ok(41, 5_000, true),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = logged_in_wallet(dir.path(), &url);

    let first = wallet.send("bob", "25.00", Some("rent"), None).await.unwrap_err();
    assert!(first.is_pending_send(), "{first}");
    let pending = only_outbox_entry(&wallet);
    assert_eq!(pending.state, OutboxState::Pending);
    let message = first.to_string();
    assert!(message.contains(&format!("offpay wallet retry {}", pending.idempotency_key)), "{message}");
    assert!(message.contains("never pays twice"), "{message}");
    assert_eq!(wallet.pending_sends().unwrap(), vec![pending.clone()]);

    // The same send typed again is another payment, with another key; the first stays pending.
    let second = wallet.send("bob", "25.00", Some("rent"), None).await.unwrap();
    assert!(!second.replayed);
    let keys = keys_of(&wallet);
    assert_eq!(keys.len(), 2);
    assert_eq!(second.idempotency_key, keys[1]);
    assert_eq!(wallet.pending_sends().unwrap(), vec![pending.clone()]);

    // The explicit retry reuses the first key; the server replays the first outcome.
    let retried = wallet.retry(&pending.idempotency_key).await.unwrap();
    assert!(retried.replayed);
    assert_eq!(
        (retried.entry_id, retried.balance.map(|b| b.minor()), retried.amount.minor()),
        (41, Some(5_000), 2_500)
    );
    let done = wallet.store().outbox_entry(&pending.idempotency_key).unwrap().unwrap();
    assert_eq!((done.state, done.entry_id, done.attempts), (OutboxState::Done, Some(41), 2));
    assert!(wallet.pending_sends().unwrap().is_empty());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let sent_keys: Vec<_> = seen.iter().map(|r| r.idempotency_key.clone().unwrap()).collect();
    assert_eq!(sent_keys, [keys[0].clone(), keys[1].clone(), keys[0].clone()]);
    for request in &seen {
        assert_eq!(request.line, "POST /v1/transfers HTTP/1.1");
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body, serde_json::json!({"to": "bob", "amount": 2500, "memo": "rent"}));
    }

    // Retrying a payment known to be paid sends nothing: the outbox answers.
    let again = wallet.retry(&pending.idempotency_key).await.unwrap();
    assert!(again.replayed);
    assert_eq!((again.entry_id, again.balance), (41, None), "the scripted server has no answer left");
}

#[tokio::test]
async fn a_script_s_own_key_is_sent_once_and_refused_for_other_terms() {
    let (url, seen) = scripted(vec![transfer_ok(50, 7_500, false)]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = logged_in_wallet(dir.path(), &url);
    let key = "invoice-0042";
    let paid = wallet.send("bob", "25.00", None, Some(key)).await.unwrap();
    assert_eq!((paid.idempotency_key.as_str(), paid.replayed, paid.entry_id), (key, false, 50));
    let conflict = wallet.send("bob", "26.00", None, Some(key)).await.unwrap_err();
    assert!(matches!(conflict, WalletError::KeyConflict { .. }), "{conflict}");
    assert!(conflict.to_string().contains("25.00 INR to bob"), "{conflict}");
    for bad in ["short", "has space in it", &"k".repeat(129), "ключключключ"] {
        let error = wallet.send("bob", "25.00", None, Some(bad)).await.unwrap_err();
        assert!(matches!(error, WalletError::BadIdempotencyKey(_)), "{bad}: {error}");
    }
    let error = wallet.retry("not-a-key-here").await.unwrap_err();
    assert!(matches!(error, WalletError::UnknownSend(_)), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(keys_of(&wallet), [key]);
}

#[tokio::test]
async fn a_busy_server_is_retried_with_the_same_key_a_bounded_number_of_times() {
    let busy = response("503 Service Unavailable", "");
    let (url, seen) = scripted(vec![busy.clone(), busy.clone(), busy]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = logged_in_wallet(dir.path(), &url);
    let error = wallet.send("bob", "25", None, None).await.unwrap_err();
    assert!(matches!(error, WalletError::SendUncertain { .. }), "{error}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let key = only_outbox_entry(&wallet).idempotency_key;
    assert!(seen.iter().all(|r| r.idempotency_key.as_deref() == Some(key.as_str())));
    assert_eq!(only_outbox_entry(&wallet).state, OutboxState::Pending);
}

#[tokio::test]
async fn a_refusal_closes_the_send_and_the_next_one_is_new() {
    let (url, seen) = scripted(vec![
        response(
            "422 Unprocessable Entity",
            r#"{"error":{"code":"insufficient_funds","message":"the balance is too low for this payment"}}"#,
        ),
        transfer_ok(42, 100, false),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = logged_in_wallet(dir.path(), &url);
    let error = wallet.send("bob", "25.00", None, None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the payment was refused and nothing was paid: the balance is too low for this payment (insufficient_funds)"
    );
    assert_eq!(error.api_code(), Some("insufficient_funds"));
    let failed = only_outbox_entry(&wallet);
    assert_eq!((failed.state, failed.failure_code.as_deref()), (OutboxState::Failed, Some("insufficient_funds")));

    assert!(wallet.pending_sends().unwrap().is_empty());

    let receipt = wallet.send("bob", "25.00", None, None).await.unwrap();
    assert!(!receipt.replayed);
    let seen = seen.lock().unwrap().clone();
    assert_ne!(seen[0].idempotency_key, seen[1].idempotency_key);
}

#[tokio::test]
async fn bad_amounts_and_handles_never_reach_the_server_or_the_outbox() {
    let (url, seen) = scripted(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = logged_in_wallet(dir.path(), &url);
    for (to, amount) in [("bob", "0"), ("bob", "-5"), ("bob", "abc"), ("bob", "1.001"), ("x", "1"), ("bob", "")] {
        let error = wallet.send(to, amount, None, None).await.unwrap_err();
        assert!(matches!(error, WalletError::Amount(_) | WalletError::Handle(_)), "{to} {amount}: {error}");
    }
    assert!(seen.lock().unwrap().is_empty());
    assert!(wallet.store().outbox_pending().unwrap().is_empty());
}

#[tokio::test]
async fn balance_falls_back_to_the_last_known_value_without_a_server() {
    let (url, _seen) = scripted(vec![response(
        "200 OK",
        r#"{"handle":"alice","account":7,"balance":125000,"currency":"INR","frozen":false}"#,
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = logged_in_wallet(dir.path(), &url);
    let live = wallet.balance().await.unwrap();
    assert_eq!((live.balance.minor(), &live.freshness), (125_000, &Freshness::Live));

    // The scripted server has no more answers and is gone: connections are refused.
    tokio::task::yield_now().await;
    let listener_gone = wait_until_refused(&url).await;
    assert!(listener_gone);
    let stale = wallet.balance().await.unwrap();
    assert_eq!(stale.balance.minor(), 125_000);
    assert!(matches!(stale.freshness, Freshness::Stale { .. }), "{:?}", stale.freshness);

    // Logged out: nothing to show.
    wallet.store_mut().end_session().unwrap();
    assert!(matches!(wallet.balance().await, Err(WalletError::NotLoggedIn)));
}

/// Waits (bounded) until the scripted server's listener is closed.
async fn wait_until_refused(url: &ServerUrl) -> bool {
    let addr = url.as_str().trim_start_matches("http://").to_string();
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}
