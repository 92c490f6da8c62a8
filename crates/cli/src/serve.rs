//! `offpay serve [--listen ADDR] [--data DIR | --database-url URL] [purse options] [connection
//! limits]`: checks the offline purse options (`options/offline.rs`) and connection limits
//! (`options/limits.rs`; a bad value exits 2 before anything starts),
//! opens the store (migrations run at open), prints one line saying where it serves, and runs
//! the API until Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use crate::options::store::StoreArgs;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Issuer key file (shared by several servers) [default: DATA/issuer-keys.json, created when missing]
    #[arg(long, value_name = "FILE", env = crate::options::store::ISSUER_KEYS_ENV)]
    pub issuer_keys: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub offline: crate::options::offline::OfflineLimitArgs,
    #[command(flatten)]
    pub limits: crate::options::limits::ConnectionLimitArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let defaults = match args.limits.apply(offpay_server::Config::default()) {
        Ok(defaults) => defaults,
        Err(bad) => return Ok(bad.refuse()),
    };
    let offline = match args.offline.config(defaults.currency) {
        Ok(offline) => offline,
        Err(bad) => return Ok(bad.refuse()),
    };
    init_logging();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (store, label) = args.store.open().await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr().context("cannot read the bound address")?;
        eprintln!("offpay serving on http://{addr} (database: {label})");
        log_offline_limits(&offline, &defaults.currency);
        let mut config = offpay_server::Config { listen: addr, offline, ..defaults };
        let keys = args.issuer_keys.clone().unwrap_or_else(|| crate::options::store::default_issuer_keys(&args.store));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let issuer = offpay_server::issuer::Issuer::open(&keys, now)
            .with_context(|| format!("cannot open the issuer keys {}", keys.display()))?;
        config.offline.issuer = Some(std::sync::Arc::new(issuer));
        offpay_server::serve(config, store, listener).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn log_offline_limits(limits: &offpay_server::issuer::OfflineConfig, currency: &offpay_protocol::Currency) {
    use crate::options::offline::format_duration;
    let money = |minor: u64| offpay_protocol::Amount::from_minor(minor).map(|a| currency.format(a)).unwrap_or_default();
    tracing::info!(
        validity = %format_duration(limits.validity_secs),
        grace = %format_duration(limits.grace_secs),
        max_payment = %money(limits.per_payment_cap),
        max_purse = %money(limits.purse_max),
        loss_allowance = %money(limits.loss_allowance),
        max_open_purses = limits.max_open_purses,
        "offline purse limits"
    );
}

/// Structured logs on stderr; `RUST_LOG` chooses the level (default: info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
