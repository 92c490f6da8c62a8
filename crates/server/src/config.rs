//! Server settings: everything a deployment may tune, with production defaults and a small,
//! fast variant for tests (cheap Argon2 parameters).

use std::net::SocketAddr;
use std::time::Duration;

use offpay_protocol::Currency;

/// Argon2id cost parameters for password hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgonParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl ArgonParams {
    /// OWASP's recommended Argon2id setting: m=19456 KiB (19 MiB), t=2, p=1.
    pub const PRODUCTION: ArgonParams = ArgonParams { memory_kib: 19_456, iterations: 2, parallelism: 1 };
    /// Tiny parameters for tests only (debug builds make Argon2 very slow).
    pub const TESTING: ArgonParams = ArgonParams { memory_kib: 64, iterations: 1, parallelism: 1 };
}

/// A request-rate limit: a sustained rate plus a burst allowance (token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once before the sustained rate applies.
    pub burst: u32,
}

/// Login throttling of untrusted attempts (no valid device token): failures are counted in the
/// database per key (an account and address, or an address; shared by every server on the
/// database). After `free_failures` failures each further failure locks the key for a delay that
/// doubles from `base_delay_ms` up to `max_delay_ms`; at `lockout_failures` the key is locked for
/// `lockout_ms`. A key with no failure for `forget_after_ms` starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub free_failures: u32,
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
    pub lockout_failures: u32,
    pub lockout_ms: i64,
    pub forget_after_ms: i64,
}

/// At most `guesses` password guesses per `window_ms` (a sliding window), from all untrusted
/// clients together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessBudget {
    pub guesses: u32,
    pub window_ms: i64,
}

/// Device tokens (docs/OPERATIONS.md, "Login throttling"): handed out at each successful
/// sign-in, they let their device sign in to that account past the throttling strangers cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTokens {
    /// Wrong passwords with one token before it stops counting as trusted.
    pub max_failures: u32,
    /// A token not used for this long lapses.
    pub idle_ms: i64,
    /// Most tokens kept per account (the least recently used go first).
    pub per_account: u32,
}

impl ThrottleRule {
    /// How long to lock a key that now has `failures` failures (0: not locked).
    pub fn lock_ms(&self, failures: u32) -> i64 {
        if failures >= self.lockout_failures {
            return self.lockout_ms;
        }
        if failures <= self.free_failures {
            return 0;
        }
        let doublings = (failures - self.free_failures - 1).min(40);
        self.base_delay_ms.saturating_mul(1_i64 << doublings).min(self.max_delay_ms)
    }
}

