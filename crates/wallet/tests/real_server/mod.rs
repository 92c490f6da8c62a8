//! Test support: the real offpay server (`offpay_server::serve_with` over a SQLite file in a
//! temporary folder, with an issuer keyset and the system clock), reached through a TCP relay
//! that forwards bytes unchanged, keeps a copy of what the wallets sent, and injects the faults
//! of a network on cue: losing the answer to a request (the server did the work, since it
//! answers after its commit, and the wallet never hears of it, as on a dropped mobile
//! connection), answering in the server's place (a proxy's 503), or going away altogether.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use offpay_ledger::{IdempotencyKey, Store};
use offpay_protocol::{Amount, Handle};
use offpay_server::issuer::Issuer;
use offpay_server::{Clock, Config, serve_with};
use offpay_wallet::offline::unix_now;
use offpay_wallet::{ServerUrl, Wallet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

/// The real server and the relay in front of it.
pub struct RealServer {
    /// The relay's address: what wallets are given.
    pub url: ServerUrl,
    pub store: Arc<dyn Store>,
    relay: Relay,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl RealServer {
    /// Starts a server with test settings (cheap password hashing, no request limits) and the
    /// default offline limits, over a fresh SQLite file.
    pub async fn start() -> RealServer {
        let dir = tempfile::tempdir().unwrap();
        let store = offpay_ledger::open_store(Some(dir.path()), None).await.unwrap();
        let mut config = Config::for_tests();
        let issuer = Issuer::open(&dir.path().join("issuer-keys.json"), unix_now()).unwrap();
        config.offline.issuer = Some(Arc::new(issuer));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve_with(config, store.clone(), listener, Clock::System, async move {
            let _ = stopped.await;
        }));
        let relay = Relay::start(upstream).await;
        let url = ServerUrl::parse(&format!("http://{}", relay.addr)).unwrap();
        RealServer { url, store, relay, _stop: stop, _dir: dir }
    }

    /// A wallet in `home`, registered as `handle` on this server (the session is remembered).
    pub async fn wallet(&self, home: &Path, handle: &str) -> Wallet {
        let mut wallet = Wallet::open(home).unwrap().with_server_override(Some(self.url.clone()));
        wallet.register(handle, PASSWORD).await.unwrap();
        wallet
    }

    /// The operator deposits `minor` minor units to `handle`.
    pub async fn deposit(&self, handle: &str, minor: u64) {
        let key = IdempotencyKey::parse(&format!("deposit-{handle}-{minor}")).unwrap();
        let now_ms = i64::try_from(unix_now() * 1000).unwrap();
        self.store
            .deposit(&Handle::parse(handle).unwrap(), Amount::from_minor(minor).unwrap(), &key, now_ms)
            .await
            .unwrap();
    }

    /// `handle`'s balance in the ledger, in minor units.
    pub async fn balance(&self, handle: &str) -> u64 {
        let user = self.store.user_by_handle(&Handle::parse(handle).unwrap()).await.unwrap().unwrap();
        self.store.balance(user.id).await.unwrap().minor()
    }

    /// The next request whose first line starts with `request_line` is forwarded and served,
    /// and its answer is dropped with the connection.
    pub fn lose_answer_to(&self, request_line: &str) {
        self.relay.faults.lock().unwrap().push((request_line.to_string(), Fault::LoseAnswer));
    }

    /// The next request whose first line starts with `request_line` never reaches the server:
    /// the relay answers `status` (`"503 Service Unavailable"`) with `body` itself, as a proxy
    /// in front of the server would.
    pub fn answer_instead(&self, request_line: &str, status: &str, body: &str) {
        let kind = if body.starts_with('{') { "application/json" } else { "text/plain" };
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        self.relay.faults.lock().unwrap().push((request_line.to_string(), Fault::Answer(answer)));
    }

    /// The next request whose first line starts with `request_line` reaches the server only
    /// after `delay` (a slow network), and is then served as usual.
    pub fn delay(&self, request_line: &str, delay: std::time::Duration) {
        self.relay.faults.lock().unwrap().push((request_line.to_string(), Fault::Delay(delay)));
    }

    /// The server can no longer be reached: the relay stops listening and drops every
    /// connection it holds.
    pub fn go_away(&self) {
        for task in self.relay.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Every request the wallets sent, in order of arrival.
    pub fn sent(&self) -> Vec<Sent> {
        self.relay.sent.lock().unwrap().clone()
    }

    /// The requests whose first line starts with `request_line`, in the order they were sent.
    pub fn sent_as(&self, request_line: &str) -> Vec<Sent> {
        self.sent().into_iter().filter(|r| r.line.starts_with(request_line)).collect()
    }

    /// The `idempotency-key` headers of the requests whose first line starts with `request_line`.
    pub fn keys_sent_with(&self, request_line: &str) -> Vec<String> {
        self.sent_as(request_line).iter().filter_map(|r| r.header("idempotency-key")).collect()
    }
}

/// One request as the relay read it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The request line, as sent (`POST /v1/purses HTTP/1.1`).
    pub line: String,
    /// The header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Sent {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
}

/// Splits complete requests off the front of `buffer`.
fn take_requests(buffer: &mut Vec<u8>) -> Vec<Sent> {
    let mut requests = Vec::new();
    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        if buffer.len() < end + 4 + length {
            break;
        }
        let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
        buffer.drain(..end + 4 + length);
        requests.push(Sent { line, headers, body });
    }
    requests
}

