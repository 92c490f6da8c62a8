//! Offline payment between wallet stores with no server: real SQLite files in temporary
//! homes, purse certificates issued by a test issuer key. Pay and accept, every refusal the
//! payee must make, the payer's own refusals, crash safety of the sequence number, and the
//! cloned-device fork.

#![allow(clippy::unwrap_used, clippy::panic)]

mod offline_support;

use offline_support::{ALICE, BOB, CAROL, Home, amt, issuer, load, purse_fields};
use offpay_protocol::testkit::NOW;
use offpay_protocol::{
    Amount, Encoded, MAX_NOTES_PER_PURSE, NoteFields, PayError, PaymentNote, PurseId, RejectReason, Revocations,
    testkit,
};
use offpay_wallet::Wallet;
use offpay_wallet::offline::{OfflineError, PurseStatus, UploadStatus};

fn rejected(result: Result<impl std::fmt::Debug, OfflineError>) -> RejectReason {
    match result {
        Err(OfflineError::Rejected(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn alice_pays_bob_with_no_server_and_bob_accepts_once() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    assert_eq!(alice.offline_balance(NOW).unwrap(), amt(50_000));

    let request = bob.request(amt(15_000), 600, NOW).unwrap();
    assert!(request.text.starts_with("OPR1:"), "{}", request.text);
    assert_eq!(request.request.fields().payee, BOB);
    assert_eq!(request.request.fields().handle.as_ref().unwrap().as_str(), "bob");

    let preview = alice.preview_payment(&request.text, NOW + 5).unwrap();
    assert_eq!((preview.amount, preview.payee, preview.remaining_after), (amt(15_000), BOB, amt(35_000)));
    // A preview signs and stores nothing.
    assert!(alice.offline_store().paid_notes().unwrap().is_empty());

    let payment = alice.pay(&request.text, NOW + 10).unwrap();
    assert!(payment.text.starts_with("OPN1:"));
    assert_eq!((payment.seq, payment.amount, payment.remaining), (1, amt(15_000), amt(35_000)));
    assert_eq!(alice.offline_balance(NOW + 10).unwrap(), amt(35_000));
    let paid = alice.offline_store().paid_notes().unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!((paid[0].seq, paid[0].payee, paid[0].status), (1, BOB, UploadStatus::Pending));

    // Whitespace around a pasted note is fine.
    let accepted = bob.accept(&format!("  {}\n", payment.text), NOW + 20).unwrap();
    assert_eq!((accepted.payer, accepted.amount, accepted.seq), (ALICE, amt(15_000), 1));
    assert_eq!(accepted.note_hash, payment.note.hash());
    let stored = bob.offline_store().accepted_notes().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].text, payment.text);
    assert_eq!(stored[0].status, UploadStatus::Pending);
    assert!(bob.offline_store().requests().unwrap()[0].paid);
    assert_eq!(bob.offline_store().tally(accepted.purse_id).unwrap().unwrap().taken(), Some(amt(15_000)));
    assert_eq!(bob.offline_store().pending_uploads().unwrap().len(), 1);

    // The same note again: refused, nothing changes.
    assert_eq!(rejected(bob.accept(&payment.text, NOW + 30)), RejectReason::AlreadyAccepted);
    assert_eq!(bob.offline_store().accepted_notes().unwrap().len(), 1);

    // Bob's store survives reopening with the note, the tally and the paid request.
    drop(bob);
    let mut bob = bob_home.open();
    assert_eq!(rejected(bob.accept(&payment.text, NOW + 40)), RejectReason::AlreadyAccepted);
    assert_eq!(bob.offline_store().tally(accepted.purse_id).unwrap().unwrap().notes.len(), 1);
}

#[test]
fn a_note_with_any_one_character_changed_is_refused_and_not_stored() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let request = bob.request(amt(15_000), 600, NOW).unwrap();
    let payment = alice.pay(&request.text, NOW).unwrap();

    let chars: Vec<char> = payment.text.chars().collect();
    let mut reasons = std::collections::BTreeSet::new();
    for i in 0..chars.len() {
        let mut changed = chars.clone();
        // Another character of the base45 alphabet (or of the prefix).
        changed[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let text: String = changed.into_iter().collect();
        reasons.insert(rejected(bob.accept(&text, NOW)).code());
    }
    assert!(bob.offline_store().accepted_notes().unwrap().is_empty());
    assert!(!bob.offline_store().requests().unwrap()[0].paid);
    // Changes in the body are caught by the decoder or by a signature.
    assert!(reasons.contains("malformed"), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.starts_with("bad_") || *r == "wrong_payee" || *r == "unknown_request"),
        "{reasons:?}"
    );
    // The original is still good.
    bob.accept(&payment.text, NOW).unwrap();
}

