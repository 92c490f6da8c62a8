//! The `offpay` binary: `serve` (the server and web wallet), `wallet` (the terminal wallet)
//! and `admin` (the operator's tool). Thin: each subcommand calls into a library crate.

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
    Serve,
    /// The operator's tool: deposits, audits.
    Admin,
    /// The wallet for the terminal and for scripts.
    Wallet,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve | Command::Admin | Command::Wallet => {
            anyhow::bail!("not built yet")
        }
    }
}
