//! Offline purses and settlement, one set of cases run against a fresh SQLite file and a fresh
//! PostgreSQL database (skipped with a notice when PostgreSQL is unreachable, unless `CI=true`):
//! load, settle, duplicate, fork proof, revocation, freeze, recovery from the payer's balance,
//! fraud loss, close, expiry; after each case `verify` passes and money is conserved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

use offpay_ledger::offline::*;
use offpay_ledger::*;
use offpay_protocol::PaymentNote;
use offpay_protocol::testkit::{seed, signing_key, torsion_signature};
use support::*;

async fn load_settle_duplicate(fx: Fx) {
    let alice = fx.user("alice", 500_000).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");

    // Unregistered device, then someone else's device.
    let cert = certificate(&alice, &device, 50_000, 3 * DAY, "purse-a");
    let request = load_request(alice.id, cert.clone(), "load-purse-a");
    assert!(matches!(fx.off().load_purse(&request, NOW).await, Err(OfflineError::UnknownDevice)));
    fx.off().register_device(alice.id, device.verifying_key().to_bytes(), NOW).await.unwrap();
    fx.off().register_device(alice.id, device.verifying_key().to_bytes(), NOW).await.unwrap();
    assert!(matches!(
        fx.off().register_device(bob.id, device.verifying_key().to_bytes(), NOW).await,
        Err(OfflineError::DeviceTaken)
    ));
    // A certificate naming another account is refused.
    let wrong = certificate(&bob, &device, 50_000, 3 * DAY, "purse-a");
    let bad = load_request(alice.id, wrong, "load-wrong-acct");
    assert!(matches!(fx.off().load_purse(&bad, NOW).await, Err(OfflineError::InvalidCertificate(_))));
    // Too much.
    let big = certificate(&alice, &device, 600_000, 3 * DAY, "purse-big");
    let bad = load_request(alice.id, big, "load-too-big");
    assert!(matches!(fx.off().load_purse(&bad, NOW).await, Err(OfflineError::Ledger(LedgerError::InsufficientFunds))));

    let loaded = fx.off().load_purse(&request, NOW).await.unwrap();
    assert_eq!(loaded.balance.minor(), 450_000);
    assert_eq!(loaded.purse.state, PurseState::Open);
    assert_eq!(loaded.purse.held(), 50_000);
    // A retry returns the first purse, even with a freshly signed certificate.
    let retry = load_request(alice.id, certificate(&alice, &device, 50_000, 3 * DAY, "purse-a-retry"), "load-purse-a");
    let again = fx.off().load_purse(&retry, NOW).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.purse.id, cert.purse_id());
    assert_eq!(fx.balance(&alice).await, 450_000);
    let conflict = load_request(alice.id, certificate(&alice, &device, 40_000, 3 * DAY, "purse-x"), "load-purse-a");
    assert!(matches!(
        fx.off().load_purse(&conflict, NOW).await,
        Err(OfflineError::Ledger(LedgerError::IdempotencyConflict))
    ));

    let mut chain = Chain::new(&cert, &device);
    let note = chain.pay(&bob, 15_000, "bob-req-1");
    let results = fx.settle(&bob, std::slice::from_ref(&note), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 15_000)]);
    assert_eq!(results[0].note, note.hash());
    assert_eq!(fx.balance(&bob).await, 15_000);
    // The payer uploads it too, a tampered copy and a note of an unknown purse come along.
    let mut bytes = note.encode();
    bytes[250] ^= 1; // inside the signature
    let tampered = PaymentNote::decode(&bytes).unwrap();
    let stranger = Chain::new(&certificate(&alice, &device, 1_000, DAY, "never-loaded"), &device).pay(&bob, 500, "x");
    let results = fx.settle(&alice, &[note.clone(), tampered, stranger], NOW).await;
    assert_eq!(
        statuses(&results),
        vec![
            (NoteStatus::Duplicate, None, 0),
            (NoteStatus::Rejected, Some("bad_device_signature"), 0),
            (NoteStatus::Rejected, Some("unknown_purse"), 0),
        ]
    );
    assert_eq!(fx.balance(&bob).await, 15_000);
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.settled, purse.held()), (15_000, 35_000));

    // Events and history.
    let events = fx.store.events_after(bob.id, 0, 100).await.unwrap();
    let inbound: Vec<_> = events.iter().filter(|e| e.kind == "offline_in").collect();
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].payload["amount"], 15_000);
    assert_eq!(inbound[0].payload["count"], 1);
    assert_eq!(inbound[0].payload["notes"][0]["from"], "alice");
    assert_eq!(inbound[0].payload["notes"][0]["amount"], 15_000);
    assert_eq!(inbound[0].payload["balance"], 15_000);
    let events = fx.store.events_after(alice.id, 0, 100).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "offline_out" && e.payload["notes"][0]["note"] == note.hash().to_hex()));
    let history = fx.store.history(bob.id, None, 10).await.unwrap();
    assert_eq!(history[0].kind, EntryKind::OfflineSettle);
    assert_eq!(history[0].delta, 15_000);
    let history = fx.store.history(alice.id, None, 10).await.unwrap();
    assert!(history.iter().any(|h| h.kind == EntryKind::PurseLoad && h.delta == -50_000));

    // Listing.
    let mine = fx.off().purses(Some(alice.id), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(fx.off().purses(Some(bob.id), 10).await.unwrap().is_empty());
    assert!(fx.off().revocations(NOW_S).await.unwrap().purses.is_empty());
    fx.verify_clean(500_000).await;
}

