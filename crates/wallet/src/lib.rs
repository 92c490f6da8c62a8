//! # offpay-wallet
//!
//! The client side of offpay: a local durable store (SQLite under the wallet home), the
//! server client (HTTP + WebSocket), and later the device key, offline purse and sync engine.
