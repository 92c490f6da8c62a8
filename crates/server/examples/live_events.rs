//! Live-event latency with many WebSockets open: SOCKETS users each hold one open `/v1/ws`, one
//! sender pays TRANSFERS times 1.00 to a random one of them (one transfer at a time), and the
//! time from the sender's `201` to the receiver's `money_in` event is measured; then the same
//! with 10 sockets, the baseline. On SQLite (one server), and with two servers on one PostgreSQL
//! (the sockets on one, the transfers through the other, so every event crosses LISTEN/NOTIFY).
//!
//! ```text
//! cargo run --release -p offpay-server --example live_events -- [SOCKETS] [TRANSFERS]
//! ```
//! Defaults: 10,000 sockets, 500 transfers. `OFFPAY_BENCH_ONLY=sqlite` or `=postgres` runs one
//! backend. The servers run in this process with `Config::for_tests()` (tiny Argon2, request-rate
//! limits raised: every client is 127.0.0.1) and a connection cap above the socket count; the
//! WebSocket clients run in a child process (this same program, `--clients`), so each process
//! stays under the file-descriptor limit and this process's resident memory is the servers'
//! (printed idle, then with the sockets open). Times are compared across the two processes on
//! the system clock. Results are described in docs/PERFORMANCE.md, "Live events".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use offpay_ledger::{IdempotencyKey, Store, open_store};
use offpay_protocol::{Amount, Handle};
use offpay_server::{Clock, Config, serve_with};
use rand::Rng;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::{BoxError, load_average, register};

fn unix_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--clients") {
        return clients(&args[1], &args[2]).await;
    }
    let sockets: usize = args.first().map_or(Ok(10_000), |a| a.parse())?;
    let transfers: usize = args.get(1).map_or(Ok(500), |a| a.parse())?;
    let only = std::env::var("OFFPAY_BENCH_ONLY").unwrap_or_default();
    println!("live events: {sockets} sockets (baseline 10), {transfers} transfers one at a time; {}", load_average());
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir()?;
        let store = open_store(Some(dir.path()), None).await?;
        let server = start(Arc::clone(&store), sockets).await?;
        for n in [10, sockets] {
            round(&format!("sqlite, {n} sockets"), &store, server.addr, server.addr, n, transfers).await?;
        }
    }
    if only.is_empty() || only == "postgres" {
        let Some((url, _guard)) = offpay_ledger::testing::fresh_postgres().await else {
            println!("postgres: skipped (unreachable)");
            return Ok(());
        };
        let store_a = open_store(None, Some(&url)).await?;
        let store_b = open_store(None, Some(&url)).await?;
        let a = start(Arc::clone(&store_a), sockets).await?;
        let b = start(store_b, sockets).await?;
        for n in [10, sockets] {
            round(&format!("postgres, two servers, {n} sockets"), &store_a, a.addr, b.addr, n, transfers).await?;
        }
    }
    Ok(())
}

struct Running {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start(store: Arc<dyn Store>, sockets: usize) -> Result<Running, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    // Every socket comes from 127.0.0.1: one address may hold them all.
    let config = Config {
        max_connections: sockets + 1_000,
        max_connections_per_address: sockets + 1_000,
        ..Config::for_tests()
    };
    tokio::spawn(serve_with(config, store, listener, Clock::System, async move {
        let _ = stopped.await;
    }));
    Ok(Running { addr, _stop: stop })
}