/// A load refused for want of money stays refused under its key after the money arrives: the
/// wallet was told "not loaded", so an earlier attempt of the same load still on its way (on
/// PostgreSQL one can wait for a connection after its client gave up) must not load a purse
/// later. The same load under a new key goes through.
async fn a_refused_load_stays_refused_under_its_key(fx: Fx) {
    let alice = fx.user("alice", 10_000).await;
    let device = signing_key("alice-phone");
    fx.off().register_device(alice.id, device.verifying_key().to_bytes(), NOW).await.unwrap();
    let cert = certificate(&alice, &device, 50_000, 3 * DAY, "purse-short");
    let short = load_request(alice.id, cert.clone(), "load-short");
    let refused = fx.off().load_purse(&short, NOW).await;
    assert!(matches!(refused, Err(OfflineError::Ledger(LedgerError::InsufficientFunds))), "{refused:?}");
    fx.deposit(&alice, 100_000, "alice-more").await;
    let again = fx.off().load_purse(&short, NOW).await;
    assert!(matches!(again, Err(OfflineError::Ledger(LedgerError::InsufficientFunds))), "{again:?}");
    assert_eq!(fx.balance(&alice).await, 110_000);
    assert!(fx.off().purses(Some(alice.id), 10).await.unwrap().is_empty());
    // The key still belongs to that load: another amount under it is a conflict.
    let other = load_request(alice.id, certificate(&alice, &device, 20_000, 3 * DAY, "purse-other"), "load-short");
    let conflict = fx.off().load_purse(&other, NOW).await;
    assert!(matches!(conflict, Err(OfflineError::Ledger(LedgerError::IdempotencyConflict))), "{conflict:?}");

    let anew = fx.off().load_purse(&load_request(alice.id, cert, "load-short-anew"), NOW).await.unwrap();
    assert_eq!((anew.replayed, anew.balance.minor()), (false, 60_000));
    fx.verify_clean(110_000).await;
}

