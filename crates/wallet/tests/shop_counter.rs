//! A shop's counter with no server, on real wallet stores (SQLite files in temporary homes):
//! the shop card kept and replaced, card notes paid from a purse and accepted once, inside
//! the freshness window only, refused for a retired card; server receipts (signed here with
//! the test issuer key, the server's role) accepted once, refused when stale or for another
//! account.

#![allow(clippy::unwrap_used, clippy::panic)]

mod offline_support;

use offline_support::{ALICE, BOB, Home, amt, issuer, load};
use offpay_protocol::testkit::NOW;
use offpay_protocol::{CurrencyCode, Encoded, Handle, Receipt, ReceiptFields, RejectReason};
use offpay_wallet::Wallet;
use offpay_wallet::offline::pay_card::parse_card;
use offpay_wallet::offline::{Acceptance, CounterLimits, OfflineError};

fn note_refused(result: Result<Acceptance, OfflineError>) -> RejectReason {
    match result {
        Err(OfflineError::Rejected(reason)) => reason,
        other => panic!("expected a note refusal, got {other:?}"),
    }
}

fn receipt_refused(result: Result<Acceptance, OfflineError>) -> RejectReason {
    match result {
        Err(OfflineError::ReceiptRejected(reason)) => reason,
        other => panic!("expected a receipt refusal, got {other:?}"),
    }
}

/// Alice pays `minor` to the card `text` from her purse at `at`: the note's text.
fn pay_card(alice: &mut Wallet, text: &str, minor: u64, at: u64) -> String {
    let card = parse_card(text).unwrap();
    alice.pay_card(&card, amt(minor), None, at).unwrap().text
}

fn receipt(entry_id: u64, payee: offpay_protocol::AccountNumber, time: u64, card: Option<[u8; 4]>) -> String {
    let fields = ReceiptFields {
        entry_id,
        payer: ALICE,
        payer_handle: Some(Handle::parse("alice").unwrap()),
        payee,
        currency: CurrencyCode::INR,
        amount: amt(25_000),
        time,
        card,
    };
    Receipt::issue(fields, &issuer()).unwrap().to_text()
}

#[test]
fn card_notes_are_taken_once_inside_the_window_and_never_for_a_retired_card() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let limits = CounterLimits::default();

    assert!(bob.my_card().unwrap().is_none());
    assert!(matches!(bob.make_card(" Bob", NOW), Err(OfflineError::BadShopName(_))));
    let card = bob.make_card("Bob's Stall", NOW).unwrap();
    assert_eq!(card.card.fields().payee, BOB);
    // Kept across reopening.
    drop(bob);
    let mut bob = bob_home.open();
    assert_eq!(bob.my_card().unwrap().unwrap().text, card.text);

    let note = pay_card(&mut alice, &card.text, 10_000, NOW + 10);
    assert_eq!(alice.offline_store().paid_notes().unwrap().len(), 1);
    let Acceptance::Note(accepted) = bob.accept_at_counter(&note, limits, NOW + 20).unwrap() else {
        panic!("a note is accepted as a note");
    };
    assert_eq!((accepted.payer, accepted.amount), (ALICE, amt(10_000)));
    assert_eq!(bob.offline_store().pending_uploads().unwrap().len(), 1, "sync uploads it");
    assert_eq!(note_refused(bob.accept_at_counter(&note, limits, NOW + 30)), RejectReason::AlreadyAccepted);

    // A note made 11 minutes before the shop sees it: stale with the default 10-minute window,
    // taken with a wider one. A stale note is kept to be given back (docs/decisions/
    // counter-refusals.md) and refused for good, even with the wider window.
    let late = pay_card(&mut alice, &card.text, 1_000, NOW + 40);
    let stale = bob.accept_at_counter(&late, limits, NOW + 40 + 660);
    assert!(
        matches!(stale, Err(OfflineError::KeptToGiveBack { reason: RejectReason::StaleNote, payer, window_min: 10 }) if payer == ALICE.0),
        "{stale:?}"
    );
    let kept = bob.offline_store().counter_refusals().unwrap();
    assert_eq!(kept.iter().map(|r| (r.text.as_str(), r.amount)).collect::<Vec<_>>(), vec![(late.as_str(), amt(1_000))]);
    assert!(bob.offline_store().pending_uploads().unwrap().len() == 1, "a refused note is not uploaded as accepted");
    let wide = CounterLimits { card_window: 3_600, ..limits };
    let again = bob.accept_at_counter(&late, wide, NOW + 40 + 660);
    assert!(matches!(again, Err(OfflineError::RefusedHereBefore { .. })), "{again:?}");
    let later = pay_card(&mut alice, &card.text, 1_000, NOW + 50);
    assert!(bob.accept_at_counter(&later, wide, NOW + 50 + 660).is_ok());

    // A new card retires the old one. A note for it is refused, and kept to be given back:
    // only this device ever took notes for that card, and the server still pays them.
    let new_card = bob.make_card("Bob's Stall", NOW + 1_000).unwrap();
    assert_ne!(new_card.card.nonce_prefix(), card.card.nonce_prefix());
    let old = pay_card(&mut alice, &card.text, 1_000, NOW + 1_000);
    let refused = bob.accept_at_counter(&old, limits, NOW + 1_010);
    assert!(
        matches!(refused, Err(OfflineError::KeptToGiveBack { reason: RejectReason::WrongCard, payer, .. }) if payer == ALICE.0),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("old card") && message.contains("gives it back to account"), "{message}");
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 2);
    assert!(matches!(bob.accept_at_counter(&old, limits, NOW + 1_020), Err(OfflineError::RefusedHereBefore { .. })));
    let fresh = pay_card(&mut alice, &new_card.text, 1_000, NOW + 1_000);
    assert!(bob.accept_at_counter(&fresh, limits, NOW + 1_010).is_ok());

    // A note for a card that was never this home's (the shop's second counter, another
    // device of the same account) is refused and not kept: the right counter takes it.
    let second_home = Home::new("bob", BOB);
    let mut second = second_home.open();
    let seconds = second.make_card("Bob's Stall, counter 2", NOW).unwrap();
    let elsewhere = pay_card(&mut alice, &seconds.text, 1_000, NOW + 1_100);
    let refused = bob.accept_at_counter(&elsewhere, limits, NOW + 1_110);
    let message = format!("{}", refused.as_ref().unwrap_err());
    assert_eq!(note_refused(refused), RejectReason::WrongCard);
    assert!(message.contains("another counter") && message.contains("Hand over nothing"), "{message}");
    assert!(!message.contains("still paid"), "nothing is promised for a note nothing checked: {message}");
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 2);
    assert!(second.accept_at_counter(&elsewhere, limits, NOW + 1_110).is_ok());
}

