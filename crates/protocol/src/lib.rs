//! # offpay-protocol
//!
//! The offline payment formats of offpay and their verification, shared byte for byte by the
//! server, the CLI wallet and (through `testdata/protocol-vectors.json`) the web wallet.
//!
//! This crate is *pure*: it performs no I/O, reads no clock and draws no randomness. Time,
//! keys and nonces are arguments; results are data. See `docs/PROTOCOL.md` for the
//! byte-by-byte specification.
//!
//! ## Layout
//! - [`amount`]: money in minor units with checked arithmetic, parsed from major units.
//! - [`handle`]: user handles (`alice`, `chai_shop`), built only by parsing.
//! - [`ids`]: purse ids, nonces, issuer key ids, SHA-256 digests, account numbers, currency
//!   codes, [`UnixTime`].
//! - [`wire`]: the canonical layout (tag byte, version byte, little-endian fields),
//!   [`Kind`], [`DecodeError`].
//! - [`crypto`]: SHA-256, issuer key ids, strict Ed25519 verification.
//! - [`device_key`]: [`check_device_key`], which device public keys are acceptable at all
//!   (canonical, prime order: no small-order component).
//! - The four signed offline objects, each with `encode`/`decode`/`signed_bytes`/`hash` and a text
//!   form through [`Encoded`]: [`PurseCertificate`] (issuer), [`PaymentRequest`] (payee
//!   device), [`PaymentNote`] (payer device), [`CloseStatement`] (payer device).
//! - [`keys`]: cached [`IssuerKeys`] and [`Revocations`].
//! - [`purse`]: payer side: [`PurseState`] and [`prepare_next`] (request -> note + new state).
//! - [`accept`]: payee side: [`accept_note`] -> [`Accepted`] (with the updated
//!   [`PurseTally`]) or a [`RejectReason`].
//! - Card payments (issue 14): [`ShopCard`] (a shop's printed QR code, signed by its device),
//!   [`Receipt`] (the server's signed receipt of an online payment, checked offline by the shop
//!   with [`Receipt::check`]), and [`accept_card_note`], the shop's check of a note made without
//!   a request (nonce from [`card_nonce`]).
//! - [`settle`]: server side: [`settle_purse`] -> [`Settlement`] (payable, duplicates,
//!   rejected, [`FraudProof`]s).
//! - [`text`]: base45 text (QR) form, `OPN1:...`.
//! - [`testkit`]: deterministic fixtures (public seeds; tests only).
//!
//! ## Typical calls
//! - Issuer (server): `PurseCertificate::issue(fields, &issuer_key)`.
//! - Payee: `PaymentRequest::sign(fields, &device)`, then `.to_text()`; on a note:
//!   `accept_note_text(text, tally, &ctx)`.
//! - Payer: `PaymentRequest::from_text(text)`, then `prepare_next(&cert, &state, &device,
//!   &request, now)`; persist the new state, then release `note.to_text()`.
//! - Shop (card payments): `ShopCard::sign(fields, &device)` once, then `.to_text()` to print;
//!   on a note `accept_card_note_text(text, tally, &card_ctx)`; on a receipt
//!   `Receipt::from_text(text)?.check(&receipt_ctx)`.
//! - Customer paying a card: `ShopCard::from_text(text)`, `.verify()`, then
//!   `prepare_card_payment(&cert, &state, &device, &card, amount, random12, now)`.
//! - Server: `PaymentNote::decode(bytes)`, `PurseCertificate::verify(&keys, now)`,
//!   `settle_purse(&cert, &notes, close)`; for many notes, `verify_device_signatures(&notes,
//!   seed)` (one batch, see [`batch`]) then `settle_purse_prechecked`.

#[macro_use]
mod signed;

pub mod accept;
pub mod accept_card;
pub mod amount;
pub mod batch;
pub mod certificate;
pub mod close;
pub mod crypto;
pub mod device_key;
pub mod handle;
pub mod ids;
pub mod keys;
pub mod note;
pub mod purse;
pub mod receipt;
pub mod reject;
pub mod request;
pub mod settle;
pub mod shop_card;
pub mod testkit;
pub mod text;
pub mod wire;

pub use accept::{AcceptContext, Accepted, OpenRequest, PurseTally, TallyEntry, accept_note, accept_note_text};
pub use accept_card::{CardAcceptContext, accept_card_note, accept_card_note_text, card_note_fits_but_for_issuer};
pub use amount::{Amount, AmountError, Currency};
pub use certificate::{CertificateFields, PurseCertificate};
pub use close::{CloseFields, CloseStatement};
pub use device_key::{DeviceKeyError, check_device_key};
pub use handle::{Handle, HandleError};
pub use ids::{AccountNumber, CurrencyCode, Hash256, IdParseError, KeyId, Nonce, PurseId, UnixTime};
pub use keys::{IssuerKey, IssuerKeys, KeySetError, Revocations};
pub use note::{NoteFields, PaymentNote};
pub use purse::{MAX_NOTES_PER_PURSE, PayError, PurseState, prepare_card_payment, prepare_next};
pub use receipt::{Receipt, ReceiptContext, ReceiptFields};
pub use reject::RejectReason;
pub use request::{PaymentRequest, RequestFields};
pub use settle::{FraudProof, Settlement, settle_purse, settle_purse_prechecked};
pub use shop_card::{CardFields, ShopCard, ShopName, card_nonce};
pub use text::Encoded;
pub use wire::{DecodeError, FieldError, Kind};

/// Re-exported so callers use the same ed25519-dalek version as this crate.
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
