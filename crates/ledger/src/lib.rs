//! # offpay-ledger
//!
//! The money core of offpay: user accounts, the operator's funding and reserve accounts, a
//! double-entry journal whose postings always sum to zero, balances changed in the same database
//! transaction as their journal entry, idempotency keys, a hash-chained journal, sessions,
//! login throttling, security events and the per-user live event log.
//!
//! One interface ([`Store`]) with two real backends:
//! - [`sqlite::SqliteStore`]: embedded default (WAL, durable commits, group commit on one writer).
//! - [`postgres::PostgresStore`]: scale-out; several servers share one database, live events fan
//!   out through LISTEN/NOTIFY with catch-up from a sequence cursor.
//!
//! ## Layout
//! - [`model`]: the records the store reads and writes; `ids`: the typed ids ([`UserId`],
//!   [`AccountId`], [`EntryId`]) they carry.
//! - [`error`]: [`LedgerError`], one variant per outcome a caller must tell apart; a storage
//!   failure keeps its cause as `source()` ([`StorageError`]).
//! - `error_chain`: [`ErrorChain`] prints an error and all its sources on one log line.
//! - [`store`]: the [`Store`] trait every backend implements.
//! - [`chain`]: the journal hash chain (per-account heads) and request fingerprints.
//! - `plan`: the money rules as pure functions (balances, postings, events) used by both backends.
//! - `verify`: the streaming audit behind [`Store::verify`].
//! - [`offline`]: offline purses, note settlement, fraud proofs ([`offline::OfflineStore`]).
//! - [`sqlite`], [`postgres`]: the backends.
//! - [`open`]: [`open_store`] picks a backend from `--data DIR` / `--database-url URL`.
//! - [`testing`]: fresh PostgreSQL databases for tests (also used by other crates' tests).
//!
//! See `docs/LEDGER.md` for the schema, the locking order and the hash-chain design.

pub mod chain;
pub mod error;
mod error_chain;
mod ids;
pub mod model;
pub mod offline;
pub mod open;
mod plan;
pub mod postgres;
pub mod sqlite;
pub mod store;
pub mod testing;
mod verify;

pub use error::{LedgerError, StorageError};
pub use error_chain::ErrorChain;
pub use model::*;
pub use open::open_store;
pub use plan::is_text_direction_mark;
pub use store::Store;

/// Most history items one call returns.
pub const HISTORY_MAX: u32 = 200;
/// Most events one `events_after` call returns.
pub const EVENTS_MAX: u32 = 1000;
/// Most security events one call returns.
pub const SECURITY_EVENTS_MAX: u32 = 1000;
/// Most security events one `forget_security_events` call looks at (the oldest ones) and so
/// deletes.
pub const SECURITY_FORGET_MAX: u32 = 1000;
/// Capacity of the live-event broadcast channel (a slower receiver sees `Lagged` and should
/// catch up with `events_after`).
pub const EVENT_CHANNEL_CAPACITY: usize = 4096;