/// A note for a retired card that fails another check (over the purse's cap, or its nonce seen
/// already) is refused and not kept; a retired card survives reopening the home; a note for it
/// refused first for the counter's clock is kept and reported as for the old card.
#[test]
fn a_note_for_a_retired_card_is_kept_only_when_otherwise_fit() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let old = bob.make_card("Bob's Stall", NOW).unwrap().card;
    bob.make_card("Bob's Stall", NOW + 1).unwrap();
    drop(bob);
    let mut bob = bob_home.open();
    let device = signing_key("asha-phone");
    let cert = purse_of(&device, offline_support::CAROL, "asha-purse", NOW + 86_400);
    // Over the purse's per-payment cap (20,000).
    let note = first_note_signed_by(&cert, &device, &old, 20_001, [4; 12]);
    assert_eq!(note_refused(bob.accept_at_counter(&note.to_text(), limits, NOW + 10)), RejectReason::WrongCard);
    assert!(bob.offline_store().counter_refusals().unwrap().is_empty());
    let (_, fit) =
        prepare_card_payment(&cert, &PurseState::new(&cert), &device, &old, amt(5_000), [5; 12], NOW + 10).unwrap();
    let kept = bob.accept_at_counter(&fit.to_text(), limits, NOW + 10);
    assert!(matches!(kept, Err(OfflineError::KeptToGiveBack { reason: RejectReason::WrongCard, .. })), "{kept:?}");
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 1);

    // A purse that ended by the counter's clock (the first refusal) paying the old card: kept,
    // and told as the old card, which is what the payer must change.
    let ending = purse_of(&device, offline_support::CAROL, "ending-purse", NOW + 100);
    let (_, late) =
        prepare_card_payment(&ending, &PurseState::new(&ending), &device, &old, amt(1_000), [6; 12], NOW + 50).unwrap();
    let kept = bob.accept_at_counter(&late.to_text(), limits, NOW + 400);
    assert!(matches!(kept, Err(OfflineError::KeptToGiveBack { reason: RejectReason::WrongCard, .. })), "{kept:?}");
    let stored: Vec<_> = bob.offline_store().counter_refusals().unwrap().into_iter().map(|r| r.text).collect();
    assert!(stored.contains(&late.to_text()));
}

