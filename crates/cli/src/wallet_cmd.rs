//! `offpay wallet`: the terminal wallet. Parses the arguments, opens the wallet
//! (`offpay_wallet::Wallet`) and prints the outcome: sentences for people on stdout, notes on
//! stderr, or one JSON object with `--json`. Errors are one line on stderr and a non-zero exit
//! (printed by `main`).
//!
//! Files: `wallet/output.rs` (all wording and JSON shapes), `wallet/password.rs` (password from
//! `OFFPAY_PASSWORD` or a silent prompt).

#[path = "wallet/output.rs"]
mod output;
#[path = "wallet/password.rs"]
mod password;
#[path = "offline_cmd.rs"]
mod offline_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use offpay_wallet::{LogoutOutcome, ServerUrl, Wallet, WatchOptions, WatchStatus};

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
    Logout,
    /// Show the balance (the last known one when the server cannot be reached).
    Balance {
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
    /// Send money to another user, online.
    Send {
        /// Who gets the money.
        handle: String,
        /// How much, in major units (250.00).
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// A note for the receiver.
        #[arg(long)]
        memo: Option<String>,
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
    Offline(offline_cmd::OfflineCommand),
}

pub fn run(args: WalletArgs) -> anyhow::Result<ExitCode> {
    let home = resolve_home(args.home)?;
    let server = args
        .server
        .filter(|s| !s.trim().is_empty())
        .map(|s| ServerUrl::parse(&s))
        .transpose()?;
    let wallet = Wallet::open(&home)?.with_server_override(server);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
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
        WalletCommand::Logout => match wallet.logout().await? {
            LogoutOutcome::Done { handle } => println!("Logged out {handle}."),
            LogoutOutcome::LocalOnly { handle, reason } => {
                println!("Logged out {handle} on this device.");
                eprintln!("note: {reason}; the session will expire on the server by itself");
            }
            LogoutOutcome::NotLoggedIn => println!("Not logged in."),
        },
        WalletCommand::Balance { json } => {
            let mut view = wallet.balance().await?;
            view.offline = offline_cmd::offline_balance(&wallet)?;
            for note in output::balance_notes(&view) {
                eprintln!("{note}");
            }
            if json {
                println!("{}", output::balance_json(&view));
            } else {
                println!("{}", output::balance_human(&view));
            }
        }
        WalletCommand::Send { handle, amount, memo, json } => {
            let receipt = wallet.send(&handle, &amount, memo.as_deref()).await?;
            if json {
                println!("{}", output::sent_json(&receipt));
            } else {
                println!("{}", output::sent_human(&receipt));
            }
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
        WalletCommand::Offline(command) => return offline_cmd::run(&wallet, command).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn watch(mut wallet: Wallet) -> anyhow::Result<ExitCode> {
    let options = WatchOptions::default();
    let watching = wallet.watch(
        &options,
        |event| println!("{}", event.json),
        |status| match status {
            WatchStatus::Connected { after: 0 } => eprintln!("connected; showing new events as they happen (Ctrl-C to stop)"),
            WatchStatus::Connected { after } => {
                eprintln!("connected; showing events after #{after}, then new ones as they happen (Ctrl-C to stop)");
            }
            WatchStatus::Disconnected { reason, retry_in } => {
                eprintln!("disconnected ({reason}); reconnecting in {:.1} s", retry_in.as_secs_f64());
            }
            WatchStatus::Ignored { reason } => eprintln!("note: ignored a message from the server ({reason})"),
        },
    );
    tokio::select! {
        result = watching => result.map(|()| ExitCode::SUCCESS).map_err(Into::into),
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.context("cannot listen for Ctrl-C")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
