//! # offpay-server
//!
//! The HTTP JSON API under `/v1`, the WebSocket event stream and the web wallet, thin over
//! [`offpay_ledger::Store`]. Stateless apart from the database, so several instances can share
//! one PostgreSQL.
