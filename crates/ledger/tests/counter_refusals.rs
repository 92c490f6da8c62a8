//! A payee's refusal of a note at its counter (docs/decisions/counter-refusals.md), each case on a
//! fresh SQLite file and a fresh PostgreSQL database: a refused note that was not paid is never
//! paid and its money goes back to the payer with the purse; one that was paid goes back once;
//! only the payee may refuse, never for more than it was paid, never with money the operator
//! paid for a double spender; and a refusal racing the payer's upload still charges the payer
//! nothing. Every case checks that `verify` passes and the money in the system is what was
//! deposited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

use offpay_ledger::offline::refusal::{REFUSED_BY_PAYEE, RefusalStatus};
use offpay_ledger::offline::*;
use offpay_ledger::*;
use offpay_protocol::testkit::signing_key;
use offpay_protocol::{AccountNumber, PaymentNote};
use support::*;

/// Purse amount and per-payment cap of these cases.
const P: u64 = 200_000;
const C: u64 = 20_000;

/// Past the settlement deadline of a purse valid for three days.
const AFTER_S: u64 = NOW_S + 3 * DAY + GRACE + 1;

async fn refuse(fx: &Fx, who: &User, note: &PaymentNote) -> Result<refusal::RefusalOutcome, OfflineError> {
    fx.off().refuse_note(who.id, note.clone(), NOW).await
}

/// Not paid yet: the refusal voids the note; neither the payer's upload nor the shop's pays it;
/// the payer's next note is paid; the refused note's money comes back at the deadline.
async fn a_refused_note_is_never_paid(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let shop = fx.user("shop", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-1").await;
    let mut chain = Chain::new(&cert, &device);
    let refused = chain.pay(&shop, C, "stale-1");
    let outcome = refuse(&fx, &shop, &refused).await.unwrap();
    assert_eq!((outcome.status, outcome.amount, outcome.entry_id), (RefusalStatus::Voided, 0, None));
    assert_eq!(outcome.payer, AccountNumber(alice.id.0 as u64));
    for uploader in [&alice, &shop] {
        let results = fx.settle(uploader, std::slice::from_ref(&refused), NOW).await;
        assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some(REFUSED_BY_PAYEE), 0)]);
    }
    let again = chain.pay(&shop, C, "fresh-1");
    assert_eq!(statuses(&fx.settle(&alice, &[again], NOW).await), vec![(NoteStatus::Settled, None, C)]);
    assert_eq!(refuse(&fx, &shop, &refused).await.unwrap(), outcome, "the first outcome, answered again");
    assert_eq!(fx.balance(&shop).await, C);
    fx.off().expire_purses(AFTER_S, GRACE, AFTER_S as i64 * 1000).await.unwrap();
    assert_eq!(fx.balance(&alice).await, P - C, "charged once: the refused note came back with the purse");
    fx.verify_clean(P).await;
}

/// Paid already (the payer synced first): the refusal gives it back once, as a transfer from the
/// shop; refusing again or uploading the note again moves nothing.
async fn a_paid_note_refused_later_is_given_back_once(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let shop = fx.user("shop", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-1").await;
    let note = Chain::new(&cert, &device).pay(&shop, C, "stale-1");
    assert_eq!(
        statuses(&fx.settle(&alice, std::slice::from_ref(&note), NOW).await),
        vec![(NoteStatus::Settled, None, C)]
    );
    let outcome = refuse(&fx, &shop, &note).await.unwrap();
    assert_eq!((outcome.status, outcome.amount), (RefusalStatus::Refunded, C as i64));
    assert!(outcome.entry_id.is_some());
    assert_eq!((fx.balance(&shop).await, fx.balance(&alice).await), (0, C));
    assert_eq!(refuse(&fx, &shop, &note).await.unwrap(), outcome);
    let results = fx.settle(&shop, std::slice::from_ref(&note), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Duplicate, None, 0)]);
    assert_eq!((fx.balance(&shop).await, fx.balance(&alice).await), (0, C));
    fx.off().expire_purses(AFTER_S, GRACE, AFTER_S as i64 * 1000).await.unwrap();
    assert_eq!(fx.balance(&alice).await, P);
    fx.verify_clean(P).await;
}