/// The counter has not synced since the operator added an issuer key: a note from a purse
/// issued with it is refused (`unknown_issuer_key`) and kept to give back when every other check
/// holds; it does not join its purse's tally (a forged certificate could name another payer's
/// purse), and a note failing another check is refused and not kept.
#[test]
fn a_note_whose_issuer_key_is_unknown_here_is_kept_to_give_back() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let card = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let new_issuer = signing_key("wallet-offline-tests/new-issuer");
    let device = signing_key("asha-phone");
    let mut fields = purse_of(&device, offline_support::CAROL, "asha-purse", NOW + 86_400).fields().clone();
    let cert = offpay_protocol::PurseCertificate::issue(fields.clone(), &new_issuer).unwrap();
    let (_, note) =
        prepare_card_payment(&cert, &PurseState::new(&cert), &device, &card, amt(5_000), [1; 12], NOW + 10).unwrap();
    let kept = bob.accept_at_counter(&note.to_text(), limits, NOW + 10);
    assert!(
        matches!(kept, Err(OfflineError::KeptToGiveBack { reason: RejectReason::UnknownIssuerKey, .. })),
        "{kept:?}"
    );
    assert!(kept.unwrap_err().to_string().contains("does not know yet"));
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 1);
    assert!(matches!(
        bob.accept_at_counter(&note.to_text(), limits, NOW + 20),
        Err(OfflineError::RefusedHereBefore { .. })
    ));

    // A forged certificate naming a genuine purse (same purse id, the forger's device) leaves
    // that purse's notes alone at this counter: the genuine first note is taken.
    let forger = signing_key("forger-phone");
    let genuine = purse_of(&device, offline_support::CAROL, "genuine-purse", NOW + 86_400);
    fields = genuine.fields().clone();
    fields.device_key = forger.verifying_key();
    let forged = offpay_protocol::PurseCertificate::issue(fields, &signing_key("not-an-issuer")).unwrap();
    let (_, fake) =
        prepare_card_payment(&forged, &PurseState::new(&forged), &forger, &card, amt(5_000), [2; 12], NOW + 10)
            .unwrap();
    assert!(matches!(
        bob.accept_at_counter(&fake.to_text(), limits, NOW + 10),
        Err(OfflineError::KeptToGiveBack { reason: RejectReason::UnknownIssuerKey, .. })
    ));
    let (_, real) =
        prepare_card_payment(&genuine, &PurseState::new(&genuine), &device, &card, amt(5_000), [3; 12], NOW + 10)
            .unwrap();
    assert!(bob.accept_at_counter(&real.to_text(), limits, NOW + 10).is_ok());

    // Unknown key and a bad device signature (another device signed it): refused, not kept.
    let unsigned = first_note_signed_by(&cert, &forger, &card, 5_000, [4; 12]);
    assert_eq!(
        note_refused(bob.accept_at_counter(&unsigned.to_text(), limits, NOW + 10)),
        RejectReason::UnknownIssuerKey
    );
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 2);
}

#[test]
fn a_card_payment_named_by_a_key_is_paid_once() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let card = parse_card(&bob.make_card("Bob's Stall", NOW).unwrap().text).unwrap();

    let first = alice.pay_card(&card, amt(2_000), Some("order-0001"), NOW + 10).unwrap();
    assert!(!first.repeated);
    assert!(alice.card_key_paid("order-0001").unwrap());
    let again = alice.pay_card(&card, amt(2_000), Some("order-0001"), NOW + 20).unwrap();
    assert!(again.repeated);
    assert_eq!((again.text.as_str(), again.remaining), (first.text.as_str(), amt(48_000)));
    assert_eq!(alice.offline_store().paid_notes().unwrap().len(), 1);
    assert!(matches!(
        alice.pay_card(&card, amt(2_001), Some("order-0001"), NOW + 30),
        Err(OfflineError::CardKeyReused { .. })
    ));
    // Without a key, each call is a new payment.
    alice.pay_card(&card, amt(2_000), None, NOW + 40).unwrap();
    alice.pay_card(&card, amt(2_000), None, NOW + 41).unwrap();
    assert_eq!(alice.offline_store().paid_notes().unwrap().len(), 3);
}

