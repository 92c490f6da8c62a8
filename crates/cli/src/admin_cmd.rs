//! `offpay admin`.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct AdminArgs {}

pub fn run(_args: AdminArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("offpay admin is not built yet")
}
