//! `offpay admin [--data DIR | --database-url URL] COMMAND`: the operator's tool, working on the
//! database directly (no server needed; safe while servers run).
//!
//! - `deposit HANDLE AMOUNT`: money enters through the funding account (idempotent per key).
//! - `verify`: the journal hash chain, zero-sum postings and every balance; exit 1 on problems.
//! - `security-events`: recent login failures, lockouts, rate-limit hits, forbidden actions.
//! - `freeze` / `unfreeze HANDLE`: stop or allow an account's payments.
//! - `rotate-issuer-key`, `fraud`, `purses`: offline payments (`admin/offline.rs`).
//!
//! Errors: one line on stderr, non-zero exit; each command is one database transaction, so
//! nothing is half-done.

mod commands;
mod offline;

use std::process::ExitCode;

use anyhow::Context;

use crate::options::store::StoreArgs;

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Deposit money (major units, e.g. 1000 or 12.50) into a user's wallet
    Deposit {
        handle: String,
        #[arg(allow_negative_numbers = true)]
        amount: String,
        /// Makes a retry safe: the same key deposits only once [default: a fresh random key]
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Print one JSON object (amounts in minor units)
        #[arg(long)]
        json: bool,
    },
    /// Check the journal hash chain, the postings and every balance
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// List recent security events, newest first
    SecurityEvents {
        /// How many to show (at most 1000)
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Freeze an account: it can no longer send money
    Freeze { handle: String },
    /// Unfreeze an account (refused while it owes held notes to payees, unless --force)
    Unfreeze {
        handle: String,
        /// Unfreeze even though the account owes held notes: it may then spend money its payees
        /// are owed before the server's pass pays them
        #[arg(long)]
        force: bool,
    },
    #[command(flatten)]
    Offline(offline::OfflineAdminCommand),
}

pub fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        if let AdminCommand::Offline(command) = args.command {
            return offline::run(&args.store, command).await;
        }
        let (store, _label) = args.store.open().await?;
        commands::run(store.as_ref(), args.command).await
    })
}
