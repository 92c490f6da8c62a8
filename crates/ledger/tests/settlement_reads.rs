//! An upload reads only the stored notes that decide it (docs/decisions/settlement-reads-neighbours.md):
//! the notes at each of its sequence numbers and at the nearest stored numbers below and above;
//! when those show a fraud, every note of the purse. Each case hides a double spend where a
//! narrower read would miss it (a neighbour several numbers away, a fork at the same number by
//! another payee, a payee's note far down the chain), on a fresh SQLite file and a fresh
//! PostgreSQL database, and checks that the fraud is still proven, the purse revoked, and the
//! money as before.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

use offpay_ledger::offline::*;
use offpay_ledger::*;
use offpay_protocol::PaymentNote;
use offpay_protocol::testkit::signing_key;
use support::*;

/// Purse amount (2,000.00) of these cases; notes of 1.00.
const P: u64 = 200_000;
const NOTE: u64 = 100;

/// Alice's honest chain of `n` notes of 1.00 to `payee`.
fn honest_chain(cert: &offpay_protocol::PurseCertificate, payee: &User, n: usize) -> Vec<PaymentNote> {
    let mut chain = Chain::new(cert, &signing_key("alice-phone"));
    (0..n).map(|i| chain.pay(payee, NOTE, &format!("honest-{i}"))).collect()
}

/// A note at sequence number `seq` that claims `spent_before` was spent before it, linked to
/// nothing real (the payer signs what it likes with its own key).
fn forged(
    cert: &offpay_protocol::PurseCertificate,
    payee: &User,
    seq: u32,
    spent_before: u64,
    tag: &str,
) -> PaymentNote {
    let mut chain = Chain::new(cert, &signing_key("alice-phone"));
    chain.seq = seq - 1;
    chain.spent = spent_before;
    chain.last = offpay_protocol::Hash256::from_bytes([seq as u8; 32]);
    chain.pay(payee, NOTE, tag)
}

fn paid(results: &[NoteResult]) -> u64 {
    results.iter().map(|r| r.amount).sum()
}

/// Alice (the payer, with a purse of `P` loaded on her phone) and two payees.
struct Parties {
    alice: User,
    bob: User,
    carol: User,
    cert: offpay_protocol::PurseCertificate,
}

async fn parties(fx: &Fx) -> Parties {
    let alice = fx.user("alice", P).await;
    let bob = fx.user("bob", 0).await;
    let carol = fx.user("carol", 0).await;
    let cert = fx.load(&alice, &signing_key("alice-phone"), P, 3 * DAY, "purse").await;
    Parties { alice, bob, carol, cert }
}

async fn proofs(fx: &Fx) -> Vec<String> {
    fx.off().fraud_proofs(100).await.unwrap().into_iter().map(|p| p.kind).collect()
}

/// Bob uploaded notes 3 and 12 of Alice's chain. Carol then uploads a note numbered 7 that
/// claims only 3.00 was spent before it: with note 3 at 3.00 there is no room for notes 4 to 6,
/// so the two cannot be one chain. No stored note is at 6 or 8: only the nearest stored number
/// below (3) shows it (note 12 above, with 11.00 before it, agrees with the fake).
async fn a_neighbour_several_numbers_away_proves_the_gap(fx: Fx) {
    let Parties { alice, bob, carol, cert } = parties(&fx).await;
    let chain = honest_chain(&cert, &bob, 12);
    let results = fx.settle(&bob, &[chain[2].clone(), chain[11].clone()], NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, NOTE); 2]);
    assert_eq!(fx.purse(&cert).await.state, PurseState::Open);

    let fake = forged(&cert, &carol, 7, 3 * NOTE, "gap");
    let results = fx.settle(&carol, std::slice::from_ref(&fake), NOW).await;
    // Payable all the same: Carol's device could have accepted it in good faith.
    assert_eq!(statuses(&results), vec![(NoteStatus::Fraud, Some("broken_chain"), NOTE)]);
    assert_eq!(proofs(&fx).await, vec!["broken_chain"]);
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    assert!(fx.store.user_by_id(alice.id).await.unwrap().unwrap().frozen);
    assert_eq!(fx.balance(&carol).await, NOTE);
    fx.verify_clean(P).await;
}