/// What the relay does to one request instead of forwarding it and its answer.
enum Fault {
    LoseAnswer,
    /// Forward the request after this long.
    Delay(std::time::Duration),
    /// The raw HTTP answer to send in the server's place.
    Answer(String),
}

type Faults = Arc<Mutex<Vec<(String, Fault)>>>;

/// A byte relay from the wallets to the server.
struct Relay {
    addr: std::net::SocketAddr,
    /// Faults to inject, each once, to the first request whose line starts with its prefix.
    faults: Faults,
    sent: Arc<Mutex<Vec<Sent>>>,
    /// The accept loop and every connection's task.
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            faults: Arc::default(),
            sent: Arc::default(),
            tasks: Arc::default(),
        };
        let (faults, sent, tasks) = (relay.faults.clone(), relay.sent.clone(), relay.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else { return };
                let task = tokio::spawn(relay_connection(client, server, faults.clone(), sent.clone()));
                tasks.lock().unwrap().push(task);
            }
        });
        relay.tasks.lock().unwrap().push(accept);
        relay
    }
}

/// The fault to inject into `request`, if one is waiting for it (taken off the list).
fn fault_for(faults: &Faults, request: &Sent) -> Option<Fault> {
    let mut faults = faults.lock().unwrap();
    let at = faults.iter().position(|(line, _)| request.line.starts_with(line.as_str()))?;
    Some(faults.remove(at).1)
}

/// Forwards one connection both ways, injecting the faults its requests were marked for.
async fn relay_connection(client: TcpStream, server: TcpStream, faults: Faults, sent: Arc<Mutex<Vec<Sent>>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let losing = Arc::new(AtomicBool::new(false));
    let marked = losing.clone();
    let (answer_tx, mut answer_rx) = tokio::sync::mpsc::channel::<String>(1);
    let upward = tokio::spawn(async move {
        let (mut chunk, mut buffer) = ([0u8; 16 * 1024], Vec::new());
        loop {
            let n = match client_read.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buffer.extend_from_slice(&chunk[..n]);
            for request in take_requests(&mut buffer) {
                let fault = fault_for(&faults, &request);
                sent.lock().unwrap().push(request);
                match fault {
                    Some(Fault::LoseAnswer) => marked.store(true, Ordering::SeqCst),
                    Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
                    Some(Fault::Answer(answer)) => {
                        let _ = answer_tx.send(answer).await;
                        return;
                    }
                    None => {}
                }
            }
            if server_write.write_all(&chunk[..n]).await.is_err() {
                return;
            }
        }
    });
    // Aborting this task (go_away) also ends the other direction.
    let _upward = AbortOnDrop(upward.abort_handle());
    let mut chunk = [0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = server_read.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if losing.load(Ordering::SeqCst) || client_write.write_all(&chunk[..n]).await.is_err() {
                    break;
                }
            }
            Some(answer) = answer_rx.recv() => {
                let _ = client_write.write_all(answer.as_bytes()).await;
                break;
            }
        }
    }
    let _ = client_write.shutdown().await;
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
