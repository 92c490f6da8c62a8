//! One payment per request on the payer's device (docs/OFFLINE.md, "The payer"): paying a
//! request this store already paid signs nothing, changes nothing and gives the earlier note
//! back; a request reusing a paid request's nonce with another amount, payee or currency is
//! refused; two stores on one home paying the same request at once make one note. Real SQLite
//! files in temporary homes, purses issued by the test issuer key.

#![allow(clippy::unwrap_used, clippy::panic)]

mod offline_support;

use offline_support::{ALICE, BOB, CAROL, Home, amt, load};
use offpay_protocol::testkit::NOW;
use offpay_protocol::{CurrencyCode, PayError, PaymentRequest, RejectReason, RequestFields, testkit};
use offpay_wallet::Wallet;
use offpay_wallet::offline::OfflineError;

/// `fields` signed by a key of the test kit, named in the request as the payee's device key:
/// a well-signed request no honest payee device made.
fn forged(mut fields: RequestFields) -> String {
    let key = testkit::signing_key("pay-once/forger");
    fields.payee_device_key = key.verifying_key();
    offpay_protocol::Encoded::to_text(&PaymentRequest::sign(fields, &key).unwrap())
}

fn state(store: &Wallet) -> (u32, u64, usize) {
    let purse = &store.offline_store().purses().unwrap()[0];
    (purse.state.last_seq, purse.state.spent.minor(), store.offline_store().paid_notes().unwrap().len())
}

#[test]
fn a_request_paid_once_gets_the_same_note_again_and_nothing_changes() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let request = bob.request(amt(15_000), 600, NOW).unwrap();

    let first = alice.pay(&request.text, NOW).unwrap();
    assert!(!first.repeated);
    assert_eq!(state(&alice), (1, 15_000, 1));

    // The preview already knows: nothing to confirm, the purse keeps what it has left.
    let preview = alice.preview_payment(&request.text, NOW + 1).unwrap();
    assert!(preview.repeated);
    assert_eq!((preview.amount, preview.payee, preview.remaining_after), (amt(15_000), BOB, amt(35_000)));
    assert_eq!(preview.purse_id, first.purse_id);

    let again = alice.pay(&request.text, NOW + 2).unwrap();
    assert!(again.repeated);
    assert_eq!(again.text, first.text);
    assert_eq!(again.note.hash(), first.note.hash());
    assert_eq!((again.seq, again.amount, again.payee, again.remaining), (1, amt(15_000), BOB, amt(35_000)));
    assert_eq!(again.payee_handle.as_ref().map(|h| h.as_str()), Some("bob"));
    assert_eq!(state(&alice), (1, 15_000, 1));
    assert_eq!(alice.offline_balance(NOW).unwrap(), amt(35_000));

    // A fresh process (a new store on the same home), and after the request expired: the same
    // note, not a refusal that would hide that it was paid.
    drop(alice);
    let mut alice = alice_home.open();
    let late = alice.pay(&request.text, NOW + 601).unwrap();
    assert!(late.repeated);
    assert_eq!(late.text, first.text);
    assert_eq!(state(&alice), (1, 15_000, 1));
    // The payee takes the note once.
    bob.accept(&first.text, NOW + 3).unwrap();

    // Another request of the same amount is a new payment.
    let next = bob.request(amt(15_000), 600, NOW).unwrap();
    let second = alice.pay(&next.text, NOW).unwrap();
    assert!(!second.repeated);
    assert_eq!(second.seq, 2);
    assert_eq!(state(&alice), (2, 30_000, 2));
}

#[test]
fn a_tampered_copy_of_a_paid_request_is_still_refused_for_its_signature() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let request = bob.request(amt(15_000), 600, NOW).unwrap();
    alice.pay(&request.text, NOW).unwrap();

    // Same fields, signed by a key other than the one the request names.
    let wrong_key = testkit::signing_key("pay-once/not-bob");
    let bad =
        offpay_protocol::Encoded::to_text(&PaymentRequest::sign(request.request.fields().clone(), &wrong_key).unwrap());
    for result in [alice.preview_payment(&bad, NOW).map(|_| ()), alice.pay(&bad, NOW).map(|_| ())] {
        assert!(
            matches!(result, Err(OfflineError::Pay(PayError::Request(RejectReason::BadRequestSignature)))),
            "{result:?}"
        );
    }
    assert_eq!(state(&alice), (1, 15_000, 1));
}

#[test]
fn a_request_reusing_a_paid_nonce_with_other_terms_is_refused() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let request = bob.request(amt(15_000), 600, NOW).unwrap();
    let paid = alice.pay(&request.text, NOW).unwrap();
    let fields = request.request.fields().clone();

    let more = RequestFields { amount: amt(20_000), ..fields.clone() };
    let elsewhere = RequestFields { payee: CAROL, ..fields.clone() };
    let other_currency = RequestFields { currency: CurrencyCode::parse("USD").unwrap(), ..fields.clone() };
    for (text, asked) in [
        (forged(more), "200.00 INR to account 2002"),
        (forged(elsewhere), "150.00 INR to account 3003"),
        (forged(other_currency), "15000 minor units of USD to account 2002"),
    ] {
        for result in [alice.preview_payment(&text, NOW).map(|_| ()), alice.pay(&text, NOW).map(|_| ())] {
            match result {
                Err(e @ OfflineError::RequestReused { .. }) => {
                    let message = e.to_string();
                    assert!(message.contains("already paid (150.00 INR to account 2002)"), "{message}");
                    assert!(message.contains(&format!("asks for {asked}")), "{message}");
                    assert!(message.contains("nothing was paid"), "{message}");
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }
    // Nothing was signed; the genuine request still gets its note.
    assert_eq!(state(&alice), (1, 15_000, 1));
    // The same terms under a forged signature are the same request: the same note, no new one.
    let same = alice.pay(&forged(fields), NOW).unwrap();
    assert!(same.repeated);
    assert_eq!(same.text, paid.text);
    assert_eq!(state(&alice), (1, 15_000, 1));
}

#[test]
fn two_stores_paying_one_request_at_once_make_one_note() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    load(&mut alice_home.open(), ALICE, 200_000, "purse-a");
    let mut bob = bob_home.open();
    let requests: Vec<String> = (0..8).map(|_| bob.request(amt(100), 600, NOW).unwrap().text).collect();

    for request in &requests {
        let barrier = std::sync::Barrier::new(2);
        let payments: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (path, barrier) = (&alice_home.path, &barrier);
                    scope.spawn(move || {
                        let mut store = Wallet::open(path).unwrap();
                        barrier.wait();
                        store.pay(request, NOW).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(payments[0].text, payments[1].text);
        assert_eq!(payments.iter().filter(|p| p.repeated).count(), 1, "exactly one of the two signed");
    }
    let alice = alice_home.open();
    assert_eq!(state(&alice), (8, 800, 8));
    for paid in alice.offline_store().paid_notes().unwrap() {
        bob.accept(&paid.text, NOW).unwrap();
    }
}
