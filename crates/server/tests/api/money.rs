//! Transfers and history: success, every refusal changing nothing, idempotent retries,
//! object-level authorisation. Each scenario runs on SQLite here and on PostgreSQL in
//! `postgres.rs`.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_moves_money_sqlite() {
    transfer_moves_money(&TestServer::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_transfers_change_nothing_sqlite() {
    refused_transfers_change_nothing(&TestServer::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_sqlite() {
    idempotent_retries(&TestServer::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_your_own_money_sqlite() {
    only_your_own_money(&TestServer::sqlite().await).await;
}

pub async fn transfer_moves_money(server: &TestServer) {
    let client = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.deposit("alice", 100_000).await;

    let body = json!({"to": "Bob", "amount": 25_000, "memo": "chai"});
    let (status, answer) = client.post("/v1/transfers", Some(&alice), Some("pay-bob-0001"), &body).await;
    assert_eq!(status, 201, "{answer}");
    let transfer = &answer["transfer"];
    assert_eq!(transfer["kind"], "transfer");
    assert_eq!(transfer["from"], "alice");
    assert_eq!(transfer["to"], "bob");
    assert_eq!(transfer["amount"], 25_000);
    assert_eq!(transfer["replayed"], false);
    assert_eq!(transfer["created_at_ms"], server.clock.now_ms());
    assert_eq!(answer["balance"], 75_000);
    assert_eq!(server.balance(&alice).await, 75_000);
    assert_eq!(server.balance(&bob).await, 25_000);

    let (status, history) = client.get("/v1/history", Some(&alice)).await;
    assert_eq!(status, 200);
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{history}");
    assert_eq!(items[0]["entry_id"], transfer["entry_id"]);
    assert_eq!(items[0]["delta"], -25_000);
    assert_eq!(items[0]["counterparty"], "bob");
    assert_eq!(items[0]["memo"], "chai");
    assert_eq!(items[1]["kind"], "deposit");
    assert_eq!(items[1]["delta"], 100_000);
    assert_eq!(history["next_before"], Value::Null);

    let (_, history) = client.get("/v1/history", Some(&bob)).await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["delta"], 25_000);
    assert_eq!(items[0]["counterparty"], "alice");
    assert!(server.store.verify().await.unwrap().problems.is_empty());
}

pub async fn refused_transfers_change_nothing(server: &TestServer) {
    let client = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.deposit("alice", 100_000).await;

    let cases: Vec<(Value, Option<&str>, u16, &str)> = vec![
        (json!({"to": "bob", "amount": 100_001}), Some("key-insufficient"), 422, "insufficient_funds"),
        (json!({"to": "nobody", "amount": 100}), Some("key-unknown-user"), 404, "unknown_user"),
        (json!({"to": "bob", "amount": 0}), Some("key-zero-amount"), 400, "invalid_amount"),
        (json!({"to": "bob", "amount": -100}), Some("key-negative-amount"), 400, "invalid_amount"),
        (json!({"to": "bob", "amount": "12.50"}), Some("key-text-amount"), 400, "invalid_amount"),
        (json!({"to": "bob", "amount": 12.5}), Some("key-fraction-amount"), 400, "invalid_amount"),
        (json!({"to": "bob", "amount": 1u64 << 60}), Some("key-huge-amount"), 400, "invalid_amount"),
        (json!({"to": "bob", "amount": null}), Some("key-null-amount"), 400, "invalid_amount"),
        (json!({"to": "b!", "amount": 100}), Some("key-bad-handle"), 400, "invalid_handle"),
        (json!({"to": "alice", "amount": 100}), Some("key-to-myself"), 409, "same_account"),
        (json!({"to": "bob"}), Some("key-no-amount"), 400, "invalid_request"),
        (json!({"to": "bob", "amount": 100, "memo": "x".repeat(141)}), Some("key-long-memo"), 400, "invalid_request"),
        // A right-to-left override would make "rent 100.00" print as something else.
        (
            json!({"to": "bob", "amount": 100, "memo": "rent \u{202E}00.001"}),
            Some("key-bidi-memo"),
            400,
            "invalid_memo",
        ),
        (
            json!({"to": "bob", "amount": 100, "memo": "line one\nline two"}),
            Some("key-newline-memo"),
            400,
            "invalid_memo",
        ),
        (json!({"to": "bob", "amount": 100, "memo": "\u{1b}[2Jcleared"}), Some("key-escape-memo"), 400, "invalid_memo"),
        // Only a payment given back at a shop's counter carries this memo (a shop's takings
        // subtract it), so no one may write it on a transfer.
        (
            json!({"to": "bob", "amount": 100, "memo": offpay_api::money::COUNTER_REFUND_MEMO}),
            Some("key-refund-memo"),
            400,
            "invalid_memo",
        ),
        (json!({"to": "bob", "amount": 100}), None, 400, "missing_idempotency_key"),
        (json!({"to": "bob", "amount": 100}), Some("short"), 400, "invalid_idempotency_key"),
        (json!({"to": "bob", "amount": 100}), Some("has spaces in it"), 400, "invalid_idempotency_key"),
    ];
    for (body, key, status, code) in cases {
        let answer = client.post("/v1/transfers", Some(&alice), key, &body).await;
        assert_error(&answer, status, code);
    }
    // A payer that names the account it expects (a shop card names a handle and an account):
    // a handle of another account is refused before anything moves.
    let (_, me) = client.get("/v1/me", Some(&alice)).await;
    let alice_account = me["account"].as_u64().unwrap();
    let (_, me) = client.get("/v1/me", Some(&bob)).await;
    let bob_account = me["account"].as_u64().unwrap();
    for (body, key, status, code) in [
        (json!({"to": "bob", "amount": 100, "to_account": alice_account}), "key-mismatch-1", 422, "payee_mismatch"),
        (
            json!({"to": "bob", "amount": 100, "to_account": bob_account + 1000}),
            "key-mismatch-2",
            422,
            "payee_mismatch",
        ),
        (json!({"to": "nobody", "amount": 100, "to_account": bob_account}), "key-mismatch-3", 404, "unknown_user"),
        (json!({"to": "bob", "amount": 100, "to_account": "2"}), "key-mismatch-4", 400, "invalid_request"),
        // A card paid at a counter is its nonce prefix: 8 lowercase hex digits.
        (json!({"to": "bob", "amount": 100, "card": "0102030"}), "key-card-1", 400, "invalid_request"),
        (json!({"to": "bob", "amount": 100, "card": "0102030G"}), "key-card-2", 400, "invalid_request"),
        (json!({"to": "bob", "amount": 100, "card": "0102030A"}), "key-card-3", 400, "invalid_request"),
        (json!({"to": "bob", "amount": 100, "card": 16909060}), "key-card-4", 400, "invalid_request"),
    ] {
        let answer = client.post("/v1/transfers", Some(&alice), Some(key), &body).await;
        assert_error(&answer, status, code);
    }
    let wrong_login =
        client.post("/v1/login", None, None, &json!({"handle": "alice", "password": "not the password"})).await;
    assert_error(&wrong_login, 401, "invalid_credentials");

    assert_eq!(server.balance(&alice).await, 100_000);
    assert_eq!(server.balance(&bob).await, 0);
    let (_, history) = client.get("/v1/history", Some(&alice)).await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
    let report = server.store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // A refusal that depends on the balance is kept under its key: once the money is there, the
    // same request with the same key is still refused (a late earlier attempt of it cannot pay
    // after that answer), and the key with other terms is a conflict.
    server.deposit("alice", 1).await;
    let body = json!({"to": "bob", "amount": 100_001});
    let answer = client.post("/v1/transfers", Some(&alice), Some("key-insufficient"), &body).await;
    assert_error(&answer, 422, "insufficient_funds");
    let body = json!({"to": "bob", "amount": 100_000});
    let answer = client.post("/v1/transfers", Some(&alice), Some("key-insufficient"), &body).await;
    assert_error(&answer, 409, "idempotency_conflict");
    assert_eq!(server.balance(&bob).await, 0);
    // A request refused before its key was looked at did not use it up: the same key works for a
    // valid request, here naming the right account.
    let body = json!({"to": "bob", "amount": 100_000, "to_account": bob_account});
    let (status, answer) = client.post("/v1/transfers", Some(&alice), Some("key-long-memo"), &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(server.balance(&bob).await, 100_000);
}

pub async fn idempotent_retries(server: &TestServer) {
    let client = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.deposit("alice", 10_000).await;

    let (status, first) = client.send(&alice, "retry-key-1", "bob", 1_000).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = client.send(&alice, "retry-key-1", "bob", 1_000).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["transfer"]["replayed"], true);
    assert_eq!(again["transfer"]["entry_id"], first["transfer"]["entry_id"]);
    assert_eq!(again["transfer"]["amount"], 1_000);
    assert_eq!(server.balance(&alice).await, 9_000);
    assert_eq!(server.balance(&bob).await, 1_000);

    // The same key for a different request is a conflict, and moves nothing.
    assert_error(&client.send(&alice, "retry-key-1", "bob", 2_000).await, 409, "idempotency_conflict");
    assert_eq!(server.balance(&alice).await, 9_000);

    // Many simultaneous retries of one request: one entry, money moved once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = server.client();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move { client.send(&alice, "retry-key-2", "bob", 500).await }));
    }
    let mut entries = Vec::new();
    for task in tasks {
        let (status, answer) = task.await.unwrap();
        assert!(status == 201 || status == 200, "{answer}");
        entries.push(answer["transfer"]["entry_id"].as_i64().unwrap());
    }
    entries.dedup();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(server.balance(&alice).await, 8_500);
    assert_eq!(server.balance(&bob).await, 1_500);

    // Keys are per user: bob may use the same key text for his own transfer.
    let (status, answer) = client.send(&bob, "retry-key-1", "alice", 100).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["transfer"]["replayed"], false);
}

pub async fn only_your_own_money(server: &TestServer) {
    let client = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.register("mallory").await;
    server.deposit("alice", 50_000).await;

    // No token, or a made-up one: nothing.
    for token in [None, Some("f".repeat(64).as_str())] {
        let body = json!({"to": "mallory", "amount": 100});
        assert_error(&client.post("/v1/transfers", token, Some("steal-attempt"), &body).await, 401, "unauthorized");
        assert_error(&client.get("/v1/history", token).await, 401, "unauthorized");
        assert_error(&client.get("/v1/me", token).await, 401, "unauthorized");
    }
    // Bob's token acts only on bob: naming alice as the payer is refused outright...
    let forged = json!({"from": "alice", "to": "mallory", "amount": 100});
    assert_error(
        &client.post("/v1/transfers", Some(&bob), Some("steal-attempt"), &forged).await,
        400,
        "invalid_request",
    );
    // ...and a plain transfer spends bob's (empty) balance, not alice's.
    assert_error(&client.send(&bob, "steal-attempt-2", "mallory", 100).await, 422, "insufficient_funds");
    // Bob sees only his own history and account.
    let (_, history) = client.get("/v1/history", Some(&bob)).await;
    assert_eq!(history["items"], json!([]));
    let (_, me) = client.get("/v1/me", Some(&bob)).await;
    assert_eq!(me["handle"], "bob");
    assert_eq!(server.balance(&alice).await, 50_000);

    // A frozen account cannot send; the attempt is a security event.
    let user = server.store.user_by_handle(&offpay_protocol::Handle::parse("alice").unwrap()).await.unwrap().unwrap();
    server.store.set_frozen(user.id, true).await.unwrap();
    assert_error(&client.send(&alice, "frozen-attempt", "bob", 100).await, 403, "account_frozen");
    let (_, me) = client.get("/v1/me", Some(&alice)).await;
    assert_eq!(me["frozen"], true);
    assert_eq!(me["balance"], 50_000);
    let events = server.store.security_events(50).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "forbidden" && e.detail.contains("alice")), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages() {
    let server = TestServer::sqlite().await;
    let client = server.client();
    let alice = server.register("alice").await;
    server.register("bob").await;
    server.deposit("alice", 10_000).await;
    for i in 0..5 {
        assert_eq!(client.send(&alice, &format!("page-key-{i}"), "bob", 100 + i).await.0, 201);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/history?limit=2".to_string();
    loop {
        let (status, page) = client.get(&path, Some(&alice)).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["delta"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/v1/history?limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![-104, -103, -102, -101, -100, 10_000]);
    for bad in ["limit=0", "limit=201", "limit=abc", "before=x"] {
        assert_error(&client.get(&format!("/v1/history?{bad}"), Some(&alice)).await, 400, "invalid_request");
    }
}
