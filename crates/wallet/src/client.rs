//! The HTTP client for the server's API (docs/API.md): timeouts, the API's error body mapped to
//! a typed [`ApiError`] (stable code + human message), and bounded retries with back-off.
//!
//! Retries: a request that never left this machine (connection refused, DNS) is retried for
//! every endpoint; timeouts and 502/503/504 are retried only for idempotent requests (reads,
//! and transfers, which carry an idempotency key). Plain `http://` only: this build carries no
//! TLS stack (put the server behind a TLS-terminating proxy on the same host, or add the
//! `rustls-tls` feature when remote servers are needed).

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::backoff::Backoff;
use crate::wire;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts per request, the first included.
const MAX_ATTEMPTS: u32 = 3;
const RETRY_BASE: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

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

/// The server refused a request: its HTTP status, stable code and human sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer (connection refused, timeout, connection dropped). `sent` is false when the
    /// request certainly never reached the server (the connection could not be made).
    #[error("cannot reach the server at {server} ({reason})")]
    Unreachable { server: String, reason: String, sent: bool },
    /// An answer that does not follow the API.
    #[error("the server at {server} sent an answer this wallet cannot read ({reason})")]
    BadAnswer { server: String, reason: String },
}

impl ClientError {
    /// True when the server answered and refused the request (a 4xx).
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Api(e) if (400..500).contains(&e.status))
    }

    /// True when the server certainly did not carry out the request: it refused it, or the
    /// request never reached it. Everything else (timeout, 5xx, unreadable answer) leaves the
    /// outcome unknown.
    pub fn is_definitely_not_done(&self) -> bool {
        self.is_refusal() || matches!(self, ClientError::Unreachable { sent: false, .. })
    }

    /// The API error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(e) => Some(&e.code),
            _ => None,
        }
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

/// The API client of one server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: ServerUrl,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("server", &self.server).finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(server: ServerUrl) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("offpay-wallet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable { server: server.to_string(), reason: innermost(&e), sent: false })?;
        Ok(Client { http, server })
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
        let body = wire::Credentials { handle, password };
        self.call(Retry::UnsentOnly, || self.http.post(self.server.url("/v1/register")).json(&body)).await
    }

    /// `POST /v1/login`.
    pub async fn login(&self, handle: &str, password: &str) -> Result<wire::SessionGranted, ClientError> {
        let body = wire::Credentials { handle, password };
        self.call(Retry::UnsentOnly, || self.http.post(self.server.url("/v1/login")).json(&body)).await
    }

    /// `POST /v1/logout`.
    pub async fn logout(&self, token: &str) -> Result<(), ClientError> {
        self.call_no_body(Retry::Idempotent, || self.http.post(self.server.url("/v1/logout")).bearer_auth(token))
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
        request: &wire::TransferRequest<'_>,
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
    pub async fn history(&self, token: &str, before: Option<i64>, limit: Option<u32>) -> Result<wire::HistoryPage, ClientError> {
        let mut query = Vec::new();
        if let Some(before) = before {
            query.push(format!("before={before}"));
        }
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        let path = if query.is_empty() { "/v1/history".to_string() } else { format!("/v1/history?{}", query.join("&")) };
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

    /// Sends with bounded retries; returns a successful response or the typed error.
    async fn send(
        &self,
        retry: Retry,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut backoff = Backoff::new(RETRY_BASE, RETRY_MAX);
        loop {
            let last_attempt = backoff.attempts() + 1 >= MAX_ATTEMPTS;
            match build().send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retryable = retry == Retry::Idempotent && matches!(status, 502..=504);
                    if !retryable || last_attempt {
                        return Err(self.api_error(response).await);
                    }
                }
                Err(error) => {
                    let retryable = error.is_connect() || (retry == Retry::Idempotent && error.is_timeout());
                    if !retryable || last_attempt {
                        return Err(self.unreachable(&error));
                    }
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn api_error(&self, response: reqwest::Response) -> ClientError {
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return self.unreachable(&e),
        };
        match serde_json::from_slice::<wire::ErrorBody>(&bytes) {
            Ok(body) => ClientError::Api(ApiError {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
            }),
            Err(_) => ClientError::Api(ApiError {
                status: status.as_u16(),
                code: format!("http_{}", status.as_u16()),
                message: format!("the server answered {status}"),
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

    #[test]
    fn only_4xx_or_unsent_is_definitely_not_done() {
        let api = |status| ClientError::Api(ApiError { status, code: "x".into(), message: "m".into() });
        assert!(api(422).is_refusal() && api(422).is_definitely_not_done());
        assert!(api(409).is_definitely_not_done());
        assert!(!api(500).is_definitely_not_done());
        assert!(!api(503).is_definitely_not_done());
        let lost = ClientError::Unreachable { server: "s".into(), reason: "r".into(), sent: true };
        assert!(!lost.is_definitely_not_done());
        assert_eq!(lost.code(), None);
        let refused = ClientError::Unreachable { server: "s".into(), reason: "r".into(), sent: false };
        assert!(refused.is_definitely_not_done() && !refused.is_refusal());
    }

    /// A real TCP listener that answers one canned HTTP response per connection.
    async fn canned_server(responses: Vec<&'static str>) -> (ServerUrl, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = ServerUrl::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            for response in responses {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                let n = socket.read(&mut buf).await.unwrap();
                requests.push(String::from_utf8_lossy(&buf[..n]).to_string());
                socket.write_all(response.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
            requests
        });
        (url, task)
    }

    #[tokio::test]
    async fn maps_the_error_body_to_a_typed_error() {
        let body = r#"{"error":{"code":"insufficient_funds","message":"the balance is too low for this payment"}}"#;
        let response: &'static str = Box::leak(
            format!(
                "HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let (url, server) = canned_server(vec![response]).await;
        let client = Client::new(url).unwrap();
        let request = wire::TransferRequest { to: "bob", amount: 5, memo: None };
        let err = client.transfer("tok", "key12345", &request).await.unwrap_err();
        assert!(err.is_refusal());
        assert_eq!(err.code(), Some("insufficient_funds"));
        assert_eq!(err.to_string(), "the balance is too low for this payment");
        let requests = server.await.unwrap();
        let request = requests[0].to_ascii_lowercase();
        assert!(request.contains("idempotency-key: key12345"), "{request}");
        assert!(request.contains("authorization: bearer tok"), "{request}");
    }

    #[tokio::test]
    async fn retries_idempotent_reads_after_a_503() {
        let ok = r#"{"currency":"INR","decimals":2}"#;
        let ok_response: &'static str = Box::leak(
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ok}", ok.len())
                .into_boxed_str(),
        );
        let unavailable = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let (url, server) = canned_server(vec![unavailable, ok_response]).await;
        let client = Client::new(url).unwrap();
        let config = client.config().await.unwrap();
        assert_eq!((config.currency.as_str(), config.decimals), ("INR", 2));
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_non_json_error_still_becomes_a_typed_error() {
        let (url, server) =
            canned_server(vec!["HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nconnection: close\r\n\r\nnop"]).await;
        let client = Client::new(url).unwrap();
        let err = client.me("tok").await.unwrap_err();
        assert_eq!(err.code(), Some("http_404"));
        server.await.unwrap();
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
