//! Offline payments on this device (docs/PROTOCOL.md, docs/OFFLINE.md).
//!
//! The payer pays a payee's request with a note signed by this device's key against a purse
//! the server reserved; the payee checks the note with no server and settles it later. This
//! module keeps the device's side: its key, purses and their hash-chain state, requests,
//! accepted and paid notes, the per-purse tallies, and the caches (issuer keys, revocations).
//!
//! ## Layout
//! - [`store`]: [`OfflineStore`], storage only: the offline tables of the wallet's one file
//!   `<home>/wallet.sqlite3` (device key, purses, notes, caches) and `install_purse`. Rows in,
//!   rows out, one transaction per call. Start reading here.
//! - The operations are [`crate::Wallet`] methods, built on that storage and the protocol's
//!   checks: [`payer`] (`preview_payment`, `pay`, `offline_balance`, no server; `pay_once.rs`:
//!   a request already paid gets its earlier note again, never a second one; `pay_card.rs`: a
//!   shop card paid with a card note), [`payee`]
//!   (`request`, `accept`, no server), [`shop`] (the shop card, and accepting card notes and
//!   server receipts at the counter, no server; [`counter_refusals`]: card notes refused for the
//!   payer's clock, kept and given back at sync), [`online`] (`load_purse_with`, `close_purses_with`,
//!   `sync_notes_with`, `refresh_identity`: server, through [`crate::client::Client`]'s offline
//!   endpoint methods). The commands that combine them with the session are in
//!   `wallet/offline.rs`.
//! - The JSON shapes of docs/API-OFFLINE.md are the `offpay-api` types, in [`crate::wire`].
//! - [`error`]: the error type, [`OfflineError`].
//!
//! ## Invariants
//! - The device's private key never leaves `wallet.sqlite3`; only its public key is sent.
//! - `pay` commits the purse's new state and the note before returning the note, so a
//!   sequence number is never signed twice by one store, even across a crash.
//! - One store never signs two notes for one payment request (same nonce): `pay` returns the
//!   earlier note instead, and refuses a request reusing that nonce with other terms.
//! - `accept` commits the note, the tally and the paid request before returning success.
//! - Library calls take the time (`now`, Unix seconds) as an argument; the CLI reads the clock
//!   once per command.

pub mod counter_refusals;
pub mod error;
pub mod online;
pub mod pay_card;
mod pay_once;
pub mod payee;
pub mod payer;
pub mod shop;
pub mod store;

pub use error::OfflineError;
pub use online::{ClosedPurse, LoadedPurse, OnlineSession, SyncReport};
pub use payee::{AcceptedPayment, DEFAULT_REQUEST_VALIDITY_SECS, IssuedRequest};
pub use payer::{PayPreview, Payment, parse_request};
pub use shop::{Acceptance, AcceptedReceipt, CounterLimits, MyCard};
pub use store::{
    AcceptedRecord, Identity, OfflineStore, OfflineStoreError, OpenRequestRecord, PaidRecord, PurseRecord, PurseStatus,
    UploadSide, UploadStatus,
};

/// The current time in Unix seconds, from the system clock (for the CLI's edge).
pub fn unix_now() -> offpay_protocol::UnixTime {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
