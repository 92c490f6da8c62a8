//! Security events (login failures, lockouts, rate-limit hits, forbidden actions) written to the
//! store for the operator (`offpay admin security-events`). Events that a flood could repeat
//! thousands of times a second are sampled: at most one per kind and key per minute (or, for
//! failed logins and lockouts, every one: [`SecurityLog::record_capped`]), and at most
//! [`KIND_MAX_PER_MINUTE`] per kind per minute whatever the keys (a botnet brings ever new
//! addresses and handles, so keys alone do not bound the table); what the second limit drops is
//! counted and written as one `security_events_suppressed` event with the next event of that
//! kind after its minute, or by the server's background pass ([`SecurityLog::flush_suppressed`],
//! every minute) when no such event comes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use offpay_ledger::Store;

use crate::clock::Clock;

const SAMPLE_WINDOW_MS: i64 = 60_000;
const SAMPLE_MAX_KEYS: usize = 10_000;
/// Most sampled events of one kind written per minute by one server.
pub const KIND_MAX_PER_MINUTE: u32 = 120;

pub struct SecurityLog {
    store: Arc<dyn Store>,
    clock: Clock,
    /// Last time an event was written per sample key.
    last: Mutex<HashMap<String, i64>>,
    /// Per kind: the current minute's start, events written in it, events dropped in it.
    per_kind: Mutex<HashMap<String, KindMinute>>,
}

#[derive(Clone, Copy)]
struct KindMinute {
    start_ms: i64,
    written: u32,
    dropped: u64,
}

/// What the per-kind limit decided for one event.
struct Admission {
    write: bool,
    /// Events of this kind dropped in the minute that just ended (to report).
    dropped_before: u64,
}

impl SecurityLog {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> SecurityLog {
        SecurityLog { store, clock, last: Mutex::new(HashMap::new()), per_kind: Mutex::new(HashMap::new()) }
    }

    /// Records an event; a storage failure is logged, never returned (the request goes on).
    pub async fn record(&self, kind: &str, detail: &str) {
        tracing::warn!(kind, detail, "security event");
        if let Err(error) = self.store.record_security_event(kind, detail, self.clock.now_ms()).await {
            tracing::error!(error = %offpay_ledger::ErrorChain(&error), kind, "could not record a security event");
        }
    }