/// No offline credit takes a wallet past the largest amount (2^53−1 minor units), as no online
/// transfer or deposit does, so every balance reads back: a note that would is refused
/// `payee_balance_full` (not stored, nothing moved) and paid when uploaded again once the payee
/// has room; a close whose return would is refused with `amount_overflow` (the purse stays open);
/// the expiry pass leaves such a purse for a later pass and expires the others.
async fn no_wallet_goes_past_the_largest_amount_offline(fx: Fx) {
    const MAX: u64 = offpay_protocol::Amount::MAX.minor();
    let alice = fx.user("alice", 100_000).await;
    let bob = fx.user("bob", MAX - 10_000).await;
    let carol = fx.user("carol", 0).await;
    let dave = fx.user("dave", MAX - 1_000).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 50_000, 3 * DAY, "purse-to-bob").await;
    let mut chain = Chain::new(&cert, &device);
    let note = chain.pay(&bob, 20_000, "to-bob");
    let results = fx.settle(&bob, std::slice::from_ref(&note), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some("payee_balance_full"), 0)]);
    assert_eq!(fx.balance(&bob).await, MAX - 10_000);
    assert_eq!(fx.purse(&cert).await.settled, 0);
    fx.transfer(&bob, &carol, 15_000).await;
    let results = fx.settle(&bob, std::slice::from_ref(&note), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 20_000)]);
    assert_eq!(fx.balance(&bob).await, MAX - 5_000);

    // Dave's purse would bring 200.00 back to a wallet with room for 5.00.
    let dave_phone = signing_key("dave-phone");
    let daves = fx.load(&dave, &dave_phone, 20_000, 3 * DAY, "purse-dave").await;
    fx.transfer(&alice, &dave, 20_500).await;
    assert_eq!(fx.balance(&dave).await, MAX - 500);
    let close = Chain::new(&daves, &dave_phone).close();
    let refused = fx.off().close_purse(dave.id, &close, &key("close-dave"), NOW).await;
    assert!(matches!(refused, Err(OfflineError::Ledger(LedgerError::AmountOverflow))), "{refused:?}");
    assert_eq!(fx.purse(&daves).await.state, PurseState::Open);
    assert_eq!(fx.balance(&dave).await, MAX - 500);

    // At the deadline the pass expires Alice's purse and leaves Dave's for later.
    let after = NOW_S + 3 * DAY + GRACE + 1;
    let expired = fx.off().expire_purses(after, GRACE, NOW).await.unwrap();
    assert_eq!(expired, ExpiryOutcome { purses: 1, returned: 30_000 });
    assert!(!fx.purse(&daves).await.expired);
    fx.transfer(&dave, &carol, 20_000).await;
    let expired = fx.off().expire_purses(after, GRACE, NOW).await.unwrap();
    assert_eq!(expired, ExpiryOutcome { purses: 1, returned: 20_000 });
    assert_eq!(fx.balance(&dave).await, MAX - 500);
    fx.verify_clean(100_000 + (MAX - 10_000) + (MAX - 1_000)).await;
    // `verify` reports a wallet above the largest amount.
    let over = MAX + 1;
    fx.tamper(&format!(
        "UPDATE accounts SET balance = {over} WHERE id = (SELECT account_id FROM users WHERE handle = 'bob')"
    ))
    .await;
    let problems = fx.problems().await;
    assert!(problems.iter().any(|p| p.contains("above the largest amount")), "{problems:?}");
}

