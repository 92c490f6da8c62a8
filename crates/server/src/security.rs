//! Security events (login failures, lockouts, rate-limit hits, forbidden actions) written to the
//! store for the operator (`offpay admin security-events`). Events that a flood could repeat
//! thousands of times a second are sampled: at most one per kind and key per minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use offpay_ledger::Store;

use crate::clock::Clock;

const SAMPLE_WINDOW_MS: i64 = 60_000;
const SAMPLE_MAX_KEYS: usize = 10_000;

pub struct SecurityLog {
    store: Arc<dyn Store>,
    clock: Clock,
    /// Last time an event was written per sample key.
    last: Mutex<HashMap<String, i64>>,
}

impl SecurityLog {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> SecurityLog {
        SecurityLog { store, clock, last: Mutex::new(HashMap::new()) }
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
        self.record(kind, detail).await;
    }
}
