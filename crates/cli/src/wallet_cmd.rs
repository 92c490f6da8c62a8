//! `offpay wallet`.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct WalletArgs {}

pub fn run(_args: WalletArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("offpay wallet is not built yet")
}
