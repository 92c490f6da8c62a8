//! The HTTP client against the real server (`real_server`), with the faults of a network
//! injected by the relay in front of it: refusals come back as typed errors with the server's
//! code and sentence and are sent once; 502 and 503 from a proxy are retried with the same key
//! a bounded number of times; answers that are not JSON are typed errors too. (A silent peer
//! and a closed port are tested in the client's unit tests, with no server at all.)

#![allow(clippy::unwrap_used)]

mod real_server;

use offpay_protocol::testkit::signing_key;
use offpay_wallet::client::Patience;
use offpay_wallet::wire::TransferRequest;
use offpay_wallet::{Client, ClientError};
use real_server::{PASSWORD, RealServer};
use serde_json::{Value, json};

const LOAD: &str = "POST /v1/purses ";

fn body_of(request: &real_server::Sent) -> Value {
    serde_json::from_str(&request.body).unwrap()
}

#[tokio::test]
async fn a_refusal_is_a_typed_error_sent_once_with_its_key_and_session() {
    let server = RealServer::start().await;
    let client = Client::new(server.url.clone()).unwrap();
    let alice = client.register("alice", PASSWORD).await.unwrap();
    client.register("bob", PASSWORD).await.unwrap();

    let request = TransferRequest { to: "bob".into(), amount: 500, memo: None, to_account: None, card: None };
    let err = client.transfer(&alice.token, "key-12345", &request).await.unwrap_err();
    assert!(err.is_refusal() && err.is_definitely_not_done(), "{err:?}");
    assert_eq!((err.status(), err.code()), (Some(422), Some("insufficient_funds")));
    assert_eq!(err.to_string(), "the balance is too low for this payment");
    let sent = server.sent_as("POST /v1/transfers ");
    assert_eq!(sent.len(), 1, "a refusal is not retried");
    assert_eq!(sent[0].header("idempotency-key").as_deref(), Some("key-12345"));
    assert_eq!(sent[0].header("authorization"), Some(format!("Bearer {}", alice.token)));
    assert_eq!(server.balance("bob").await, 0);
}

#[tokio::test]
async fn an_offline_refusal_is_not_retried_even_with_offline_patience() {
    let server = RealServer::start().await;
    let client = Client::new(server.url.clone()).unwrap().with_patience(Patience::OFFLINE);
    let alice = client.register("alice", PASSWORD).await.unwrap();
    let purse = "00".repeat(16);
    let err = client.close_purse(&alice.token, "close-0001", &purse, "not-a-close").await.unwrap_err();
    assert!(err.is_refusal() && err.is_definitely_not_done(), "{err:?}");
    assert!(err.code().is_some(), "{err:?}");
    let sent = server.sent_as(&format!("POST /v1/purses/{purse}/close "));
    assert_eq!(sent.len(), 1, "a refusal is not retried");
    assert_eq!(body_of(&sent[0]), json!({"close": "not-a-close"}));
}

#[tokio::test]
async fn idempotent_reads_are_retried_after_a_503() {
    let server = RealServer::start().await;
    server.answer_instead("GET /v1/config ", "503 Service Unavailable", "");
    let config = Client::new(server.url.clone()).unwrap().config().await.unwrap();
    assert_eq!((config.currency.as_str(), config.decimals), ("INR", 2));
    assert_eq!(server.sent_as("GET /v1/config ").len(), 2);
}

#[tokio::test]
async fn an_error_page_that_is_not_json_is_still_a_typed_error() {
    let server = RealServer::start().await;
    server.answer_instead("GET /v1/me ", "404 Not Found", "nop");
    let err = Client::new(server.url.clone()).unwrap().me("tok").await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(404), Some("http_404")));
}

/// A registered user with 100.00 and a registered device; its token and the device key (hex).
async fn user_with_device(server: &RealServer, client: &Client) -> (String, String) {
    let alice = client.register("alice", PASSWORD).await.unwrap();
    server.deposit("alice", 10_000).await;
    let device = hex::encode(signing_key("wallet-client-tests/device").verifying_key().as_bytes());
    client.register_device(&alice.token, &device).await.unwrap();
    (alice.token, device)
}

#[tokio::test]
async fn a_purse_load_is_retried_with_its_key_through_bad_gateways_and_loads_once() {
    let server = RealServer::start().await;
    let client = Client::new(server.url.clone()).unwrap().with_patience(Patience::OFFLINE);
    let (token, device) = user_with_device(&server, &client).await;
    for status in ["503 Service Unavailable", "502 Bad Gateway", "503 Service Unavailable"] {
        server.answer_instead(LOAD, status, "");
    }
    let loaded = client.load_purse(&token, "key-0001", 5_000, &device).await.unwrap();
    assert_eq!((loaded.purse.amount, loaded.balance), (5_000, 5_000));
    let sent = server.sent_as(LOAD);
    assert_eq!(sent.len(), 4, "four attempts");
    for request in &sent {
        assert_eq!(request.header("idempotency-key").as_deref(), Some("key-0001"));
        assert_eq!(request.header("authorization"), Some(format!("Bearer {token}")));
        assert_eq!(body_of(request), json!({"amount": 5000, "device_public_key": device}));
    }
    assert_eq!(server.balance("alice").await, 5_000);
}

#[tokio::test]
async fn the_online_patience_gives_up_after_three_attempts() {
    let server = RealServer::start().await;
    let client = Client::new(server.url.clone()).unwrap();
    let (token, device) = user_with_device(&server, &client).await;
    for _ in 0..3 {
        server.answer_instead(LOAD, "503 Service Unavailable", r#"{"error":{"code":"unavailable","message":"busy"}}"#);
    }
    let err = client.load_purse(&token, "key-0001", 5_000, &device).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(503), Some("unavailable")));
    assert!(!err.is_definitely_not_done());
    assert_eq!(server.sent_as(LOAD).len(), 3);
    assert_eq!(server.balance("alice").await, 10_000, "no attempt reached the server");
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_a_bad_answer() {
    let server = RealServer::start().await;
    let client = Client::new(server.url.clone()).unwrap().with_patience(Patience::OFFLINE);
    let alice = client.register("alice", PASSWORD).await.unwrap();
    let device = hex::encode(signing_key("wallet-client-tests/device").verifying_key().as_bytes());
    server.answer_instead("POST /v1/devices ", "201 Created", "ok");
    let err = client.register_device(&alice.token, &device).await.unwrap_err();
    assert!(matches!(err, ClientError::BadAnswer { .. }), "{err:?}");
    // The real answer is JSON.
    client.register_device(&alice.token, &device).await.unwrap();
    assert_eq!(body_of(&server.sent_as("POST /v1/devices ")[1]), json!({"public_key": device}));
}
