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
//! - [`model`]: the records the store reads and writes.
//! - [`error`]: [`LedgerError`], one variant per outcome a caller must tell apart.
//! - [`store`]: the [`Store`] trait every backend implements.

pub mod error;
pub mod model;
pub mod store;

pub use error::LedgerError;
pub use model::*;
pub use store::Store;