#[test]
fn a_receipt_is_taken_once_while_fresh_and_only_by_its_payee() {
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    // A home with no shop card takes no receipt.
    let before_card = receipt(40, BOB, NOW, Some([0; 4]));
    assert!(matches!(bob.accept_at_counter(&before_card, limits, NOW), Err(OfflineError::NoShopCard)));
    let prefix = Some(bob.make_card("Bob's Stall", NOW).unwrap().card.nonce_prefix());
    let receipt = |entry_id, payee, time| receipt(entry_id, payee, time, prefix);

    let text = receipt(41, BOB, NOW);
    let Acceptance::Receipt(r) = bob.accept_at_counter(&format!(" {text}\n"), limits, NOW + 5).unwrap() else {
        panic!("a receipt is accepted as a receipt");
    };
    assert_eq!((r.entry_id, r.payer, r.amount), (41, ALICE, amt(25_000)));
    assert_eq!(r.payer_handle.unwrap().as_str(), "alice");
    // Remembered across reopening.
    drop(bob);
    let mut bob = bob_home.open();
    assert_eq!(receipt_refused(bob.accept_at_counter(&text, limits, NOW + 6)), RejectReason::ReceiptReplayed);

    assert_eq!(
        receipt_refused(bob.accept_at_counter(&receipt(42, ALICE, NOW), limits, NOW + 5)),
        RejectReason::ReceiptForAnotherPayee
    );
    let old = receipt(43, BOB, NOW);
    let stale = bob.accept_at_counter(&old, limits, NOW + 601);
    let said = stale.as_ref().map_err(ToString::to_string).unwrap_err();
    assert_eq!(receipt_refused(stale), RejectReason::StaleReceipt);
    // The money is the shop's already: the customer must not be asked to pay again blindly.
    assert!(
        said.contains("already in this shop's account") && said.contains("do not ask for a second payment"),
        "{said}"
    );
    let patient = CounterLimits { receipt_max_age: 3_600, ..limits };
    assert!(bob.accept_at_counter(&old, patient, NOW + 601).is_ok());
    // A receipt that names no card, or another card, is refused.
    let bare = self::receipt(44, BOB, NOW, None);
    assert_eq!(receipt_refused(bob.accept_at_counter(&bare, limits, NOW + 5)), RejectReason::WrongCard);
    let elsewhere = self::receipt(45, BOB, NOW, Some([1, 2, 3, 4]));
    assert_eq!(receipt_refused(bob.accept_at_counter(&elsewhere, limits, NOW + 5)), RejectReason::WrongCard);
    // Garbage after the receipt prefix is a receipt refusal too.
    assert!(matches!(
        bob.accept_at_counter("OPT2:not-a-receipt", limits, NOW),
        Err(OfflineError::ReceiptRejected(RejectReason::Malformed(_)))
    ));
}

/// The attack a card-less receipt allowed: one online payment shown at two counters of the same
/// shop (two devices of one account, each with its own card), each of which had never seen the
/// entry. The receipt names the first counter's card, so the second refuses it.
#[test]
fn a_receipt_is_taken_at_the_counter_of_its_card_only() {
    let first_home = Home::new("bob", BOB);
    let second_home = Home::new("bob_counter_2", BOB);
    let (mut first, mut second) = (first_home.open(), second_home.open());
    let limits = CounterLimits::default();
    let first_card = first.make_card("Bob's Stall", NOW).unwrap().card;
    let second_card = second.make_card("Bob's Stall", NOW).unwrap().card;
    assert_ne!(first_card.nonce_prefix(), second_card.nonce_prefix(), "each counter has its own card");

    let text = receipt(46, BOB, NOW, Some(first_card.nonce_prefix()));
    let elsewhere = second.accept_at_counter(&text, limits, NOW + 5);
    let said = elsewhere.as_ref().map_err(ToString::to_string).unwrap_err();
    assert_eq!(receipt_refused(elsewhere), RejectReason::WrongCard);
    assert!(said.contains("already in this shop's account") && said.contains("counter whose card was paid"), "{said}");
    assert!(matches!(first.accept_at_counter(&text, limits, NOW + 6), Ok(Acceptance::Receipt(_))));
    assert_eq!(receipt_refused(second.accept_at_counter(&text, limits, NOW + 7)), RejectReason::WrongCard);
    assert_eq!(receipt_refused(first.accept_at_counter(&text, limits, NOW + 8)), RejectReason::ReceiptReplayed);
}

/// A counter's home whose shop card is Bob's, now acting for Dave (Dave signed in on the
/// counter's device): a note paying Bob's card is not taken as Dave's payment. Before, Dave's
/// counter said "accepted" for money that goes to Bob.
#[test]
fn a_card_of_another_account_takes_nothing() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let card = bob_home.open().make_card("Bob's Stall", NOW).unwrap();
    let note = pay_card(&mut alice, &card.text, 10_000, NOW + 10);
    let mut counter = bob_home.open();
    counter
        .offline_store_mut()
        .set_identity(&offpay_wallet::offline::store::Identity {
            server: "http://127.0.0.1:1".into(),
            handle: offpay_protocol::Handle::parse("dave").unwrap(),
            account: offpay_protocol::AccountNumber(BOB.0 + 1),
            currency: offpay_protocol::Currency::INR,
        })
        .unwrap();
    let refused = counter.accept_at_counter(&note, CounterLimits::default(), NOW + 20);
    assert!(matches!(refused, Err(OfflineError::CardOfAnotherAccount { .. })), "{refused:?}");
    assert!(counter.offline_store().pending_uploads().unwrap().is_empty(), "nothing kept");
}

