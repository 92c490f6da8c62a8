//! The `offpay` binary: `serve` (the server and web wallet), `wallet` (the terminal wallet)
//! and `admin` (the operator's tool). Thin: each subcommand lives in its own module and calls
//! into a library crate.

/// Command output goes through this `println!`, which shadows the standard one in every module
/// declared below it: when whoever reads the output has gone (`offpay admin fraud | head`), the
/// command ends quietly with status 0 instead of panicking on the broken pipe.
macro_rules! println {
    () => { $crate::print_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::print_line(format_args!($($arg)*)) };
}

mod admin;
mod options;
mod serve;
mod time;
mod wallet;

use clap::{Parser, Subcommand};

/// jemalloc returns freed memory to the system after a short decay; glibc's allocator kept
/// hundreds of megabytes of freed Argon2 memory after a login flood (docs/PERFORMANCE.md, "Login
/// flood").
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Writes one line of command output to stdout. A closed pipe ends the process quietly (status
/// 0: the reader took what it wanted); any other write failure ends it with a one-line error.
pub(crate) fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        drop(out);
        eprintln!("error: cannot write the output: {error}");
        std::process::exit(1);
    }
}

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
    Serve(Box<serve::ServeArgs>),
    /// The operator's tool: deposits, audits.
    Admin(admin::AdminArgs),
    /// The wallet for the terminal and for scripts.
    Wallet(wallet::WalletArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Admin(args) => admin::run(args),
        Command::Wallet(args) => wallet::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // One line on stderr and a non-zero exit: 1, or 3 when a payment was left
            // pending (docs/WALLET.md, "Exit status").
            eprintln!("error: {error:#}");
            wallet::exit_code(&error)
        }
    }
}