#[test]
fn the_payer_refuses_to_pay_past_the_purse_or_the_cap_and_keeps_its_state() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    for _ in 0..2 {
        let r = bob.request(amt(20_000), 600, NOW).unwrap();
        let p = alice.pay(&r.text, NOW).unwrap();
        bob.accept(&p.text, NOW).unwrap();
    }
    assert_eq!(alice.offline_balance(NOW).unwrap(), amt(10_000));

    let too_much = bob.request(amt(15_000), 600, NOW).unwrap();
    match alice.pay(&too_much.text, NOW) {
        Err(OfflineError::Pay(PayError::InsufficientPurse { remaining })) => assert_eq!(remaining, amt(10_000)),
        other => panic!("expected insufficient purse, got {other:?}"),
    }
    let over_cap = bob.request(amt(20_001), 600, NOW).unwrap();
    assert!(matches!(alice.pay(&over_cap.text, NOW), Err(OfflineError::Pay(PayError::OverPaymentCap { .. }))));
    let expired = bob.request(amt(100), 60, NOW).unwrap();
    assert!(matches!(
        alice.pay(&expired.text, NOW + 61),
        Err(OfflineError::Pay(PayError::Request(RejectReason::RequestExpired)))
    ));
    assert!(matches!(alice.pay("OPR1:NOT A REQUEST", NOW), Err(OfflineError::MalformedRequest(_))));
    // Nothing was signed by the refusals.
    let purse = &alice.offline_store().purses().unwrap()[0];
    assert_eq!((purse.state.last_seq, purse.state.spent), (2, amt(40_000)));
    assert_eq!(alice.offline_store().paid_notes().unwrap().len(), 2);

    // What is left can still be paid.
    let rest = bob.request(amt(10_000), 600, NOW).unwrap();
    let p = alice.pay(&rest.text, NOW).unwrap();
    assert_eq!((p.seq, p.remaining), (3, Amount::ZERO));
    bob.accept(&p.text, NOW).unwrap();
    assert_eq!(alice.offline_balance(NOW).unwrap(), Amount::ZERO);
}

#[test]
fn no_purse_is_a_clear_error() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let r = bob_home.open().request(amt(100), 600, NOW).unwrap();
    let err = alice_home.open().pay(&r.text, NOW).unwrap_err();
    assert!(matches!(err, OfflineError::NoPurse), "{err:?}");
    assert!(err.to_string().contains("purse load"), "{err}");
}

#[test]
fn the_payee_refuses_a_note_past_the_purse_amount() {
    // A forged note (signed by the purse's real device key, so only the amounts are wrong):
    // the payer's wallet would never make it, so build it with the protocol API.
    let bob_home = Home::new("bob", BOB);
    let mut bob = bob_home.open();
    let device = testkit::signing_key("rogue-payer-device");
    let mut fields = purse_fields(&bob, ALICE, 50_000, "purse-rogue");
    fields.device_key = device.verifying_key();
    let certificate = offpay_protocol::PurseCertificate::issue(fields, &issuer()).unwrap();

    let request = bob.request(amt(15_000), 600, NOW).unwrap();
    let note = PaymentNote::sign(
        certificate.clone(),
        NoteFields {
            seq: 4,
            prev_hash: offpay_protocol::crypto::sha256(b"some earlier note"),
            cumulative: amt(60_000),
            amount: amt(15_000),
            payee: BOB,
            nonce: request.request.fields().nonce,
            time: NOW,
        },
        &device,
    )
    .unwrap();
    assert_eq!(rejected(bob.accept(&note.to_text(), NOW)), RejectReason::OverPurseAmount);
    assert!(bob.offline_store().accepted_notes().unwrap().is_empty());
    assert!(!bob.offline_store().requests().unwrap()[0].paid);
}

#[test]
fn the_payee_refuses_wrong_payee_unknown_and_expired_requests_and_unknown_issuers() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let carol_home = Home::new("carol", CAROL);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    let mut carol = carol_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");

    let for_bob = bob.request(amt(1_000), 60, NOW).unwrap();
    let note = alice.pay(&for_bob.text, NOW).unwrap();
    assert_eq!(rejected(carol.accept(&note.text, NOW)), RejectReason::WrongPayee);
    assert_eq!(rejected(bob.accept(&note.text, NOW + 61)), RejectReason::RequestExpired);

    // A payee that never cached the issuer key cannot check the certificate.
    carol.offline_store_mut().replace_issuer_keys(&offpay_protocol::IssuerKeys::default(), 0).unwrap();
    let for_carol = carol.request(amt(1_000), 600, NOW).unwrap();
    let note = alice.pay(&for_carol.text, NOW).unwrap();
    assert_eq!(rejected(carol.accept(&note.text, NOW)), RejectReason::UnknownIssuerKey);

    // A store with no identity cannot accept or request.
    let stranger = tempfile::tempdir().unwrap();
    let mut stranger = Wallet::open(stranger.path()).unwrap();
    assert!(matches!(stranger.accept(&note.text, NOW), Err(OfflineError::UnknownIdentity)));
    assert!(matches!(stranger.request(amt(1), 60, NOW), Err(OfflineError::UnknownIdentity)));
}

