//! Single-note redemption over HTTP: many payees each upload one received offline note per
//! `POST /v1/notes` request, CLIENTS at once, against a real in-process server (SQLite), and the
//! rate and latency are printed beside the raw Ed25519 `verify_strict` rate over the same notes
//! on the same cores, measured just before and just after (the baseline of issue 13).
//!
//! ```text
//! cargo run --release -p offpay-server --example note_uploads -- [NOTES] [CLIENTS] [PAYERS] [PAYEES]
//! ```
//! Defaults: 20,000 notes, 64 clients, 200 payers, 100 payees. Setup goes through the API as a
//! wallet would (register, register a device key, load a purse of 2,000.00), then every payer
//! signs a chain of 1.00 notes to the payees in turn, each for its own request nonce. The
//! server runs with `Config::for_tests()` (tiny Argon2, request-rate limits raised: every client
//! is 127.0.0.1) and an issuer key in a temporary directory. Results: docs/PERFORMANCE.md,
//! "Single-note uploads".
//!
//! For an outside HTTP client (`scripts/bench-wrk-notes`), the same setup runs against a
//! running `offpay serve` and writes the requests instead of sending them:
//!
//! ```text
//! note_uploads prepare URL DATA_DIR OUT [NOTES] [PAYERS] [PAYEES]   # one "token<TAB>body" line per note,
//!                                                                   # round robin over the payers
//! note_uploads verify-rate OUT                                      # raw verify_strict/s over those notes
//! ```
//! `DATA_DIR` is the server's own SQLite directory: the payers' purse money is deposited there
//! directly, as `offpay admin deposit` would.
//!
//! With `OFFPAY_BENCH_BACKEND=postgres` the in-process server keeps its ledger in a fresh
//! database on the local PostgreSQL (`offpay_ledger::testing::fresh_postgres`) instead of SQLite.
//!
//! With `OFFPAY_BENCH_RATE=R` the in-process run is **open loop** instead: request `i` is due at
//! `i / R` seconds after the start and sent then, whatever the answers to earlier ones (each on
//! its own task, over one shared connection pool), and its latency counts from when it was due,
//! so a server falling behind shows in the latency instead of slowing the senders down (no
//! coordinated omission). CLIENTS is then ignored. This is how a p50 at a given rate is measured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use offpay_ledger::{IdempotencyKey, open_store};
use offpay_protocol::testkit::signing_key;
use offpay_protocol::text::Encoded;
use offpay_protocol::{
    AccountNumber, Amount, Handle, MAX_NOTES_PER_PURSE, Nonce, NoteFields, PaymentNote, PurseCertificate,
};
use offpay_server::issuer::Issuer;
use offpay_server::{Clock, Config, serve_with};
use rand::Rng;
use serde_json::{Value, json};
use tokio::task::JoinSet;

mod common;

use common::{BoxError, cpu_between, cpu_ticks, load_average, register};

const NOTE_MINOR: u64 = 100;
const PURSE_MINOR: u64 = 200_000;

/// What the setup made: each note's payee (an index into `payee_tokens`) and text, the notes
/// themselves, and the payees' session tokens.
struct Prepared {
    notes: Vec<(usize, String)>,
    signed: Vec<PaymentNote>,
    payee_tokens: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("prepare") => prepare_for_outside_client(&args[1..]).await,
        Some("verify-rate") => {
            let file = args.get(1).ok_or("usage: note_uploads verify-rate FILE")?;
            let notes = notes_in_file(file)?;
            println!(
                "raw verify_strict: {:.0}/s over {} notes; {}",
                raw_verify_rate(&notes),
                notes.len(),
                load_average()
            );
            Ok(())
        }
        _ => in_process(&args).await,
    }
}

fn numbers(args: &[String]) -> Result<impl Fn(usize, usize) -> usize, BoxError> {
    let args: Vec<usize> = args.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    Ok(move |i: usize, default: usize| args.get(i).copied().unwrap_or(default))
}

