//! The HTTP client against the real server (`real_server`): a refusal comes back as a typed
//! error with the server's code and sentence, is sent once (never retried), and the request
//! carried its idempotency key and session. Faults a real server does not give on demand (502,
//! 503, pages that are not JSON, silence) are tested in the client's own unit tests.

#![allow(clippy::unwrap_used)]

mod real_server;

use offpay_wallet::Client;
use offpay_wallet::client::Patience;
use offpay_wallet::wire::TransferRequest;
use real_server::{PASSWORD, RealServer};

#[tokio::test]
async fn a_refusal_is_a_typed_error_sent_once_with_its_key_and_session() {
    let server = RealServer::start().await;
    let client = Client::new(server.url.clone()).unwrap();
    let alice = client.register("alice", PASSWORD).await.unwrap();
    client.register("bob", PASSWORD).await.unwrap();

    let request = TransferRequest { to: "bob".into(), amount: 500, memo: None, to_account: None };
    let err = client.transfer(&alice.token, "key-12345", &request).await.unwrap_err();
    assert!(err.is_refusal() && err.is_definitely_not_done(), "{err:?}");
    assert_eq!((err.status(), err.code()), (Some(422), Some("insufficient_funds")));
    assert!(!err.to_string().is_empty() && !err.to_string().contains("insufficient_funds"), "{err}");
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
    assert_eq!(serde_json::from_str::<serde_json::Value>(&sent[0].body).unwrap()["close"], "not-a-close");
}