#[test]
fn the_sequence_number_is_on_disk_before_the_note_is_returned() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    load(&mut alice, ALICE, 50_000, "purse-a");
    let r1 = bob.request(amt(1_000), 600, NOW).unwrap();
    let first = alice.pay(&r1.text, NOW).unwrap();

    // Another connection to the same file already sees the new state (committed, not just
    // in this connection's transaction), while `alice` is still open.
    let raw = rusqlite::Connection::open(alice_home.path.join("wallet.sqlite3")).unwrap();
    let (seq, hash): (i64, String) =
        raw.query_row("SELECT last_seq, last_hash FROM purses", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((seq, hash), (1, first.note.hash().to_hex()));
    drop(raw);

    // A fresh process (a new store on the same home) continues at n + 1, linked to note n.
    drop(alice);
    let mut alice = alice_home.open();
    let r2 = bob.request(amt(2_000), 600, NOW).unwrap();
    let second = alice.pay(&r2.text, NOW).unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.note.fields().prev_hash, first.note.hash());
    assert_eq!(second.note.fields().cumulative, amt(3_000));
    bob.accept(&first.text, NOW).unwrap();
    bob.accept(&second.text, NOW).unwrap();
}

#[test]
fn concurrent_pays_from_two_processes_never_reuse_a_sequence_number() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    load(&mut alice_home.open(), ALICE, 200_000, "purse-a");
    let mut bob = bob_home.open();
    let requests: Vec<String> = (0..16).map(|_| bob.request(amt(100), 600, NOW).unwrap().text).collect();

    let path = alice_home.path.clone();
    let seqs: Vec<u32> = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .chunks(4)
            .map(|chunk| {
                let path = path.clone();
                scope.spawn(move || {
                    let mut store = Wallet::open(&path).unwrap();
                    chunk.iter().map(|r| store.pay(r, NOW).unwrap().seq).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=16).collect::<Vec<u32>>());

    // Bob accepts all 16 in sequence order: one consistent chain.
    let alice = alice_home.open();
    for paid in alice.offline_store().paid_notes().unwrap() {
        bob.accept(&paid.text, NOW).unwrap();
    }
    assert_eq!(alice.offline_store().purses().unwrap()[0].state.spent, amt(1_600));
}

#[test]
fn a_cloned_device_forks_the_chain_and_each_payee_accepts_until_revoked() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let carol_home = Home::new("carol", CAROL);
    let certificate = load(&mut alice_home.open(), ALICE, 50_000, "purse-a");
    // The copy is taken with the store closed, before either device pays.
    let clone_home = alice_home.clone_device();
    let mut alice = alice_home.open();
    let mut clone = clone_home.open();
    assert_eq!(alice.offline_store().device_public_hex(), clone.offline_store().device_public_hex());

    let mut bob = bob_home.open();
    let mut carol = carol_home.open();
    let to_bob = alice.pay(&bob.request(amt(15_000), 600, NOW).unwrap().text, NOW).unwrap();
    let to_carol = clone.pay(&carol.request(amt(15_000), 600, NOW).unwrap().text, NOW).unwrap();
    assert_eq!((to_bob.seq, to_carol.seq), (1, 1));
    assert_ne!(to_bob.note.hash(), to_carol.note.hash());
    assert_eq!(to_bob.note.fields().prev_hash, to_carol.note.fields().prev_hash);

    // Neither payee can know: both accept.
    bob.accept(&to_bob.text, NOW).unwrap();
    carol.accept(&to_carol.text, NOW).unwrap();
    // Bob, shown the other branch for one of his own requests, sees the fork.
    let fork_for_bob = clone.pay(&bob.request(amt(100), 600, NOW).unwrap().text, NOW).unwrap();
    assert_eq!(fork_for_bob.seq, 2);
    assert_eq!(rejected(bob.accept(&fork_for_bob.text, NOW)), RejectReason::InconsistentWithEarlierNote);

    // Once a merchant has the revocation list (after a sync), Alice's next note is refused.
    let revocations = Revocations {
        purses: [certificate.purse_id()].into_iter().collect(),
        devices: [*alice.offline_store().device_public_key().as_bytes()].into_iter().collect(),
    };
    carol.offline_store_mut().replace_revocations(&revocations, 1).unwrap();
    let next = alice.pay(&carol.request(amt(100), 600, NOW).unwrap().text, NOW).unwrap();
    assert_eq!(rejected(carol.accept(&next.text, NOW)), RejectReason::Revoked);

    // And Alice's own wallet, once it knows, pays nothing more from the purse.
    alice.offline_store_mut().replace_revocations(&revocations, 1).unwrap();
    assert_eq!(alice.offline_balance(NOW).unwrap(), Amount::ZERO);
    let err = alice.pay(&carol.request(amt(100), 600, NOW).unwrap().text, NOW).unwrap_err();
    assert!(matches!(err, OfflineError::PurseRevoked), "{err:?}");
}

