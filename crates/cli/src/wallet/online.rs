//! The online wallet commands: account (register, login, logout, password), balance, send,
//! pending, retry, history and watch. Each is one call to `offpay_wallet::Wallet` and its
//! printing (`super::output`).

use std::process::ExitCode;

use anyhow::Context;
use offpay_wallet::{Wallet, WatchOptions};

use super::{output, password};

#[derive(clap::Subcommand)]
pub enum OnlineCommand {
    /// Create an account (password from OFFPAY_PASSWORD or a prompt) and log in.
    Register { handle: String },
    /// Log in to an existing account (password from OFFPAY_PASSWORD or a prompt).
    Login { handle: String },
    /// End the session on the server and forget it on this device.
    Logout {
        /// End every session of the account, on every device (a lost or stolen one too).
        #[arg(long)]
        everywhere: bool,
    },
    /// Change the password (current one from OFFPAY_PASSWORD or a prompt, new one from
    /// OFFPAY_NEW_PASSWORD or a prompt); every other session of the account ends.
    Password,
    /// Show the balance (the last known one when the server cannot be reached).
    Balance {
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
    /// Send money to another user, online. Each send is a new payment; exits 3 if the outcome
    /// is unknown (the payment is then pending: see `pending`, `retry`, `sync`).
    Send {
        /// Who gets the money.
        handle: String,
        /// How much, in major units (250.00).
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// A note for the receiver.
        #[arg(long)]
        memo: Option<String>,
        /// Your own key for this payment (8 to 128 of A-Z a-z 0-9 - _). Running the same send
        /// with the same key again never pays twice; the same key with other terms is refused.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
    /// List the payments whose outcome is unknown (no answer from the server yet).
    Pending {
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
    /// Finish a pending payment: send it again with its own key (it is never paid twice).
    Retry {
        /// The payment's key, as `pending` shows it.
        key: String,
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
    /// Show recent payments, newest first.
    History {
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
        /// How many entries (1 to 200).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: Option<u32>,
    },
    /// Print each live event as one JSON line until interrupted (Ctrl-C).
    Watch,
}

/// Runs one online command.
pub async fn run(mut wallet: Wallet, command: OnlineCommand) -> anyhow::Result<ExitCode> {
    match command {
        OnlineCommand::Register { handle } => {
            let password = password::read(true)?;
            let view = wallet.register(&handle, &password).await?;
            println!("{}", output::registered(&view));
        }
        OnlineCommand::Login { handle } => {
            let password = password::read(false)?;
            let view = wallet.login(&handle, &password).await?;
            println!("{}", output::logged_in(&view));
        }
        OnlineCommand::Logout { everywhere: true } => {
            let handle = wallet.logout_everywhere().await?;
            println!("{}", output::logged_out_everywhere(&handle));
        }
        OnlineCommand::Password => {
            let (current, new) = password::read_change()?;
            let handle = wallet.change_password(&current, &new).await?;
            println!("{}", output::password_changed(&handle));
        }
        OnlineCommand::Logout { everywhere: false } => {
            let (said, note) = output::logged_out(&wallet.logout().await?);
            println!("{said}");
            if let Some(note) = note {
                eprintln!("{note}");
            }
        }
        OnlineCommand::Balance { json } => {
            let view = wallet.balance().await?;
            for note in output::balance_notes(&view) {
                eprintln!("{note}");
            }
            if json {
                println!("{}", output::balance_json(&view));
            } else {
                println!("{}", output::balance_human(&view));
            }
        }
        OnlineCommand::Send { handle, amount, memo, idempotency_key, json } => {
            let receipt = wallet.send(&handle, &amount, memo.as_deref(), idempotency_key.as_deref()).await?;
            print_receipt(&receipt, json);
        }
        OnlineCommand::Pending { json } => {
            let pending = wallet.pending_sends()?;
            if json {
                println!("{}", output::pending_json(&pending));
            } else {
                let currency = wallet.settings()?.currency.unwrap_or_default();
                println!("{}", output::pending_human(&currency, &pending));
            }
        }
        OnlineCommand::Retry { key, json } => {
            let receipt = wallet.retry(key.trim()).await?;
            print_receipt(&receipt, json);
        }
        OnlineCommand::History { json, limit } => {
            let view = wallet.history(limit).await?;
            if json {
                println!("{}", output::history_json(&view.items));
            } else {
                println!("{}", output::history_human(&view.currency, &view.items));
            }
        }
        OnlineCommand::Watch => return watch(wallet).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_receipt(receipt: &offpay_wallet::SendReceipt, json: bool) {
    if json {
        println!("{}", output::sent_json(receipt));
    } else {
        println!("{}", output::sent_human(receipt));
    }
}

async fn watch(mut wallet: Wallet) -> anyhow::Result<ExitCode> {
    let options = WatchOptions::default();
    let watching = wallet.watch(
        &options,
        |event| println!("{}", event.json),
        |status| eprintln!("{}", output::watch_status(status)),
    );
    tokio::select! {
        result = watching => result.map(|()| ExitCode::SUCCESS).map_err(Into::into),
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.context("cannot listen for Ctrl-C")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
