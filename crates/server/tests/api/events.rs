//! The WebSocket: live events after a transfer, catch-up from a cursor after reconnecting,
//! authentication by header and by first message.

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_and_catch_up_sqlite() {
    live_events_and_catch_up(&TestServer::sqlite().await).await;
}

pub async fn live_events_and_catch_up(server: &TestServer) {
    let client = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.deposit("alice", 100_000).await;

    let mut bob_ws = ws_connect(server, &bob, None).await;
    let mut alice_ws = ws_connect(server, &alice, None).await;
    let (status, answer) = client.send(&alice, "ws-transfer-1", "bob", 25_000).await;
    assert_eq!(status, 201, "{answer}");

    let event = next_event(&mut bob_ws).await;
    assert_eq!(event["kind"], "money_in", "{event}");
    assert_eq!(event["payload"]["amount"], 25_000);
    assert_eq!(event["payload"]["from"], "alice");
    assert_eq!(event["payload"]["to"], "bob");
    assert_eq!(event["payload"]["balance"], 25_000);
    assert_eq!(event["payload"]["entry_id"], answer["transfer"]["entry_id"]);
    assert_eq!(event["created_at_ms"], server.clock.now_ms());
    let first_seq = event["seq"].as_i64().unwrap();

    let event = next_event(&mut alice_ws).await;
    assert_eq!(event["kind"], "money_out", "{event}");
    assert_eq!(event["payload"]["balance"], 75_000);

    // Bob goes away; two payments arrive meanwhile; he reconnects from his cursor.
    drop(bob_ws);
    assert_eq!(client.send(&alice, "ws-transfer-2", "bob", 100).await.0, 201);
    assert_eq!(client.send(&alice, "ws-transfer-3", "bob", 200).await.0, 201);
    let mut bob_ws = ws_connect(server, &bob, Some(first_seq)).await;
    let second = next_event(&mut bob_ws).await;
    let third = next_event(&mut bob_ws).await;
    assert_eq!((second["payload"]["amount"].clone(), third["payload"]["amount"].clone()), (json!(100), json!(200)));
    assert_eq!(third["payload"]["balance"], 25_300);
    assert!(first_seq < second["seq"].as_i64().unwrap() && second["seq"].as_i64() < third["seq"].as_i64());

    // Then live ones on the same socket; alice's own events are never sent to bob.
    assert_eq!(client.send(&alice, "ws-transfer-4", "bob", 300).await.0, 201);
    let fourth = next_event(&mut bob_ws).await;
    assert_eq!(fourth["payload"]["amount"], 300);
    assert_eq!(fourth["kind"], "money_in");

    // The same catch-up with the first-message form of authentication.
    let mut browser = ws_connect_with_message(server, json!({"token": bob, "after": first_seq})).await;
    let amounts: Vec<i64> =
        [next_event(&mut browser).await, next_event(&mut browser).await, next_event(&mut browser).await]
            .iter()
            .map(|e| e["payload"]["amount"].as_i64().unwrap())
            .collect();
    assert_eq!(amounts, vec![100, 200, 300]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_authentication_failures() {
    let server = TestServer::sqlite().await;
    server.register("alice").await;

    // A bad first message closes the socket with 4401.
    let mut ws = ws_connect_with_message(&server, json!({"token": "f".repeat(64)})).await;
    assert_eq!(close_code(&mut ws).await, 4401);
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url.as_str()).await.unwrap();
    ws.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(close_code(&mut ws).await, 4401);

    // A bad header is refused before the upgrade.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(server.ws_url.as_str()).unwrap();
    request.headers_mut().insert("Authorization", "Bearer nonsense".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }

    // A plain GET (no upgrade) is a clear error.
    assert_error(&server.client().get("/v1/ws", None).await, 400, "invalid_request");
    let events = server.store.security_events(10).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "ws_auth_failed"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_close_at_session_expiry_and_at_shutdown() {
    let config = offpay_server::Config {
        ws_ping_interval: std::time::Duration::from_millis(50),
        session_absolute_ms: 60_000,
        ..offpay_server::Config::for_tests()
    };
    let server = TestServer::sqlite_with(config).await;
    let alice = server.register("alice").await;

    // The session's absolute expiry passes: the socket is closed with 4401.
    let mut expiring = ws_connect(&server, &alice, None).await;
    server.clock.advance_ms(60_000);
    assert_eq!(close_code(&mut expiring).await, 4401);

    // Shutdown closes open sockets with 1001 and the server stops.
    let bob = server.register("bob").await;
    let mut open = ws_connect(&server, &bob, None).await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(close_code(&mut open).await, 1001);
    tokio::time::timeout(PATIENCE, stopping).await.unwrap().unwrap();
}