    /// Records an event unless one with the same kind and `key` was recorded in the last minute.
    pub async fn record_sampled(&self, kind: &str, key: &str, detail: &str) {
        let now = self.clock.now_ms();
        let sample_key = format!("{kind}:{key}");
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.get(&sample_key).is_some_and(|t| now - t < SAMPLE_WINDOW_MS) {
                return;
            }
            if last.len() >= SAMPLE_MAX_KEYS {
                last.retain(|_, t| now - *t < SAMPLE_WINDOW_MS);
                if last.len() >= SAMPLE_MAX_KEYS {
                    last.clear();
                }
            }
            last.insert(sample_key, now);
        }
        self.record_capped(kind, detail).await;
    }

    /// Records an event within its kind's per-minute limit ([`KIND_MAX_PER_MINUTE`]), with no
    /// sampling by key: for events each worth seeing (a failed login names its account and
    /// count), which a flood of guesses from ever new addresses must still not write without
    /// bound. What the limit drops is counted as for [`SecurityLog::record_sampled`].
    pub async fn record_capped(&self, kind: &str, detail: &str) {
        let now = self.clock.now_ms();
        let admission = self.admit(kind, now);
        if admission.dropped_before > 0 {
            let detail = format!("kind={kind} dropped={} in the minute before", admission.dropped_before);
            self.record("security_events_suppressed", &detail).await;
        }
        if admission.write {
            self.record(kind, detail).await;
        }
    }

    /// Writes the dropped counts of the minutes that are over, for kinds that had no event since
    /// (a flood that stopped): one `security_events_suppressed` event each.
    pub async fn flush_suppressed(&self) {
        let now = self.clock.now_ms();
        let mut ended = Vec::new();
        {
            let mut per_kind = self.per_kind.lock().unwrap_or_else(PoisonError::into_inner);
            per_kind.retain(|kind, minute| {
                if now - minute.start_ms < SAMPLE_WINDOW_MS {
                    return true;
                }
                if minute.dropped > 0 {
                    ended.push((kind.clone(), minute.dropped));
                }
                false
            });
        }
        for (kind, dropped) in ended {
            let detail = format!("kind={kind} dropped={dropped} in the minute before");
            self.record("security_events_suppressed", &detail).await;
        }
    }

    /// The per-kind limit: a minute starts with the first event after the last one ended.
    fn admit(&self, kind: &str, now: i64) -> Admission {
        let mut per_kind = self.per_kind.lock().unwrap_or_else(PoisonError::into_inner);
        let minute = per_kind.entry(kind.to_string()).or_insert(KindMinute { start_ms: now, written: 0, dropped: 0 });
        let mut dropped_before = 0;
        if now - minute.start_ms >= SAMPLE_WINDOW_MS {
            dropped_before = minute.dropped;
            *minute = KindMinute { start_ms: now, written: 0, dropped: 0 };
        }
        let write = minute.written < KIND_MAX_PER_MINUTE;
        if write {
            minute.written += 1;
        } else {
            minute.dropped += 1;
        }
        Admission { write, dropped_before }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use offpay_ledger::open_store;

    use super::{KIND_MAX_PER_MINUTE, SecurityLog};
    use crate::clock::Clock;

    /// A security log over a fresh SQLite store, on a manual clock.
    async fn fresh_log() -> (tempfile::TempDir, Arc<dyn offpay_ledger::Store>, Clock, SecurityLog) {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(Some(dir.path()), None).await.unwrap();
        let clock = Clock::manual(1_000_000);
        let log = SecurityLog::new(Arc::clone(&store), clock.clone());
        (dir, store, clock, log)
    }

    /// A flood from ever new keys (a botnet's addresses and handles): one kind writes at most
    /// its per-minute limit, other kinds are not starved by it, and the count of what was dropped
    /// is written when the minute is over.
    #[tokio::test]
    async fn a_flood_of_new_keys_writes_a_bounded_number_of_events() {
        let (_dir, store, clock, log) = fresh_log().await;
        for i in 0..1_000 {
            log.record_sampled("login_throttled", &format!("handle=h{i} ip=10.0.{}.{}", i / 256, i % 256), "x").await;
        }
        log.record_sampled("rate_limited", "ip=10.9.9.9", "y").await;
        let events = store.security_events(5_000).await.unwrap();
        let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
        assert_eq!(count("login_throttled"), KIND_MAX_PER_MINUTE as usize);
        assert_eq!(count("rate_limited"), 1);
        assert_eq!(count("security_events_suppressed"), 0);

        clock.advance_ms(60_000);
        log.record_sampled("login_throttled", "handle=late ip=10.8.0.1", "z").await;
        let events = store.security_events(5_000).await.unwrap();
        let suppressed: Vec<_> = events.iter().filter(|e| e.kind == "security_events_suppressed").collect();
        assert_eq!(suppressed.len(), 1);
        assert_eq!(
            suppressed[0].detail,
            format!("kind=login_throttled dropped={} in the minute before", 1_000 - KIND_MAX_PER_MINUTE)
        );
        assert_eq!(events.iter().filter(|e| e.kind == "login_throttled").count(), KIND_MAX_PER_MINUTE as usize + 1);
    }

    /// Failed logins are each written (no sampling by key), but a flood of them from ever new
    /// addresses writes at most the kind's limit a minute. Before, every failed login wrote a row.
    #[tokio::test]
    async fn failed_logins_are_written_up_to_the_kind_s_limit() {
        let (_dir, store, clock, log) = fresh_log().await;
        for i in 0..300 {
            log.record_capped("login_failed", &format!("handle=alice ip=10.0.{}.{} failures=1", i / 256, i % 256))
                .await;
        }
        let count =
            |events: &[offpay_ledger::SecurityEvent], kind: &str| events.iter().filter(|e| e.kind == kind).count();
        let events = store.security_events(5_000).await.unwrap();
        assert_eq!(count(&events, "login_failed"), KIND_MAX_PER_MINUTE as usize);
        clock.advance_ms(60_000);
        log.record_capped("login_failed", "handle=alice ip=10.0.0.1 failures=2").await;
        log.record_capped("login_failed", "handle=alice ip=10.0.0.1 failures=3").await;
        let events = store.security_events(5_000).await.unwrap();
        assert_eq!(
            count(&events, "login_failed"),
            KIND_MAX_PER_MINUTE as usize + 2,
            "the same key twice: both written"
        );
        assert_eq!(count(&events, "security_events_suppressed"), 1);
    }

    /// A flood that stops: the background pass writes what its last minute dropped, once.
    #[tokio::test]
    async fn the_count_of_a_flood_that_stopped_is_written_by_the_background_pass() {
        let (_dir, store, clock, log) = fresh_log().await;
        for i in 0..500 {
            log.record_sampled("ws_auth_failed", &format!("ip=10.0.{}.{}", i / 256, i % 256), "x").await;
        }
        let suppressed = |events: &[offpay_ledger::SecurityEvent]| -> Vec<String> {
            events.iter().filter(|e| e.kind == "security_events_suppressed").map(|e| e.detail.clone()).collect()
        };
        // Within the minute nothing is written yet.
        log.flush_suppressed().await;
        assert!(suppressed(&store.security_events(1_000).await.unwrap()).is_empty());
        clock.advance_ms(60_000);
        log.flush_suppressed().await;
        log.flush_suppressed().await;
        let dropped = 500 - KIND_MAX_PER_MINUTE;
        let expected = format!("kind=ws_auth_failed dropped={dropped} in the minute before");
        assert_eq!(suppressed(&store.security_events(1_000).await.unwrap()), vec![expected.clone()]);
        // The next event of the kind starts a new minute and reports nothing twice.
        log.record_sampled("ws_auth_failed", "ip=10.9.0.1", "y").await;
        assert_eq!(suppressed(&store.security_events(1_000).await.unwrap()), [expected]);
    }
}