/// One measurement: `n` receivers with a socket on `ws_server`, transfers through `http_server`.
async fn round(
    name: &str,
    store: &Arc<dyn Store>,
    http_server: SocketAddr,
    ws_server: SocketAddr,
    n: usize,
    transfers: usize,
) -> Result<(), BoxError> {
    let started = std::time::Instant::now();
    let mut users = register(http_server, "le", n + 1).await?;
    let (sender, sender_token) = users.pop().ok_or("no sender")?;
    let key = IdempotencyKey::parse(&format!("fund-{sender}")).ok_or("key")?;
    store
        .deposit(
            &Handle::parse(&sender)?,
            Amount::from_minor(100_000_000).ok_or("amount")?,
            &key,
            Clock::System.now_ms(),
        )
        .await?;
    let tokens = tempfile::NamedTempFile::new()?;
    for (_, token) in &users {
        writeln!(tokens.as_file(), "{token}")?;
    }
    let idle_mb = rss_mb();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--clients", &ws_server.to_string(), &tokens.path().to_string_lossy()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    // The child says "ready" once every socket is open and has sent its token.
    loop {
        match lines.next_line().await? {
            Some(line) if line == "ready" => break,
            Some(_) => {}
            None => return Err("the socket process ended early".into()),
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_mb = rss_mb();
    println!(
        "{name}: {n} sockets open after {:.1} s; servers' memory {idle_mb} MB before the sockets, {open_mb} MB with them",
        started.elapsed().as_secs_f64()
    );
    // "entry_id received_at_us" lines from the child.
    let received: Arc<Mutex<HashMap<i64, i64>>> = Arc::default();
    let collector = {
        let received = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut parts = line.split_whitespace();
                if let (Some(Ok(entry)), Some(Ok(at))) =
                    (parts.next().map(str::parse::<i64>), parts.next().map(str::parse::<i64>))
                {
                    received.lock().await.insert(entry, at);
                }
            }
        })
    };
    let http = reqwest::Client::new();
    let mut answered = Vec::with_capacity(transfers);
    for i in 0..transfers {
        let to = rand::rng().random_range(0..users.len());
        let answer = http
            .post(format!("http://{http_server}/v1/transfers"))
            .bearer_auth(&sender_token)
            .header("Idempotency-Key", format!("live-{i:08}-{}", unix_us()))
            .json(&json!({"to": users[to].0, "amount": 100}))
            .send()
            .await?;
        let at = unix_us();
        let status = answer.status();
        let body: Value = answer.json().await?;
        if status.as_u16() != 201 {
            return Err(format!("transfer answered {status}: {body}").into());
        }
        answered.push((body["transfer"]["entry_id"].as_i64().ok_or("no entry_id")?, at));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received.lock().await.len() < transfers && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = received.lock().await.clone();
    let mut latencies: Vec<i64> =
        answered.iter().filter_map(|(entry, at)| received.get(entry).map(|r| (r - at).max(0))).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!(
        "{name}: {} of {transfers} events arrived; from the sender's 201 to the receiver's event: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {}",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        load_average()
    );
    collector.abort();
    child.kill().await?;
    Ok(())
}

/// The child: one socket per token in `tokens_file`; prints "ready", then for every `money_in`
/// event "entry_id received_at_us".
async fn clients(addr: &str, tokens_file: &str) -> Result<(), BoxError> {
    let tokens: Vec<String> = std::fs::read_to_string(tokens_file)?.lines().map(str::to_string).collect();
    let (events, mut out) = tokio::sync::mpsc::unbounded_channel::<(i64, i64)>();
    let mut set = JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (url, events) = (format!("ws://{addr}/v1/ws"), events.clone());
        set.spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
            ws.send(Message::Text(json!({"token": token}).to_string().into())).await?;
            Ok::<_, BoxError>((i, ws, events))
        });
        if set.len() >= 256 {
            spawn_reader(set.join_next().await.ok_or("join")???);
        }
    }
    while let Some(done) = set.join_next().await {
        spawn_reader(done??);
    }
    println!("ready");
    while let Some((entry, at)) = out.recv().await {
        println!("{entry} {at}");
    }
    Ok(())
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn spawn_reader((_, mut ws, events): (usize, Socket, tokio::sync::mpsc::UnboundedSender<(i64, i64)>)) {
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else { continue };
            let Ok(event) = serde_json::from_str::<Value>(&text) else { continue };
            if event["kind"] == "money_in"
                && let Some(entry) = event["payload"]["entry_id"].as_i64()
            {
                let _ = events.send((entry, unix_us()));
            }
        }
    });
}