/// The first note of `cert` paying `minor` to `card`'s account with nonce bytes `random`, signed
/// by `signer` with no wallet check (as a cheater's wallet signs whatever it likes).
fn first_note_signed_by(
    cert: &offpay_protocol::PurseCertificate,
    signer: &offpay_protocol::SigningKey,
    card: &offpay_protocol::ShopCard,
    minor: u64,
    random: [u8; 12],
) -> offpay_protocol::PaymentNote {
    let fields = offpay_protocol::NoteFields {
        seq: 1,
        prev_hash: cert.hash(),
        cumulative: amt(minor),
        amount: amt(minor),
        payee: card.fields().payee,
        nonce: offpay_protocol::shop_card::card_nonce(card, random),
        time: NOW + 10,
    };
    offpay_protocol::PaymentNote::sign(cert.clone(), fields, signer).unwrap()
}

/// A purse of `account` with `valid_until`, on `device` (signed by the test issuer, as the
/// server issues any purse).
fn purse_of(
    device: &offpay_protocol::SigningKey,
    account: offpay_protocol::AccountNumber,
    label: &str,
    valid_until: u64,
) -> offpay_protocol::PurseCertificate {
    let fields = offpay_protocol::CertificateFields {
        purse_id: offpay_protocol::PurseId::from_bytes(offpay_protocol::testkit::bytes16(label)),
        account,
        device_key: device.verifying_key(),
        currency: CurrencyCode::INR,
        amount: amt(50_000),
        per_payment_cap: amt(20_000),
        valid_from: NOW - 3600,
        valid_until,
    };
    offpay_protocol::PurseCertificate::issue(fields, &issuer()).unwrap()
}

/// A payer signs two card notes with one nonce: the first with its time an hour off (kept to
/// give back), the second with the right time. The second is refused: a kept refusal's nonce
/// counts as seen (or the payer would walk away with goods paid by a note the server refuses as
/// its request already paid, once the first was given back).
#[test]
fn a_kept_refusal_s_nonce_is_never_taken_again() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let card = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let device = signing_key("mallory-phone");
    let cert = purse_of(&device, offline_support::CAROL, "mallory-purse", NOW + 7 * 86_400);
    let random = [7u8; 12];
    let (state, stale) =
        prepare_card_payment(&cert, &PurseState::new(&cert), &device, &card, amt(10_000), random, NOW + 3600).unwrap();
    let (_, fresh) = prepare_card_payment(&cert, &state, &device, &card, amt(10_000), random, NOW + 100).unwrap();
    assert_eq!(stale.fields().nonce, fresh.fields().nonce);
    let first = bob.accept_at_counter(&stale.to_text(), limits, NOW + 100);
    assert!(matches!(first, Err(OfflineError::KeptToGiveBack { .. })), "{first:?}");
    // Refused, and not as "already received": nothing was received for that nonce (found by a
    // review: a shop told "already received" may hand the goods over). Fit for every other
    // check, it is kept too, so that it is given back if it was paid (a third review: someone
    // who copied a customer's nonce into a note kept first would otherwise have the customer's
    // genuine code refused and still paid).
    let again = bob.accept_at_counter(&fresh.to_text(), limits, NOW + 100);
    assert!(
        matches!(again, Err(OfflineError::RepeatsARefusedCode { payer }) if payer == offline_support::CAROL.0),
        "{again:?}"
    );
    let said = again.unwrap_err();
    assert_eq!(said.reject_code(), Some("nonce_replayed"));
    assert!(said.to_string().contains("Hand over nothing") && said.to_string().contains("gives it back"), "{said}");
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 2);
    // One that fails another check (over the per-payment cap) is refused the same way, not kept.
    let mut over = *fresh.fields();
    over.amount = amt(20_001);
    over.cumulative = amt(30_001);
    let over = offpay_protocol::PaymentNote::sign(cert.clone(), over, &device).unwrap();
    let refused = bob.accept_at_counter(&over.to_text(), limits, NOW + 100);
    assert!(matches!(refused, Err(OfflineError::RepeatsARefusedCode { .. })), "{refused:?}");
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 2);
}

/// A forger with no purse copies the nonce of a customer's genuine code into a note from a
/// certificate signed by a key no counter knows, and has it kept first: the customer's genuine
/// code is still taken (an unchecked kept note's nonce does not count as seen), so the customer
/// is not refused a payment the server would make anyway (found by a third review).
#[test]
fn a_forged_note_kept_first_does_not_block_a_genuine_code() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let card = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let device = signing_key("asha-phone");
    let genuine_purse = purse_of(&device, offline_support::CAROL, "asha-purse", NOW + 86_400);
    let (_, genuine) = prepare_card_payment(
        &genuine_purse,
        &PurseState::new(&genuine_purse),
        &device,
        &card,
        amt(7_000),
        [5; 12],
        NOW + 10,
    )
    .unwrap();
    let forger = signing_key("forger-phone");
    let mut fields = genuine_purse.fields().clone();
    fields.device_key = forger.verifying_key();
    let forged = offpay_protocol::PurseCertificate::issue(fields, &signing_key("no-issuer")).unwrap();
    let fake = first_note_signed_by(&forged, &forger, &card, 100, [5; 12]);
    assert_eq!(fake.fields().nonce, genuine.fields().nonce);
    assert!(matches!(
        bob.accept_at_counter(&fake.to_text(), limits, NOW + 10),
        Err(OfflineError::KeptToGiveBack { reason: RejectReason::UnknownIssuerKey, .. })
    ));
    assert!(bob.accept_at_counter(&genuine.to_text(), limits, NOW + 10).is_ok());
}

