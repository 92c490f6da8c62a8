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

/// A double spender's notes: one paid by the operator's fraud loss is not given back to the
/// payer (that money was never the payer's), and a held one waits until it is paid in full.
async fn a_double_spender_gets_back_only_its_own_money(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let (shop1, shop2, shop3) = (fx.user("shop1", 0).await, fx.user("shop2", 0).await, fx.user("shop3", 0).await);
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-1").await;
    let chain = |payee: &User, tag: &str| -> Vec<PaymentNote> {
        let mut copy = Chain::new(&cert, &device);
        (0..P / C).map(|i| copy.pay(payee, C, &format!("{tag}-{i}"))).collect()
    };
    let (first, second, third) = (chain(&shop1, "a"), chain(&shop2, "b"), chain(&shop3, "c"));
    fx.settle(&shop1, &first, NOW).await;
    fx.settle(&shop2, &second, NOW).await;
    let held = fx.settle(&shop3, &third, NOW).await;
    assert!(held.iter().all(|r| r.status == NoteStatus::Held), "{:?}", statuses(&held));
    assert_eq!(fx.balance(&shop2).await, P, "the second chain was paid by the operator's allowance");
    let by_loss = refuse(&fx, &shop2, &second[3]).await;
    assert!(matches!(by_loss, Err(OfflineError::RefundNotPossible)), "{by_loss:?}");
    assert!(matches!(refuse(&fx, &shop3, &third[0]).await, Err(OfflineError::NoteHeld)));
    // The honest first chain was paid from the purse: the payer's own money, given back.
    assert_eq!(refuse(&fx, &shop1, &first[0]).await.unwrap().amount, C as i64);
    assert_eq!(fx.balance(&shop2).await, P);
    fx.verify_report().await;
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

on_both_backends!([
    a_refused_note_is_never_paid,
    a_paid_note_refused_later_is_given_back_once,
    only_the_payee_refuses_what_it_was_paid,
    a_double_spender_gets_back_only_its_own_money,
    a_refusal_racing_the_payer_s_upload_charges_nothing,
]);
