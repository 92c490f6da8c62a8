//! Register, login, logout, me; session expiry; login throttling, lockout and no enumeration
//! (the device-token rules: `login_throttle.rs`).

use offpay_server::config::ThrottleRule;
use offpay_server::{Clock, Config};
use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_me_logout() {
    let server = TestServer::sqlite().await;
    let client = server.client();

    let (status, body) =
        client.post("/v1/register", None, None, &json!({"handle": "Alice", "password": PASSWORD})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["handle"], "alice");
    let first = body["token"].as_str().unwrap().to_string();
    assert_eq!(first.len(), 64);
    assert_eq!(body["expires_at_ms"], T0 + 7 * 24 * 3600 * 1000);

    let (status, me) = client.get("/v1/me", Some(&first)).await;
    assert_eq!(status, 200);
    assert!(me["account"].as_i64().is_some_and(|a| a > 0), "{me}");
    assert_eq!(
        me,
        json!({"handle": "alice", "account": me["account"], "balance": 0, "currency": "INR", "frozen": false})
    );

    let (status, body) = client.post("/v1/login", None, None, &json!({"handle": "alice", "password": PASSWORD})).await;
    assert_eq!(status, 200, "{body}");
    let second = body["token"].as_str().unwrap().to_string();
    assert_ne!(first, second);

    // Logging out ends that session only.
    let (status, body) = client.post("/v1/logout", Some(&first), None, &json!({})).await;
    assert_eq!(status, 204, "{body}");
    assert_error(&client.get("/v1/me", Some(&first)).await, 401, "unauthorized");
    assert_error(&client.post("/v1/logout", Some(&first), None, &json!({})).await, 401, "unauthorized");
    assert_eq!(client.get("/v1/me", Some(&second)).await.0, 200);

    // The store keeps only the token's SHA-256: the raw token is not a key there.
    let raw: [u8; 32] = hex::decode(&second).unwrap().try_into().unwrap();
    assert!(server.store.touch_session(&raw, T0).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refusals() {
    let server = TestServer::sqlite().await;
    let client = server.client();
    server.register("alice").await;
    let register = |handle: &str, password: &str| json!({"handle": handle, "password": password});
    assert_error(&client.post("/v1/register", None, None, &register("ALICE", PASSWORD)).await, 409, "handle_taken");
    assert_error(&client.post("/v1/register", None, None, &register("a!", PASSWORD)).await, 400, "invalid_handle");
    assert_error(&client.post("/v1/register", None, None, &register("9lives", PASSWORD)).await, 400, "invalid_handle");
    assert_error(&client.post("/v1/register", None, None, &register("bob", "short")).await, 400, "weak_password");
    assert_error(&client.post("/v1/register", None, None, &json!({"handle": "bob"})).await, 400, "invalid_request");
    assert_error(&client.post("/v1/register", None, None, &json!(["bob", PASSWORD])).await, 400, "invalid_request");
    let raw = client.http.post(format!("{}/v1/register", server.base)).body("{not json").send().await.unwrap();
    assert_error(&read(raw).await, 400, "invalid_request");
    // None of these created bob.
    assert_error(&client.post("/v1/login", None, None, &register("bob", PASSWORD)).await, 401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_absolutely() {
    let config = Config { session_idle_ms: 30 * 60_000, session_absolute_ms: 60 * 60_000, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let client = server.client();

    // Idle: 30 minutes without use ends the session.
    let idle = server.register("idler").await;
    server.clock.advance_ms(29 * 60_000);
    assert_eq!(client.get("/v1/me", Some(&idle)).await.0, 200);
    server.clock.advance_ms(30 * 60_000);
    assert_error(&client.get("/v1/me", Some(&idle)).await, 401, "unauthorized");

    // Absolute: used every 20 minutes, it still ends an hour after login.
    let busy = server.register("busy").await;
    for _ in 0..2 {
        server.clock.advance_ms(20 * 60_000);
        assert_eq!(client.get("/v1/me", Some(&busy)).await.0, 200);
    }
    server.clock.advance_ms(20 * 60_000);
    assert_error(&client.get("/v1/me", Some(&busy)).await, 401, "unauthorized");

    // Garbage and missing tokens.
    assert_error(&client.get("/v1/me", Some("nonsense")).await, 401, "unauthorized");
    assert_error(&client.get("/v1/me", Some(&"ab".repeat(32))).await, 401, "unauthorized");
    assert_error(&client.get("/v1/me", None).await, 401, "unauthorized");
}

fn lockout_config() -> Config {
    Config {
        throttle_pair: ThrottleRule {
            free_failures: 2,
            base_delay_ms: 1_000,
            max_delay_ms: 5_000,
            lockout_failures: 4,
            lockout_ms: 3_600_000,
            forget_after_ms: 7_200_000,
        },
        ..Config::for_tests()
    }
}

/// The answers to a fixed sequence of wrong-password attempts on `handle`, advancing the clock
/// in between as a patient attacker would.
async fn attack(server: &TestServer, handle: &str) -> Vec<(u16, serde_json::Value, Option<String>)> {
    let client = server.client();
    let mut answers = Vec::new();
    for step in 0..6 {
        if step == 4 {
            server.clock.advance_ms(1_000);
        }
        let response = client
            .http
            .post(format!("{}/v1/login", server.base))
            .json(&json!({"handle": handle, "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let (status, body) = read(response).await;
        answers.push((status.as_u16(), body, retry_after));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_lockout_and_no_user_enumeration() {
    let server = TestServer::sqlite_with(lockout_config()).await;
    let client = server.client();
    server.register("alice").await;

    let known = attack(&server, "alice").await;
    let unknown = attack(&server, "mallory").await;
    // An unknown user gets exactly the answers a known user with a wrong password gets.
    assert_eq!(known, unknown);
    let statuses: Vec<u16> = known.iter().map(|(s, _, _)| *s).collect();
    // 2 free failures, a third that locks for 1 s, refused while locked, a fourth after the delay
    // that locks out, refused.
    assert_eq!(statuses, vec![401, 401, 401, 429, 401, 429]);
    assert_eq!(known[0].1["error"]["code"], "invalid_credentials");
    assert_eq!(known[3].1["error"]["code"], "too_many_attempts");
    assert_eq!(known[3].2.as_deref(), Some("1"));
    assert_eq!(known[5].2.as_deref(), Some("3600"));

    // Locked out: even the right password is refused, without saying whether it was right.
    let right = json!({"handle": "alice", "password": PASSWORD});
    assert_error(&client.post("/v1/login", None, None, &right).await, 429, "too_many_attempts");
    server.clock.advance_ms(3_600_000);
    let (status, body) = client.post("/v1/login", None, None, &right).await;
    assert_eq!(status, 200, "{body}");

    // After a successful login the counter starts again from zero.
    assert_error(
        &client.post("/v1/login", None, None, &json!({"handle": "alice", "password": "nope nope"})).await,
        401,
        "invalid_credentials",
    );
    assert_eq!(server.store.login_throttle("pair:alice 127.0.0.1").await.unwrap().failures, 1);

    let events = server.store.security_events(100).await.unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("login_failed"), 9);
    assert_eq!(count("login_locked"), 2);
    assert!(count("login_throttled") >= 2);
    assert!(events.iter().any(|e| e.kind == "login_failed" && e.detail.contains("handle=mallory")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttled_per_address_across_handles() {
    let config = Config {
        throttle_ip: ThrottleRule {
            free_failures: 3,
            base_delay_ms: 60_000,
            max_delay_ms: 60_000,
            lockout_failures: 100,
            lockout_ms: 60_000,
            forget_after_ms: 600_000,
        },
        ..Config::for_tests()
    };
    let server = TestServer::sqlite_with(config).await;
    let client = server.client();
    let (_, target_device) = server.register_device("target").await;
    // One guess each at many handles from one address.
    for (i, status) in [401, 401, 401, 401, 429].into_iter().enumerate() {
        let answer = client
            .post("/v1/login", None, None, &json!({"handle": format!("user{i}"), "password": "guess guess"}))
            .await;
        assert_eq!(answer.0.as_u16(), status, "attempt {i}: {}", answer.1);
    }
    // The address is locked for everyone's untrusted sign-ins, including a right password.
    let right = json!({"handle": "target", "password": PASSWORD});
    assert_error(&client.post("/v1/login", None, None, &right).await, 429, "too_many_attempts");
    // A device that signed in before is not refused for what others did from its address.
    let device = json!({"handle": "target", "password": PASSWORD, "device_token": target_device});
    assert_eq!(client.post("/v1/login", None, None, &device).await.0, 200);
    server.clock.advance_ms(60_000);
    assert_eq!(client.post("/v1/login", None, None, &right).await.0, 200);
}

/// The database never holds a password, a session token or a device token in clear (docs/DESIGN.md,
/// section 5): after a registration, a login and a password change, none of them appears in the
/// SQLite file or its WAL, neither as the text the client holds nor as the raw token bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_not_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = offpay_ledger::open_store(Some(dir.path()), None).await.unwrap();
    let server = TestServer::start(Config::for_tests(), store, Clock::manual(T0)).await;
    let client = server.client();
    let (first, device_token) = server.register_device("secretive").await;
    let (status, body) =
        client.post("/v1/login", None, None, &json!({"handle": "secretive", "password": PASSWORD})).await;
    assert_eq!(status, 200, "{body}");
    let second = body["token"].as_str().unwrap().to_string();
    let new_password = "a brand new passphrase";
    let (status, body) = client
        .post("/v1/password", Some(&second), None, &json!({"current_password": PASSWORD, "new_password": new_password}))
        .await;
    assert!(status.is_success(), "{status} {body}");
    let after_change = body["token"].as_str().map(str::to_string);
    server.stop().await;

    // The store's connections close in the background after the server stops, and the last one
    // checkpoints the WAL into the database file and deletes it: a scan that meets a file gone
    // between listing and reading starts again, so the bytes read always hold everything stored.
    let stored = (0..100)
        .find_map(|_| {
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                match std::fs::read(entry.unwrap().path()) {
                    Ok(file) => bytes.extend(file),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        return None;
                    }
                    Err(e) => panic!("reading the data directory: {e}"),
                }
            }
            Some(bytes)
        })
        .expect("the data directory settled");
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    // The search works: the handle is stored in clear, as it should be.
    assert!(contains(b"secretive"));
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("first password".into(), PASSWORD.as_bytes().to_vec()),
        ("new password".into(), new_password.as_bytes().to_vec()),
    ];
    for (name, token) in
        [("first session", Some(first)), ("second session", Some(second)), ("after change", after_change)]
            .into_iter()
            .filter_map(|(n, t)| t.map(|t| (n, t)))
            .chain([("device token", device_token)])
    {
        secrets.push((format!("{name} as text"), token.as_bytes().to_vec()));
        if let Ok(raw) = hex::decode(&token) {
            secrets.push((format!("{name} raw"), raw));
        }
    }
    for (name, secret) in secrets {
        assert!(!contains(&secret), "the {name} is stored in clear");
    }
}