async fn in_process(args: &[String]) -> Result<(), BoxError> {
    let get = numbers(args)?;
    let (total, clients, payers, payees) = (get(0, 20_000), get(1, 64).max(1), get(2, 200).max(1), get(3, 100).max(1));
    println!(
        "note uploads: {total} notes, one per request, {clients} clients, {payers} payers, {payees} payees; {}",
        load_average()
    );

    let dir = tempfile::tempdir()?;
    // The ledger: SQLite in `dir`, or with OFFPAY_BENCH_BACKEND=postgres a fresh database on the
    // local PostgreSQL (dropped when `_database` goes).
    let (store, _database) = if std::env::var("OFFPAY_BENCH_BACKEND").as_deref() == Ok("postgres") {
        let (url, database) = offpay_ledger::testing::fresh_postgres().await.ok_or("PostgreSQL is not reachable")?;
        println!("ledger: PostgreSQL (a fresh database)");
        (open_store(None, Some(&url)).await?, Some(database))
    } else {
        (open_store(Some(dir.path()), None).await?, None)
    };
    let now_s = u64::try_from(Clock::System.now_ms() / 1000)?;
    let mut config = Config::for_tests();
    config.offline.issuer = Some(Arc::new(Issuer::open(&dir.path().join("issuer-keys.json"), now_s)?));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with(config, Arc::clone(&store), listener, Clock::System, async move {
        let _ = stopped.await;
    }));

    let Prepared { notes, signed, payee_tokens } =
        prepare(&format!("http://{addr}"), store.as_ref(), total, payers, payees).await?;
    let verify_before = raw_verify_rate(&signed);
    let notes = Arc::new(notes);
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(payee_tokens);
    if let Some(rate) = std::env::var("OFFPAY_BENCH_RATE").ok().and_then(|r| r.parse::<f64>().ok()) {
        let (latencies, from_send, settled, elapsed) = open_loop(addr, &notes, &tokens, rate).await?;
        println!("{}", percentiles("from when each request was sent (without the sender's timer lateness)", from_send));
        return report(
            &store,
            &signed,
            verify_before,
            latencies,
            settled,
            elapsed,
            &format!("open loop at {rate:.0}/s"),
        )
        .await;
    }
    let started = Instant::now();
    let cpu_before = cpu_ticks();
    let mut set = JoinSet::new();
    for _ in 0..clients {
        let (notes, next, tokens) = (Arc::clone(&notes), Arc::clone(&next), Arc::clone(&tokens));
        set.spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut latencies_us = Vec::new();
            let mut settled = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((payee, text)) = notes.get(i) else { break };
                let sent = Instant::now();
                let (status, body) = upload_one(&client, addr, &tokens[*payee], text).await?;
                latencies_us.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                if status == 200 && body["results"][0]["status"] == "settled" {
                    settled += 1;
                } else {
                    eprintln!("note {i}: {status} {body}");
                }
            }
            Ok::<_, BoxError>((latencies_us, settled))
        });
    }
    let mut latencies = Vec::new();
    let mut settled = 0;
    while let Some(done) = set.join_next().await {
        let (l, s) = done??;
        latencies.extend(l);
        settled += s;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{}", cpu_between(cpu_before, cpu_ticks(), latencies.len()));
    report(&store, &signed, verify_before, latencies, settled, elapsed, &format!("{clients} clients")).await
}

/// One `POST /v1/notes` with one note, as its payee: the status and the answer.
async fn upload_one(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
    token: &str,
    text: &str,
) -> Result<(u16, Value), BoxError> {
    let answer = client
        .post(format!("http://{addr}/v1/notes"))
        .bearer_auth(token)
        .json(&json!({"notes": [text]}))
        .send()
        .await?;
    let status = answer.status().as_u16();
    Ok((status, answer.json().await?))
}

/// Sends request `i` at `i / rate` seconds after the start, each on its own task; latencies (µs)
/// from when each was due, and from when each was sent (tokio's timer wakes the sender up to a
/// millisecond or so after a due time: the first counts that, the second leaves it out).
async fn open_loop(
    addr: std::net::SocketAddr,
    notes: &Arc<Vec<(usize, String)>>,
    tokens: &Arc<Vec<String>>,
    rate: f64,
) -> Result<(Vec<u64>, Vec<u64>, usize, f64), BoxError> {
    let client = reqwest::Client::new();
    let started = tokio::time::Instant::now();
    let mut set = JoinSet::new();
    for i in 0..notes.len() {
        let due = started + std::time::Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let (client, notes, tokens) = (client.clone(), Arc::clone(notes), Arc::clone(tokens));
        set.spawn(async move {
            let (payee, text) = &notes[i];
            let sent = tokio::time::Instant::now();
            let (status, body) = upload_one(&client, addr, &tokens[*payee], text).await?;
            let micros = |since: tokio::time::Instant| u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
            Ok::<_, BoxError>((micros(due), micros(sent), status == 200 && body["results"][0]["status"] == "settled"))
        });
    }
    let (mut latencies, mut from_send) = (Vec::with_capacity(notes.len()), Vec::with_capacity(notes.len()));
    let mut settled = 0;
    while let Some(done) = set.join_next().await {
        let (latency, sent, ok) = done??;
        latencies.push(latency);
        from_send.push(sent);
        settled += usize::from(ok);
    }
    Ok((latencies, from_send, settled, started.elapsed().as_secs_f64()))
}

