//! The same scenarios on PostgreSQL, and two servers sharing one database: sessions, login
//! throttling and live events work across them.

use offpay_server::{Clock, Config};
use serde_json::json;

use crate::events::live_events_and_catch_up;
use crate::helpers::*;
use crate::money::{idempotent_retries, only_your_own_money, refused_transfers_change_nothing, transfer_moves_money};

async fn pg_server() -> Option<(TestServer, offpay_ledger::testing::TestDbGuard)> {
    let (url, guard) = offpay_ledger::testing::fresh_postgres().await?;
    let store = offpay_ledger::open_store(None, Some(&url)).await.unwrap();
    Some((TestServer::start(Config::for_tests(), store, Clock::manual(T0)).await, guard))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_scenarios_postgres() {
    let Some((server, _db)) = pg_server().await else { return };
    let (_, health) = server.client().get("/v1/health", None).await;
    assert_eq!(health["database"], "postgres");
    transfer_moves_money(&server).await;
    server.stop().await;

    for scenario in 0..3 {
        let Some((server, _db)) = pg_server().await else { return };
        match scenario {
            0 => refused_transfers_change_nothing(&server).await,
            1 => idempotent_retries(&server).await,
            _ => only_your_own_money(&server).await,
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_postgres() {
    let Some((server, _db)) = pg_server().await else { return };
    live_events_and_catch_up(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_database() {
    let Some((url, _db)) = offpay_ledger::testing::fresh_postgres().await else { return };
    let clock = Clock::manual(T0);
    let config = Config {
        login_budget: offpay_server::config::GuessBudget { guesses: 2, window_ms: 30 * 60_000 },
        ..Config::for_tests()
    };
    let store_a = offpay_ledger::open_store(None, Some(&url)).await.unwrap();
    let store_b = offpay_ledger::open_store(None, Some(&url)).await.unwrap();
    let a = TestServer::start(config.clone(), store_a, clock.clone()).await;
    let b = TestServer::start(config, store_b, clock.clone()).await;

    // A session made on A works on B, and logging out on B ends it on A.
    let alice = a.register("alice").await;
    let (status, me) = b.client().get("/v1/me", Some(&alice)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["handle"], "alice");
    let bob = b.register("bob").await;
    b.deposit("alice", 50_000).await;

    // Bob listens on A; alice pays through B; the event reaches bob on A.
    let mut bob_on_a = ws_connect(&a, &bob, None).await;
    let (status, answer) = b.client().send(&alice, "two-servers-1", "bob", 12_345).await;
    assert_eq!(status, 201, "{answer}");
    let event = next_event(&mut bob_on_a).await;
    assert_eq!(event["kind"], "money_in");
    assert_eq!(event["payload"]["amount"], 12_345);
    assert_eq!(event["payload"]["entry_id"], answer["transfer"]["entry_id"]);
    // A retry through the other server replays the first outcome.
    let (status, again) = a.client().send(&alice, "two-servers-1", "bob", 12_345).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["transfer"]["entry_id"], answer["transfer"]["entry_id"]);
    assert_eq!(a.balance(&bob).await, 12_345);

    // Guesses counted on A spend the account's budget on B too (untrusted sign-ins).
    let wrong = json!({"handle": "alice", "password": "wrong wrong"});
    assert_error(&a.client().post("/v1/login", None, None, &wrong).await, 401, "invalid_credentials");
    assert_error(&b.client().post("/v1/login", None, None, &wrong).await, 401, "invalid_credentials");
    let right = json!({"handle": "alice", "password": PASSWORD});
    assert_error(&a.client().post("/v1/login", None, None, &right).await, 429, "too_many_attempts");
    assert_error(&b.client().post("/v1/login", None, None, &right).await, 429, "too_many_attempts");

    let (status, _) = b.client().post("/v1/logout", Some(&alice), None, &json!({})).await;
    assert_eq!(status, 204);
    assert_error(&a.client().get("/v1/me", Some(&alice)).await, 401, "unauthorized");
    a.stop().await;
    b.stop().await;
}