async fn fork_revokes_and_freezes(fx: Fx) {
    let alice = fx.user("alice", 500_000).await;
    let bob = fx.user("bob", 0).await;
    let carol = fx.user("carol", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 50_000, 3 * DAY, "purse-f").await;
    let mut original = Chain::new(&cert, &device);
    let mut clone = Chain::new(&cert, &device);
    let to_bob = original.pay(&bob, 15_000, "bob-req");
    let to_carol = clone.pay(&carol, 15_000, "carol-req");

    // Carol syncs first: nothing suspicious yet.
    let results = fx.settle(&carol, std::slice::from_ref(&to_carol), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 15_000)]);
    // Bob's note forks the chain: he is paid (good faith), the fork is proven.
    let results = fx.settle(&bob, std::slice::from_ref(&to_bob), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Fraud, Some("same_sequence"), 15_000)]);
    // Alice's own upload of both: nothing more moves, the proof is stored once.
    let results = fx.settle(&alice, &[to_bob.clone(), to_carol.clone(), to_bob.clone()], NOW).await;
    assert!(results.iter().all(|r| r.status == NoteStatus::Duplicate && r.amount == 0), "{results:?}");
    assert_eq!(fx.balance(&bob).await, 15_000);
    assert_eq!(fx.balance(&carol).await, 15_000);

    let proofs = fx.off().fraud_proofs(10).await.unwrap();
    assert_eq!(proofs.len(), 1);
    assert_eq!(proofs[0].kind, "same_sequence");
    assert_eq!(proofs[0].user_id, alice.id);
    let both = [PaymentNote::decode(&proofs[0].first).unwrap(), PaymentNote::decode(&proofs[0].second).unwrap()];
    assert!(both.contains(&to_bob) && both.contains(&to_carol));

    let revoked = fx.off().revocations(NOW_S).await.unwrap();
    assert!(revoked.purses.contains(&cert.purse_id()));
    assert!(revoked.devices.contains(&device.verifying_key().to_bytes()));
    // Past the purse's validity no payee takes its notes: the list no longer names it (the
    // device key stays listed).
    let past = fx.off().revocations(cert.fields().valid_until + 1).await.unwrap();
    assert!(past.purses.is_empty() && past.devices.contains(&device.verifying_key().to_bytes()));
    assert!(fx.off().revocations(cert.fields().valid_until).await.unwrap().purses.contains(&cert.purse_id()));
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    assert!(fx.store.user_by_id(alice.id).await.unwrap().unwrap().frozen);
    let events = fx.store.events_after(alice.id, 0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "account_frozen").count(), 1);
    let sec = fx.store.security_events(10).await.unwrap();
    assert!(sec.iter().any(|e| e.kind == "offline_fraud"));

    // A frozen account loads nothing; a revoked device registers nowhere.
    let other = signing_key("alice-tablet");
    fx.off().register_device(alice.id, other.verifying_key().to_bytes(), NOW).await.unwrap();
    let request = load_request(alice.id, certificate(&alice, &other, 10_000, DAY, "purse-after"), "load-after-fraud");
    assert!(matches!(fx.off().load_purse(&request, NOW).await, Err(OfflineError::Ledger(LedgerError::AccountFrozen))));
    assert!(matches!(
        fx.off().register_device(alice.id, device.verifying_key().to_bytes(), NOW).await,
        Err(OfflineError::DeviceRevoked)
    ));
    fx.verify_clean(500_000).await;
}

async fn recovery_and_fraud_loss(fx: Fx) {
    let alice = fx.user("alice", 80_000).await;
    let bob = fx.user("bob", 0).await;
    let carol = fx.user("carol", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 50_000, 3 * DAY, "purse-r").await;
    assert_eq!(fx.balance(&alice).await, 30_000);
    let mut a = Chain::new(&cert, &device);
    let mut b = Chain::new(&cert, &device);
    let mut batch = Vec::new();
    for (i, minor) in [20_000, 20_000, 10_000].into_iter().enumerate() {
        batch.push(a.pay(&bob, minor, &format!("bob-{i}")));
        batch.push(b.pay(&carol, minor, &format!("carol-{i}")));
    }
    // 1,000.00 of notes against a 500.00 purse: the reserve pays 500.00, alice's wallet 300.00,
    // the operator's fraud-loss account the last 200.00.
    let results = fx.settle(&bob, &batch, NOW).await;
    assert_eq!(results.iter().map(|r| r.amount).sum::<u64>(), 100_000);
    assert!(results.iter().all(|r| r.status == NoteStatus::Fraud), "{results:?}");
    assert_eq!(fx.balance(&bob).await, 50_000);
    assert_eq!(fx.balance(&carol).await, 50_000);
    assert_eq!(fx.balance(&alice).await, 0);
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.settled, purse.recovered, purse.fraud_loss, purse.held()), (50_000, 30_000, 20_000, 0));
    // Each conflicting pair is proven once, in any order of upload.
    let proofs = fx.off().fraud_proofs(100).await.unwrap();
    assert!(proofs.iter().filter(|p| p.kind == "same_sequence").count() == 3, "{proofs:?}");
    let mut reversed = batch.clone();
    reversed.reverse();
    let again = fx.settle(&carol, &reversed, NOW).await;
    assert!(again.iter().all(|r| r.status == NoteStatus::Duplicate));
    assert_eq!(fx.off().fraud_proofs(100).await.unwrap().len(), proofs.len());
    // Money is conserved: 800.00 deposited = wallets + reserve + (negative) fraud loss.
    fx.verify_clean(80_000).await;
}

