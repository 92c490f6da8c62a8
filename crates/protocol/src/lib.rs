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

pub mod amount;
pub mod handle;

pub use amount::{Amount, AmountError, Currency};
pub use handle::{Handle, HandleError};