/// A note for another counter's card whose purse ended by this counter's clock (but not by the
/// note's own time) is told as another card's: it may be paid to the shop, so the shop must hear
/// "hand over nothing; the other counter may take it", not only that a purse ended.
#[test]
fn a_note_for_another_card_is_told_so_whatever_was_refused_first() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    bob.make_card("Bob's Stall", NOW).unwrap();
    let second_home = Home::new("bob", BOB);
    let other = second_home.open().make_card("Bob's Stall, counter 2", NOW).unwrap().card;
    let device = signing_key("asha-phone");
    let ending = purse_of(&device, offline_support::CAROL, "ending-purse", NOW + 100);
    let (_, note) =
        prepare_card_payment(&ending, &PurseState::new(&ending), &device, &other, amt(1_000), [6; 12], NOW + 50)
            .unwrap();
    let told = note_refused(bob.accept_at_counter(&note.to_text(), CounterLimits::default(), NOW + 400));
    assert_eq!(told, RejectReason::WrongCard);
    assert!(bob.offline_store().counter_refusals().unwrap().is_empty());
}

/// The payer's clock is 15 minutes behind and the purse expired 5 minutes ago by the shop's
/// clock: refused (`certificate_expired`) and kept to give back, since the server pays such a note
/// until the settlement deadline. A note whose own time is past the purse's end is refused and
/// not kept.
#[test]
fn a_note_refused_as_expired_for_the_payer_s_clock_is_kept_to_give_back() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let card = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let device = signing_key("asha-phone");
    let valid_until = NOW + 86_400;
    let cert = purse_of(&device, offline_support::CAROL, "asha-purse", valid_until);
    let true_now = valid_until + 300;
    let (_, behind) =
        prepare_card_payment(&cert, &PurseState::new(&cert), &device, &card, amt(10_000), [1; 12], true_now - 900)
            .unwrap();
    let refused = bob.accept_at_counter(&behind.to_text(), CounterLimits::default(), true_now);
    assert!(
        matches!(refused, Err(OfflineError::KeptToGiveBack { reason: RejectReason::CertificateExpired, .. })),
        "{refused:?}"
    );
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 1);
    // A note signed after the purse's end by its own time (a payer's wallet would not sign it;
    // a cheater's would): refused, nothing kept.
    let mut nonce = [2u8; 16];
    nonce[..4].copy_from_slice(&card.nonce_prefix());
    let fields = offpay_protocol::NoteFields {
        seq: 2,
        prev_hash: behind.hash(),
        cumulative: amt(11_000),
        amount: amt(1_000),
        payee: BOB,
        nonce: offpay_protocol::Nonce::from_bytes(nonce),
        time: true_now,
    };
    let late = offpay_protocol::PaymentNote::sign(cert.clone(), fields, &device).unwrap();
    assert_eq!(
        note_refused(bob.accept_at_counter(&late.to_text(), CounterLimits::default(), true_now)),
        RejectReason::CertificateExpired
    );
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 1);
}

/// A kept note joins its purse's tally at the counter: a fork of it (the payer's other branch,
/// same sequence number) is refused there, and the payer's honest next note is taken.
#[test]
fn a_fork_of_a_kept_note_is_refused_and_the_next_note_taken() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let card = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let device = signing_key("mallory-phone");
    let cert = purse_of(&device, offline_support::CAROL, "forked-purse", NOW + 7 * 86_400);
    let start = PurseState::new(&cert);
    let (after, stale) = prepare_card_payment(&cert, &start, &device, &card, amt(10_000), [1; 12], NOW + 3600).unwrap();
    let (_, fork) = prepare_card_payment(&cert, &start, &device, &card, amt(10_000), [2; 12], NOW + 100).unwrap();
    let (_, next) = prepare_card_payment(&cert, &after, &device, &card, amt(5_000), [3; 12], NOW + 100).unwrap();
    assert!(matches!(
        bob.accept_at_counter(&stale.to_text(), limits, NOW + 100),
        Err(OfflineError::KeptToGiveBack { .. })
    ));
    assert_eq!(
        note_refused(bob.accept_at_counter(&fork.to_text(), limits, NOW + 100)),
        RejectReason::InconsistentWithEarlierNote
    );
    assert!(bob.accept_at_counter(&next.to_text(), limits, NOW + 100).is_ok());
}