async fn close_returns_the_rest(fx: Fx) {
    let alice = fx.user("alice", 500_000).await;
    let bob = fx.user("bob", 0).await;
    let carol = fx.user("carol", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 50_000, 3 * DAY, "purse-c").await;
    let mut chain = Chain::new(&cert, &device);
    let first = chain.pay(&bob, 15_000, "bob");
    let second = chain.pay(&carol, 5_000, "carol");
    fx.settle(&bob, std::slice::from_ref(&first), NOW).await;

    // A close signed by another key, and a close of someone else's purse.
    let mut forged = Chain::new(&cert, &signing_key("mallory"));
    forged.seq = chain.seq;
    forged.last = chain.last;
    forged.spent = chain.spent;
    assert!(matches!(
        fx.off().close_purse(alice.id, &forged.close(), &key("close-forged"), NOW).await,
        Err(OfflineError::InvalidClose("bad_device_signature"))
    ));
    assert!(matches!(
        fx.off().close_purse(bob.id, &chain.close(), &key("close-by-bob"), NOW).await,
        Err(OfflineError::UnknownPurse)
    ));

    // Spent 200.00, 150.00 settled: 50.00 stays for Carol's pending note, 300.00 comes back.
    let close = chain.close();
    let outcome = fx.off().close_purse(alice.id, &close, &key("close-purse-c"), NOW).await.unwrap();
    assert_eq!((outcome.returned, outcome.held, outcome.balance, outcome.fraud), (30_000, 5_000, 480_000, false));
    let replay = fx.off().close_purse(alice.id, &close, &key("close-purse-c"), NOW).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.returned, 30_000);
    assert!(matches!(
        fx.off().close_purse(alice.id, &close, &key("close-purse-c2"), NOW).await,
        Err(OfflineError::PurseNotOpen)
    ));
    assert_eq!(fx.balance(&alice).await, 480_000);
    let events = fx.store.events_after(alice.id, 0, 100).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "purse_returned" && e.payload["amount"] == 30_000));

    // Carol's note arrives: paid from what was held.
    let results = fx.settle(&carol, std::slice::from_ref(&second), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 5_000)]);
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.state, purse.settled, purse.returned, purse.held()), (PurseState::Closed, 20_000, 30_000, 0));

    // A note signed after the close (a cloned device) is fraud; the payee is still paid, from
    // alice's wallet since the reserve is empty.
    let late = chain.pay(&carol, 7_000, "carol-2");
    let results = fx.settle(&carol, std::slice::from_ref(&late), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Fraud, Some("beyond_close"), 7_000)]);
    assert_eq!(fx.balance(&alice).await, 473_000);
    assert_eq!(fx.balance(&carol).await, 12_000);
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    fx.verify_clean(500_000).await;
}