/// The nearest stored number above, far away: note 15 is stored (14.00 before it); a note
/// numbered 2 claiming 14.00 spent by itself cannot come before it.
async fn a_later_neighbour_far_above_proves_the_gap(fx: Fx) {
    let Parties { bob, carol, cert, .. } = parties(&fx).await;
    let chain = honest_chain(&cert, &bob, 15);
    assert_eq!(paid(&fx.settle(&bob, &[chain[14].clone()], NOW).await), NOTE);
    let fake = forged(&cert, &carol, 2, 14 * NOTE, "above");
    let results = fx.settle(&carol, std::slice::from_ref(&fake), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Fraud, Some("broken_chain"), NOTE)]);
    assert_eq!(proofs(&fx).await, vec!["broken_chain"]);
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    fx.verify_clean(P).await;
}

/// A fork at a number another payee's note holds, in the middle of a long stored chain: the
/// fork is proven (`same_sequence`), however many notes the purse has.
async fn a_fork_for_another_payee_in_a_long_chain(fx: Fx) {
    let Parties { bob, carol, cert, .. } = parties(&fx).await;
    let chain = honest_chain(&cert, &bob, 300);
    assert_eq!(paid(&fx.settle(&bob, &chain, NOW).await), 300 * NOTE);
    // Carol gets a note numbered 150 that spends as the real one did, to her.
    let fork = forged(&cert, &carol, 150, 149 * NOTE, "fork");
    let results = fx.settle(&carol, std::slice::from_ref(&fork), NOW).await;
    assert_eq!(results[0].status, NoteStatus::Fraud, "{results:?}");
    let kinds = proofs(&fx).await;
    assert!(kinds.iter().any(|k| k == "same_sequence"), "{kinds:?}");
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    fx.verify_clean(P).await;
}

/// The payee rules still see every note of the payee, however far from the upload's number:
/// Bob holds note 1 (200.00, the per-payment cap), Carol notes 2 to 20. The payer uploads a fork of note 20 made out
/// to Bob, as if note 1 had never been spent (19.00 before it): an honest payee holding note 1
/// could not accept it, so it is refused and nothing moves, though neither neighbour of number
/// 20 is Bob's (the fork found among the neighbours makes the upload read every note).
async fn the_payees_notes_far_down_the_chain_still_judge(fx: Fx) {
    let Parties { alice, bob, carol, cert } = parties(&fx).await;
    let device = signing_key("alice-phone");
    let mut chain = Chain::new(&cert, &device);
    let first = chain.pay(&bob, 20_000, "bob-1");
    let rest: Vec<PaymentNote> = (2..=20).map(|i| chain.pay(&carol, NOTE, &format!("carol-{i}"))).collect();
    assert_eq!(paid(&fx.settle(&bob, std::slice::from_ref(&first), NOW).await), 20_000);
    assert_eq!(paid(&fx.settle(&carol, &rest, NOW).await), 19 * NOTE);
    let fork = forged(&cert, &bob, 20, 19 * NOTE, "fork-20");
    let results = fx.settle(&alice, std::slice::from_ref(&fork), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some("inconsistent_with_earlier_note"), 0)]);
    assert_eq!(fx.balance(&bob).await, 20_000);
    // The fork is proven all the same.
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    fx.verify_clean(P).await;
}

on_both_backends!([
    a_neighbour_several_numbers_away_proves_the_gap,
    a_later_neighbour_far_above_proves_the_gap,
    a_fork_for_another_payee_in_a_long_chain,
    the_payees_notes_far_down_the_chain_still_judge,
]);
