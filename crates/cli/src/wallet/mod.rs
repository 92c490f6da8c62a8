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
//! Files: `wallet/online.rs` (account, balance, send, pending, retry, history, watch),
//! `wallet/offline.rs` (the offline commands, with `shop card`), `wallet/shop.rs`
//! (`pay-shop`, `takings`), `wallet/output.rs` (all wording and JSON
//! shapes; the offline commands' in `wallet/output/offline.rs`), `wallet/password.rs` (password from `OFFPAY_PASSWORD` or a silent prompt); dates
//! through `crate::time`.

mod offline;
mod online;
mod output;
mod password;
mod shop;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use offpay_wallet::{RetriedSend, ServerUrl, Wallet, WalletError};

/// The exit status of a command that left a payment pending: its outcome is unknown.
pub const EXIT_PENDING: u8 = 3;

/// The exit status of a `sync` that finished the pending payments (its `sends` say how) but
/// could not sync offline notes: run it again.
pub const EXIT_OFFLINE_NOT_SYNCED: u8 = 4;

/// The exit status for a command that failed with `error`: [`EXIT_PENDING`] when a payment's
/// (or a purse load's) outcome is unknown, else 1.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    let offline_pending = |e: &offpay_wallet::offline::OfflineError| {
        matches!(
            e,
            offpay_wallet::offline::OfflineError::SentOnline { .. }
                | offpay_wallet::offline::OfflineError::LoadUncertain { .. }
                | offpay_wallet::offline::OfflineError::LoadClockAhead
        )
    };
    match (error.downcast_ref::<WalletError>(), error.downcast_ref::<offpay_wallet::offline::OfflineError>()) {
        (Some(e), _) if e.is_pending_send() => ExitCode::from(EXIT_PENDING),
        (Some(WalletError::Offline(e)), _) if offline_pending(e) => ExitCode::from(EXIT_PENDING),
        (_, Some(e)) if offline_pending(e) => ExitCode::from(EXIT_PENDING),
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
    #[command(flatten)]
    Online(online::OnlineCommand),
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
        WalletCommand::Online(command) => online::run(wallet, command).await,
        WalletCommand::Offline(command) => offline::run(&mut wallet, command).await,
        WalletCommand::Shop(command) => shop::run(&mut wallet, command).await,
    }
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;

    use offpay_wallet::offline::OfflineError;

    use super::{EXIT_PENDING, exit_code};

    /// A purse load with no answer may have reserved the money: like a payment whose outcome is
    /// unknown, it exits 3, never 1 ("nothing moved").
    #[test]
    fn an_unfinished_load_exits_as_pending() {
        let status = |e: anyhow::Error| format!("{:?}", exit_code(&e));
        let pending = format!("{:?}", ExitCode::from(EXIT_PENDING));
        assert_eq!(status(OfflineError::LoadUncertain { reason: "timed out".into() }.into()), pending);
        assert_eq!(status(OfflineError::LoadClockAhead.into()), pending);
        assert_eq!(status(OfflineError::Cancelled.into()), format!("{:?}", ExitCode::FAILURE));
    }
}
