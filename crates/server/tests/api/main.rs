//! End-to-end tests of the HTTP API and the WebSocket: a real server on port 0, real HTTP, a
//! real SQLite file or a real PostgreSQL database (docs/API.md is the contract checked here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod device_keys;
mod events;
mod headers;
mod helpers;
mod limits;
mod login_throttle;
mod logout_ws;
mod money;
mod offline_api;
mod openapi;
mod postgres;
mod security_log;
