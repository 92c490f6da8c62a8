//! Starting and stopping: [`serve`] runs the API on a bound listener until Ctrl-C or SIGTERM;
//! [`serve_with`] takes the clock and the shutdown signal (tests use it). Connections are
//! accepted and served by [`crate::listen`].

use std::future::Future;
use std::sync::Arc;

use offpay_ledger::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::routes::router;
use crate::state::AppState;

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight and closes WebSockets.
pub async fn serve(config: Config, store: Arc<dyn Store>, listener: TcpListener) -> anyhow::Result<()> {
    serve_with(config, store, listener, Clock::System, shutdown_signal()).await
}

/// Serves until `shutdown` completes.
pub async fn serve_with(
    config: Config,
    store: Arc<dyn Store>,
    listener: TcpListener,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = AppState::new(config, store, clock, stop_rx)
        .await
        .map_err(|e| anyhow::Error::new(e).context("cannot start the server"))?;
    crate::expiry::spawn(
        state.store.clone(),
        crate::expiry::Housekeeping {
            offline: state.config.offline.clone(),
            security_log_keep: state.config.security_log_keep,
            security_log: Some(state.security.clone()),
        },
        state.clock.clone(),
        state.shutdown.clone(),
    );
    let limits = crate::listen::ConnectionLimits::of(&state.config);
    let app = router(state);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    crate::listen::run(listener, app, limits, async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    })
    .await;
    Ok(())
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
