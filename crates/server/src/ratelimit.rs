//! Request-flood limits: an in-memory keyed token bucket (GCRA) per client address and per
//! account. In memory and per process by design: a flood is stopped where it lands, and each of
//! N servers behind a balancer lets through at most its own share. (Login throttling, which must
//! be shared, lives in the database: see `throttle.rs`.)

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use crate::config::RateLimit;

/// One token bucket per key. `check` is O(1); idle keys are forgotten when the map is full.
pub struct KeyedLimiter<K> {
    /// Microseconds between two requests at the sustained rate.
    interval_us: i64,
    /// How far ahead of now a key's theoretical arrival time may run (the burst).
    tolerance_us: i64,
    max_keys: usize,
    /// Per key: the theoretical arrival time of its next request (GCRA), microseconds.
    tat: Mutex<HashMap<K, i64>>,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    pub fn new(limit: RateLimit, max_keys: usize) -> KeyedLimiter<K> {
        let per_minute = i64::from(limit.per_minute.max(1));
        let interval_us = (60_000_000 / per_minute).max(1);
        let tolerance_us = interval_us.saturating_mul(i64::from(limit.burst.max(1)) - 1);
        KeyedLimiter { interval_us, tolerance_us, max_keys: max_keys.max(1), tat: Mutex::new(HashMap::new()) }
    }

    /// `Ok` when a request for `key` at `now_ms` is allowed (and counts it), else `Err` with the
    /// whole seconds to wait.
    pub fn check(&self, key: &K, now_ms: i64) -> Result<(), u64> {
        let now_us = now_ms.saturating_mul(1000);
        let mut map = self.tat.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.max_keys && !map.contains_key(key) {
            // A key whose arrival time is in the past is at full allowance: the same as absent.
            map.retain(|_, tat| *tat > now_us);
            if map.len() >= self.max_keys {
                // Still full of busy keys (a flood from very many addresses): start over rather
                // than grow without bound. Memory stays bounded; limits restart from full.
                map.clear();
            }
        }
        let tat = map.get(key).copied().unwrap_or(now_us).max(now_us);
        if tat - now_us > self.tolerance_us {
            let wait_us = tat - self.tolerance_us - now_us;
            return Err(u64::try_from((wait_us + 999_999) / 1_000_000).unwrap_or(1).max(1));
        }
        map.insert(key.clone(), tat.saturating_add(self.interval_us));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_refills_at_the_rate() {
        let limiter = KeyedLimiter::new(RateLimit { per_minute: 60, burst: 3 }, 10);
        let t = 1_000_000;
        assert_eq!(limiter.check(&"a", t), Ok(()));
        assert_eq!(limiter.check(&"a", t), Ok(()));
        assert_eq!(limiter.check(&"a", t), Ok(()));
        assert_eq!(limiter.check(&"a", t), Err(1));
        // Other keys are independent.
        assert_eq!(limiter.check(&"b", t), Ok(()));
        // One second later one more request is allowed.
        assert_eq!(limiter.check(&"a", t + 1000), Ok(()));
        assert_eq!(limiter.check(&"a", t + 1000), Err(1));
    }

    #[test]
    fn forgets_idle_keys_when_full() {
        let limiter = KeyedLimiter::new(RateLimit { per_minute: 60, burst: 1 }, 2);
        assert_eq!(limiter.check(&1, 0), Ok(()));
        assert_eq!(limiter.check(&2, 0), Ok(()));
        // Later both are idle; a third key makes room.
        assert_eq!(limiter.check(&3, 5_000), Ok(()));
        assert!(limiter.tat.lock().map(|m| m.len()).unwrap_or(0) <= 2);
    }
}