/// The `p` quantile (0 to 1) of `sorted` latencies in µs, in ms.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0) as f64 / 1000.0
}

/// "latency WHAT: p50 X ms, p90 Y ms, p99 Z ms" of `latencies` (µs).
fn percentiles(what: &str, mut latencies: Vec<u64>) -> String {
    latencies.sort_unstable();
    let pct = |p| percentile(&latencies, p);
    format!("latency {what}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms", pct(0.50), pct(0.90), pct(0.99))
}

/// Prints the rate, latency percentiles, the raw verify baseline and the ratio, then verifies the
/// store.
async fn report(
    store: &Arc<dyn offpay_ledger::Store>,
    signed: &[PaymentNote],
    verify_before: f64,
    mut latencies: Vec<u64>,
    settled: usize,
    elapsed: f64,
    how: &str,
) -> Result<(), BoxError> {
    let verify_after = raw_verify_rate(signed);
    latencies.sort_unstable();
    let pct = |p| percentile(&latencies, p);
    let rate = latencies.len() as f64 / elapsed;
    let raw = f64::midpoint(verify_before, verify_after);
    println!(
        "single-note uploads, {how}: {rate:.0} notes/s ({settled} of {} settled), p50 {:.2} ms, p99 {:.2} ms; raw verify_strict {raw:.0}/s (before {verify_before:.0}, after {verify_after:.0}); ratio {:.2}; {}",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        rate / raw,
        load_average()
    );
    let check = store.verify().await?;
    println!(
        "verify of {} entries: {}",
        check.entries,
        if check.problems.is_empty() { "clean".to_string() } else { format!("{:?}", check.problems) }
    );
    Ok(())
}

/// `prepare URL DATA_DIR OUT [NOTES] [PAYERS] [PAYEES]`: the setup against a running server,
/// the requests written to OUT for an outside client.
async fn prepare_for_outside_client(args: &[String]) -> Result<(), BoxError> {
    let usage = "usage: note_uploads prepare URL DATA_DIR OUT [NOTES] [PAYERS] [PAYEES]";
    let [url, data, out, rest @ ..] = args else { return Err(usage.into()) };
    let get = numbers(rest)?;
    let (total, payers, payees) = (get(0, 20_000), get(1, 200).max(1), get(2, 100).max(1));
    let store = open_store(Some(std::path::Path::new(data)), None).await?;
    let Prepared { notes, payee_tokens, .. } =
        prepare(url.trim_end_matches('/'), store.as_ref(), total, payers, payees).await?;
    let mut lines = String::new();
    for (payee, text) in &notes {
        lines.push_str(&format!("{}\t{}\n", payee_tokens[*payee], json!({"notes": [text]})));
    }
    std::fs::write(out, lines)?;
    println!("wrote {} one-note upload requests to {out}", notes.len());
    Ok(())
}

/// The notes of an OUT file of `prepare`.
fn notes_in_file(path: &str) -> Result<Vec<PaymentNote>, BoxError> {
    let mut notes = Vec::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let (_, body) = line.split_once('\t').ok_or("a line without a tab")?;
        let body: Value = serde_json::from_str(body)?;
        notes.push(PaymentNote::from_text(body["notes"][0].as_str().ok_or("no note")?)?);
    }
    Ok(notes)
}

