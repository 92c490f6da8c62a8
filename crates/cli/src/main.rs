//! The `offpay` binary: `serve` (the server and web wallet), `wallet` (the terminal wallet)
//! and `admin` (the operator's tool). Thin: each subcommand lives in its own module and calls
//! into a library crate.

mod admin_cmd;
mod admin_offline;
mod offline_options;
mod serve_cmd;
mod wallet_cmd;

use clap::{Parser, Subcommand};

/// offpay: a wallet that keeps working when the internet does not.
#[derive(Parser)]
#[command(name = "offpay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server and the web wallet.
    Serve(serve_cmd::ServeArgs),
    /// The operator's tool: deposits, audits.
    Admin(admin_cmd::AdminArgs),
    /// The wallet for the terminal and for scripts.
    Wallet(wallet_cmd::WalletArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_cmd::run(args),
        Command::Admin(args) => admin_cmd::run(args),
        Command::Wallet(args) => wallet_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // One line on stderr, non-zero exit (DESIGN.md section 6): 1, or 3 when a
            // payment was left pending (docs/WALLET.md, "Exit status").
            eprintln!("error: {error:#}");
            wallet_cmd::exit_code(&error)
        }
    }
}
