//! The send path against the real server (`real_server`), through a relay that loses an answer,
//! answers 503 in the server's place or goes away on cue. Checks that each send is a new payment
//! with its own idempotency key, that an explicit retry reuses the key of a send whose outcome
//! is unknown and pays nothing more, and that a refusal closes it; the ledger's balances show
//! what was paid. (The same through the `offpay` binary: crates/cli/tests/wallet_sends.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod real_server;

use offpay_wallet::store::OutboxState;
use offpay_wallet::{Freshness, Wallet, WalletError};
use real_server::RealServer;

const TRANSFER: &str = "POST /v1/transfers ";

/// A server with alice (100.00) and bob (nothing), and alice's wallet.
async fn alice_and_bob(server: &RealServer, dir: &std::path::Path) -> Wallet {
    let bob = tempfile::tempdir().unwrap();
    server.wallet(bob.path(), "bob").await;
    let alice = server.wallet(dir, "alice").await;
    server.deposit("alice", 10_000).await;
    alice
}

fn only_outbox_entry(wallet: &Wallet) -> offpay_wallet::store::OutboxEntry {
    let keys = keys_of(wallet);
    assert_eq!(keys.len(), 1, "{keys:?}");
    wallet.store().outbox_entry(&keys[0]).unwrap().unwrap()
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
async fn a_lost_answer_stays_pending_a_new_send_is_new_and_the_retry_pays_nothing_more() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;

    // The server pays, and the answer is lost on the way back.
    server.lose_answer_to(TRANSFER);
    let first = wallet.send("bob", "25.00", Some("rent"), None).await.unwrap_err();
    assert!(first.is_pending_send(), "{first}");
    assert_eq!(server.balance("bob").await, 2_500);
    let pending = only_outbox_entry(&wallet);
    assert_eq!(pending.state, OutboxState::Pending);
    let message = first.to_string();
    assert!(message.contains(&format!("offpay wallet retry {}", pending.idempotency_key)), "{message}");
    assert!(message.contains("never pays twice"), "{message}");
    assert_eq!(wallet.pending_sends().unwrap(), vec![pending.clone()]);

    // The same send typed again is another payment, with another key; the first stays pending.
    let second = wallet.send("bob", "25.00", Some("rent"), None).await.unwrap();
    assert!(!second.replayed);
    assert_eq!(server.balance("bob").await, 5_000);
    let keys = keys_of(&wallet);
    assert_eq!(keys.len(), 2);
    assert_eq!(second.idempotency_key, keys[1]);
    assert_eq!(wallet.pending_sends().unwrap(), vec![pending.clone()]);

    // The explicit retry reuses the first key; the server answers with the first payment and
    // pays nothing more.
    let retried = wallet.retry(&pending.idempotency_key).await.unwrap();
    assert!(retried.replayed);
    assert_eq!((retried.balance.map(|b| b.minor()), retried.amount.minor()), (Some(5_000), 2_500));
    assert_ne!(retried.entry_id, second.entry_id);
    assert_eq!(server.balance("bob").await, 5_000);
    let done = wallet.store().outbox_entry(&pending.idempotency_key).unwrap().unwrap();
    assert_eq!((done.state, done.entry_id, done.attempts), (OutboxState::Done, Some(retried.entry_id.0), 2));
    assert!(wallet.pending_sends().unwrap().is_empty());

    let sent = server.sent_as(TRANSFER);
    let sent_keys: Vec<_> = sent.iter().map(|r| r.header("idempotency-key").unwrap()).collect();
    assert_eq!(sent_keys, [keys[0].clone(), keys[1].clone(), keys[0].clone()]);
    for request in &sent {
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body, serde_json::json!({"to": "bob", "amount": 2500, "memo": "rent"}));
    }

    // Retrying a payment known to be paid sends no payment: the outbox answers (with the
    // balance read afresh).
    let again = wallet.retry(&pending.idempotency_key).await.unwrap();
    assert!(again.replayed);
    assert_eq!((again.entry_id, again.balance.map(|b| b.minor())), (retried.entry_id, Some(5_000)));
    assert_eq!(server.sent_as(TRANSFER).len(), 3);
    assert_eq!(server.balance("bob").await, 5_000);
}

