//! Request-flood limits: governor's keyed GCRA rate limiters, one per client address and one per
//! account, and unkeyed ones for a whole server ([`ServerLimiter`], new accounts). In memory and per process by design: a flood is stopped where it lands, and each of
//! N servers behind a balancer lets through at most its own share. (Login throttling, which must
//! be shared, lives in the database: see `throttle.rs`.)
//!
//! The limiters read the server's clock (`clock.rs`), so tests move time by hand. Memory stays
//! bounded: past `max_keys` tracked keys, keys back at their full allowance are forgotten, and if
//! that is not enough (a flood from very many addresses) every key starts again from full.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::Clock;
use crate::config::RateLimit;

/// The server's clock as governor reads it: time since the Unix epoch.
#[derive(Debug, Clone)]
pub struct LimiterClock(Clock);

impl governor::clock::Clock for LimiterClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now_ms()).unwrap_or(0))
    }
}

type Limiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, LimiterClock, NoOpMiddleware<Duration>>;

/// `limit.per_minute` sustained, bursts of `limit.burst` (0 is read as 1).
fn quota(limit: RateLimit) -> Quota {
    let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// Whole seconds until `not_until` (at least 1).
fn wait_secs(not_until: &governor::NotUntil<Duration>, clock: &LimiterClock) -> u64 {
    let wait = not_until.wait_time_from(clock.now());
    wait.as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX).max(1)
}

/// One rate-limit state for everything this server does of one kind.
pub struct ServerLimiter {
    clock: LimiterClock,
    limiter: RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Duration>>,
}

impl ServerLimiter {
    pub fn new(limit: RateLimit, clock: Clock) -> ServerLimiter {
        let clock = LimiterClock(clock);
        ServerLimiter { limiter: RateLimiter::direct_with_clock(quota(limit), clock.clone()), clock }
    }

    /// `Ok` when one more is allowed now (and counts it), else `Err` with the whole seconds to
    /// wait.
    pub fn check(&self) -> Result<(), u64> {
        self.limiter.check().map_err(|not_until| wait_secs(&not_until, &self.clock))
    }
}

/// How many client networks' worth of requests one IPv6 site (/48) may send in all.
pub const SITE_SHARE: u32 = 16;

/// A per-address limit that also holds an IPv6 site (/48) to [`SITE_SHARE`] times it: each
/// subscriber gets a whole /64, so the per-address limit counts /64s, but a /48 holds 65,536 of
/// them (free from tunnel brokers), which would make the per-address limit, and the tracked-key
/// ceiling past which every key starts again from full, mean nothing.
pub struct AddressLimiter {
    per_network: KeyedLimiter<IpAddr>,
    per_site: KeyedLimiter<IpAddr>,
}

impl AddressLimiter {
    pub fn new(limit: RateLimit, max_keys: usize, clock: Clock) -> AddressLimiter {
        let site = RateLimit {
            per_minute: limit.per_minute.saturating_mul(SITE_SHARE),
            burst: limit.burst.saturating_mul(SITE_SHARE),
        };
        AddressLimiter {
            per_network: KeyedLimiter::new(limit, max_keys, clock.clone()),
            per_site: KeyedLimiter::new(site, max_keys, clock),
        }
    }

    /// `Ok` when a request from the client network `network` (`extract::client_network`) is
    /// allowed now (and counts it), else `Err` with the whole seconds to wait.
    pub fn check(&self, network: &IpAddr) -> Result<(), u64> {
        self.per_network.check(network)?;
        match crate::extract::client_site(*network) {
            Some(site) => self.per_site.check(&site),
            None => Ok(()),
        }
    }

    /// Keys tracked now (networks and sites).
    pub fn tracked(&self) -> usize {
        self.per_network.tracked() + self.per_site.tracked()
    }
}