async fn expiry_returns_the_remainder(fx: Fx) {
    let alice = fx.user("alice", 100_000).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 40_000, DAY, "purse-e").await;
    let other = fx.load(&alice, &device, 10_000, 10 * DAY, "purse-long").await;
    let mut chain = Chain::new(&cert, &device);
    let paid = chain.pay(&bob, 10_000, "bob");
    fx.settle(&bob, &[paid], NOW).await;
    let until = NOW_S + DAY;

    let none = fx.off().expire_purses(until + GRACE, GRACE, NOW).await.unwrap();
    assert_eq!(none, ExpiryOutcome::default());
    let done = fx.off().expire_purses(until + GRACE + 1, GRACE, NOW).await.unwrap();
    assert_eq!(done, ExpiryOutcome { purses: 1, returned: 30_000 });
    assert_eq!(fx.balance(&alice).await, 80_000);
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.state, purse.expired, purse.returned, purse.held()), (PurseState::Expired, true, 30_000, 0));
    assert_eq!(fx.purse(&other).await.state, PurseState::Open);
    let again = fx.off().expire_purses(until + GRACE + 1, GRACE, NOW).await.unwrap();
    assert_eq!(again, ExpiryOutcome::default());

    // A note accepted before expiry but uploaded after the deadline is paid from the payer's
    // wallet when it covers the note in full...
    let late = chain.pay(&bob, 5_000, "bob-2");
    let results = fx.settle(&bob, &[late], NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 5_000)]);
    assert_eq!(fx.balance(&alice).await, 75_000);
    assert_eq!(fx.purse(&cert).await.recovered, 5_000);
    // ...and refused, with nothing moved and no fraud loss, when it does not; judged again when
    // uploaded again.
    let too_late = chain.pay(&bob, 20_000, "bob-3");
    let carol = fx.user("carol", 0).await;
    fx.transfer(&alice, &carol, 60_000).await;
    let results = fx.settle(&bob, std::slice::from_ref(&too_late), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some("settlement_deadline_passed"), 0)]);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (15_000, 15_000));
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.recovered, purse.fraud_loss, purse.state), (5_000, 0, PurseState::Expired));
    fx.transfer(&carol, &alice, 5_000).await;
    let results = fx.settle(&bob, &[too_late], NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 20_000)]);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (0, 35_000));
    // Closing an expired purse is refused.
    assert!(matches!(
        fx.off().close_purse(alice.id, &chain.close(), &key("close-expired"), NOW).await,
        Err(OfflineError::PurseNotOpen)
    ));
    fx.verify_clean(100_000).await;
}

/// `note` with its device signature replaced by `signature`.
fn resigned(note: &PaymentNote, signature: &[u8; 64]) -> PaymentNote {
    let mut bytes = note.encode();
    let at = bytes.len() - 64;
    bytes[at..].copy_from_slice(signature);
    PaymentNote::decode(&bytes).unwrap()
}

/// An upload big enough to be checked in one batch (section 7 of docs/PROTOCOL.md): a note whose
/// signature carries a torsion point (cofactored and plain batch verification can accept it,
/// strict verification refuses it) and a note with a flipped signature bit are refused, every
/// other note settles; the genuine copies of both settle when uploaded later.
async fn big_upload_is_checked_in_one_batch(fx: Fx) {
    let alice = fx.user("alice", 100_000).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 20_000, DAY, "purse-big").await;
    let mut chain = Chain::new(&cert, &device);
    let genuine: Vec<PaymentNote> = (0..120).map(|i| chain.pay(&bob, 100, &format!("big-{i}"))).collect();
    let mut upload = genuine.clone();
    upload[10] = resigned(&genuine[10], &torsion_signature(&seed("alice-phone"), &genuine[10].signed_bytes()));
    let mut flipped = genuine[70].signature().to_bytes();
    flipped[40] ^= 0x10;
    upload[70] = resigned(&genuine[70], &flipped);
    assert!(upload[10].verify_device_signature().is_err() && upload[70].verify_device_signature().is_err());

    let results = fx.settle(&bob, &upload, NOW).await;
    for (i, r) in results.iter().enumerate() {
        let expected = if i == 10 || i == 70 {
            (NoteStatus::Rejected, Some("bad_device_signature"), 0)
        } else {
            (NoteStatus::Settled, None, 100)
        };
        assert_eq!((r.status, r.reason.as_deref(), r.amount), expected, "note {i}");
    }
    assert_eq!(fx.balance(&bob).await, 118 * 100);
    let results = fx.settle(&bob, &[genuine[10].clone(), genuine[70].clone()], NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 100); 2]);
    assert_eq!(fx.balance(&bob).await, 120 * 100);
    fx.verify_clean(100_000).await;
}

