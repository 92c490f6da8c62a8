//! Options shared by the commands, each parsed once with clap: where the ledger lives
//! (`store.rs`, for `serve` and `admin`), the offline purse limits and durations (`offline.rs`),
//! and the connection and request-rate limits of `serve` (`limits.rs`). A refused value exits 2
//! before anything starts, naming the option and its environment variable.

pub mod limits;
pub mod offline;
pub mod store;
