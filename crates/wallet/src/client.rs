//! The HTTP client for the server's API (docs/API.md, docs/API-OFFLINE.md): timeouts, the
//! API's error body mapped to a typed [`ApiError`] (stable code + human message), and bounded
//! retries with back-off (backon). Every request, online or offline, goes through `Client::send`.
//!
//! Retries: a request that never left this machine (connection refused, DNS) is retried for
//! every endpoint; timeouts and 502/503/504 are retried only for idempotent requests (reads,
//! and writes that carry an idempotency key or are idempotent by content). How long one attempt
//! may take and how many are made is the client's [`Patience`]. Plain `http://` only: this
//! build carries no TLS stack (put the server behind a TLS-terminating proxy on the same host,
//! or add the `rustls-tls` feature when remote servers are needed).
//!
//! Files: this one (URL, client, send path); `client/error.rs` ([`ClientError`]);
//! `client/offline.rs` (the offline endpoints, an `impl Client` block).

use std::fmt;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde::de::DeserializeOwned;

use crate::wire;

mod error;
mod offline;

pub use error::{ApiError, ClientError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client waits for one answer, and how many times it tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// One attempt, from connecting until the whole answer is read.
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The back-off between attempts: `retry_base`, doubling, at most `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Patience {
    /// The online commands (a person waiting at the prompt).
    pub const ONLINE: Patience = Patience {
        request_timeout: Duration::from_secs(20),
        max_attempts: 3,
        retry_base: Duration::from_millis(200),
        retry_max: Duration::from_secs(2),
    };
    /// Purse load, close and sync: run when the connection has just come back, and an upload
    /// carries up to 500 notes, each settled by the server.
    pub const OFFLINE: Patience = Patience {
        request_timeout: Duration::from_secs(30),
        max_attempts: 4,
        retry_base: Duration::from_millis(250),
        retry_max: Duration::from_secs(4),
    };
}

/// A checked server base URL: `http://host[:port][/prefix]`, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl(String);

/// Why a server URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    #[error("the server address {0:?} is not a valid URL")]
    Malformed(String),
    #[error("https:// servers are not supported by this build (plain http:// only)")]
    HttpsUnsupported,
    #[error("the server address must start with http:// (got {0:?})")]
    Scheme(String),
}

