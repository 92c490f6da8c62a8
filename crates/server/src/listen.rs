//! The accept loop: each TCP connection is served by hyper's HTTP/1.1 connection (WebSocket
//! upgrades included) with the limits `axum::serve` cannot set: the header read timeout
//! ([`Config::header_read_timeout`](crate::config::Config)). The client's address is put in each
//! request as axum's `ConnectInfo<SocketAddr>`. At shutdown it stops accepting, asks every
//! connection to finish its request in flight, and returns when all have ended.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Connection settings taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    pub fn of(config: &crate::config::Config) -> ConnectionLimits {
        ConnectionLimits { header_read_timeout: config.header_read_timeout }
    }
}

/// Serves `app` on `listener` until `shutdown` completes and every connection has ended.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Connections wait for `stop_tx` to close (the signal); the loop waits for every
    // connection's `done_rx` clone to be dropped.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop_tx.closed() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let stop = stop_tx.clone();
                let done = done_rx.clone();
                tokio::spawn(serve_connection(stream, peer, app.clone(), limits, stop, done));
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                // Out of descriptors or similar: wait a little rather than spin.
                tracing::error!(%error, "cannot accept a connection");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop_tx.closed() => break,
                }
            }
        }
    }
    drop(done_rx);
    drop(listener);
    done_tx.closed().await;
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    stop: watch::Sender<()>,
    _done: watch::Receiver<()>,
) {
    let service = app.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut connection =
        pin!(builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades());
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                return;
            }
            _ = stop.closed(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