async fn unknown_payee_and_limits(fx: Fx) {
    let alice = fx.user("alice", 100_000).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 30_000, DAY, "purse-u").await;
    let mut chain = Chain::new(&cert, &device);
    let ghost = User { id: UserId(987_654), ..alice.clone() };
    let note = chain.pay(&ghost, 1_000, "ghost");
    let results = fx.settle(&alice, std::slice::from_ref(&note), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some("unknown_payee"), 0)]);
    assert_eq!(fx.purse(&cert).await.held(), 30_000);
    // Uploaded again (a wallet retrying), alone and twice in one upload: refused again for the
    // same reason, never reported as a duplicate (a wallet would take that for "settled").
    let results = fx.settle(&alice, &[note.clone(), note.clone()], NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some("unknown_payee"), 0); 2]);
    let too_many = vec![note; NOTES_MAX + 1];
    assert!(matches!(fx.off().settle_notes(alice.id, too_many, NOW).await, Err(OfflineError::TooManyNotes)));
    fx.verify_clean(100_000).await;
}

/// A purse loaded before purses had their own reserve account keeps its reserve in the shared
/// account 2 (`reserve_account` NULL, as the upgrade leaves it): it still settles, closes and
/// passes the audit from that account, and a purse loaded after it gets its own.
async fn a_purse_on_the_shared_reserve_settles_and_closes(fx: Fx) {
    use offpay_ledger::chain::{EntryFields, GENESIS, PostingFields, entry_hash};
    let alice = fx.user("alice", 100_000).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, 60_000, 3 * DAY, "purse-old").await;
    let own = fx.purse(&cert).await.reserve_account;
    assert!(own != RESERVE_ACCOUNT && own != alice.account_id, "{own}");
    assert_eq!(fx.count(&format!("SELECT balance FROM accounts WHERE id = {own}")).await, 60_000);
    assert_eq!(fx.count("SELECT balance FROM accounts WHERE id = 2").await, 0);

    // Write the load as the code before per-purse reserves did: the reserve posting on account
    // 2, the entry hashed again, both chain heads moved, the purse naming no account.
    let load = fx.count("SELECT id FROM journal WHERE kind = 'purse_load'").await;
    let alice_prev = fx
        .blob(&format!("SELECT prev_hash FROM postings WHERE entry_id = {load} AND account_id = {}", alice.account_id))
        .await;
    let entry = EntryFields {
        id: EntryId(load),
        kind: "purse_load".into(),
        amount: 60_000,
        memo: None,
        from_user: None,
        to_user: alice.id,
        created_at_ms: NOW,
    };
    let postings = [
        PostingFields { account_id: alice.account_id, delta: -60_000, prev_hash: alice_prev },
        PostingFields { account_id: RESERVE_ACCOUNT, delta: 60_000, prev_hash: GENESIS.to_vec() },
    ];
    let hash = fx.blob_literal(&entry_hash(&entry, &postings));
    let genesis = fx.blob_literal(&GENESIS);
    fx.tamper(&format!(
        "UPDATE postings SET account_id = 2 WHERE entry_id = {load} AND account_id = {own};
         UPDATE journal SET hash = {hash} WHERE id = {load};
         UPDATE accounts SET balance = 60000, head = {hash} WHERE id = 2;
         UPDATE accounts SET head = {hash} WHERE id = {};
         UPDATE purses SET reserve_account = NULL;
         UPDATE accounts SET balance = 0, head = {genesis} WHERE id = {own};",
        alice.account_id
    ))
    .await;
    assert_eq!(fx.purse(&cert).await.reserve_account, RESERVE_ACCOUNT);
    fx.verify_clean(100_000).await;

    let mut chain = Chain::new(&cert, &device);
    let results = fx.settle(&bob, &[chain.pay(&bob, 20_000, "bob")], NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 20_000)]);
    assert_eq!(fx.count("SELECT balance FROM accounts WHERE id = 2").await, 40_000);
    fx.verify_clean(100_000).await;

    // A purse loaded now has its own account; the shared one is not touched.
    let newer = fx.load(&alice, &device, 10_000, 3 * DAY, "purse-new").await;
    let newer_reserve = fx.purse(&newer).await.reserve_account;
    assert!(![RESERVE_ACCOUNT, own].contains(&newer_reserve), "{newer_reserve}");
    assert_eq!(fx.count("SELECT balance FROM accounts WHERE id = 2").await, 40_000);

    let closed = fx.off().close_purse(alice.id, &chain.close(), &key("close-old"), NOW).await.unwrap();
    assert_eq!(closed.returned, 40_000);
    assert_eq!(fx.count("SELECT balance FROM accounts WHERE id = 2").await, 0);
    assert_eq!(fx.balance(&alice).await, 100_000 - 60_000 - 10_000 + 40_000);
    fx.verify_clean(100_000).await;

    // The audit still holds the shared account to its purses: money taken out of it is found.
    fx.tamper("UPDATE purses SET returned = returned - 1 WHERE reserve_account IS NULL").await;
    let problems = fx.problems().await;
    assert!(problems.iter().any(|p| p.starts_with("reserve account 2 holds 0 but")), "{problems:#?}");
}

