//! Throughput of durable transfers through the `Store` trait, for both backends.
//!
//! ```text
//! cargo run --release -p offpay-ledger --example store_bench -- [TRANSFERS] [TASKS] [USERS]
//! ```
//! Defaults: 20000 transfers from 256 concurrent tasks among 1000 users. Set
//! `OFFPAY_BENCH_ONLY=sqlite` or `=postgres` to run one backend. SQLite runs on a
//! temporary file (WAL, synchronous=FULL); PostgreSQL on a fresh database from
//! `offpay_ledger::testing` (skipped when unreachable). Ends with `verify` on each store.
//! `OFFPAY_BENCH_SLICES=N` also prints the rate of each of N equal slices of the run, in order,
//! to see whether the rate changes as the tables grow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use offpay_ledger::{IdempotencyKey, Store, TransferRequest, User, open_store};
use offpay_protocol::{Amount, Handle};

const NOW: i64 = 1_764_000_000_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let transfers = args.first().copied().unwrap_or(20_000);
    let tasks = args.get(1).copied().unwrap_or(256);
    let users = args.get(2).copied().unwrap_or(1000).max(2);

    let only = std::env::var("OFFPAY_BENCH_ONLY").unwrap_or_default();
    let dir = tempfile::tempdir()?;
    if only.is_empty() || only == "sqlite" {
        let sqlite = open_store(Some(dir.path()), None).await?;
        run("sqlite", sqlite, transfers, tasks, users).await?;
    }
    if !(only.is_empty() || only == "postgres") {
        return Ok(());
    }
    match offpay_ledger::testing::fresh_postgres().await {
        Some((url, _guard)) => {
            let pg = open_store(None, Some(&url)).await?;
            run("postgres", pg, transfers, tasks, users).await?;
        }
        None => println!("postgres: skipped (unreachable)"),
    }
    Ok(())
}

async fn run(
    name: &str,
    store: Arc<dyn Store>,
    transfers: u64,
    tasks: u64,
    users: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut accounts: Vec<User> = Vec::new();
    for i in 0..users {
        let handle = Handle::parse(&format!("bench{i}"))?;
        accounts.push(store.create_user(&handle, "x", NOW).await?);
        let key = IdempotencyKey::parse(&format!("fund-bench-{i}")).ok_or("key")?;
        store.deposit(&handle, Amount::from_minor(1_000_000).ok_or("amount")?, &key, NOW).await?;
    }
    let accounts = Arc::new(accounts);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let slices: u64 = std::env::var("OFFPAY_BENCH_SLICES").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let per_slice = (transfers / slices).max(1);
    let started = Instant::now();
    let slice_times = tokio::spawn(slice_times(Arc::clone(&done), transfers, per_slice, slices, started));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, accounts, next, done) =
            (Arc::clone(&store), Arc::clone(&accounts), Arc::clone(&next), Arc::clone(&done));
        handles.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= transfers {
                    return;
                }
                let count = accounts.len() as u64;
                let from = &accounts[(n % count) as usize];
                let to = &accounts[((n * 7 + 1 + n / count) % count) as usize];
                let to = if to.id == from.id { &accounts[((n + 1) % count) as usize] } else { to };
                let request = TransferRequest {
                    from: from.id,
                    to: to.handle.clone(),
                    amount: Amount::from_minor(1 + n % 100).unwrap(),
                    idempotency_key: IdempotencyKey::parse(&format!("bench-{n:08}")).unwrap(),
                    memo: None,
                    card: None,
                };
                store.transfer(&request, NOW).await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for handle in handles {
        handle.await?;
    }
    let elapsed = started.elapsed();
    let rate = transfers as f64 / elapsed.as_secs_f64();
    println!(
        "{name}: {transfers} transfers from {tasks} tasks among {users} users in {:.2} s = {rate:.0} transfers/s",
        elapsed.as_secs_f64()
    );
    let ends = slice_times.await?;
    if slices > 1 {
        let rates: Vec<String> =
            ends.windows(2).map(|w| format!("{:.0}", per_slice as f64 / (w[1] - w[0]).max(1e-9))).collect();
        println!("{name}: transfers/s in each of {slices} slices of {per_slice}, in order: {}", rates.join(" "));
    }
    let started = Instant::now();
    let report = store.verify().await?;
    println!(
        "{name}: verify of {} entries, {} accounts in {:.2} s: {}",
        report.entries,
        report.accounts,
        started.elapsed().as_secs_f64(),
        if report.problems.is_empty() { "clean".to_string() } else { format!("{:?}", report.problems) }
    );
    Ok(())
}

/// Seconds since `started` at which the count of finished transfers passed each slice's end
/// (the first value 0.0), polled every millisecond.
async fn slice_times(done: Arc<AtomicU64>, transfers: u64, per_slice: u64, slices: u64, started: Instant) -> Vec<f64> {
    let mut ends = vec![0.0];
    while (ends.len() as u64) <= slices {
        let target = per_slice * ends.len() as u64;
        if done.load(Ordering::Relaxed) >= target.min(transfers) {
            ends.push(started.elapsed().as_secs_f64());
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    ends
}
