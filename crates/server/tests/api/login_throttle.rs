//! Login throttling that protects the owner (docs/OPERATIONS.md, "Login throttling"): device
//! tokens, the per-account guess budget shared by every address, growing delays that are
//! forgotten. Each client connects from its own loopback address (`127.0.0.N`), so the server
//! sees a different client address per stranger.

use offpay_protocol::Handle;
use offpay_server::Config;
use offpay_server::config::GuessBudget;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const MINUTE: i64 = 60_000;

/// One sign-in from `127.0.0.{from}`: status, body, Retry-After.
async fn login(
    server: &TestServer,
    from: u8,
    handle: &str,
    password: &str,
    device: Option<&str>,
) -> (StatusCode, Value, Option<u64>) {
    let mut body = json!({"handle": handle, "password": password});
    if let Some(device) = device {
        body["device_token"] = json!(device);
    }
    let response =
        server.client_from(from).http.post(format!("{}/v1/login", server.base)).json(&body).send().await.unwrap();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    let (status, body) = read(response).await;
    (status, body, retry_after)
}

#[track_caller]
fn assert_status(answer: &(StatusCode, Value, Option<u64>), status: u16, code: Option<&str>) {
    assert_eq!(answer.0.as_u16(), status, "{}", answer.1);
    if let Some(code) = code {
        assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lockout_cannot_keep_the_owner_out() {
    let server = TestServer::sqlite().await;
    let (_, device) = server.register_device("alice").await;
    // A stranger guesses from several addresses until every try is refused.
    let mut refused = 0;
    for from in 10..16 {
        for _ in 0..4 {
            let answer = login(&server, from, "alice", "guess guess", None).await;
            match answer.0.as_u16() {
                401 => {}
                429 => refused += 1,
                other => panic!("unexpected {other}: {}", answer.1),
            }
        }
    }
    assert!(refused >= 14, "{refused}");
    assert_status(&login(&server, 16, "alice", "guess guess", None).await, 429, Some("too_many_attempts"));
    // Without the device, even the owner's right password is refused now ...
    assert_status(&login(&server, 1, "alice", PASSWORD, None).await, 429, Some("too_many_attempts"));
    // ... with it, the owner signs in from its own address, and from the stranger's too.
    let owner = login(&server, 1, "alice", PASSWORD, Some(&device)).await;
    assert_status(&owner, 200, None);
    assert_eq!(owner.1["device_token"], device.as_str(), "a trusted device keeps its token");
    assert_eq!(server.balance(owner.1["token"].as_str().unwrap()).await, 0);
    assert_status(&login(&server, 10, "alice", PASSWORD, Some(&device)).await, 200, None);
    // A wrong password on the device is counted against the device alone: 401, not 429.
    assert_status(&login(&server, 1, "alice", "typo typo", Some(&device)).await, 401, Some("invalid_credentials"));
    // The stranger stays throttled after the owner's sign-ins.
    assert_status(&login(&server, 17, "alice", "guess guess", None).await, 429, Some("too_many_attempts"));
    assert_status(&login(&server, 17, "alice", PASSWORD, None).await, 429, Some("too_many_attempts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_guess_in_30_minutes_is_refused_from_another_address() {
    let server = TestServer::sqlite().await;
    let (_, device) = server.register_device("alice").await;
    // Ten wrong guesses, each from a new address, one a minute.
    for from in 10..20 {
        assert_status(&login(&server, from, "alice", "guess guess", None).await, 401, Some("invalid_credentials"));
        server.clock.advance_ms(MINUTE);
    }
    // The 11th, from yet another address, 10 minutes after the first: refused, even with the
    // right password, until the first guess is 30 minutes old.
    let eleventh = login(&server, 20, "alice", PASSWORD, None).await;
    assert_status(&eleventh, 429, Some("too_many_attempts"));
    assert_eq!(eleventh.2, Some(20 * 60));
    assert!(eleventh.1["error"]["message"].as_str().unwrap().contains("try again in 1200 seconds"), "{}", eleventh.1);
    // The server saw ten addresses.
    let events = server.store.security_events(100).await.unwrap();
    for from in 10..20 {
        let ip = format!("ip=127.0.0.{from} ");
        assert_eq!(events.iter().filter(|e| e.kind == "login_failed" && e.detail.contains(&ip)).count(), 1, "{ip}");
    }
    // A device that signed in before is let in.
    assert_status(&login(&server, 20, "alice", PASSWORD, Some(&device)).await, 200, None);
    // Unknown handles are counted exactly alike: the same answers.
    for from in 10..20 {
        assert_status(&login(&server, from, "nobody", "guess guess", None).await, 401, Some("invalid_credentials"));
    }
    let unknown = login(&server, 20, "nobody", "guess guess", None).await;
    assert_status(&unknown, 429, Some("too_many_attempts"));
    assert_eq!(unknown.2, Some(30 * 60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_sign_in_does_not_reset_the_strangers_count() {
    let server = TestServer::sqlite().await;
    server.register("alice").await;
    for from in 10..15 {
        assert_status(&login(&server, from, "alice", "guess guess", None).await, 401, None);
    }
    // The owner signs in without a device token (a new device): its guess is given back, and
    // nothing else changes.
    assert_status(&login(&server, 1, "alice", PASSWORD, None).await, 200, None);
    for from in 15..20 {
        assert_status(&login(&server, from, "alice", "guess guess", None).await, 401, None);
    }
    assert_status(&login(&server, 20, "alice", "guess guess", None).await, 429, Some("too_many_attempts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_and_delays_are_forgotten() {
    let server = TestServer::sqlite().await;
    server.register("alice").await;
    // One address: three free failures, then delays that double (1 s, 2 s, ...).
    for _ in 0..3 {
        assert_status(&login(&server, 10, "alice", "guess guess", None).await, 401, None);
    }
    assert_status(&login(&server, 10, "alice", "guess guess", None).await, 401, None);
    let locked = login(&server, 10, "alice", PASSWORD, None).await;
    assert_status(&locked, 429, Some("too_many_attempts"));
    assert_eq!(locked.2, Some(1));
    // Another address is not held up by this one's delay.
    assert_status(&login(&server, 11, "alice", "guess guess", None).await, 401, None);
    server.clock.advance_ms(1_000);
    assert_status(&login(&server, 10, "alice", "guess guess", None).await, 401, None);
    assert_eq!(login(&server, 10, "alice", "guess guess", None).await.2, Some(2));
    server.clock.advance_ms(2_000);
    assert_status(&login(&server, 10, "alice", "guess guess", None).await, 401, None);
    assert_eq!(login(&server, 10, "alice", "guess guess", None).await.2, Some(4));
    // Spend the rest of the budget (7 guesses so far) from other addresses.
    for from in 12..15 {
        assert_status(&login(&server, from, "alice", "guess guess", None).await, 401, None);
    }
    assert_status(&login(&server, 15, "alice", PASSWORD, None).await, 429, Some("too_many_attempts"));
    // 30 minutes on, the guesses have left the window and the delays are forgotten: the address
    // that was delayed gets three free failures again, and the right password gets in.
    server.clock.advance_ms(31 * MINUTE);
    for _ in 0..3 {
        assert_status(&login(&server, 10, "alice", "guess guess", None).await, 401, None);
    }
    assert_status(&login(&server, 10, "alice", PASSWORD, None).await, 200, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_accounts_own_live_device_token_helps() {
    let config = Config { login_budget: GuessBudget { guesses: 3, window_ms: 30 * MINUTE }, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let (_, alice_device) = server.register_device("alice").await;
    let (_, bob_device) = server.register_device("bob").await;
    for from in 10..13 {
        assert_status(&login(&server, from, "alice", "guess guess", None).await, 401, None);
    }
    // Bob's token, a made-up one, a malformed one: not alice's, so untrusted and refused.
    for token in [bob_device.as_str(), &"ab".repeat(32), "not a token"] {
        assert_status(&login(&server, 1, "alice", PASSWORD, Some(token)).await, 429, Some("too_many_attempts"));
    }
    // A stolen token gives a few guesses (5 by default), then it is no longer trusted.
    for _ in 0..5 {
        assert_status(
            &login(&server, 13, "alice", "guess guess", Some(&alice_device)).await,
            401,
            Some("invalid_credentials"),
        );
    }
    assert_status(
        &login(&server, 13, "alice", "guess guess", Some(&alice_device)).await,
        429,
        Some("too_many_attempts"),
    );
    assert_status(&login(&server, 1, "alice", PASSWORD, Some(&alice_device)).await, 429, Some("too_many_attempts"));
    let events = server.store.security_events(100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "device_token_locked").count(), 1);
    // Once the window has passed, a right password gets in and a new token comes back.
    server.clock.advance_ms(30 * MINUTE);
    let fresh = login(&server, 1, "alice", PASSWORD, Some(&alice_device)).await;
    assert_status(&fresh, 200, None);
    let new_device = fresh.1["device_token"].as_str().unwrap();
    assert_ne!(new_device, alice_device);
    assert_eq!(new_device.len(), 64);
    // The store keeps only the token's SHA-256.
    let alice = server.store.user_by_handle(&Handle::parse("alice").unwrap()).await.unwrap().unwrap().id;
    let raw: [u8; 32] = hex::decode(new_device).unwrap().try_into().unwrap();
    assert_eq!(server.store.take_device_guess(&raw, alice, 0, 99).await.unwrap(), None);
    let hashed: [u8; 32] = Sha256::digest(raw).into();
    assert_eq!(server.store.take_device_guess(&hashed, alice, 0, 99).await.unwrap(), Some(1));
    // Unknown fields are still refused.
    let answer = server
        .client()
        .post("/v1/login", None, None, &json!({"handle": "alice", "password": PASSWORD, "device": "x"}))
        .await;
    assert_error(&answer, 400, "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_grant_ten_guesses_in_all() {
    let Some((url, _db)) = offpay_ledger::testing::fresh_postgres().await else { return };
    let clock = offpay_server::Clock::manual(T0);
    let store_a = offpay_ledger::open_store(None, Some(&url)).await.unwrap();
    let store_b = offpay_ledger::open_store(None, Some(&url)).await.unwrap();
    let a = TestServer::start(Config::for_tests(), store_a, clock.clone()).await;
    let b = TestServer::start(Config::for_tests(), store_b, clock).await;
    let (_, device) = a.register_device("alice").await;
    // 16 strangers at once, half through each server, each from its own address.
    let guesses = (0..16u8).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        login(server, 10 + i, "alice", "guess guess", None)
    });
    let answers = futures_util::future::join_all(guesses).await;
    let count = |status: u16| answers.iter().filter(|answer| answer.0.as_u16() == status).count();
    assert_eq!((count(401), count(429)), (10, 6), "{answers:?}");
    // The owner's device gets in through either server.
    assert_status(&login(&b, 1, "alice", PASSWORD, Some(&device)).await, 200, None);
    assert_status(&login(&a, 1, "alice", PASSWORD, None).await, 429, Some("too_many_attempts"));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_has_its_own_budget() {
    let server = TestServer::sqlite().await;
    let (session, _) = server.register_device("alice").await;
    // A stranger behind the owner's own address (a carrier's NAT, an office, the site's reverse
    // proxy) fails until the (account, address) pair is locked, and strangers elsewhere spend
    // the rest of the login budget: the signed-in owner can still change the password from that
    // address. (Before, the check obeyed the pair's and the address's locks: 429.)
    for _ in 0..4 {
        assert_status(&login(&server, 1, "alice", "guess guess", None).await, 401, None);
    }
    assert_status(&login(&server, 1, "alice", PASSWORD, None).await, 429, Some("too_many_attempts"));
    for from in 10..16 {
        assert_status(&login(&server, from, "alice", "guess guess", None).await, 401, None);
    }
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let client = server.client_from(1);
    let (status, body) = client.post("/v1/password", Some(&session), None, &change(PASSWORD, "a new password 1")).await;
    assert_eq!(status, 204, "{body}");
    // A stolen session gets 10 guesses at the current password, from any addresses, then 429.
    for from in 20..30 {
        let answer = server
            .client_from(from)
            .post("/v1/password", Some(&session), None, &change("guess guess", "whatever 12"))
            .await;
        assert_error(&answer, 403, "wrong_password");
    }
    let answer = server
        .client_from(30)
        .post("/v1/password", Some(&session), None, &change("a new password 1", "whatever 12"))
        .await;
    assert_error(&answer, 429, "too_many_attempts");
}

/// While the password checks are all taken (a flood of other people's logins), the owner's
/// sign-ins are answered 503 `busy` and cost nothing: not a device token failure, not a guess
/// of the account's budget. Before, each 503 came after the attempt was counted, so a few
/// retries during a flood left the owner's device untrusted (and spent the account's guesses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_answer_costs_the_owner_nothing() {
    let config = Config {
        // Slow enough that one check holds the only place while the owner retries.
        argon: offpay_server::config::ArgonParams { memory_kib: 128 * 1024, iterations: 4, parallelism: 1 },
        hash_concurrency: 1,
        hash_queue: 0,
        login_budget: GuessBudget { guesses: 3, window_ms: 30 * MINUTE },
        ..Config::for_tests()
    };
    let server = TestServer::sqlite_with(config).await;
    let started = std::time::Instant::now();
    let (_, device) = server.register_device("alice").await;
    // One hash (and the session writes) took this long.
    let hash_time = started.elapsed();
    let (mut with_token, mut without) = (0, 0);
    let mut round = 0;
    while with_token < 8 || without < 5 {
        round += 1;
        assert!(round < 50, "the owner's tries never met a busy server");
        // A stranger's sign-up takes the only place for about `hash_time` ...
        let client = server.client_from(40);
        let stranger = tokio::spawn(async move {
            let body = json!({"handle": format!("mallory{round}"), "password": "guess guess"});
            client.http.post(format!("{}/v1/register", client.base)).json(&body).send().await
        });
        tokio::time::sleep(hash_time / 5).await;
        let began = std::time::Instant::now();
        // ... and the owner tries while it runs, from her device and from one without it.
        while began.elapsed() < hash_time / 3 && (with_token < 8 || without < 5) {
            let token = with_token <= without;
            let answer = if token {
                login(&server, 41, "alice", "wrong password", Some(&device)).await
            } else {
                login(&server, 42, "alice", "wrong password", None).await
            };
            assert_status(&answer, 503, Some("busy"));
            if token { with_token += 1 } else { without += 1 }
        }
        stranger.await.unwrap().unwrap();
    }
    // The device is still trusted (its token comes back unchanged), and the account's budget is whole.
    let answer = login(&server, 41, "alice", PASSWORD, Some(&device)).await;
    assert_status(&answer, 200, None);
    assert_eq!(answer.1["device_token"].as_str(), Some(device.as_str()), "the device is no longer trusted");
    for from in 50..53 {
        assert_status(&login(&server, from, "alice", "guess guess", None).await, 401, Some("invalid_credentials"));
    }
}
