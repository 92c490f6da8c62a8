//! Test support: a real server on port 0 over a real store (a SQLite file in a temporary
//! directory, or a fresh PostgreSQL database), a manual clock, and a small JSON client.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use offpay_ledger::{IdempotencyKey, Store};
use offpay_protocol::{Amount, Handle};
use offpay_server::{Clock, Config, serve_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The manual clock's start: 2023-11-14.
pub const T0: i64 = 1_700_000_000_000;

/// A SQLite server with offline payments on: its issuer key in a temporary folder, which lives
/// as long as the second value.
pub async fn offline_server() -> (TestServer, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests();
    let issuer =
        offpay_server::issuer::Issuer::open(&keys.path().join("issuer-keys.json"), (T0 / 1000) as u64).unwrap();
    config.offline.issuer = Some(Arc::new(issuer));
    (TestServer::sqlite_with(config).await, keys)
}
/// A bound on any single wait, so a broken test fails instead of hanging (not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(60);
pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub base: String,
    pub ws_url: String,
    pub clock: Clock,
    pub store: Arc<dyn Store>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server over a fresh SQLite file with test settings.
    pub async fn sqlite() -> TestServer {
        TestServer::sqlite_with(Config::for_tests()).await
    }

    pub async fn sqlite_with(config: Config) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = offpay_ledger::open_store(Some(dir.path()), None).await.unwrap();
        let mut server = TestServer::start(config, store, Clock::manual(T0)).await;
        server._dir = Some(dir);
        server
    }

    /// A server over an already opened store (several servers may share one database).
    pub async fn start(config: Config, store: Arc<dyn Store>, clock: Clock) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(config, store.clone(), listener, clock.clone(), async move {
            let _ = stopped.await;
        }));
        let server = TestServer {
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/v1/ws"),
            clock,
            store,
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        };
        // The listener is bound, so requests queue until the server accepts; wait for it to answer.
        let (status, body) = server.client().get("/v1/health", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        server
    }

    pub fn client(&self) -> Client {
        Client { http: reqwest::Client::builder().no_proxy().build().unwrap(), base: self.base.clone() }
    }

    /// Registers `handle` and returns its token.
    pub async fn register(&self, handle: &str) -> String {
        let (status, body) =
            self.client().post("/v1/register", None, None, &json!({"handle": handle, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// Registers `handle`; returns its session token and its device token.
    pub async fn register_device(&self, handle: &str) -> (String, String) {
        let (status, body) =
            self.client().post("/v1/register", None, None, &json!({"handle": handle, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["token"].as_str().unwrap().to_string(), body["device_token"].as_str().unwrap().to_string())
    }

    /// A client whose connections come from `127.0.0.{last}` (the server sees that address).
    pub fn client_from(&self, last: u8) -> Client {
        let local = std::net::IpAddr::from([127, 0, 0, last]);
        Client {
            http: reqwest::Client::builder().no_proxy().local_address(local).build().unwrap(),
            base: self.base.clone(),
        }
    }

    /// The operator deposits `minor` minor units to `handle`.
    pub async fn deposit(&self, handle: &str, minor: u64) {
        let key = IdempotencyKey::parse(&format!("deposit-{handle}-{minor}-{}", rand_suffix())).unwrap();
        self.store
            .deposit(&Handle::parse(handle).unwrap(), Amount::from_minor(minor).unwrap(), &key, self.clock.now_ms())
            .await
            .unwrap();
    }

    pub async fn balance(&self, token: &str) -> i64 {
        let (status, body) = self.client().get("/v1/me", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["balance"].as_i64().unwrap()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        read(request.send().await.unwrap()).await
    }

    /// `POST /v1/transfers`.
    pub async fn send(&self, token: &str, key: &str, to: &str, amount: i64) -> (StatusCode, Value) {
        self.post("/v1/transfers", Some(token), Some(key), &json!({"to": to, "amount": amount})).await
    }
}

/// Status and JSON body (`null` for an empty body).
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, body)
}

/// Asserts an error answer.
#[track_caller]
pub fn assert_error(answer: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(answer.0.as_u16(), status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(answer.1["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer.1);
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket authenticated with the header; `after` as query parameter.
pub async fn ws_connect(server: &TestServer, token: &str, after: Option<i64>) -> Ws {
    let url = match after {
        Some(after) => format!("{}?after={after}", server.ws_url),
        None => server.ws_url.clone(),
    };
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// A WebSocket authenticated by its first message.
pub async fn ws_connect_with_message(server: &TestServer, hello: Value) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url.as_str()).await.unwrap();
    ws.send(Message::Text(hello.to_string().into())).await.unwrap();
    ws
}

/// The next event (skipping pings), as JSON.
pub async fn next_event(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await.expect("no event came").unwrap().unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The close code the server sent (skipping pings).
pub async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await.expect("no close came").unwrap().unwrap();
        match message {
            Message::Close(Some(frame)) => return u16::from(frame.code),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
