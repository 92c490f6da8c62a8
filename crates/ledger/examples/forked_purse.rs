//! What a forked purse costs the SQLite writer: the one growth that the limit of 1,000 notes per
//! purse does not bound (docs/decisions/notes-per-purse.md, "Forks"). One purse; each of
//! COLLUDERS payee accounts uploads its own copy of the purse's chain (1,000 notes of 0.01,
//! sequence numbers 1 to 1,000, in uploads of 500): every copy is a fork of the others, so the
//! second upload revokes the purse, and every copy passes its own payee's rules and is stored.
//! Prints, for each colluder, the notes the purse already held, and the time and the SQLite
//! writer thread's CPU of that colluder's last upload; then the same for one upload by the
//! payer naming every colluder (each note a new fork), which reads every named colluder's chain.
//!
//! `cargo run --release -p offpay-ledger --example forked_purse [COLLUDERS]` (default 20)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Instant;

use offpay_ledger::offline::{NOTES_MAX, NoteStatus};
use offpay_ledger::open_store;
use offpay_protocol::testkit::signing_key;
use offpay_protocol::{Handle, MAX_NOTES_PER_PURSE};
use support::NOW;

fn main() {
    let colluders: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(colluders));
}

async fn run(colluders: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(Some(dir.path()), None).await.unwrap();
    let off = store.offline();
    let issuer = signing_key("issuer-1");
    let (payer, cert, device) = support::payer_with_purse(store.as_ref(), &issuer, "forked", 200_000).await;

    println!("colluder | notes already in the purse | last upload of {NOTES_MAX}: time | SQLite writer CPU");
    let start = Instant::now();
    let mut stored = 0usize;
    let mut mules = Vec::new();
    for c in 0..colluders {
        let mule = store.create_user(&Handle::parse(&format!("mule{c}")).unwrap(), "x", NOW).await.unwrap();
        let account = mule.id.account_number().unwrap();
        mules.push(account);
        let chain = support::chain_of_small_notes(&cert, &device, account, MAX_NOTES_PER_PURSE, &format!("mule{c}"));
        let mut took = 0.0;
        let mut writer = 0.0;
        let before = stored;
        for batch in chain.chunks(NOTES_MAX) {
            let writer_before = support::thread_cpu_seconds("offpay-sqlite-w");
            let began = Instant::now();
            let results = off.settle_notes(mule.id, batch.to_vec(), NOW).await.unwrap();
            took = began.elapsed().as_secs_f64();
            writer = support::thread_cpu_seconds("offpay-sqlite-w") - writer_before;
            let kept = results.iter().filter(|r| r.status != NoteStatus::Rejected).count();
            assert_eq!(kept, batch.len(), "every note of a colluder's own chain is kept: {:?}", &results[..2]);
            stored += kept;
        }
        println!("{:>8} | {:>8} | {:>8.1} ms | {:>6.2} s", c + 1, before, took * 1000.0, writer);
    }
    println!("{colluders} colluders, {stored} notes stored in {:.1} s", start.elapsed().as_secs_f64());

    // The payer itself uploads one more fork per colluder (at most 500), so that the upload
    // needs every named colluder's chain: what one upload by the payer can still cost.
    let named = &mules[..mules.len().min(NOTES_MAX)];
    let forks: Vec<_> = named
        .iter()
        .enumerate()
        .map(|(i, account)| {
            support::chain_of_small_notes(&cert, &device, *account, 1, &format!("payer-fork-{i}")).remove(0)
        })
        .collect();
    let writer_before = support::thread_cpu_seconds("offpay-sqlite-w");
    let began = Instant::now();
    off.settle_notes(payer.id, forks, NOW).await.unwrap();
    println!(
        "the payer's upload of one fork to each of {} colluders: {:.1} ms, SQLite writer {:.2} s",
        named.len(),
        began.elapsed().as_secs_f64() * 1000.0,
        support::thread_cpu_seconds("offpay-sqlite-w") - writer_before
    );
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