/// The counter knows the payer's purse is revoked (a fork was found): the note is refused
/// (`revoked`) and kept to give back, since the server still pays notes of a revoked purse from
/// the money honest payees of that purse need; it joins the purse's tally. A revoked note that
/// fails another check (over the purse's cap) is refused for that and not kept.
#[test]
fn a_note_of_a_revoked_purse_is_kept_to_give_back() {
    use offpay_protocol::{PurseState, Revocations, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let card = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let device = signing_key("mallory-phone");
    let cert = purse_of(&device, offline_support::CAROL, "revoked-purse", NOW + 86_400);
    let revoked = Revocations { purses: [cert.purse_id()].into(), ..Revocations::default() };
    bob.offline_store_mut().replace_revocations(&revoked, 0).unwrap();

    let over_cap = first_note_signed_by(&cert, &device, &card, 20_001, [1; 12]);
    assert_eq!(note_refused(bob.accept_at_counter(&over_cap.to_text(), limits, NOW + 10)), RejectReason::Revoked);
    assert!(bob.offline_store().counter_refusals().unwrap().is_empty());

    let start = PurseState::new(&cert);
    let (_, note) = prepare_card_payment(&cert, &start, &device, &card, amt(5_000), [2; 12], NOW + 10).unwrap();
    let kept = bob.accept_at_counter(&note.to_text(), limits, NOW + 10);
    assert!(matches!(kept, Err(OfflineError::KeptToGiveBack { reason: RejectReason::Revoked, .. })), "{kept:?}");
    assert!(kept.unwrap_err().to_string().contains("revoked the payer's purse"));
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 1);
    // A fork of it, once the revocation is gone from this device's list, is still refused:
    // the kept note is in the purse's tally.
    bob.offline_store_mut().replace_revocations(&Revocations::default(), 0).unwrap();
    let (_, fork) = prepare_card_payment(&cert, &start, &device, &card, amt(5_000), [3; 12], NOW + 10).unwrap();
    assert_eq!(
        note_refused(bob.accept_at_counter(&fork.to_text(), limits, NOW + 10)),
        RejectReason::InconsistentWithEarlierNote
    );
}

/// A retired card's note and an unknown key's note are refused for another reason first
/// (`wrong_card`, `unknown_issuer_key`), before the nonce check: a note reusing the nonce of a
/// note taken here is still not kept (it is the same payment shown twice). Nor is an
/// unknown key's note drawn on the shop's own account (nothing to give back).
#[test]
fn a_seen_nonce_or_the_shop_s_own_purse_is_never_kept() {
    use offpay_protocol::{PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let old = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let card = bob.make_card("Bob's Stall", NOW + 1).unwrap().card;
    let device = signing_key("asha-phone");
    let cert = purse_of(&device, offline_support::CAROL, "asha-purse", NOW + 86_400);
    let (after, taken) =
        prepare_card_payment(&cert, &PurseState::new(&cert), &device, &card, amt(1_000), [7; 12], NOW + 10).unwrap();
    assert!(bob.accept_at_counter(&taken.to_text(), limits, NOW + 10).is_ok());
    // The taken note's own nonce (the current card's prefix) on the next note, signed by hand:
    // refused as a replay (the card check passes), never kept.
    let fields = offpay_protocol::NoteFields {
        seq: 2,
        prev_hash: taken.hash(),
        cumulative: amt(2_000),
        amount: amt(1_000),
        payee: BOB,
        nonce: taken.fields().nonce,
        time: NOW + 20,
    };
    let reused = offpay_protocol::PaymentNote::sign(cert.clone(), fields, &device).unwrap();
    assert_eq!(note_refused(bob.accept_at_counter(&reused.to_text(), limits, NOW + 20)), RejectReason::NonceReplayed);
    let (_, next_old) = prepare_card_payment(&cert, &after, &device, &old, amt(1_000), [9; 12], NOW + 20).unwrap();
    let kept = bob.accept_at_counter(&next_old.to_text(), limits, NOW + 20);
    assert!(matches!(kept, Err(OfflineError::KeptToGiveBack { reason: RejectReason::WrongCard, .. })), "{kept:?}");
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 1);

    // An unknown key: a note reusing a seen nonce is not kept.
    let new_issuer = signing_key("wallet-offline-tests/new-issuer");
    let unknown = offpay_protocol::PurseCertificate::issue(
        purse_of(&device, offline_support::CAROL, "unknown-key-purse", NOW + 86_400).fields().clone(),
        &new_issuer,
    )
    .unwrap();
    let fields = offpay_protocol::NoteFields {
        seq: 1,
        prev_hash: unknown.hash(),
        cumulative: amt(1_000),
        amount: amt(1_000),
        payee: BOB,
        nonce: taken.fields().nonce,
        time: NOW + 30,
    };
    let replayed = offpay_protocol::PaymentNote::sign(unknown.clone(), fields, &device).unwrap();
    assert_eq!(
        note_refused(bob.accept_at_counter(&replayed.to_text(), limits, NOW + 30)),
        RejectReason::UnknownIssuerKey
    );
    // An unknown key on the shop's own account: not kept.
    let own_device = signing_key("bob-other-phone");
    let own = offpay_protocol::PurseCertificate::issue(
        purse_of(&own_device, BOB, "bob-own-purse", NOW + 86_400).fields().clone(),
        &new_issuer,
    )
    .unwrap();
    let from_self = first_note_signed_by(&own, &own_device, &card, 1_000, [10; 12]);
    assert_eq!(
        note_refused(bob.accept_at_counter(&from_self.to_text(), limits, NOW + 30)),
        RejectReason::UnknownIssuerKey
    );
    assert_eq!(bob.offline_store().counter_refusals().unwrap().len(), 1);
}

