//! # offpay-wallet
//!
//! The client side of offpay: a local durable store (SQLite under the wallet home), the
//! server client (HTTP + WebSocket), and the operations a customer runs. Later: the device key,
//! offline purse, pending-note queue and sync engine.
//!
//! ## Layout
//! - [`wallet`] — the operations (register, login, logout, balance, send, pending sends and
//!   their retry, history, watch) over the store and the client. Start reading here.
//! - [`store`] — the SQLite file: settings and the outbox of sends (one row per payment, with
//!   its idempotency key and outcome).
//! - [`client`] — the HTTP API client, online and offline endpoints (typed API errors,
//!   timeouts, bounded retries).
//! - [`events`] — the WebSocket live-event client (resume by sequence number, reconnect).
//! - [`offline`] — offline payments: device key, purses, request/pay/accept with no server,
//!   purse load/close and sync (its own SQLite file, `offline.sqlite3`).
//! - [`wire`] — the API's JSON shapes.
//! - `sqlite_file` — opening either SQLite file (private, WAL, retried while another process
//!   closes it).
//! - [`backoff`] — exponential back-off with jitter.
//! - [`error`] — [`WalletError`].
//!
//! ## Invariants
//! - A send is in the outbox, durably, before its request leaves the device; it is never
//!   given a second idempotency key while its first outcome is unknown, and a new send never
//!   takes over an earlier send's key: one send is one payment; only an explicit retry (by
//!   key, or `sync`) sends a key again.
//! - Amounts are [`offpay_protocol::Amount`] (minor units) everywhere below the CLI.

pub mod backoff;
pub mod client;
pub mod error;
pub mod events;
pub mod offline;
mod sqlite_file;
pub mod store;
pub mod wallet;
pub mod wire;

pub use client::{ApiError, Client, ClientError, ServerUrl};
pub use error::WalletError;
pub use events::{Event, WatchOptions, WatchStatus};
pub use store::Store;
pub use wallet::{AccountView, BalanceView, Freshness, HistoryView, LogoutOutcome, RetriedSend, SendReceipt, Wallet};
