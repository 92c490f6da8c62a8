//! # offpay-server
//!
//! The HTTP JSON API under `/v1` (contract: `docs/API.md`), the WebSocket event stream and the
//! web wallet page, thin over [`offpay_ledger::Store`]. Stateless apart from the database, so
//! several instances can share one PostgreSQL (sessions, login throttling and live events all
//! live in the database; only request-flood limits are per process).
//!
//! ## Layout
//! - [`startup`]: [`serve`] / [`serve_with`]: bind, route, graceful shutdown.
//! - [`listen`]: the accept loop and per-connection limits (header read timeout).
//! - [`config`]: [`Config`], every tunable with production defaults.
//! - [`routes`]: the router and one module per route group (auth, account, transfers, history,
//!   ws, meta, web); [`openapi`]: the OpenAPI document generated from them and `offpay-api`.
//! - [`error`]: [`ApiError`], status + stable code + message; opaque 500s.
//! - [`auth`]: Argon2id passwords, session tokens, the [`auth::AuthUser`] extractor.
//! - [`throttle`]: login throttling and lockout in the database.
//! - [`ratelimit`], [`guard`]: in-memory request limits per address and account; body size.
//! - [`security`]: security events for the operator.
//! - [`headers`]: security headers (CSP, frame protection, nosniff, referrer and permissions
//!   policies) on every answer.
//! - [`request_id`]: an `x-request-id` on every answer, recorded on every log line of the request.
//! - [`ws_slots`]: the cap on open WebSockets per user; [`live_hub`]: live-event wake-ups
//!   routed to the sockets of the user they concern.
//! - [`session_watch`]: closing a session's open WebSockets at logout, on every server.
//! - [`issuer`]: the issuer keyset (file, rotation) and offline limits; [`expiry`]: the task
//!   returning expired purses' remainders; `routes/offline.rs`: the offline API.
//! - [`extract`], [`state`], [`clock`]: plumbing.

pub mod address_places;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod expiry;
pub mod extract;
pub mod guard;
pub mod headers;
pub mod issuer;
pub mod listen;
pub mod live_hub;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod revocation_cache;
pub mod routes;
pub mod security;
pub mod session_watch;
pub mod startup;
pub mod state;
pub mod throttle;
pub mod ws_slots;

pub use clock::Clock;
pub use config::Config;
pub use error::ApiError;
pub use routes::paths;
pub use startup::{serve, serve_with, shutdown_signal};
