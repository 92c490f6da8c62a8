//! What every request handler shares: settings, the store, the clock, the password hasher, the
//! in-memory rate limiters and WebSocket counts, the security-event log, this server's logout announcements and the
//! shutdown signal.

use std::ops::Deref;
use std::sync::Arc;

use offpay_ledger::{Store, UserId};
use tokio::sync::watch;

use crate::auth::Passwords;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::ApiError;
use crate::ratelimit::{AddressLimiter, KeyedLimiter, ServerLimiter};
use crate::security::SecurityLog;
use crate::session_watch::SessionEnds;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub passwords: Passwords,
    pub per_ip: AddressLimiter,
    pub per_account: KeyedLimiter<UserId>,
    pub auth_per_ip: AddressLimiter,
    /// New accounts on this server, all addresses together.
    pub registrations: ServerLimiter,
    pub security: std::sync::Arc<SecurityLog>,
    /// Logouts on this server, heard by its open WebSockets of the same session.
    pub session_ends: SessionEnds,
    /// Live-event wake-ups for this server's open WebSockets, per user.
    pub live: std::sync::Arc<crate::live_hub::LiveHub>,
    /// Open WebSockets per user on this server (capped at `ws_per_user`).
    pub ws_slots: crate::ws_slots::WsSlots,
    /// Becomes `true` when the server is shutting down (WebSocket loops close then).
    pub shutdown: watch::Receiver<bool>,
    /// The revocation list as last read, for a few seconds.
    pub revocations: crate::revocation_cache::RevocationCache,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// Builds the shared state (hashes the dummy password used for unknown users).
    pub async fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Clock,
        shutdown: watch::Receiver<bool>,
    ) -> Result<AppState, ApiError> {
        let passwords = Passwords::new(config.argon, config.hash_concurrency, config.hash_queue).await?;
        let inner = Inner {
            per_ip: AddressLimiter::new(config.rate_per_ip, config.rate_max_keys, clock.clone()),
            per_account: KeyedLimiter::new(config.rate_per_account, config.rate_max_keys, clock.clone()),
            auth_per_ip: AddressLimiter::new(config.rate_auth_per_ip, config.rate_max_keys, clock.clone()),
            registrations: ServerLimiter::new(config.rate_register, clock.clone()),
            security: std::sync::Arc::new(SecurityLog::new(store.clone(), clock.clone())),
            session_ends: SessionEnds::default(),
            live: crate::live_hub::LiveHub::start(&store),
            ws_slots: crate::ws_slots::WsSlots::default(),
            passwords,
            config,
            store,
            clock,
            shutdown,
            revocations: crate::revocation_cache::RevocationCache::default(),
        };
        Ok(AppState { inner: Arc::new(inner) })
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
