//! Settlement throughput: settles a batch of offline notes (default 100,000) through the real
//! SQLite store, sent as concurrent uploads of 500 notes (each upload's signatures checked in one
//! batch, then settled in one transaction), and prints notes per second next to raw Ed25519
//! `verify_strict` per second over the same notes, both on every core. The raw rate is measured
//! just before and just after the settlement and averaged, so both see the same machine; the
//! whole round is repeated (default 3 times) and the median ratio printed, because a shared
//! 2-core machine varies by 20% from run to run.
//!
//! `cargo run --release -p offpay-ledger --example settle_bench [NOTES [ROUNDS]]`
//!
//! With `OFFPAY_BENCH_BACKEND=postgres` the store is a fresh database on the local PostgreSQL
//! (`offpay_ledger::testing::fresh_postgres`, dropped after each round) instead of SQLite; the
//! CPU line then gives PostgreSQL's CPU (all its processes, from /proc) in place of the SQLite
//! writer thread's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Instant;

use offpay_ledger::offline::{NOTES_MAX, NoteStatus, OfflineError};
use offpay_ledger::open_store;
use offpay_protocol::testkit::{bytes16, signing_key};
use offpay_protocol::{AccountNumber, Handle, Nonce, NoteFields, PaymentNote};
use support::{NOW, NOW_S, amount};

const NOTES_PER_PURSE: usize = 100;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Raw `verify_strict` per second over `items` on all cores.
fn raw_verify_rate(notes: &[PaymentNote]) -> f64 {
    let prepared: Vec<_> =
        notes.iter().map(|n| (n.certificate().fields().device_key, n.signed_bytes(), *n.signature())).collect();
    let start = Instant::now();
    let chunk = prepared.len().div_ceil(threads());
    std::thread::scope(|s| {
        for part in prepared.chunks(chunk) {
            s.spawn(move || {
                for (key, msg, sig) in part {
                    assert!(key.verify_strict(msg, sig).is_ok());
                }
            });
        }
    });
    prepared.len() as f64 / start.elapsed().as_secs_f64()
}

/// `verify_device_signatures` (the batch check settlement uses) per second over `notes`, in
/// uploads of `NOTES_MAX`, on all cores.
fn batch_verify_rate(notes: &[PaymentNote]) -> f64 {
    let start = Instant::now();
    let uploads: Vec<&[PaymentNote]> = notes.chunks(NOTES_MAX).collect();
    let per_thread = uploads.len().div_ceil(threads());
    std::thread::scope(|s| {
        for part in uploads.chunks(per_thread) {
            s.spawn(move || {
                for upload in part {
                    let ok = offpay_protocol::note::verify_device_signatures(upload, rand::random());
                    assert!(ok.iter().all(|v| *v));
                }
            });
        }
    });
    notes.len() as f64 / start.elapsed().as_secs_f64()
}

/// Whether `OFFPAY_BENCH_BACKEND=postgres` asks for PostgreSQL.
fn postgres() -> bool {
    std::env::var("OFFPAY_BENCH_BACKEND").is_ok_and(|b| b == "postgres")
}

/// CPU seconds so far of the SQLite writer thread, or of every PostgreSQL process.
fn writer_seconds() -> f64 {
    if postgres() { support::process_cpu_seconds("postgres") } else { support::thread_cpu_seconds("offpay-sqlite-w") }
}

/// What one round measured.
struct Round {
    settle_rate: f64,
    verify_rate: f64,
    batch_rate: f64,
    /// The SQLite writer thread's CPU seconds, or PostgreSQL's.
    writer_busy: f64,
    process_busy: f64,
}

