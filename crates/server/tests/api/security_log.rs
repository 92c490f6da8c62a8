//! The security log's retention: the server's background pass deletes events older than
//! `Config::security_log_keep` and keeps the rest.

use std::time::Duration;

use offpay_server::expiry::{Housekeeping, run_once};

use crate::helpers::{T0, TestServer};

const DAY_MS: i64 = 86_400_000;

#[tokio::test]
async fn the_background_pass_forgets_security_events_past_their_retention() {
    let server = TestServer::sqlite().await;
    let store = server.store.as_ref();
    // More old events than one delete takes, so the pass has to go round.
    let old = offpay_ledger::SECURITY_FORGET_MAX as usize + 10;
    for i in 0..old {
        store.record_security_event("login_failed", &format!("old {i}"), T0 - 31 * DAY_MS).await.unwrap();
    }
    store.record_security_event("login_locked", "kept", T0 - 29 * DAY_MS).await.unwrap();
    let housekeeping = Housekeeping {
        offline: Default::default(),
        security_log_keep: Duration::from_secs(30 * 86_400),
        security_log: None,
    };
    run_once(store, &housekeeping, &server.clock).await;
    let left = store.security_events(10).await.unwrap();
    assert_eq!(left.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(), ["kept"]);
}