impl ServerUrl {
    /// Parses `http://host:port`; a bare `host:port` gets `http://` in front.
    pub fn parse(text: &str) -> Result<ServerUrl, ServerUrlError> {
        let text = text.trim();
        let with_scheme = if text.contains("://") { text.to_string() } else { format!("http://{text}") };
        let url = reqwest::Url::parse(&with_scheme).map_err(|_| ServerUrlError::Malformed(text.to_string()))?;
        match url.scheme() {
            "http" => {}
            "https" => return Err(ServerUrlError::HttpsUnsupported),
            other => return Err(ServerUrlError::Scheme(other.to_string())),
        }
        if url.host_str().is_none_or(str::is_empty)
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
        {
            return Err(ServerUrlError::Malformed(text.to_string()));
        }
        let normalised = url.as_str().trim_end_matches('/').to_string();
        Ok(ServerUrl(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The WebSocket URL of a path under this server (`http` becomes `ws`).
    pub fn ws_url(&self, path_and_query: &str) -> String {
        let rest = self.0.strip_prefix("http").unwrap_or(&self.0);
        format!("ws{rest}{path_and_query}")
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.0)
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a request may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Only retry when the request certainly never left (connection refused).
    UnsentOnly,
    /// Also retry timeouts and 502/503/504: sending it twice has the effect of sending it once.
    Idempotent,
}

/// Why one attempt did not succeed.
enum Failed {
    /// The server (or a proxy) answered with an error status.
    Answer(reqwest::Response),
    /// No answer: not connected, timed out, or cut off.
    Transport(reqwest::Error),
}

impl Failed {
    /// A request that never left this machine is sent again for every endpoint; timeouts and
    /// 502/503/504 only when sending it twice has the effect of sending it once.
    fn may_retry(&self, retry: Retry) -> bool {
        match self {
            Failed::Answer(response) => retry == Retry::Idempotent && matches!(response.status().as_u16(), 502..=504),
            Failed::Transport(error) => error.is_connect() || (retry == Retry::Idempotent && error.is_timeout()),
        }
    }

    /// Whether the attempt may have reached the server (so its outcome is unknown).
    fn may_have_arrived(&self) -> bool {
        match self {
            Failed::Answer(_) => true,
            Failed::Transport(error) => !error.is_connect(),
        }
    }
}

/// The delays between attempts, here and for the live-event reconnects (`crate::events`):
/// ceilings `base, 2*base, 4*base, …` capped at `max`, each delay drawn from the upper half of
/// its ceiling, so that many clients that lost the server at once do not come back in step
/// (backon adds a random jitter of up to the current delay, so its delays start at half the
/// ceiling). Unlimited; the caller sets the number of attempts.
pub(crate) fn retry_delays(base: Duration, max: Duration) -> ExponentialBuilder {
    let max = max.max(base);
    ExponentialBuilder::new()
        .with_min_delay(base / 2)
        .with_max_delay(max / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

/// The API client of one server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: ServerUrl,
    patience: Patience,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("server", &self.server).field("patience", &self.patience).finish_non_exhaustive()
    }
}

impl Client {
    /// A client with [`Patience::ONLINE`].
    pub fn new(server: ServerUrl) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("offpay-wallet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable { server: server.to_string(), reason: innermost(&e), sent: false })?;
        Ok(Client { http, server, patience: Patience::ONLINE })
    }

    /// The same client, waiting and retrying as `patience` says.
    pub fn with_patience(self, patience: Patience) -> Client {
        Client { patience, ..self }
    }

    pub fn patience(&self) -> Patience {
        self.patience
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    /// `GET /v1/config`.
    pub async fn config(&self) -> Result<wire::Config, ClientError> {
        self.call(Retry::Idempotent, || self.http.get(self.server.url("/v1/config"))).await
    }

    /// `POST /v1/register`.
    pub async fn register(&self, handle: &str, password: &str) -> Result<wire::SessionGranted, ClientError> {
        let body = wire::Credentials { handle: handle.to_string(), password: password.to_string() };
        self.call(Retry::UnsentOnly, || self.http.post(self.server.url("/v1/register")).json(&body)).await
    }

    /// `POST /v1/login`, with the device token of an earlier sign-in when there is one.
    pub async fn login(
        &self,
        handle: &str,
        password: &str,
        device_token: Option<&str>,
    ) -> Result<wire::SessionGranted, ClientError> {
        let body = wire::Login {
            handle: handle.to_string(),
            password: password.to_string(),
            device_token: device_token.map(str::to_string),
        };
        self.call(Retry::UnsentOnly, || self.http.post(self.server.url("/v1/login")).json(&body)).await
    }

    /// `POST /v1/logout`.
    pub async fn logout(&self, token: &str) -> Result<(), ClientError> {
        self.call_no_body(Retry::Idempotent, || self.http.post(self.server.url("/v1/logout")).bearer_auth(token)).await
    }

    /// `POST /v1/logout-all`: every session of the account ends.
    pub async fn logout_all(&self, token: &str) -> Result<(), ClientError> {
        self.call_no_body(Retry::Idempotent, || {
            self.http.post(self.server.url("/v1/logout-all")).bearer_auth(token).json(&serde_json::json!({}))
        })
        .await
    }

    /// `POST /v1/password`: a new password; every other session of the account ends.
    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Result<(), ClientError> {
        let body = wire::PasswordChange { current_password: current.to_string(), new_password: new.to_string() };
        self.call_no_body(Retry::UnsentOnly, || {
            self.http.post(self.server.url("/v1/password")).bearer_auth(token).json(&body)
        })
        .await
    }

    /// `GET /v1/me`.
    pub async fn me(&self, token: &str) -> Result<wire::Me, ClientError> {
        self.call(Retry::Idempotent, || self.http.get(self.server.url("/v1/me")).bearer_auth(token)).await
    }

    /// `POST /v1/transfers` with an idempotency key (so retrying it is safe).
    pub async fn transfer(
        &self,
        token: &str,
        idempotency_key: &str,
        request: &wire::TransferRequest,
    ) -> Result<wire::TransferAnswer, ClientError> {
        self.call(Retry::Idempotent, || {
            self.http
                .post(self.server.url("/v1/transfers"))
                .bearer_auth(token)
                .header("Idempotency-Key", idempotency_key)
                .json(request)
        })
        .await
    }

    /// `GET /v1/history`.
    pub async fn history(
        &self,
        token: &str,
        before: Option<wire::EntryId>,
        limit: Option<u32>,
    ) -> Result<wire::HistoryPage, ClientError> {
        let mut query = Vec::new();
        if let Some(before) = before {
            query.push(format!("before={before}"));
        }
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        let path =
            if query.is_empty() { "/v1/history".to_string() } else { format!("/v1/history?{}", query.join("&")) };
        self.call(Retry::Idempotent, || self.http.get(self.server.url(&path)).bearer_auth(token)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        retry: Retry,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = self.send(retry, build).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| self.bad_answer(e.to_string()))
    }

    async fn call_no_body(&self, retry: Retry, build: impl Fn() -> reqwest::RequestBuilder) -> Result<(), ClientError> {
        self.send(retry, build).await.map(drop)
    }

    /// Sends with bounded retries (backon's [`Retryable`], delays from [`retry_delays`]);
    /// returns a successful response or the typed error.
    async fn send(
        &self,
        retry: Retry,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let Patience { request_timeout, max_attempts, retry_base, retry_max } = self.patience;
        let attempt = || async {
            match build().timeout(request_timeout).send().await {
                Ok(response) if response.status().is_success() => Ok(response),
                Ok(response) => Err(Failed::Answer(response)),
                Err(error) => Err(Failed::Transport(error)),
            }
        };
        // Set once an attempt may have reached the server without an answer we could read.
        let mut unknown_attempt = false;
        let outcome = attempt
            .retry(retry_delays(retry_base, retry_max).with_max_times(max_attempts.saturating_sub(1) as usize))
            .sleep(tokio::time::sleep)
            .when(|failed| failed.may_retry(retry))
            .notify(|failed, _| unknown_attempt |= failed.may_have_arrived())
            .await;
        match outcome {
            Ok(response) => Ok(response),
            Err(Failed::Answer(response)) => Err(match self.api_error(response).await {
                ClientError::Api(e) => ClientError::Api(ApiError { after_unknown_attempt: unknown_attempt, ..e }),
                other => other,
            }),
            Err(Failed::Transport(error)) => {
                // A last attempt that could not connect says nothing about an earlier one that
                // timed out: that one may have been carried out.
                let mut failure = self.unreachable(&error);
                if let ClientError::Unreachable { sent, .. } = &mut failure {
                    *sent |= unknown_attempt;
                }
                Err(failure)
            }
        }
    }

    async fn api_error(&self, response: reqwest::Response) -> ClientError {
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return self.unreachable(&e),
        };
        // The API's error body; a code this wallet does not know yet (a newer server's) is kept as
        // sent, so that its message still reaches the person.
        let known = serde_json::from_slice::<wire::ErrorBody>(&bytes)
            .map(|body| (body.error.code.as_str().to_string(), body.error.message));
        let unknown = || {
            let body: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            let text = |field: &str| body["error"][field].as_str().map(str::to_string);
            Some((text("code")?, text("message")?))
        };
        match known.ok().or_else(unknown) {
            Some((code, message)) => {
                ClientError::Api(ApiError { status: status.as_u16(), code, message, after_unknown_attempt: false })
            }
            None => ClientError::Api(ApiError {
                status: status.as_u16(),
                code: format!("http_{}", status.as_u16()),
                message: format!("the server answered {status}"),
                after_unknown_attempt: false,
            }),
        }
    }

    fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        let reason = if error.is_timeout() { "timed out".to_string() } else { innermost(error) };
        ClientError::Unreachable { server: self.server.to_string(), reason, sent: !error.is_connect() }
    }

    fn bad_answer(&self, reason: String) -> ClientError {
        ClientError::BadAnswer { server: self.server.to_string(), reason }
    }
}

/// The deepest cause of an error: "Connection refused (os error 111)" rather than reqwest's
/// three-level wrapper.
pub(crate) fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_delays_double_to_the_ceiling_within_its_upper_half() {
        use backon::BackoffBuilder;
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        let ceilings = [100u64, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000];
        for _ in 0..20 {
            let delays: Vec<Duration> = retry_delays(base, max).with_max_times(ceilings.len()).build().collect();
            assert_eq!(delays.len(), ceilings.len());
            for (delay, ceiling) in delays.iter().zip(ceilings) {
                let ceiling = Duration::from_millis(ceiling);
                assert!(*delay <= ceiling && *delay >= ceiling / 2, "{delay:?} vs {ceiling:?}");
            }
        }
        // The delays are jittered: twenty runs do not all draw the same first delay.
        let firsts: std::collections::HashSet<Duration> =
            (0..20).filter_map(|_| retry_delays(base, max).build().next()).collect();
        assert!(firsts.len() > 1, "{firsts:?}");
    }

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(ServerUrl::parse("http://127.0.0.1:8080/").unwrap().as_str(), "http://127.0.0.1:8080");
        assert_eq!(ServerUrl::parse("127.0.0.1:9000").unwrap().as_str(), "http://127.0.0.1:9000");
        assert_eq!(ServerUrl::parse("http://example.test/pay/").unwrap().as_str(), "http://example.test/pay");
        assert_eq!(ServerUrl::parse("https://example.test"), Err(ServerUrlError::HttpsUnsupported));
        assert!(matches!(ServerUrl::parse("ftp://x"), Err(ServerUrlError::Scheme(_))));
        assert!(matches!(ServerUrl::parse("http://"), Err(ServerUrlError::Malformed(_))));
        assert!(matches!(ServerUrl::parse("http://u:p@host"), Err(ServerUrlError::Malformed(_))));
        assert!(matches!(ServerUrl::parse("http://host/?q=1"), Err(ServerUrlError::Malformed(_))));
    }