#[tokio::test]
async fn a_script_s_own_key_is_sent_once_and_refused_for_other_terms() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    let key = "invoice-0042";
    let paid = wallet.send("bob", "25.00", None, Some(key)).await.unwrap();
    assert_eq!((paid.idempotency_key.as_str(), paid.replayed), (key, false));
    // The same key again for the same terms is the same payment.
    let same = wallet.send("bob", "25.00", None, Some(key)).await.unwrap();
    assert_eq!((same.entry_id, same.replayed), (paid.entry_id, true));
    let conflict = wallet.send("bob", "26.00", None, Some(key)).await.unwrap_err();
    assert!(matches!(conflict, WalletError::KeyConflict { .. }), "{conflict}");
    assert!(conflict.to_string().contains("25.00 INR to bob"), "{conflict}");
    for bad in ["short", "has space in it", &"k".repeat(129), "ключключключ"] {
        let error = wallet.send("bob", "25.00", None, Some(bad)).await.unwrap_err();
        assert!(matches!(error, WalletError::BadIdempotencyKey(_)), "{bad}: {error}");
    }
    let error = wallet.retry("not-a-key-here").await.unwrap_err();
    assert!(matches!(error, WalletError::UnknownSend(_)), "{error}");
    assert_eq!(server.sent_as(TRANSFER).len(), 1, "the wallet answered the rest itself");
    assert_eq!(keys_of(&wallet), [key]);
    assert_eq!(server.balance("bob").await, 2_500);
}

#[tokio::test]
async fn a_busy_server_is_retried_with_the_same_key_a_bounded_number_of_times() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    for _ in 0..3 {
        server.answer_instead(TRANSFER, "503 Service Unavailable", "");
    }
    let error = wallet.send("bob", "25", None, None).await.unwrap_err();
    assert!(matches!(error, WalletError::SendUncertain { .. }), "{error}");
    let sent = server.sent_as(TRANSFER);
    assert_eq!(sent.len(), 3);
    let key = only_outbox_entry(&wallet).idempotency_key;
    assert!(sent.iter().all(|r| r.header("idempotency-key").as_deref() == Some(key.as_str())));
    assert_eq!(only_outbox_entry(&wallet).state, OutboxState::Pending);
    assert_eq!(server.balance("bob").await, 0, "no attempt reached the server");
    // Once the server answers, the retry pays it, once.
    let paid = wallet.retry(&key).await.unwrap();
    assert!(!paid.replayed);
    assert_eq!(server.balance("bob").await, 2_500);
}

#[tokio::test]
async fn a_refusal_closes_the_send_and_the_next_one_is_new() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    let error = wallet.send("bob", "250.00", None, None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the payment was refused and nothing was paid: the balance is too low for this payment (insufficient_funds)"
    );
    assert_eq!(error.api_code(), Some("insufficient_funds"));
    let failed = only_outbox_entry(&wallet);
    assert_eq!((failed.state, failed.failure_code.as_deref()), (OutboxState::Failed, Some("insufficient_funds")));
    assert!(wallet.pending_sends().unwrap().is_empty());

    server.deposit("alice", 50_000).await;
    let receipt = wallet.send("bob", "250.00", None, None).await.unwrap();
    assert!(!receipt.replayed);
    let sent = server.sent_as(TRANSFER);
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].header("idempotency-key"), sent[1].header("idempotency-key"));
    assert_eq!(server.balance("bob").await, 25_000);
}

/// The server keeps a refusal under its key, so `retry KEY` of a refused send, once the money is
/// there, pays it as a new payment under a fresh key (the old key would only be refused again),
/// and only once.
#[tokio::test]
async fn retrying_a_refused_send_pays_it_once_under_a_new_key() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    wallet.send("bob", "250.00", None, None).await.unwrap_err();
    let refused = only_outbox_entry(&wallet);
    server.deposit("alice", 50_000).await;
    let receipt = wallet.retry(&refused.idempotency_key).await.unwrap();
    assert!(!receipt.replayed);
    let entry = only_outbox_entry(&wallet);
    assert_ne!(entry.idempotency_key, refused.idempotency_key);
    assert_eq!((entry.state, entry.attempts), (OutboxState::Done, 2));
    let sent = server.sent_as(TRANSFER);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].header("idempotency-key"), Some(entry.idempotency_key.clone()));
    assert_eq!(receipt.idempotency_key, entry.idempotency_key);
    assert_eq!(server.balance("bob").await, 25_000);
    // Done: retrying it again, by its new key, pays nothing more; the old key is unknown here.
    let again = wallet.retry(&entry.idempotency_key).await.unwrap();
    assert_eq!(again.entry_id, receipt.entry_id);
    assert!(wallet.retry(&refused.idempotency_key).await.is_err());
    assert_eq!(server.sent_as(TRANSFER).len(), 2);
    assert_eq!(server.balance("bob").await, 25_000);
}

