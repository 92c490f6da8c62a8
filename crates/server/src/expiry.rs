//! The server's background task: every minute it returns the remainder of purses past
//! `valid_until` plus the grace period (reserve -> wallet, `OfflineStore::expire_purses`), pays
//! held notes from their payers' balances (`OfflineStore::release_held`), reloads the issuer
//! keyset (picking up `offpay admin rotate-issuer-key`), writes the dropped counts of security
//! event floods that stopped (`SecurityLog::flush_suppressed`), and deletes security events older
//! than `Config::security_log_keep` (`Store::forget_security_events`). Several servers may run it
//! against one database: the ledger makes each expiry happen once.

use std::sync::Arc;
use std::time::Duration;

use offpay_ledger::offline::{EXPIRE_MAX, RELEASE_MAX};
use offpay_ledger::{ErrorChain, SECURITY_FORGET_MAX, Store};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::issuer::OfflineConfig;
use crate::security::SecurityLog;

/// How often the task runs.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// What the task needs of the server's configuration.
#[derive(Clone)]
pub struct Housekeeping {
    pub offline: OfflineConfig,
    pub security_log_keep: Duration,
    /// This server's security log, whose dropped counts the pass writes.
    pub security_log: Option<Arc<SecurityLog>>,
}

/// One pass: expire everything due (in chunks of [`EXPIRE_MAX`]), reload the keys, forget old
/// security events.
pub async fn run_once(store: &dyn Store, housekeeping: &Housekeeping, clock: &Clock) {
    let config = &housekeeping.offline;
    if let Some(issuer) = &config.issuer
        && let Err(error) = issuer.reload()
    {
        tracing::error!(error = %ErrorChain(&error), "cannot reload the issuer keys; keeping the loaded ones");
    }
    loop {
        let now_ms = clock.now_ms();
        let now_secs = u64::try_from(now_ms / 1000).unwrap_or(0);
        match store.offline().expire_purses(now_secs, config.grace_secs, now_ms).await {
            Ok(done) => {
                if done.purses > 0 {
                    tracing::info!(purses = done.purses, returned = done.returned, "expired purses returned");
                }
                if done.purses < EXPIRE_MAX as u64 {
                    break;
                }
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "purse expiry failed; retrying next round");
                break;
            }
        }
    }
    loop {
        match store.offline().release_held(clock.now_ms()).await {
            Ok(done) => {
                if done.notes > 0 {
                    tracing::info!(notes = done.notes, paid = done.paid, "held notes paid from their payers");
                }
                if done.notes == 0 || done.notes < RELEASE_MAX as u64 {
                    break;
                }
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "paying held notes failed; retrying next round");
                break;
            }
        }
    }
    if let Some(log) = &housekeeping.security_log {
        log.flush_suppressed().await;
    }
    forget_security_events(store, housekeeping.security_log_keep, clock).await;
}

/// Most `forget_security_events` calls in one pass (a backlog is worked off over several).
const FORGET_CALLS_PER_PASS: usize = 50;

async fn forget_security_events(store: &dyn Store, keep: Duration, clock: &Clock) {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let before_ms = clock.now_ms().saturating_sub(keep_ms);
    let mut forgotten = 0;
    for _ in 0..FORGET_CALLS_PER_PASS {
        match store.forget_security_events(before_ms).await {
            Ok(deleted) => {
                forgotten += deleted;
                if deleted < u64::from(SECURITY_FORGET_MAX) {
                    break;
                }
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "forgetting old security events failed; retrying next round");
                break;
            }
        }
    }
    if forgotten > 0 {
        tracing::info!(events = forgotten, "security events past their retention deleted");
    }
}

/// Runs [`run_once`] every [`INTERVAL`] until `shutdown` turns true.
pub fn spawn(store: Arc<dyn Store>, config: Housekeeping, clock: Clock, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => run_once(store.as_ref(), &config, &clock).await,
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { break; }
                }
            }
        }
    });
}