/// One rate-limit state per key.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    quota: Quota,
    clock: LimiterClock,
    max_keys: usize,
    limiter: RwLock<Limiter<K>>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `limit.per_minute` requests a minute sustained, bursts of `limit.burst`.
    pub fn new(limit: RateLimit, max_keys: usize, clock: Clock) -> KeyedLimiter<K> {
        let quota = quota(limit);
        let clock = LimiterClock(clock);
        let limiter = RwLock::new(RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone()));
        KeyedLimiter { quota, clock, max_keys: max_keys.max(1), limiter }
    }

    /// `Ok` when a request for `key` is allowed now (and counts it), else `Err` with the whole
    /// seconds to wait.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        {
            let limiter = self.read();
            if limiter.len() < self.max_keys {
                return self.decide(&limiter, key);
            }
        }
        self.make_room();
        self.decide(&self.read(), key)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Limiter<K>> {
        self.limiter.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn decide(&self, limiter: &Limiter<K>, key: &K) -> Result<(), u64> {
        limiter.check_key(key).map_err(|not_until| wait_secs(&not_until, &self.clock))
    }

    /// Brings the number of tracked keys under `max_keys`: forgets keys back at their full
    /// allowance, and starts every key again from full if that is not enough.
    fn make_room(&self) {
        let mut limiter = self.limiter.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if limiter.len() < self.max_keys {
            return;
        }
        limiter.retain_recent();
        limiter.shrink_to_fit();
        if limiter.len() >= self.max_keys {
            *limiter = RateLimiter::new(self.quota, DefaultKeyedStateStore::default(), self.clock.clone());
        }
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_refills_at_the_rate() {
        let clock = Clock::manual(1_000_000);
        let limiter = KeyedLimiter::new(RateLimit { per_minute: 60, burst: 3 }, 10, clock.clone());
        assert_eq!(limiter.check(&"a"), Ok(()));
        assert_eq!(limiter.check(&"a"), Ok(()));
        assert_eq!(limiter.check(&"a"), Ok(()));
        assert_eq!(limiter.check(&"a"), Err(1));
        // Other keys are independent.
        assert_eq!(limiter.check(&"b"), Ok(()));
        // One second later one more request is allowed.
        clock.advance_ms(1000);
        assert_eq!(limiter.check(&"a"), Ok(()));
        assert_eq!(limiter.check(&"a"), Err(1));
    }

    #[test]
    fn says_how_long_to_wait() {
        let clock = Clock::manual(0);
        let limiter = KeyedLimiter::new(RateLimit { per_minute: 2, burst: 1 }, 10, clock.clone());
        assert_eq!(limiter.check(&1), Ok(()));
        assert_eq!(limiter.check(&1), Err(30));
        clock.advance_ms(29_500);
        assert_eq!(limiter.check(&1), Err(1));
        clock.advance_ms(500);
        assert_eq!(limiter.check(&1), Ok(()));
    }

    #[test]
    fn forgets_idle_keys_when_full() {
        let clock = Clock::manual(0);
        let limiter = KeyedLimiter::new(RateLimit { per_minute: 60, burst: 1 }, 2, clock.clone());
        assert_eq!(limiter.check(&1), Ok(()));
        assert_eq!(limiter.check(&2), Ok(()));
        // Later both are idle; a third key makes room.
        clock.advance_ms(5_000);
        assert_eq!(limiter.check(&3), Ok(()));
        assert!(limiter.tracked() <= 2, "{}", limiter.tracked());
        // Busy keys only: everything starts again from full rather than growing.
        assert_eq!(limiter.check(&4), Ok(()));
        assert!(limiter.tracked() <= 2, "{}", limiter.tracked());
    }

    #[test]
    fn a_server_limit_counts_everything_together() {
        let clock = Clock::manual(0);
        let limiter = ServerLimiter::new(RateLimit { per_minute: 6, burst: 2 }, clock.clone());
        assert_eq!(limiter.check(), Ok(()));
        assert_eq!(limiter.check(), Ok(()));
        assert_eq!(limiter.check(), Err(10));
        clock.advance_ms(10_000);
        assert_eq!(limiter.check(), Ok(()));
        assert_eq!(limiter.check(), Err(10));
    }

    /// Clients of one IPv6 /48 taking a fresh /64 for each burst: each /64 gets its own
    /// allowance, but the site as a whole gets SITE_SHARE of them; another site and IPv4
    /// addresses are not held back by it.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn an_ipv6_site_gets_a_bounded_share_whatever_its_networks() {
        let clock = Clock::manual(1_000_000);
        let limiter = AddressLimiter::new(RateLimit { per_minute: 60, burst: 2 }, 100_000, clock);
        let network = |n: u16| -> IpAddr { format!("2001:db8:7:{n:x}::").parse().unwrap() };
        let mut allowed = 0;
        for n in 0..1_000u16 {
            for _ in 0..2 {
                if limiter.check(&network(n)).is_ok() {
                    allowed += 1;
                }
            }
        }
        assert_eq!(allowed, 2 * SITE_SHARE, "the /48's requests beyond its share are refused");
        assert!(limiter.check(&"2001:db8:8::".parse().unwrap()).is_ok(), "another site");
        assert!(limiter.check(&"203.0.113.7".parse().unwrap()).is_ok(), "an IPv4 client");
        // One /64 still gets no more than its own allowance.
        let lone = AddressLimiter::new(RateLimit { per_minute: 60, burst: 2 }, 100, Clock::manual(0));
        let one: IpAddr = "2001:db8:9:1::".parse().unwrap();
        assert!(lone.check(&one).is_ok() && lone.check(&one).is_ok() && lone.check(&one).is_err());
    }
}