#[tokio::test]
async fn bad_amounts_and_handles_never_reach_the_server_or_the_outbox() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    for (to, amount) in [("bob", "0"), ("bob", "-5"), ("bob", "abc"), ("bob", "1.001"), ("x", "1"), ("bob", "")] {
        let error = wallet.send(to, amount, None, None).await.unwrap_err();
        assert!(matches!(error, WalletError::Amount(_) | WalletError::Handle(_)), "{to} {amount}: {error}");
    }
    assert!(server.sent_as(TRANSFER).is_empty());
    assert!(wallet.store().outbox_pending().unwrap().is_empty());
}

#[tokio::test]
async fn balance_falls_back_to_the_last_known_value_without_a_server() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    let live = wallet.balance().await.unwrap();
    assert_eq!((live.balance.minor(), &live.freshness), (10_000, &Freshness::Live));

    server.go_away();
    let stale = wallet.balance().await.unwrap();
    assert_eq!(stale.balance.minor(), 10_000);
    assert!(matches!(stale.freshness, Freshness::Stale { .. }), "{:?}", stale.freshness);

    // Logged out: nothing to show.
    wallet.store_mut().end_session().unwrap();
    assert!(matches!(wallet.balance().await, Err(WalletError::NotLoggedIn)));
}

/// A send whose answer was lost is retried, and the retry is answered by something that is not
/// the server's verdict on the key: the server's own 408 (the body arrived too slowly, the key
/// was never read), a proxy's error page, a code this wallet does not know. The send stays
/// pending, so the person is not told it failed and does not pay again; the next retry reaches
/// the server and finds the payment. Before, each of these marked the paid send refused.
#[tokio::test]
async fn a_retry_answered_by_a_timeout_or_a_proxy_page_stays_pending() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    server.lose_answer_to(TRANSFER);
    let first = wallet.send("bob", "25.00", None, None).await.unwrap_err();
    assert!(first.is_pending_send(), "{first}");
    assert_eq!(server.balance("bob").await, 2_500);
    let key = only_outbox_entry(&wallet).idempotency_key;
    let timeout = r#"{"error":{"code":"request_timeout","message":"the request body did not arrive within 30 s"}}"#;
    let newer =
        r#"{"error":{"code":"a_code_of_a_newer_server","message":"refused for a reason this wallet does not know"}}"#;
    for (status, body) in [
        ("408 Request Timeout", timeout),
        ("403 Forbidden", "<html>blocked by the firewall</html>"),
        ("404 Not Found", "not found"),
        ("400 Bad Request", newer),
    ] {
        server.answer_instead(TRANSFER, status, body);
        let error = wallet.retry(&key).await.unwrap_err();
        assert!(error.is_pending_send(), "{status}: {error}");
        assert_eq!(wallet.store().outbox_entry(&key).unwrap().unwrap().state, OutboxState::Pending, "{status}");
    }
    let retried = wallet.retry(&key).await.unwrap();
    assert!(retried.replayed);
    assert_eq!(server.balance("bob").await, 2_500);
    assert!(wallet.pending_sends().unwrap().is_empty());
}

/// The server answers that the payment was made, with something the wallet cannot use beside it
/// (here a balance out of range): the send is reported paid, never as an error a script would
/// read as "not paid". Before, the unusable balance turned the paid send into an error (exit 1).
#[tokio::test]
async fn a_paid_send_is_reported_paid_whatever_else_its_answer_says() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = alice_and_bob(&server, dir.path()).await;
    let answer = serde_json::json!({
        "transfer": {"entry_id": 77, "kind": "transfer", "from": "alice", "to": "bob", "amount": 2500,
                     "created_at_ms": 1, "replayed": false},
        "balance": 1u64 << 60,
    });
    server.answer_instead(TRANSFER, "201 Created", &answer.to_string());
    let paid = wallet.send("bob", "25.00", None, None).await.unwrap();
    assert_eq!((paid.entry_id.0, paid.balance), (77, None));
    assert_eq!(only_outbox_entry(&wallet).state, OutboxState::Done);
}
