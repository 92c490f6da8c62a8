//! HTTP load generator: many concurrent clients POST `/v1/transfers` against a real in-process
//! server (SQLite, then PostgreSQL), then `pgbench` TPC-B on the same PostgreSQL as a baseline.
//!
//! ```text
//! cargo run --release -p offpay-server --example load_transfers -- [SECONDS] [CLIENTS] [USERS] [MAX] [PGBENCH_CLIENTS]
//! ```
//! Defaults: 10 s, 64 clients, 1000 users, at most 1,000,000 transfers, pgbench with 8 clients.
//! `OFFPAY_BENCH_ONLY=sqlite` or `=postgres` runs one backend. Everything listens on 127.0.0.1.
//! The server runs with `Config::for_tests()`: tiny Argon2 parameters (registration is not what
//! is measured) and request-rate limits raised to a million per minute, since every client
//! comes from 127.0.0.1. Each client owns one keep-alive connection; every request picks a
//! random sender (with that sender's session token) and a random receiver. Users are registered
//! over HTTP and funded through `Store::deposit`. Results are described in docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use offpay_ledger::{IdempotencyKey, Store, open_store};
use offpay_protocol::{Amount, Handle};
use offpay_server::{Clock, Config, serve_with};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

mod common;

use common::{BoxError, cpu_between, cpu_ticks, load_average, register};

#[derive(Clone, Copy)]
struct Opts {
    seconds: u64,
    clients: u64,
    users: u64,
    max: u64,
    pgbench_clients: u64,
}

/// What one client task saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<String, u64>,
}

/// A running in-process server; dropping `stop` without sending also stops it.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let opts = parse_opts()?;
    let only = std::env::var("OFFPAY_BENCH_ONLY").unwrap_or_default();
    println!(
        "load: {} s, {} clients, {} users, max {} transfers; {}",
        opts.seconds,
        opts.clients,
        opts.users,
        opts.max,
        load_average()
    );
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir()?;
        let store = open_store(Some(dir.path()), None).await?;
        run_backend("sqlite", store, opts).await?;
    }
    if !(only.is_empty() || only == "postgres") {
        return Ok(());
    }
    let Some((url, _guard)) = offpay_ledger::testing::fresh_postgres().await else {
        println!("postgres: skipped (unreachable)");
        return Ok(());
    };
    let store = open_store(None, Some(&url)).await?;
    let rate = run_backend("postgres", store, opts).await?;
    let tps = pgbench(opts).await?;
    println!("baseline: pgbench TPC-B {tps:.0} tps; offpay/pgbench = {:.2}; {}", rate / tps, load_average());
    Ok(())
}

fn parse_opts() -> Result<Opts, BoxError> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let get = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    Ok(Opts {
        seconds: get(0, 10),
        clients: get(1, 64).max(1),
        users: get(2, 1000).max(2),
        max: get(3, 1_000_000),
        pgbench_clients: get(4, 8),
    })
}

/// Registers, funds, drives the load, prints the figures and verifies; returns transfers/s.
async fn run_backend(name: &str, store: Arc<dyn Store>, opts: Opts) -> Result<f64, BoxError> {
    let server = start_server(Arc::clone(&store)).await?;
    let started = Instant::now();
    let users = register(server.addr, "lt", usize::try_from(opts.users)?).await?;
    fund_all(&store, &users).await?;
    println!("{name}: registered and funded {} users in {:.1} s", users.len(), started.elapsed().as_secs_f64());
    let started = Instant::now();
    let cpu_before = cpu_ticks();
    let tally = drive(server.addr, Arc::new(users), opts).await?;
    let cpu = cpu_between(cpu_before, cpu_ticks(), tally.latencies_us.len());
    let rate = report(name, tally, started.elapsed());
    println!("{name}: {cpu}");
    let _ = server.stop.send(());
    server.task.await??;
    let check = store.verify().await?;
    println!(
        "{name}: verify of {} entries: {}",
        check.entries,
        if check.problems.is_empty() { "clean".to_string() } else { format!("{:?}", check.problems) }
    );
    Ok(rate)
}

async fn start_server(store: Arc<dyn Store>) -> Result<Running, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(serve_with(Config::for_tests(), store, listener, Clock::System, shutdown));
    Ok(Running { addr, stop, task })
}