/// The one currency of a deployment (`Config::currency`; `offpay admin` uses it too).
pub const CURRENCY: Currency = Currency::INR;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where `offpay serve` listens (informational for the server library, which is handed a
    /// bound listener).
    pub listen: SocketAddr,
    /// The one currency of this deployment.
    pub currency: Currency,
    /// Largest accepted request body in bytes (413 `payload_too_large` beyond).
    pub body_limit_bytes: usize,
    pub argon: ArgonParams,
    /// Password hashes computed at once (each takes about 19 MiB and 30 ms with production
    /// parameters); further logins wait.
    pub hash_concurrency: usize,
    /// Most requests waiting for a password hash beyond those being computed; further ones are
    /// refused at once (503 `busy`, Retry-After: 1). Default 64 per core: about two seconds of
    /// hashing, so a morning's burst of honest logins waits instead of being turned away; a
    /// waiting request holds no hash memory, so the bound is on queueing time, not memory.
    pub hash_queue: usize,
    /// A session ends after this long without use.
    pub session_idle_ms: i64,
    /// A session ends this long after login whatever happens.
    pub session_absolute_ms: i64,
    /// Untrusted login throttling per account and client address (growing delays).
    pub throttle_pair: ThrottleRule,
    /// Untrusted login throttling per client address across accounts (looser: many people may
    /// share an address).
    pub throttle_ip: ThrottleRule,
    /// Untrusted password guesses per account, from everywhere together.
    pub login_budget: GuessBudget,
    /// Current-password guesses per account when changing the password (signed in).
    pub password_budget: GuessBudget,
    /// Device tokens: the way past throttling for a device that signed in before.
    pub device_tokens: DeviceTokens,
    /// Requests per client address (all routes). In memory, per server process.
    pub rate_per_ip: RateLimit,
    /// Requests per signed-in account (authenticated routes). In memory, per server process.
    pub rate_per_account: RateLimit,
    /// Register and login attempts per client address (each costs a password hash).
    pub rate_auth_per_ip: RateLimit,
    /// New accounts per minute on this server, from all addresses together (well-formed requests
    /// only): bounds how fast a botnet, which brings ever new addresses, can grow the user table.
    /// In memory, per server process. Beyond it `POST /v1/register` answers 503 `busy`.
    pub rate_register: RateLimit,
    /// Most keys each in-memory rate limiter tracks before it forgets idle ones.
    pub rate_max_keys: usize,
    /// Security events older than this are deleted (by the background task, every minute).
    pub security_log_keep: Duration,
    /// How often the WebSocket sends a ping.
    pub ws_ping_interval: Duration,
    /// A WebSocket from which nothing (not even a pong to the server's pings) has arrived for
    /// this long is closed (4408 "idle"): a dead or stalled peer gives its places back. Checked at
    /// each ping, so it acts within `ws_ping_interval` after.
    pub ws_idle_timeout: Duration,
    /// How long a WebSocket client has to send its token message.
    pub ws_auth_timeout: Duration,
    /// How often an open WebSocket re-reads its session from the store: a logout on another
    /// server sharing the database ends the socket within this (one on this server at once).
    pub ws_session_check_interval: Duration,
    /// Most WebSockets one user may have open at once on this server (429
    /// `too_many_websockets` beyond).
    pub ws_per_user: usize,
    /// Most connections (HTTP and WebSocket) this server holds open at once; beyond, new
    /// connections wait in the listen backlog until one ends. Keep it under the process's file
    /// descriptor limit (`ulimit -n`) with room for the database.
    pub max_connections: usize,
    /// Most of those one client network (an IPv4 address, an IPv6 /64) holds at once; one more
    /// from it is closed at once (`address_places.rs`). Behind a reverse proxy every client
    /// has the proxy's address: raise it to `max_connections` there.
    pub max_connections_per_address: usize,
    /// A connection that has not sent a complete request head (request line and headers) within
    /// this is closed: at its start, and again while it waits for its next request (slow-header
    /// clients, idle keep-alive connections).
    pub header_read_timeout: Duration,
    /// A request body must have arrived in full within this once the route starts reading it
    /// (slow-body clients); beyond, 408 `request_timeout` and the connection is closed.
    pub body_read_timeout: Duration,
    /// A connection whose answer (or WebSocket frame) has not moved a byte towards the client
    /// for this long is closed: a client that stops reading cannot hold its place, and the
    /// memory of the answer it stalls, for good, and shutdown does not wait on it.
    pub write_timeout: Duration,
    /// Offline payments: limits and the issuer keyset (docs/API-OFFLINE.md).
    pub offline: crate::issuer::OfflineConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            currency: CURRENCY,
            body_limit_bytes: 16 * 1024,
            argon: ArgonParams::PRODUCTION,
            hash_concurrency: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            hash_queue: 64 * std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            session_idle_ms: 30 * 60 * 1000,
            session_absolute_ms: 7 * 24 * 60 * 60 * 1000,
            throttle_pair: ThrottleRule {
                free_failures: 3,
                base_delay_ms: 1_000,
                max_delay_ms: 5 * 60 * 1000,
                lockout_failures: 10,
                lockout_ms: 30 * 60 * 1000,
                forget_after_ms: 30 * 60 * 1000,
            },
            throttle_ip: ThrottleRule {
                free_failures: 20,
                base_delay_ms: 1_000,
                max_delay_ms: 5 * 60 * 1000,
                lockout_failures: 100,
                lockout_ms: 15 * 60 * 1000,
                forget_after_ms: 30 * 60 * 1000,
            },
            login_budget: GuessBudget { guesses: 10, window_ms: 30 * 60 * 1000 },
            password_budget: GuessBudget { guesses: 10, window_ms: 30 * 60 * 1000 },
            device_tokens: DeviceTokens { max_failures: 5, idle_ms: 90 * 24 * 60 * 60 * 1000, per_account: 20 },
            rate_per_ip: RateLimit { per_minute: 600, burst: 120 },
            rate_per_account: RateLimit { per_minute: 300, burst: 60 },
            rate_auth_per_ip: RateLimit { per_minute: 30, burst: 10 },
            rate_register: RateLimit { per_minute: 120, burst: 60 },
            rate_max_keys: 100_000,
            security_log_keep: Duration::from_secs(90 * 86_400),
            ws_ping_interval: Duration::from_secs(20),
            ws_auth_timeout: Duration::from_secs(10),
            ws_idle_timeout: Duration::from_secs(5 * 60),
            ws_session_check_interval: Duration::from_secs(20),
            ws_per_user: 8,
            max_connections: 10_000,
            max_connections_per_address: 1_000,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            offline: crate::issuer::OfflineConfig::default(),
        }
    }
}

impl Config {
    /// Production settings with cheap Argon2 parameters and generous request limits, for tests.
    pub fn for_tests() -> Config {
        Config {
            argon: ArgonParams::TESTING,
            rate_per_ip: RateLimit { per_minute: 1_000_000, burst: 1_000_000 },
            rate_per_account: RateLimit { per_minute: 1_000_000, burst: 1_000_000 },
            rate_auth_per_ip: RateLimit { per_minute: 1_000_000, burst: 1_000_000 },
            rate_register: RateLimit { per_minute: 1_000_000, burst: 1_000_000 },
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_grows_then_locks_out() {
        let rule = ThrottleRule {
            free_failures: 2,
            base_delay_ms: 100,
            max_delay_ms: 350,
            lockout_failures: 6,
            lockout_ms: 9_000,
            forget_after_ms: 60_000,
        };
        let locks: Vec<i64> = (0..=7).map(|f| rule.lock_ms(f)).collect();
        assert_eq!(locks, vec![0, 0, 0, 100, 200, 350, 9_000, 9_000]);
    }
}
