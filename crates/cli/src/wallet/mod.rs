//! `offpay wallet`: the terminal wallet. Parses the arguments, opens the wallet
//! (`offpay_wallet::Wallet`) and prints the outcome: sentences for people on stdout, notes on
//! stderr, or one JSON object with `--json`. Errors are one line on stderr and a non-zero exit
//! (printed by `main`, with the status from [`exit_code`]).
//!
//! Exit status (docs/WALLET.md, "Exit status"): 0 done (a payment made, or one already made
//! earlier and not made again); 1 failed, nothing paid (refused, no server, bad input);
//! 2 the command line is wrong; 3 a payment's outcome is unknown and it is kept pending
//! (`offpay wallet retry KEY` or `offpay wallet sync` finishes it).
//!
//! Files: `wallet/offline.rs` (the offline commands, with `shop card`), `wallet/shop.rs`
//! (`pay-shop`, `takings`), `wallet/output.rs` (all wording and JSON
//! shapes; the offline commands' in `wallet/output/offline.rs`), `wallet/password.rs` (password from `OFFPAY_PASSWORD` or a silent prompt); dates
//! through `crate::time`.

mod offline;
mod output;
mod password;
mod shop;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use offpay_wallet::{RetriedSend, ServerUrl, Wallet, WalletError, WatchOptions};

/// The exit status of a command that left a payment pending: its outcome is unknown.
pub const EXIT_PENDING: u8 = 3;

/// The exit status for a command that failed with `error`: [`EXIT_PENDING`] when a payment's
/// outcome is unknown, else 1.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    match error.downcast_ref::<WalletError>() {
        Some(e) if e.is_pending_send() => ExitCode::from(EXIT_PENDING),
        _ => ExitCode::FAILURE,
    }
}

/// The exit status after retrying pending payments: [`EXIT_PENDING`] if any is still pending,
/// else 1 if any was refused (or could not be retried), else success.
pub fn retried_exit_code(retried: &[RetriedSend]) -> ExitCode {
    if retried.iter().any(|r| r.outcome.as_ref().is_err_and(WalletError::is_pending_send)) {
        ExitCode::from(EXIT_PENDING)
    } else if retried.iter().any(|r| r.outcome.is_err()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(clap::Args)]
#[command(after_help = "Amounts are in major units, for example 250.00.")]
pub struct WalletArgs {
    /// The wallet's folder [default: $OFFPAY_HOME, else ~/.offpay]
    #[arg(long, global = true, env = "OFFPAY_HOME", value_name = "DIR", hide_env = true)]
    home: Option<PathBuf>,
    /// The server's address [default: $OFFPAY_SERVER, else the one remembered at login, else
    /// http://127.0.0.1:8080]
    #[arg(long, global = true, env = "OFFPAY_SERVER", value_name = "URL", hide_env = true)]
    server: Option<String>,
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(clap::Subcommand)]
enum WalletCommand {
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
    #[command(flatten)]
    Offline(offline::OfflineCommand),
    #[command(flatten)]
    Shop(shop::ShopCommands),
}

pub fn run(args: WalletArgs) -> anyhow::Result<ExitCode> {
    let home = resolve_home(args.home)?;
    let server = args.server.filter(|s| !s.trim().is_empty()).map(|s| ServerUrl::parse(&s)).transpose()?;
    let wallet = Wallet::open(&home)?.with_server_override(server);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(dispatch(wallet, args.command))
}

/// `--home`/`OFFPAY_HOME`, else `~/.offpay`.
fn resolve_home(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(home) = flag.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(home);
    }
    let user_home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("cannot find your home folder; pass --home DIR or set OFFPAY_HOME")?;
    Ok(PathBuf::from(user_home).join(".offpay"))
}

async fn dispatch(mut wallet: Wallet, command: WalletCommand) -> anyhow::Result<ExitCode> {
    match command {
        WalletCommand::Register { handle } => {
            let password = password::read(true)?;
            let view = wallet.register(&handle, &password).await?;
            println!("{}", output::registered(&view));
        }
        WalletCommand::Login { handle } => {
            let password = password::read(false)?;
            let view = wallet.login(&handle, &password).await?;
            println!("{}", output::logged_in(&view));
        }
        WalletCommand::Logout { everywhere: true } => {
            let handle = wallet.logout_everywhere().await?;
            println!("{}", output::logged_out_everywhere(&handle));
        }
        WalletCommand::Password => {
            let (current, new) = password::read_change()?;
            let handle = wallet.change_password(&current, &new).await?;
            println!("{}", output::password_changed(&handle));
        }
        WalletCommand::Logout { everywhere: false } => {
            let (said, note) = output::logged_out(&wallet.logout().await?);
            println!("{said}");
            if let Some(note) = note {
                eprintln!("{note}");
            }
        }
        WalletCommand::Balance { json } => {
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
        WalletCommand::Send { handle, amount, memo, idempotency_key, json } => {
            let receipt = wallet.send(&handle, &amount, memo.as_deref(), idempotency_key.as_deref()).await?;
            print_receipt(&receipt, json);
        }
        WalletCommand::Pending { json } => {
            let pending = wallet.pending_sends()?;
            if json {
                println!("{}", output::pending_json(&pending));
            } else {
                let currency = wallet.settings()?.currency.unwrap_or_default();
                println!("{}", output::pending_human(&currency, &pending));
            }
        }
        WalletCommand::Retry { key, json } => {
            let receipt = wallet.retry(key.trim()).await?;
            print_receipt(&receipt, json);
        }
        WalletCommand::History { json, limit } => {
            let view = wallet.history(limit).await?;
            if json {
                println!("{}", output::history_json(&view.items));
            } else {
                println!("{}", output::history_human(&view.currency, &view.items));
            }
        }
        WalletCommand::Watch => return watch(wallet).await,
        WalletCommand::Offline(command) => return offline::run(&mut wallet, command).await,
        WalletCommand::Shop(command) => return shop::run(&mut wallet, command).await,
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