/// Registers payees and payers through the API at `base`, funds each payer in `store` and loads
/// a purse of 2,000.00, then signs `total` notes of 1.00 (each payer a chain to the payees in
/// turn, each note for its own request nonce), in round robin over the payers.
async fn prepare(
    base: &str,
    store: &dyn offpay_ledger::Store,
    total: usize,
    payers: usize,
    payees: usize,
) -> Result<Prepared, BoxError> {
    let per_payer = total.div_ceil(payers);
    if per_payer as u64 * NOTE_MINOR > PURSE_MINOR || per_payer > MAX_NOTES_PER_PURSE as usize {
        return Err(format!(
            "{per_payer} notes of 1.00 per payer do not fit a 2,000.00 purse of at most {MAX_NOTES_PER_PURSE} notes: add payers"
        )
        .into());
    }
    let now_s = u64::try_from(Clock::System.now_ms() / 1000)?;
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
    let started = Instant::now();
    let payee_users = register(addr, "pe", payees).await?;
    let payer_users = register(addr, "pr", payers).await?;
    let http = reqwest::Client::new();
    let mut payee_accounts = Vec::new();
    for (_, token) in &payee_users {
        let me: Value = http.get(format!("{base}/v1/me")).bearer_auth(token).send().await?.json().await?;
        payee_accounts.push(me["account"].as_u64().ok_or("no account")?);
    }
    let mut notes: Vec<(usize, String)> = Vec::with_capacity(total);
    let mut signed: Vec<PaymentNote> = Vec::with_capacity(total);
    for (p, (handle, token)) in payer_users.iter().enumerate() {
        let key = IdempotencyKey::parse(&format!("fund-{handle}")).ok_or("key")?;
        store
            .deposit(
                &Handle::parse(handle)?,
                Amount::from_minor(PURSE_MINOR).ok_or("amount")?,
                &key,
                Clock::System.now_ms(),
            )
            .await?;
        let device = signing_key(&format!("{handle}-device"));
        let public = hex::encode(device.verifying_key().to_bytes());
        let answer = http
            .post(format!("{base}/v1/devices"))
            .bearer_auth(token)
            .json(&json!({"public_key": public}))
            .send()
            .await?;
        if answer.status().as_u16() != 201 {
            return Err(format!("device: {}", answer.text().await?).into());
        }
        let purse: Value = http
            .post(format!("{base}/v1/purses"))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("purse-{handle}"))
            .json(&json!({"amount": PURSE_MINOR, "device_public_key": public}))
            .send()
            .await?
            .json()
            .await?;
        let cert = PurseCertificate::from_text(purse["certificate"].as_str().ok_or("no certificate")?)?;
        let mut last = cert.hash();
        for seq in 1..=per_payer.min(total - signed.len()) {
            let payee = (p + seq) % payees;
            let fields = NoteFields {
                seq: u32::try_from(seq)?,
                prev_hash: last,
                cumulative: Amount::from_minor(NOTE_MINOR * seq as u64).ok_or("amount")?,
                amount: Amount::from_minor(NOTE_MINOR).ok_or("amount")?,
                payee: AccountNumber(payee_accounts[payee]),
                nonce: Nonce::from_bytes(rand::rng().random()),
                time: now_s,
            };
            let note = PaymentNote::sign(cert.clone(), fields, &device)?;
            last = note.hash();
            notes.push((payee, note.to_text()));
            signed.push(note);
        }
    }
    // Round robin over the payers (every payer's first note, then every payer's second, ...), so
    // that uploads sent at once touch different purses, as many payers' phones syncing would
    // (one purse's notes are settled one after another on every backend).
    let mut order: Vec<usize> = (0..notes.len()).collect();
    order.sort_by_key(|i| i % per_payer);
    let notes: Vec<(usize, String)> = order.iter().map(|&i| notes[i].clone()).collect();
    let signed: Vec<PaymentNote> = order.iter().map(|&i| signed[i].clone()).collect();
    println!(
        "setup: {} users, {} purses, {} notes signed in {:.1} s",
        payees + payers,
        payers,
        notes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Prepared { notes, signed, payee_tokens: payee_users.into_iter().map(|(_, t)| t).collect() })
}

/// Raw `verify_strict` per second over `notes` on every core.
fn raw_verify_rate(notes: &[PaymentNote]) -> f64 {
    let prepared: Vec<_> =
        notes.iter().map(|n| (n.certificate().fields().device_key, n.signed_bytes(), *n.signature())).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|s| {
        for part in prepared.chunks(prepared.len().div_ceil(threads).max(1)) {
            s.spawn(move || {
                for (key, msg, sig) in part {
                    assert!(key.verify_strict(msg, sig).is_ok());
                }
            });
        }
    });
    prepared.len() as f64 / started.elapsed().as_secs_f64()
}
