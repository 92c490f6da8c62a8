//! # offpay-wallet
//!
//! The client side of offpay: a local durable store (one SQLite file under the wallet home),
//! the server client (HTTP + WebSocket), and the operations a customer runs, online and
//! offline, all as methods of [`Wallet`].
//!
//! ## Layout
//! - [`wallet`] — the front door: every operation (register, login, logout, balance, send,
//!   pending sends and their retry, history, watch; purse load/close/status, request, pay,
//!   accept, sync in `wallet/offline.rs`) over the store and the client. Start reading here.
//! - [`store`] — the one SQLite file `<home>/wallet.sqlite3` (opened private, WAL, retried while
//!   another process closes it) and its one migration history:
//!   settings and the outbox of sends (one row per payment, with its idempotency key and
//!   outcome); an old home's `offline.sqlite3` is moved in on first open.
//! - [`client`] — the HTTP API client, online and offline endpoints (typed API errors,
//!   timeouts, bounded retries with backon's jittered back-off).
//! - [`events`] — the WebSocket live-event client (resume by sequence number, reconnect).
//! - [`offline`] — offline payments: device key, purses, request/pay/accept with no server,
//!   purse load/close and sync (the offline tables of the same file).
//! - [`wire`] — the API's JSON shapes.
//! - [`error`] — [`WalletError`].
//!
//! ## Invariants
//! - A send is in the outbox, durably, before its request leaves the device; it is never
//!   given a second idempotency key while its first outcome is unknown, and a new send never
//!   takes over an earlier send's key: one send is one payment; only an explicit retry (by
//!   key, or `sync`) sends a key again.
//! - Amounts are [`offpay_protocol::Amount`] (minor units) everywhere below the CLI.

pub mod client;
pub mod error;
pub mod events;
pub mod offline;
pub mod store;
pub mod wallet;
pub mod wire;

pub use client::{ApiError, Client, ClientError, ServerUrl};
pub use error::WalletError;
pub use events::{Event, WatchOptions, WatchStatus};
pub use store::Store;
pub use wallet::{
    AccountView, BalanceView, Freshness, HistoryView, KnownIdentity, LogoutOutcome, OfflineSync, RetriedSend,
    SendReceipt, ShopPaid, SideNote, SyncOutcome, Takings, Wallet,
};