#[test]
fn installing_checks_the_device_and_issuer_and_is_idempotent() {
    let alice_home = Home::new("alice", ALICE);
    let mut alice = alice_home.open();
    let certificate = load(&mut alice, ALICE, 50_000, "purse-a");
    alice.offline_store_mut().install_purse(&certificate, 1).unwrap();
    assert_eq!(alice.offline_store().purses().unwrap().len(), 1);
    assert_eq!(alice.offline_store().purses().unwrap()[0].status, PurseStatus::Open);

    let other_device = testkit::signing_key("someone-else");
    let mut fields = purse_fields(&alice, ALICE, 50_000, "purse-b");
    fields.device_key = other_device.verifying_key();
    let foreign = offpay_protocol::PurseCertificate::issue(fields, &issuer()).unwrap();
    assert!(matches!(alice.offline_store_mut().install_purse(&foreign, 1), Err(OfflineError::BadCertificate(_))));

    let fake_issuer = testkit::signing_key("not-the-issuer");
    let forged =
        offpay_protocol::PurseCertificate::issue(purse_fields(&alice, ALICE, 50_000, "purse-c"), &fake_issuer).unwrap();
    assert!(matches!(alice.offline_store_mut().install_purse(&forged, 1), Err(OfflineError::BadCertificate(_))));
    assert_eq!(alice.offline_store().purses().unwrap().len(), 1);
    assert_eq!(alice.offline_store().purses().unwrap()[0].purse_id(), PurseId::from_bytes(testkit::bytes16("purse-a")));
}

#[test]
fn a_purse_that_made_its_last_payment_is_passed_over_and_says_so_when_alone() {
    let alice_home = Home::new("alice", ALICE);
    let bob_home = Home::new("bob", BOB);
    let mut alice = alice_home.open();
    let mut bob = bob_home.open();
    let full = load(&mut alice, ALICE, 50_000, "purse-a");
    let r1 = bob.request(amt(1_000), 600, NOW).unwrap();
    alice.pay(&r1.text, NOW).unwrap();
    // The purse row as 998 more payments would have left it (the chain is not re-signed here).
    let raw = rusqlite::Connection::open(alice_home.path.join("wallet.sqlite3")).unwrap();
    raw.execute("UPDATE purses SET last_seq = ?1", [i64::from(MAX_NOTES_PER_PURSE) - 1]).unwrap();
    drop(raw);

    let last = bob.request(amt(1_000), 600, NOW).unwrap();
    let paid = alice.pay(&last.text, NOW).unwrap();
    assert_eq!(paid.seq, MAX_NOTES_PER_PURSE);
    assert_eq!(bob.accept(&paid.text, NOW).unwrap().seq, MAX_NOTES_PER_PURSE);

    // The purse has made its last payment: with no other purse, the wallet says so in words.
    let more = bob.request(amt(1_000), 600, NOW).unwrap();
    let refused = alice.pay(&more.text, NOW).unwrap_err();
    assert!(matches!(refused, OfflineError::Pay(PayError::PurseFull { max: MAX_NOTES_PER_PURSE })), "{refused:?}");
    assert!(refused.to_string().contains("close it and load a new one"), "{refused}");
    let purse = &alice.offline_store().purses().unwrap()[0];
    assert_eq!((purse.state.last_seq, purse.state.spent), (MAX_NOTES_PER_PURSE, amt(2_000)));
    assert_eq!(alice.offline_store().paid_notes().unwrap().len(), 2);

    // With a second purse loaded, the full one is passed over though it holds more.
    let fresh = load(&mut alice, ALICE, 30_000, "purse-b");
    let paid = alice.pay(&more.text, NOW).unwrap();
    assert_eq!((paid.note.purse_id(), paid.seq), (fresh.purse_id(), 1));
    assert_ne!(fresh.purse_id(), full.purse_id());
    bob.accept(&paid.text, NOW).unwrap();
}
