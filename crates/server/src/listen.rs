//! The accept loop: each TCP connection is served by hyper's HTTP/1.1 connection (WebSocket
//! upgrades included) with the limits `axum::serve` cannot set: the header read timeout
//! ([`Config::header_read_timeout`](crate::config::Config)), the write timeout
//! ([`Config::write_timeout`](crate::config::Config): a connection whose writes make no progress
//! for that long, a client that stopped reading, is closed; `tokio-io-timeout`), a bound on a
//! request head's size ([`MAX_HEAD_BUFFER`]) and the cap on open connections
//! ([`Config::max_connections`](crate::config::Config)): at the cap the loop stops accepting
//! (new clients wait in the listen backlog) until a connection ends, so this process never runs
//! out of file descriptors. Each client network may hold at most
//! [`Config::max_connections_per_address`](crate::config::Config) of them (`address_places.rs`):
//! one past that is closed at once. A connection's places go with its stream, so a WebSocket
//! keeps them until the socket closes. The client's address is put in each
//! request as axum's `ConnectInfo<SocketAddr>`. At shutdown it stops accepting, asks every
//! connection to finish its request in flight, and returns when all have ended.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

use crate::address_places::{AddressPlace, AddressPlaces};

/// Most bytes hyper buffers while it reads a request head (request line and headers): a longer
/// head is answered 431. Every head of the API and the web wallet is well under 4 KiB; hyper's
/// default of about 400 KB would let 10,000 connections hold 4 GB.
pub const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// Connection settings taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

impl ConnectionLimits {
    pub fn of(config: &crate::config::Config) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: config.header_read_timeout,
            write_timeout: config.write_timeout,
            max_connections: config.max_connections.max(1),
            max_connections_per_address: config.max_connections_per_address.max(1),
        }
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
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let networks = AddressPlaces::new(limits.max_connections_per_address);
    let mut waited = false;
    loop {
        // A place first, then a connection: at the cap nothing more is accepted.
        let place = match places.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                if !waited {
                    tracing::warn!(max = limits.max_connections, "connection cap reached; new connections wait");
                    waited = true;
                }
                tokio::select! {
                    place = places.clone().acquire_owned() => match place {
                        Ok(place) => place,
                        Err(_) => break,
                    },
                    _ = stop_tx.closed() => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop_tx.closed() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(network_place) = networks.take(peer.ip()) else {
                    // Its network holds its share: closed at once, and the global place with it.
                    tracing::debug!(%peer, "connection closed: its network holds its share of places");
                    continue;
                };
                if places.available_permits() > 0 {
                    waited = false;
                }
                let mut stream = TimeoutStream::new(stream);
                stream.set_write_timeout(Some(limits.write_timeout));
                let stream = Counted { stream: Box::pin(stream), _place: place, _network_place: network_place };
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

/// A connection's stream with its place under the cap, given back when the stream is dropped
/// (after the HTTP connection, or the WebSocket it was upgraded to, ends). A write that makes no
/// progress for the write timeout fails with `TimedOut`, which ends the connection.
struct Counted {
    stream: Pin<Box<TimeoutStream<TcpStream>>>,
    _place: OwnedSemaphorePermit,
    _network_place: AddressPlace,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.stream.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.stream.as_mut().poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.stream.as_mut().poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.stream.as_mut().poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.stream.as_mut().poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

async fn serve_connection(
    stream: Counted,
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
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(MAX_HEAD_BUFFER);
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