/// Deposits 10,000.00 to every user through the store (as `offpay admin deposit` does).
async fn fund_all(store: &Arc<dyn Store>, users: &[(String, String)]) -> Result<(), BoxError> {
    let mut set = JoinSet::new();
    for (handle, _) in users {
        let key = IdempotencyKey::parse(&format!("fund-{handle}")).ok_or("key")?;
        let (store, handle) = (Arc::clone(store), Handle::parse(handle)?);
        set.spawn(async move {
            let amount = Amount::from_minor(1_000_000).ok_or("amount")?;
            let now = Clock::System.now_ms();
            store.deposit(&handle, amount, &key, now).await?;
            Ok::<_, BoxError>(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(())
}

/// Runs `clients` tasks until the deadline or `max` transfers in all.
async fn drive(addr: SocketAddr, users: Arc<Vec<(String, String)>>, opts: Opts) -> Result<Tally, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let issued = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for task in 0..opts.clients {
        let (users, issued) = (Arc::clone(&users), Arc::clone(&issued));
        set.spawn(client_loop(addr, task, users, issued, opts.max, deadline));
    }
    let mut all = Tally::default();
    while let Some(done) = set.join_next().await {
        let tally = done??;
        all.latencies_us.extend(tally.latencies_us);
        for (status, n) in tally.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
    }
    Ok(all)
}

/// One client: one keep-alive connection, one transfer at a time.
async fn client_loop(
    addr: SocketAddr,
    task: u64,
    users: Arc<Vec<(String, String)>>,
    issued: Arc<AtomicU64>,
    max: u64,
    deadline: Instant,
) -> Result<Tally, BoxError> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
    let url = format!("http://{addr}/v1/transfers");
    let mut tally = Tally::default();
    let mut n = 0u64;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
        let (from, to, amount) = {
            let mut rng = rand::rng();
            let from = rng.random_range(0..users.len());
            let to = (from + rng.random_range(1..users.len())) % users.len();
            (from, to, rng.random_range(1..=100u64))
        };
        let body = json!({"to": users[to].0, "amount": amount});
        let started = Instant::now();
        let sent = client
            .post(&url)
            .bearer_auth(&users[from].1)
            .header("Idempotency-Key", format!("load-{task:04}-{n:08}"))
            .json(&body)
            .send()
            .await;
        let status = match sent {
            Ok(answer) => {
                let status = answer.status().as_u16();
                match answer.text().await {
                    Ok(_) if status == 201 => "201".to_string(),
                    Ok(text) => format!("{status} {}", error_code(&text)),
                    Err(_) => "read-error".to_string(),
                }
            }
            Err(_) => "connect-error".to_string(),
        };
        tally.latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        *tally.statuses.entry(status).or_default() += 1;
        n += 1;
    }
    Ok(tally)
}

/// The `code` of an error answer, or the raw text.
fn error_code(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    parsed
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(60).collect())
}

/// Prints rate (201s per second), latency percentiles and statuses; returns the rate.
fn report(name: &str, mut tally: Tally, elapsed: Duration) -> f64 {
    tally.latencies_us.sort_unstable();
    let pct = |p: f64| {
        let lat = &tally.latencies_us;
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
        f64::from(lat.get(i).copied().unwrap_or(0)) / 1000.0
    };
    let ok = tally.statuses.get("201").copied().unwrap_or(0);
    let rate = ok as f64 / elapsed.as_secs_f64();
    println!(
        "{name}: {ok} transfers in {:.2} s = {rate:.0} transfers/s; latency ms p50 {:.2} p99 {:.2} max {:.2}; statuses {:?}; {}",
        elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        tally.statuses,
        load_average()
    );
    rate
}

/// `pgbench -i` then TPC-B-like on a scratch database of the same PostgreSQL; returns tps.
async fn pgbench(opts: Opts) -> Result<f64, BoxError> {
    let (_url, guard) = offpay_ledger::testing::fresh_postgres().await.ok_or("postgres unreachable")?;
    let db = guard.name().to_string();
    run_pgbench(&["-i", "-q", &db]).await?;
    let (clients, seconds) = (opts.pgbench_clients.to_string(), opts.seconds.to_string());
    let out = run_pgbench(&["-c", &clients, "-j", "2", "-T", &seconds, "-b", "tpcb-like", &db]).await?;
    let line = out.lines().find(|l| l.starts_with("tps = ")).ok_or("pgbench printed no tps")?;
    println!("baseline: pgbench -c {clients} -j 2 -T {seconds} -b tpcb-like: {line}");
    let tps = line.trim_start_matches("tps = ").split_whitespace().next().ok_or("tps")?.parse()?;
    Ok(tps)
}

async fn run_pgbench(args: &[&str]) -> Result<String, BoxError> {
    let out = tokio::process::Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"])
        .args(args)
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!("pgbench {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