/// A note kept because this counter did not know its issuer key stays out of the purse's tally
/// while its certificate cannot be checked; once the counter knows the key, a fork of it (the
/// payer's other branch) is refused here like the fork of any kept note (found by a review).
#[test]
fn a_fork_of_a_note_kept_for_an_unknown_key_is_refused_once_the_key_is_known() {
    use offpay_protocol::{IssuerKey, IssuerKeys, PurseState, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let limits = CounterLimits::default();
    let card = bob.make_card("Bob's Stall", NOW).unwrap().card;
    let new_issuer = signing_key("wallet-offline-tests/new-issuer");
    let device = signing_key("mallory-phone");
    let fields = purse_of(&device, offline_support::CAROL, "new-key-purse", NOW + 7 * 86_400).fields().clone();
    let cert = offpay_protocol::PurseCertificate::issue(fields, &new_issuer).unwrap();
    let start = PurseState::new(&cert);
    let (after, kept) = prepare_card_payment(&cert, &start, &device, &card, amt(10_000), [1; 12], NOW + 10).unwrap();
    let (_, fork) = prepare_card_payment(&cert, &start, &device, &card, amt(10_000), [2; 12], NOW + 10).unwrap();
    let (_, next) = prepare_card_payment(&cert, &after, &device, &card, amt(5_000), [3; 12], NOW + 10).unwrap();
    assert!(matches!(
        bob.accept_at_counter(&kept.to_text(), limits, NOW + 10),
        Err(OfflineError::KeptToGiveBack { reason: RejectReason::UnknownIssuerKey, .. })
    ));
    let keys = IssuerKeys::new([
        IssuerKey::new(offline_support::issuer().verifying_key(), NOW - 86_400, NOW + 86_400),
        IssuerKey::new(new_issuer.verifying_key(), NOW - 86_400, NOW + 86_400),
    ])
    .unwrap();
    bob.offline_store_mut().replace_issuer_keys(&keys, 0).unwrap();
    let taken = bob.accept_at_counter(&fork.to_text(), limits, NOW + 20);
    assert!(
        matches!(taken, Err(OfflineError::Rejected(RejectReason::InconsistentWithEarlierNote))),
        "the fork of a kept note was taken: {taken:?}"
    );
    assert!(bob.accept_at_counter(&next.to_text(), limits, NOW + 20).is_ok(), "the payer's next note is taken");
}

/// A note for a retired card from a revoked purse is kept and told as revoked (the payer must
/// pay another way, whatever card it scans).
#[test]
fn a_revoked_note_for_a_retired_card_is_told_as_revoked() {
    use offpay_protocol::{PurseState, Revocations, prepare_card_payment, testkit::signing_key};
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let old = bob.make_card("Bob's Stall", NOW).unwrap().card;
    bob.make_card("Bob's Stall", NOW + 1).unwrap();
    let device = signing_key("mallory-phone");
    let cert = purse_of(&device, offline_support::CAROL, "revoked-purse", NOW + 86_400);
    let revoked = Revocations { devices: [device.verifying_key().to_bytes()].into(), ..Revocations::default() };
    bob.offline_store_mut().replace_revocations(&revoked, 0).unwrap();
    let (_, note) =
        prepare_card_payment(&cert, &PurseState::new(&cert), &device, &old, amt(1_000), [1; 12], NOW + 10).unwrap();
    let kept = bob.accept_at_counter(&note.to_text(), CounterLimits::default(), NOW + 10);
    assert!(matches!(kept, Err(OfflineError::KeptToGiveBack { reason: RejectReason::Revoked, .. })), "{kept:?}");
}