on_both_backends!([
    a_purse_on_the_shared_reserve_settles_and_closes,
    load_settle_duplicate,
    a_refused_load_stays_refused_under_its_key,
    no_wallet_goes_past_the_largest_amount_offline,
    fork_revokes_and_freezes,
    recovery_and_fraud_loss,
    close_returns_the_rest,
    expiry_returns_the_remainder,
    unknown_payee_and_limits,
    big_upload_is_checked_in_one_batch,
]);

/// On PostgreSQL an upload locks only its own purse's rows, its users' wallets and, when a loss
/// is possible, the fraud-loss account (docs/LEDGER.md, "One reserve account per purse"): with
/// another purse's reserve account and the fraud-loss account locked by someone else, an honest
/// upload to this purse still goes through, while an upload to the locked purse waits for its
/// row and then settles. (Before per-purse reserves, every upload waited for one shared row.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_to_different_purses_do_not_wait_for_each_other() {
    use std::time::Duration;
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let (alice, carol) = (fx.user("alice", 100_000).await, fx.user("carol", 100_000).await);
    let bob = fx.user("bob", 0).await;
    let (alice_phone, carol_phone) = (signing_key("alice-phone"), signing_key("carol-phone"));
    let alice_purse = fx.load(&alice, &alice_phone, 50_000, 3 * DAY, "purse-a").await;
    let carol_purse = fx.load(&carol, &carol_phone, 50_000, 3 * DAY, "purse-c").await;
    let alice_reserve = fx.purse(&alice_purse).await.reserve_account;

    // Someone else holds Alice's purse's reserve account and the fraud-loss account.
    let url = fx.url.clone().unwrap();
    let (mut holder, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    let held = holder.transaction().await.unwrap();
    let locked = held
        .query("SELECT id FROM accounts WHERE id = ANY($1) FOR UPDATE", &[&vec![alice_reserve, FRAUD_LOSS_ACCOUNT]])
        .await
        .unwrap();
    assert_eq!(locked.len(), 2);

    let carols_note = Chain::new(&carol_purse, &carol_phone).pay(&bob, 10_000, "from-carol");
    let carols = tokio::time::timeout(Duration::from_secs(20), fx.settle(&bob, &[carols_note], NOW))
        .await
        .expect("an upload to Carol's purse waited for rows of Alice's purse or the fraud-loss account");
    assert_eq!(statuses(&carols), vec![(NoteStatus::Settled, None, 10_000)]);

    let alices_note = Chain::new(&alice_purse, &alice_phone).pay(&bob, 5_000, "from-alice");
    let alices = tokio::spawn({
        let (store, bob_id, note) = (fx.store.clone(), bob.id, alices_note.clone());
        async move { store.offline().settle_notes(bob_id, vec![note], NOW).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!alices.is_finished(), "an upload to Alice's purse did not wait for its locked reserve account");
    held.rollback().await.unwrap();
    let alices = tokio::time::timeout(Duration::from_secs(20), alices).await.unwrap().unwrap();
    assert_eq!(statuses(&alices), vec![(NoteStatus::Settled, None, 5_000)]);
    assert_eq!(fx.balance(&bob).await, 15_000);
    drop(holder);
    let _ = driver.await;
    fx.verify_clean(200_000).await;
}