fn main() {
    let total: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let backend = if postgres() { "PostgreSQL" } else { "SQLite" };
    println!(
        "threads: {}; {total} notes per round, {rounds} rounds, uploads of {NOTES_MAX} notes, {backend}",
        threads()
    );
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let r = runtime.block_on(run_round(total));
        let ratio = r.settle_rate / r.verify_rate;
        println!(
            "round {round}: settled {:.0} notes/s; raw verify_strict {:.0}/s (mean of just before and just after); ratio {ratio:.2}",
            r.settle_rate, r.verify_rate
        );
        println!(
            "  CPU during settlement: {:.2} s in this process, {:.2} s in {}; batch verify_device_signatures alone: {:.0} notes/s ({:.2}x verify_strict)",
            r.process_busy,
            r.writer_busy,
            if postgres() { "PostgreSQL" } else { "the SQLite writer thread" },
            r.batch_rate,
            r.batch_rate / r.verify_rate
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio notes/s : verify_strict/s = {:.2}", ratios[ratios.len() / 2]);
}

async fn run_round(total: usize) -> Round {
    let purses = total.div_ceil(NOTES_PER_PURSE);
    {
        let dir = tempfile::tempdir().unwrap();
        let database = if postgres() {
            Some(offpay_ledger::testing::fresh_postgres().await.expect("PostgreSQL at 127.0.0.1:5432"))
        } else {
            None
        };
        let store = match &database {
            Some((url, _)) => open_store(None, Some(url)).await.unwrap(),
            None => open_store(Some(dir.path()), None).await.unwrap(),
        };
        let issuer = signing_key("issuer-1");
        let payees: Vec<_> = {
            let mut v = Vec::new();
            for i in 0..100 {
                v.push(store.create_user(&Handle::parse(&format!("payee{i}")).unwrap(), "x", NOW).await.unwrap());
            }
            v
        };
        eprintln!("setting up {purses} purses ...");
        let mut certs = Vec::new();
        for i in 0..purses {
            let (_, cert, device) = support::payer_with_purse(store.as_ref(), &issuer, &i.to_string(), 200_000).await;
            certs.push((cert, device));
        }
        eprintln!("signing {total} notes ...");
        let payee_ids: Vec<u64> = payees.iter().map(|u| u.id.0 as u64).collect();
        let chunk = certs.len().div_ceil(threads());
        let notes: Vec<PaymentNote> = std::thread::scope(|s| {
            let handles: Vec<_> = certs
                .chunks(chunk)
                .enumerate()
                .map(|(c, part)| {
                    let payee_ids = &payee_ids;
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for (p, (cert, device)) in part.iter().enumerate() {
                            let mut last = cert.hash();
                            for seq in 1..=NOTES_PER_PURSE as u32 {
                                let fields = NoteFields {
                                    seq,
                                    prev_hash: last,
                                    cumulative: amount(100 * u64::from(seq)),
                                    amount: amount(100),
                                    payee: AccountNumber(payee_ids[(p + seq as usize) % payee_ids.len()]),
                                    nonce: Nonce::from_bytes(bytes16(&format!("{c}-{p}-{seq}"))),
                                    time: NOW_S,
                                };
                                let note = PaymentNote::sign(cert.clone(), fields, device).unwrap();
                                last = note.hash();
                                out.push(note);
                            }
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let notes: Vec<PaymentNote> = notes.into_iter().take(total).collect();

        eprintln!("settling ...");
        let uploader = payees[0].id;
        let verify_before = raw_verify_rate(&notes);
        let writer_before = writer_seconds();
        let process_before = support::thread_cpu_seconds("");
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for batch in notes.chunks(NOTES_MAX) {
            let store = store.clone();
            let batch = batch.to_vec();
            // One uploader sends every upload at once: past its share of the signature queue
            // (docs/decisions/verifier-pool.md) an upload is answered `Busy`, and is sent again
            // as a wallet would.
            tasks.spawn(async move {
                loop {
                    match store.offline().settle_notes(uploader, batch.clone(), NOW).await {
                        Err(OfflineError::Busy) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                        other => break other.unwrap(),
                    }
                }
            });
        }
        let mut settled = 0usize;
        while let Some(results) = tasks.join_next().await {
            settled += results.unwrap().iter().filter(|r| r.status == NoteStatus::Settled).count();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let writer_busy = writer_seconds() - writer_before;
        let process_busy = support::thread_cpu_seconds("") - process_before;
        assert_eq!(settled, notes.len(), "every note settles exactly once");
        let report = store.verify().await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);

        let batch_rate = batch_verify_rate(&notes);
        Round {
            settle_rate: notes.len() as f64 / elapsed,
            verify_rate: (verify_before + raw_verify_rate(&notes)) / 2.0,
            batch_rate,
            writer_busy,
            process_busy,
        }
    }
}
