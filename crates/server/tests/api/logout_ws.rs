//! Logging out ends the session's open WebSockets (4401 "session ended"): at once on the server
//! that took the logout, at the next session check on another server sharing the database; other
//! sessions' sockets stay open, the old token opens no new socket, and an open socket does not
//! keep its session from idling out.

use std::time::Duration;

use futures_util::StreamExt;
use offpay_server::{Clock, Config};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

/// Longer than any test waits: with it, only the logout announcement can close a socket.
const NEVER: Duration = Duration::from_secs(3600);

/// The close code and reason the server sent (skipping pings, which do not extend the wait).
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    let close = async {
        loop {
            match ws.next().await.expect("the socket ended without a close frame").unwrap() {
                Message::Close(Some(frame)) => return (u16::from(frame.code), frame.reason.to_string()),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, close).await.expect("no close came")
}

/// A second session of `handle` (a login).
async fn login(server: &TestServer, handle: &str) -> String {
    let (status, body) =
        server.client().post("/v1/login", None, None, &json!({"handle": handle, "password": PASSWORD})).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The old token is refused a new socket in both forms of authentication.
async fn assert_socket_refused(server: &TestServer, token: &str) {
    let mut request = server.ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    let mut browser = ws_connect_with_message(server, json!({"token": token})).await;
    assert_eq!(close_frame(&mut browser).await, (4401, "unauthorized".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_closes_that_sessions_sockets_at_once() {
    let config = Config { ws_session_check_interval: NEVER, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let client = server.client();
    let alice = server.register("alice").await;
    let alice_other = login(&server, "alice").await;
    let bob = server.register("bob").await;
    server.deposit("bob", 10_000).await;

    let mut by_header = ws_connect(&server, &alice, None).await;
    let mut by_message = ws_connect_with_message(&server, json!({"token": alice})).await;
    let mut other_session = ws_connect(&server, &alice_other, None).await;
    // Every socket is subscribed once it has had an event.
    assert_eq!(client.send(&bob, "logout-ws-1", "alice", 100).await.0, 201);
    for ws in [&mut by_header, &mut by_message, &mut other_session] {
        assert_eq!(next_event(ws).await["payload"]["amount"], 100);
    }

    let (status, body) = client.post("/v1/logout", Some(&alice), None, &json!({})).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(close_frame(&mut by_header).await, (4401, "session ended".to_string()));
    assert_eq!(close_frame(&mut by_message).await, (4401, "session ended".to_string()));

    // The other session's socket goes on receiving alice's events.
    assert_eq!(client.send(&bob, "logout-ws-2", "alice", 200).await.0, 201);
    let event = next_event(&mut other_session).await;
    assert_eq!((event["kind"].as_str(), event["payload"]["amount"].as_i64()), (Some("money_in"), Some(200)));
    assert_socket_refused(&server, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_socket_does_not_keep_its_session_alive() {
    let config = Config {
        session_idle_ms: 30 * 60_000,
        ws_session_check_interval: Duration::from_millis(10),
        ..Config::for_tests()
    };
    let server = TestServer::sqlite_with(config).await;
    let alice = server.register("alice").await;
    let mut ws = ws_connect(&server, &alice, None).await;

    // 20 minutes on, the socket checks its session many times (a real-time wait, so the checks
    // run at the moved clock); a check that counted as use would keep the session alive below.
    server.clock.advance_ms(20 * 60_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.clock.advance_ms(11 * 60_000);
    assert_error(&server.client().get("/v1/me", Some(&alice)).await, 401, "unauthorized");
    // That refusal removed the idle session; the socket's next check finds it gone.
    assert_eq!(close_frame(&mut ws).await, (4401, "session ended".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_another_server_closes_the_socket_postgres() {
    let Some((url, _db)) = offpay_ledger::testing::fresh_postgres().await else { return };
    let clock = Clock::manual(T0);
    let store_a = offpay_ledger::open_store(None, Some(&url)).await.unwrap();
    let store_b = offpay_ledger::open_store(None, Some(&url)).await.unwrap();
    // A re-reads sessions often; B never in this test, so B's socket can only end by the
    // announcement of the logout it takes.
    let config_a = Config { ws_session_check_interval: Duration::from_millis(50), ..Config::for_tests() };
    let config_b = Config { ws_session_check_interval: NEVER, ..Config::for_tests() };
    let a = TestServer::start(config_a, store_a, clock.clone()).await;
    let b = TestServer::start(config_b, store_b, clock).await;

    let alice = a.register("alice").await;
    let alice_other = login(&a, "alice").await;
    let mut on_a = ws_connect(&a, &alice, None).await;
    let mut on_b = ws_connect(&b, &alice, None).await;
    let mut other_on_a = ws_connect(&a, &alice_other, None).await;
    a.deposit("alice", 5_000).await;
    for ws in [&mut on_a, &mut on_b, &mut other_on_a] {
        assert_eq!(next_event(ws).await["kind"], "deposit");
    }

    let (status, body) = b.client().post("/v1/logout", Some(&alice), None, &json!({})).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(close_frame(&mut on_b).await, (4401, "session ended".to_string()));
    assert_eq!(close_frame(&mut on_a).await, (4401, "session ended".to_string()));

    // A's checks leave the live session's socket open.
    a.deposit("alice", 7_000).await;
    let event = next_event(&mut other_on_a).await;
    assert_eq!((event["kind"].as_str(), event["payload"]["balance"].as_i64()), (Some("deposit"), Some(12_000)));
    assert_socket_refused(&a, &alice).await;
    a.stop().await;
    b.stop().await;
}

/// A stolen token is cut off: "log out everywhere" from one session ends every session of the
/// account (their HTTP requests are refused and their sockets close); a password change ends
/// every other session (this one stays) and needs the current password; Bob's session is never
/// touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_everywhere_and_a_password_change_end_the_other_sessions() {
    let config = Config { ws_session_check_interval: NEVER, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let client = server.client();
    let phone = server.register("alice").await;
    let thief = login(&server, "alice").await;
    let bob = server.register("bob").await;
    server.deposit("bob", 10_000).await;
    let mut thief_socket = ws_connect(&server, &thief, None).await;
    let mut bob_socket = ws_connect(&server, &bob, None).await;
    assert_eq!(client.send(&bob, "logout-all-1", "alice", 100).await.0, 201);
    assert_eq!(next_event(&mut thief_socket).await["payload"]["amount"], 100);
    assert_eq!(next_event(&mut bob_socket).await["payload"]["amount"], 100);

    // The password change needs the right current password (nothing changes otherwise).
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) =
        client.post("/v1/password", Some(&phone), None, &change("not my password", "a new password 1")).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (403, Some("wrong_password")), "{body}");
    let (status, body) = client.post("/v1/password", Some(&phone), None, &change(PASSWORD, "short")).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("weak_password")), "{body}");
    assert_eq!(client.get("/v1/me", Some(&thief)).await.0, 200, "nothing ended yet");

    // The owner changes the password: the thief's session and socket end, the phone's stays.
    let (status, body) = client.post("/v1/password", Some(&phone), None, &change(PASSWORD, "a new password 1")).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(close_frame(&mut thief_socket).await, (4401, "session ended".to_string()));
    assert_eq!(client.get("/v1/me", Some(&thief)).await.0, 401);
    assert_eq!(client.get("/v1/me", Some(&phone)).await.0, 200);
    // The old password no longer logs in; the new one does.
    let old = client.post("/v1/login", None, None, &json!({"handle": "alice", "password": PASSWORD})).await;
    assert_eq!(old.0, 401);
    let (status, body) =
        client.post("/v1/login", None, None, &json!({"handle": "alice", "password": "a new password 1"})).await;
    assert_eq!(status, 200, "{body}");
    let laptop = body["token"].as_str().unwrap().to_string();

    // Log out everywhere from the laptop: the phone's and the laptop's sessions end.
    let mut phone_socket = ws_connect(&server, &phone, None).await;
    assert_eq!(client.send(&bob, "logout-all-2", "alice", 100).await.0, 201);
    assert_eq!(next_event(&mut phone_socket).await["payload"]["amount"], 100);
    let (status, body) = client.post("/v1/logout-all", Some(&laptop), None, &json!({})).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(close_frame(&mut phone_socket).await, (4401, "session ended".to_string()));
    for token in [&phone, &laptop] {
        assert_eq!(client.get("/v1/me", Some(token)).await.0, 401);
    }
    // Bob was never logged out.
    assert_eq!(client.get("/v1/me", Some(&bob)).await.0, 200);
    assert_eq!(client.send(&bob, "logout-all-3", "alice", 100).await.0, 201);
    assert_eq!(next_event(&mut bob_socket).await["payload"]["amount"], 100);
}