/// Only the payee refuses: not the payer, not an accomplice, not with a purse the server did not
/// issue. A shop that spent the money is refused with nothing moved, and given back once it has it.
async fn only_the_payee_refuses_what_it_was_paid(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let shop = fx.user("shop", 0).await;
    let mule = fx.user("mule", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-1").await;
    let note = Chain::new(&cert, &device).pay(&shop, C, "n-1");
    for who in [&alice, &mule] {
        assert!(matches!(refuse(&fx, who, &note).await, Err(OfflineError::NotPayee)));
    }
    let forged = certificate(&alice, &device, P, 3 * DAY, "never-loaded");
    let unknown = Chain::new(&forged, &device).pay(&shop, C, "n-2");
    assert!(matches!(refuse(&fx, &shop, &unknown).await, Err(OfflineError::UnknownPurse)));
    // Another certificate under the loaded purse's id (a larger amount) is not that purse.
    let other = certificate(&alice, &device, 2 * P, 3 * DAY, "purse-1");
    let lookalike = Chain::new(&other, &device).pay(&shop, C, "n-3");
    assert!(matches!(refuse(&fx, &shop, &lookalike).await, Err(OfflineError::UnknownPurse)));
    fx.settle(&alice, std::slice::from_ref(&note), NOW).await;
    fx.transfer(&shop, &mule, C).await;
    let broke = refuse(&fx, &shop, &note).await;
    assert!(matches!(broke, Err(OfflineError::Ledger(LedgerError::InsufficientFunds))), "{broke:?}");
    assert_eq!((fx.balance(&shop).await, fx.balance(&alice).await), (0, 0));
    fx.transfer(&mule, &shop, C).await;
    assert_eq!(refuse(&fx, &shop, &note).await.unwrap().amount, C as i64);
    assert_eq!((fx.balance(&shop).await, fx.balance(&alice).await), (0, C));
    fx.verify_clean(P).await;
}

/// A double spender's notes: nothing of a purse the operator paid fraud loss for goes back to
/// the payer, whichever branch the refused note is on and whichever was uploaded first (the
/// payer's own branch A paid from the reserve, then the shop's branch B paid by the operator);
/// and a held note waits until it is paid in full.
async fn a_double_spender_gets_back_nothing_the_operator_paid(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let (shop, other) = (fx.user("shop", 0).await, fx.user("other", 0).await);
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-1").await;
    let chain = |payee: &User, tag: &str| -> Vec<PaymentNote> {
        let mut copy = Chain::new(&cert, &device);
        (0..P / C).map(|i| copy.pay(payee, C, &format!("{tag}-{i}"))).collect()
    };
    // Branch A shown with a wrong clock (kept at the counter), branch B accepted.
    let (a, b, c) = (chain(&shop, "stale"), chain(&shop, "fresh"), chain(&other, "third"));
    fx.settle(&mallory, &a, NOW).await;
    let paid_b = fx.settle(&shop, &b, NOW).await;
    assert_eq!(statuses(&paid_b)[0], (NoteStatus::Fraud, Some("same_sequence"), C));
    assert_eq!(fx.purse(&cert).await.fraud_loss, P as i64, "branch B was paid by the operator");
    for note in a.iter().chain(&b) {
        let refused = refuse(&fx, &shop, note).await;
        assert!(matches!(refused, Err(OfflineError::RefundNotPossible)), "{refused:?}");
    }
    let held = fx.settle(&other, &c, NOW).await;
    assert!(held.iter().all(|r| r.status == NoteStatus::Held), "{:?}", statuses(&held));
    assert!(matches!(refuse(&fx, &other, &c[0]).await, Err(OfflineError::NoteHeld)));
    assert_eq!((fx.balance(&shop).await, fx.balance(&mallory).await), (2 * P, 0));
    assert_eq!(fx.off().unfreeze_unless_held(mallory.id).await.unwrap(), P as i64, "still owes the held notes");
    fx.verify_report().await;
}

/// A payer signs two notes to a shop's card with one nonce: the first shown with a wrong clock
/// (kept to give back), the second taken. The payer uploads both first: the second is refused as
/// its request already paid. Once the shop has given the first back, the shop's upload of the
/// note it took is paid: a refunded note no longer stands for its request.
async fn a_refunded_note_no_longer_stands_for_its_request(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let shop = fx.user("shop", 0).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-1").await;
    let mut chain = Chain::new(&cert, &device);
    let stale = chain.pay(&shop, C, "card-nonce-x");
    let taken = chain.pay(&shop, C, "card-nonce-x");
    let by_payer = fx.settle(&mallory, &[stale.clone(), taken.clone()], NOW).await;
    assert_eq!(
        statuses(&by_payer),
        vec![(NoteStatus::Settled, None, C), (NoteStatus::Rejected, Some("request_already_paid"), 0)]
    );
    assert_eq!(refuse(&fx, &shop, &stale).await.unwrap().amount, C as i64);
    let by_shop = fx.settle(&shop, std::slice::from_ref(&taken), NOW).await;
    assert_eq!(statuses(&by_shop), vec![(NoteStatus::Settled, None, C)]);
    fx.off().expire_purses(AFTER_S, GRACE, AFTER_S as i64 * 1000).await.unwrap();
    assert_eq!((fx.balance(&shop).await, fx.balance(&mallory).await), (C, P - C));
    fx.verify_clean(P).await;
}

/// A note that fails the checks of a note on its own (here a device signature that is not the
/// purse's) would never be paid: a refusal of it is refused, and nothing is stored.
async fn a_note_that_would_never_be_paid_is_not_refused(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let shop = fx.user("shop", 0).await;
    let cert = fx.load(&alice, &signing_key("alice-phone"), P, 3 * DAY, "purse-1").await;
    let forged = Chain::new(&cert, &signing_key("not-alice")).pay(&shop, C, "forged");
    let refused = refuse(&fx, &shop, &forged).await;
    assert!(matches!(refused, Err(OfflineError::UnpayableNote("bad_device_signature"))), "{refused:?}");
    assert_eq!(fx.count("SELECT count(*) FROM note_refusals").await, 0);
}

/// PostgreSQL (SQLite has one writer): a freeze of the shop that commits while its refund waits
/// for the shop's wallet lock stops the refund, as it stops a transfer (the flag is read under
/// the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_that_commits_while_a_refund_waits_stops_it() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let alice = fx.user("alice", P).await;
    let shop = fx.user("shop", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-1").await;
    let note = Chain::new(&cert, &device).pay(&shop, C, "n-1");
    fx.settle(&alice, std::slice::from_ref(&note), NOW).await;
    let hold = support::row_hold::RowHold::begin(&fx).await;
    let lock = "SELECT 1 FROM accounts a JOIN users u ON u.account_id = a.id WHERE u.id = $1 FOR UPDATE OF a";
    hold.client.execute(lock, &[&shop.id.0]).await.unwrap();
    hold.client.execute("UPDATE users SET frozen = true WHERE id = $1", &[&shop.id.0]).await.unwrap();
    let (store, shop_id) = (fx.store.clone(), shop.id);
    let refusal = tokio::spawn(async move { store.offline().refuse_note(shop_id, note, NOW).await });
    hold.commit_when_waiting(1).await;
    let outcome = refusal.await.unwrap();
    assert!(matches!(outcome, Err(OfflineError::Ledger(LedgerError::AccountFrozen))), "{outcome:?}");
    assert_eq!((fx.balance(&shop).await, fx.balance(&alice).await), (C, 0));
}

/// The refusal and the payer's upload of the same note at the same time: whichever comes first,
/// the shop keeps nothing and the payer is charged nothing for it once the purse is settled.
async fn a_refusal_racing_the_payer_s_upload_charges_nothing(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let shop = fx.user("shop", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-1").await;
    let mut chain = Chain::new(&cert, &device);
    let notes: Vec<PaymentNote> = (0..5).map(|i| chain.pay(&shop, C, &format!("race-{i}"))).collect();
    let store = fx.store.clone();
    let (alice_id, shop_id) = (alice.id, shop.id);
    let upload = {
        let (store, notes) = (store.clone(), notes.clone());
        tokio::spawn(async move { store.offline().settle_notes(alice_id, notes, NOW).await })
    };
    let mut refusals = Vec::new();
    for note in notes.iter().rev() {
        let (store, note) = (store.clone(), note.clone());
        refusals.push(tokio::spawn(async move { store.offline().refuse_note(shop_id, note, NOW).await }));
    }
    upload.await.unwrap().unwrap();
    for refusal in refusals {
        refusal.await.unwrap().unwrap();
    }
    assert_eq!(fx.balance(&shop).await, 0);
    fx.off().expire_purses(AFTER_S, GRACE, AFTER_S as i64 * 1000).await.unwrap();
    assert_eq!(fx.balance(&alice).await, P);
    fx.verify_clean(P).await;
}

/// No account can fill the table with refusals: not of its own purse (nothing to give back),
/// and at most as many per purse as a purse signs notes, however they are signed (here the
/// 1,001st is a fork of the first).
async fn refusals_are_bounded_per_purse_and_payee(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let shop = fx.user("shop", 0).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-1").await;
    let own = Chain::new(&cert, &device).pay(&mallory, C, "own");
    assert!(matches!(refuse(&fx, &mallory, &own).await, Err(OfflineError::OwnPurse)));
    let mut chain = Chain::new(&cert, &device);
    let limit = refusal::REFUSALS_PER_PURSE_AND_PAYEE;
    for i in 0..limit {
        let note = chain.pay(&shop, 1, &format!("n-{i}"));
        assert_eq!(refuse(&fx, &shop, &note).await.unwrap().status, RefusalStatus::Voided);
    }
    let fork = Chain::new(&cert, &device).pay(&shop, 1, "fork");
    assert!(matches!(refuse(&fx, &shop, &fork).await, Err(OfflineError::TooManyRefusals)));
    assert_eq!(fx.count("SELECT count(*) FROM note_refusals").await, limit);
}

on_both_backends!([
    refusals_are_bounded_per_purse_and_payee,
    a_refused_note_is_never_paid,
    a_paid_note_refused_later_is_given_back_once,
    only_the_payee_refuses_what_it_was_paid,
    a_double_spender_gets_back_nothing_the_operator_paid,
    a_refunded_note_no_longer_stands_for_its_request,
    a_note_that_would_never_be_paid_is_not_refused,
    a_refusal_racing_the_payer_s_upload_charges_nothing,
]);