    #[test]
    fn ws_url_follows_the_server_url() {
        let url = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(url.ws_url("/v1/ws?after=3"), "ws://127.0.0.1:8080/v1/ws?after=3");
    }

    /// A server that accepts and holds every connection without answering. A connection that
    /// says "END" (made by [`count_attempts`] after the client gave up, so queued after all of
    /// the client's) stops it; it returns how many connections the client made.
    async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<usize>) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut first = [0u8; 3];
                let n = socket.read(&mut first).await.unwrap();
                if first[..n] == *b"END" {
                    return held.len();
                }
                held.push(socket);
            }
        });
        (addr, task)
    }

    async fn count_attempts(addr: std::net::SocketAddr, server: tokio::task::JoinHandle<usize>) -> usize {
        use tokio::io::AsyncWriteExt;
        let mut end = tokio::net::TcpStream::connect(addr).await.unwrap();
        end.write_all(b"END").await.unwrap();
        server.await.unwrap()
    }

    #[tokio::test]
    async fn each_attempt_has_the_patience_s_time_limit_and_only_idempotent_requests_are_repeated() {
        let patience = Patience {
            request_timeout: Duration::from_millis(200),
            max_attempts: 2,
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_millis(10),
        };
        let client_of =
            |addr| Client::new(ServerUrl::parse(&format!("http://{addr}")).unwrap()).unwrap().with_patience(patience);

        let (addr, server) = silent_server().await;
        let client = client_of(addr);
        assert_eq!(client.patience(), patience);
        let err = client.config().await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Unreachable { sent: true, reason, .. } if reason == "timed out"),
            "{err:?}"
        );
        assert!(!err.is_definitely_not_done());
        assert_eq!(count_attempts(addr, server).await, 2, "a read is tried max_attempts times");

        let (addr, server) = silent_server().await;
        let err = client_of(addr).login("alice", "password", None).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Unreachable { sent: true, reason, .. } if reason == "timed out"),
            "{err:?}"
        );
        assert_eq!(count_attempts(addr, server).await, 1, "a login that may have arrived is not sent again");
    }

    /// The first attempt reaches the server and gets no answer (it may have been carried out);
    /// the server then goes away, so the retries cannot connect. The failure must not say the
    /// request never left: a send marked "not sent" on that would be paid again.
    #[tokio::test]
    async fn a_retry_that_cannot_connect_after_a_timed_out_attempt_leaves_the_outcome_unknown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            drop(listener);
            held_tx.send(socket).unwrap();
        });
        let patience = Patience {
            request_timeout: Duration::from_millis(300),
            max_attempts: 3,
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_millis(10),
        };
        let client = Client::new(ServerUrl::parse(&format!("http://{addr}")).unwrap()).unwrap().with_patience(patience);
        let request =
            wire::TransferRequest { to: "bob".into(), amount: 2_500, memo: None, to_account: None, card: None };
        let err = client.transfer("token", "key-0123456789", &request).await.unwrap_err();
        let _held = held_rx.await.unwrap();
        assert!(matches!(&err, ClientError::Unreachable { sent: true, .. }), "{err:?}");
        assert!(!err.is_definitely_not_done(), "{err:?}");
        assert!(!err.settles_the_key(false), "{err:?}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_after_bounded_retries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = Client::new(ServerUrl::parse(&format!("http://{addr}")).unwrap()).unwrap();
        let err = client.config().await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { sent: false, .. }), "{err:?}");
        assert!(err.to_string().starts_with("cannot reach the server at http://127.0.0.1:"), "{err}");
    }
}
