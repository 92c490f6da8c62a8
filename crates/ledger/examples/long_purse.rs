//! What one long purse costs the SQLite writer: a single purse paid in many small notes (one
//! minor unit each, one payee), uploaded one batch after another, as a payee with a busy till
//! (or an attacker with a purse and a colluding payee) would. Prints, every few batches, how
//! long that upload took and the writer thread's CPU for it, so the growth with the notes the
//! purse already holds can be read off. A purse signs at most `MAX_NOTES_PER_PURSE` (1,000)
//! notes; with NOTES above that, the notes past the limit are signed anyway (as a modified
//! wallet would) and must all be refused with `over_note_limit`.
//!
//! `cargo run --release -p offpay-ledger --example long_purse [NOTES] [BATCH]` (defaults 1,000
//! and 50; BATCH at most 500)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Instant;

use offpay_ledger::offline::{NOTES_MAX, NoteStatus};
use offpay_ledger::open_store;
use offpay_protocol::testkit::signing_key;
use offpay_protocol::{AccountNumber, Handle, MAX_NOTES_PER_PURSE};
use support::NOW;

fn main() {
    let arg = |i: usize| std::env::args().nth(i).and_then(|a| a.parse::<usize>().ok());
    let total = arg(1).unwrap_or(MAX_NOTES_PER_PURSE as usize);
    let batch = arg(2).unwrap_or(50).clamp(1, NOTES_MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(total, batch));
}

async fn run(total: usize, batch_size: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(Some(dir.path()), None).await.unwrap();
    let off = store.offline();
    let issuer = signing_key("issuer-1");
    let payee = store.create_user(&Handle::parse("till").unwrap(), "x", NOW).await.unwrap();
    let (_, cert, device) = support::payer_with_purse(store.as_ref(), &issuer, "long", 200_000).await;

    eprintln!("signing {total} notes of 0.01 ...");
    let payee_account: AccountNumber = payee.id.account_number().unwrap();
    let notes = support::chain_of_small_notes(&cert, &device, payee_account, total as u32, "long");

    println!("upload of {batch_size} notes | notes already in the purse | time | SQLite writer CPU");
    let batches = notes.chunks(batch_size).count();
    let every = (batches / 10).max(1);
    let start = Instant::now();
    let mut refused = 0;
    for (i, batch) in notes.chunks(batch_size).enumerate() {
        let writer_before = support::thread_cpu_seconds("offpay-sqlite-w");
        let began = Instant::now();
        let results = off.settle_notes(payee.id, batch.to_vec(), NOW).await.unwrap();
        let took = began.elapsed();
        let writer = support::thread_cpu_seconds("offpay-sqlite-w") - writer_before;
        for (note, r) in batch.iter().zip(&results) {
            if note.seq() <= MAX_NOTES_PER_PURSE {
                assert_eq!(r.status, NoteStatus::Settled, "note {} settles", note.seq());
            } else {
                assert_eq!((r.status, r.reason.as_deref()), (NoteStatus::Rejected, Some("over_note_limit")));
                refused += 1;
            }
        }
        if i % every == 0 || i + 1 == batches {
            println!(
                "{:>6} | {:>8} | {:>8.1} ms | {:>6.2} s",
                i + 1,
                (i * batch_size).min(MAX_NOTES_PER_PURSE as usize),
                took.as_secs_f64() * 1000.0,
                writer
            );
        }
    }
    println!("{total} notes in {:.1} s ({refused} past the limit refused)", start.elapsed().as_secs_f64());
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
