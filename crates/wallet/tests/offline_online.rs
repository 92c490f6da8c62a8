//! The online half of offline payment (purse load, sync, close) through the wallet's front door,
//! against the real server over real HTTP (`real_server`: `offpay_server` over a SQLite file,
//! behind a relay that can lose one answer). Checks the wallet's side of docs/API-OFFLINE.md and
//! that the ledger ends where the wallets say: a load whose answer was lost is finished with the
//! same key and loads once, notes are uploaded and settled once whoever uploads first, a close
//! returns the unspent rest, and a device cloned from a backup is caught by the server, revoked,
//! and refused by payees who synced.

#![allow(clippy::unwrap_used, clippy::panic)]

mod real_server;

use offpay_protocol::{Amount, Handle};
use offpay_wallet::Wallet;
use offpay_wallet::offline::{OfflineError, PurseStatus, SyncReport, UploadStatus, unix_now};
use real_server::RealServer;

fn amt(minor: u64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

/// `sync` through the front door; the offline half's report.
async fn sync(wallet: &mut Wallet) -> SyncReport {
    wallet.sync().await.unwrap().offline.unwrap().report
}

#[tokio::test]
async fn load_pay_accept_sync_and_close_over_http() {
    let server = RealServer::start().await;
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut alice = server.wallet(alice_dir.path(), "alice").await;
    let mut bob = server.wallet(bob_dir.path(), "bob").await;
    server.deposit("alice", 100_000).await;

    // The first load's answer is lost: the outcome is unknown, the key stays pending.
    server.lose_answer_to("POST /v1/purses ");
    let err = alice.load_purse("500.00", unix_now()).await.unwrap_err();
    assert!(matches!(err, OfflineError::LoadUncertain { .. }), "{err:?}");
    assert!(alice.purses().unwrap().is_empty());
    // The server did load it.
    assert_eq!(server.balance("alice").await, 50_000);
    // A load of another amount must wait for that one.
    let err = alice.load_purse("10.00", unix_now()).await.unwrap_err();
    assert!(matches!(err, OfflineError::LoadPending { amount: 50_000 }), "{err:?}");
    // Running the same load again finishes it with the same key, and loads nothing more.
    let (loaded, offline) = alice.load_purse("500.00", unix_now()).await.unwrap();
    assert!(loaded.resumed);
    assert_eq!((loaded.balance, offline), (Some(amt(50_000)), amt(50_000)));
    assert_eq!(server.balance("alice").await, 50_000);
    let keys = server.keys_sent_with("POST /v1/purses ");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1]);
    // The device's public key was registered; its private key never left the device.
    let registered = server.sent_as("POST /v1/devices ");
    let public_hex = alice.offline_store().device_public_hex();
    assert!(!registered.is_empty() && registered.iter().all(|r| r.body.contains(&public_hex)), "{registered:?}");
    let secret: Vec<u8> = rusqlite::Connection::open(alice.store().path())
        .unwrap()
        .query_row("SELECT secret FROM device", [], |r| r.get(0))
        .unwrap();
    assert_eq!(secret.len(), 32);
    let secret = hex::encode(&secret);
    assert!(server.sent().iter().all(|r| !r.body.to_ascii_lowercase().contains(&secret)));
    // A new load gets a new key.
    alice.load_purse("100.00", unix_now()).await.unwrap();
    assert_eq!(alice.offline_balance(unix_now()).unwrap(), amt(60_000));
    assert_eq!(server.keys_sent_with("POST /v1/purses ").len(), 3);
    assert_eq!(server.balance("alice").await, 40_000);

    // Bob learns his identity and the keys, then they pay offline.
    let report = sync(&mut bob).await;
    assert_eq!((report.uploaded, report.issuer_keys), (0, 1));
    // The public reads carry no session; the purse list does.
    let public = [server.sent_as("GET /v1/issuer-keys "), server.sent_as("GET /v1/revocations ")].concat();
    assert!(!public.is_empty() && public.iter().all(|r| r.header("authorization").is_none()), "{public:?}");
    let purses = server.sent_as("GET /v1/purses ");
    assert!(!purses.is_empty() && purses.iter().all(|r| r.header("authorization").is_some()), "{purses:?}");
    // The account number notes name is the user's id (docs/API-OFFLINE.md).
    let bob_user = server.store.user_by_handle(&Handle::parse("bob").unwrap()).await.unwrap().unwrap().id;
    assert_eq!(bob.offline_store().identity().unwrap().unwrap().account, bob_user.account_number().unwrap());
    let request = bob.request(amt(15_000), 600, unix_now()).unwrap();
    let note = alice.pay(&request.text, unix_now()).unwrap();
    let accepted = bob.accept(&note.text, unix_now()).unwrap();
    // Bob is told to sync before the payer's purse ends (its settlement deadline follows).
    let purse = alice.purses().unwrap().into_iter().find(|p| p.purse_id() == accepted.purse_id).unwrap();
    assert_eq!(accepted.sync_by, purse.certificate.fields().valid_until);

    // Bob's sync settles it; Alice's upload of the same note is a duplicate.
    let report = sync(&mut bob).await;
    assert_eq!((report.uploaded, report.settled, report.pending), (1, 1, 0));
    assert_eq!(bob.offline_store().accepted_notes().unwrap()[0].status, UploadStatus::Settled);
    assert_eq!(server.balance("bob").await, 15_000);
    let report = sync(&mut alice).await;
    assert_eq!((report.uploaded, report.duplicate, report.pending), (1, 1, 0));
    assert_eq!(alice.offline_store().paid_notes().unwrap()[0].status, UploadStatus::Duplicate);
    assert_eq!(server.balance("bob").await, 15_000);
    // Nothing left to upload.
    assert_eq!(sync(&mut bob).await.uploaded, 0);

    // Alice closes: the statements are signed and sent, and the purses pay nothing more.
    let closed = alice.close_purses(unix_now()).await.unwrap();
    assert_eq!(closed.len(), 2);
    assert!(closed.iter().all(|c| c.outcome.is_ok()), "{closed:?}");
    let big = closed.iter().find(|c| c.spent == amt(15_000)).unwrap();
    assert_eq!(big.outcome, Ok((amt(35_000), Amount::ZERO)));
    assert!(alice.purses().unwrap().iter().all(|p| p.status == PurseStatus::Closed));
    assert_eq!(alice.offline_balance(unix_now()).unwrap(), Amount::ZERO);
    let again = bob.request(amt(100), 600, unix_now()).unwrap();
    assert!(matches!(alice.pay(&again.text, unix_now()), Err(OfflineError::NoPurse)));
    // Everything unspent came back: 1,000.00 in, 150.00 paid to bob.
    assert_eq!(server.balance("alice").await, 85_000);
    let report = server.store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
}

/// Copies a closed wallet home, as restoring a backup onto a second phone would.
fn clone_home(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
    }
}

#[tokio::test]
async fn a_cloned_device_is_caught_revoked_and_refused() {
    let server = RealServer::start().await;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut alice = server.wallet(dirs[0].path(), "alice").await;
    let mut bob = server.wallet(dirs[1].path(), "bob").await;
    let mut carol = server.wallet(dirs[2].path(), "carol").await;
    server.deposit("alice", 100_000).await;
    alice.load_purse("500.00", unix_now()).await.unwrap();
    sync(&mut bob).await;
    sync(&mut carol).await;

    // Alice restores a copy of her phone onto a second one: both hold the same purse and key.
    drop(alice);
    let clone_dir = dirs[3].path().join("clone");
    clone_home(dirs[0].path(), &clone_dir);
    let mut alice = Wallet::open(dirs[0].path()).unwrap();
    let mut clone = Wallet::open(&clone_dir).unwrap();
    assert_eq!(alice.offline_store().device_public_hex(), clone.offline_store().device_public_hex());

    // Each spends the same first note of the purse, offline, with a different payee.
    let to_bob = bob.request(amt(10_000), 600, unix_now()).unwrap();
    let note = alice.pay(&to_bob.text, unix_now()).unwrap();
    bob.accept(&note.text, unix_now()).unwrap();
    let to_carol = carol.request(amt(20_000), 600, unix_now()).unwrap();
    let forked = clone.pay(&to_carol.text, unix_now()).unwrap();
    carol.accept(&forked.text, unix_now()).unwrap();

    // Both payees are paid (they accepted in good faith); the second upload proves the fork.
    let report = sync(&mut bob).await;
    assert_eq!((report.settled, report.revoked_devices), (1, 0));
    let report = sync(&mut carol).await;
    assert_eq!((report.fraud, report.revoked_devices), (1, 1));
    assert_eq!(carol.offline_store().accepted_notes().unwrap()[0].status, UploadStatus::Fraud);
    assert_eq!((server.balance("bob").await, server.balance("carol").await), (10_000, 20_000));
    let alice_user = server.store.user_by_handle(&Handle::parse("alice").unwrap()).await.unwrap().unwrap();
    assert!(alice_user.frozen);

    // Bob syncs and learns of the revocation; his own device is fine.
    let report = sync(&mut bob).await;
    assert_eq!(report.revoked_devices, 1);
    assert!(!report.device_revoked);
    // Alice has not synced: her wallet still pays, but Bob refuses.
    let request = bob.request(amt(1_000), 600, unix_now()).unwrap();
    let note = alice.pay(&request.text, unix_now()).unwrap();
    match bob.accept(&note.text, unix_now()) {
        Err(OfflineError::Rejected(reason)) => assert_eq!(reason.code(), "revoked"),
        other => panic!("expected revoked, got {other:?}"),
    }
    // After her sync, Alice's wallet knows and pays nothing more.
    let report = sync(&mut alice).await;
    assert!(report.device_revoked);
    assert_eq!(alice.purses().unwrap()[0].status, PurseStatus::Revoked);
    assert_eq!(alice.offline_balance(unix_now()).unwrap(), Amount::ZERO);
    let request = bob.request(amt(1_000), 600, unix_now()).unwrap();
    assert!(alice.pay(&request.text, unix_now()).is_err());
    let report = server.store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
}

#[tokio::test]
async fn a_session_ended_elsewhere_is_a_clear_error_at_sync() {
    let server = RealServer::start().await;
    let (phone, laptop) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut bob = server.wallet(phone.path(), "bob").await;
    sync(&mut bob).await;
    // Bob logs in on his laptop and logs out everywhere: the phone's session is over.
    let mut laptop = Wallet::open(laptop.path()).unwrap().with_server_override(Some(server.url.clone()));
    laptop.login("bob", real_server::PASSWORD).await.unwrap();
    laptop.logout_everywhere().await.unwrap();
    // The pending sends were retried (none); the offline half ended on the session.
    let err = bob.sync().await.unwrap().offline.unwrap_err();
    assert!(matches!(err, OfflineError::SessionEnded { .. }), "{err:?}");
}

/// Alice (1,000.00, a purse of 500.00) and Bob's shop card ("Bob's Stall"; Bob loads a purse
/// of 0.01 to learn his identity), and the homes, which must outlive the wallets.
async fn customer_and_shop_card(server: &RealServer) -> (Wallet, offpay_protocol::ShopCard, [tempfile::TempDir; 2]) {
    let homes = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut alice = server.wallet(homes[0].path(), "alice").await;
    let mut bob = server.wallet(homes[1].path(), "bob").await;
    server.deposit("alice", 100_000).await;
    alice.load_purse("500.00", unix_now()).await.unwrap();
    server.deposit("bob", 1).await;
    bob.load_purse("0.01", unix_now()).await.unwrap();
    let text = bob.make_card("Bob's Stall", unix_now()).unwrap().text;
    (alice, offpay_wallet::offline::pay_card::parse_card(&text).unwrap(), homes)
}

/// One shop payment, one payment, whichever way it goes (docs/WALLET.md, "pay-shop"): a payment
/// sent online under a key and still pending (its answer was lost) is not paid offline too under
/// that key, nor once it is known to be paid; the shop ends with the amount once.
#[tokio::test]
async fn a_shop_payment_sent_online_is_never_also_paid_offline() {
    use offpay_wallet::WalletError;
    let server = RealServer::start().await;
    let (mut alice, card, _homes) = customer_and_shop_card(&server).await;
    let bob_before = server.balance("bob").await;

    server.lose_answer_to("POST /v1/transfers ");
    let lost = alice.pay_shop(&card, "10.00", false, Some("order-0007"), unix_now()).await.unwrap_err();
    assert!(lost.is_pending_send(), "{lost}");
    let offline = alice.pay_shop(&card, "10.00", true, Some("order-0007"), unix_now()).await.unwrap_err();
    assert!(offline.is_pending_send(), "{offline}");
    assert!(
        matches!(&offline, WalletError::Offline(e) if matches!(**e, OfflineError::SentOnline { .. })),
        "{offline:?}"
    );
    assert!(offline.to_string().contains("offpay wallet retry order-0007"), "{offline}");
    assert!(alice.offline_store().paid_notes().unwrap().is_empty());

    // Finished online; offline under the key is still refused.
    alice.retry("order-0007").await.unwrap();
    let paid = alice.pay_shop(&card, "10.00", true, Some("order-0007"), unix_now()).await.unwrap_err();
    assert!(matches!(&paid, WalletError::Offline(e) if matches!(**e, OfflineError::PaidOnline { .. })), "{paid:?}");
    assert!(alice.offline_store().paid_notes().unwrap().is_empty());
    assert_eq!(server.balance("bob").await, bob_before + 1_000);
}

/// A shop payment whose online send never reached the server is paid offline under the send's
/// key; an explicit `retry` of that key later finds it paid and sends nothing.
#[tokio::test]
async fn a_shop_payment_paid_offline_after_the_server_was_unreachable_is_not_sent_again() {
    use offpay_wallet::WalletError;
    use offpay_wallet::wallet::ShopPaid;
    let server = RealServer::start().await;
    let (mut alice, card, _homes) = customer_and_shop_card(&server).await;
    let bob_before = server.balance("bob").await;

    // The server can no longer be reached: the send certainly never arrived.
    server.go_away();
    let paid = alice.pay_shop(&card, "10.00", false, None, unix_now()).await;
    let paid = match paid {
        Ok(ShopPaid::Offline(payment)) => payment,
        other => panic!("not paid offline: {other:?}"),
    };
    assert_eq!(alice.offline_store().paid_notes().unwrap().len(), 1);
    let key: String = rusqlite::Connection::open(alice.store().path())
        .unwrap()
        .query_row("SELECT idempotency_key FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert!(alice.card_key_paid(&key).unwrap(), "the card note is kept under the send's key");
    // (Before the fix, the retry reopened the send under a fresh key and paid the shop again.)
    let again = alice.retry(&key).await.unwrap_err();
    assert!(matches!(again, WalletError::PaidOffline(_)), "{again:?}");
    assert_eq!(server.balance("bob").await, bob_before, "nothing was sent online");
    assert!(!paid.text.is_empty());
}

/// `purse close` signs each purse's statement from the purse's state read just before it: a
/// payment that a second process on the same home makes from another purse while the first
/// purse's close waits on a slow network is counted by that purse's statement, so the payee's
/// note settles and the account stays in good standing. (Signed from the list read at the
/// start, the statement left that note out: a note beyond the close, the account frozen as a
/// fraud.)
#[tokio::test]
async fn a_close_counts_a_note_another_process_paid_while_it_ran() {
    use offpay_wallet::offline::UploadStatus;
    use std::time::Duration;
    let server = RealServer::start().await;
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut alice = server.wallet(alice_dir.path(), "alice").await;
    let mut bob = server.wallet(bob_dir.path(), "bob").await;
    server.deposit("alice", 100_000).await;
    alice.load_purse("300.00", unix_now()).await.unwrap();
    alice.load_purse("200.00", unix_now()).await.unwrap();
    sync(&mut bob).await;
    let request = bob.request(amt(5_000), 600, unix_now()).unwrap();
    let mut second = Wallet::open(alice_dir.path()).unwrap().with_server_override(Some(server.url.clone()));

    // The first close request is slow; meanwhile the second process pays from the other purse.
    server.delay("POST /v1/purses/", Duration::from_millis(1_000));
    let (closed, note) = tokio::join!(alice.close_purses(unix_now()), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        second.pay(&request.text, unix_now())
    });
    let (closed, note) = (closed.unwrap(), note.unwrap());
    assert_eq!(closed.len(), 2, "{closed:?}");
    assert!(closed.iter().all(|c| c.outcome.is_ok()), "{closed:?}");
    assert_eq!(closed.iter().map(|c| c.spent.minor()).sum::<u64>(), 5_000, "{closed:?}");
    bob.accept(&note.text, unix_now()).unwrap();
    let report = sync(&mut bob).await;
    assert_eq!((report.uploaded, report.settled), (1, 1), "{report:?}");
    assert_eq!(bob.offline_store().accepted_notes().unwrap()[0].status, UploadStatus::Settled);
    assert_eq!((server.balance("alice").await, server.balance("bob").await), (95_000, 5_000));
    let alice_user = server.store.user_by_handle(&Handle::parse("alice").unwrap()).await.unwrap().unwrap();
    assert!(!alice_user.frozen, "alice was frozen: the close left her note out");
    assert!(server.store.verify().await.unwrap().problems.is_empty());
}

/// A home shared by two accounts uploads each account's notes under that account's session
/// only. Bob accepted a note of a purse that was then revoked for a fork; Dave logs in on Bob's
/// home and syncs: the note is not sent (from Dave it would be refused `payee_must_upload`, for
/// good, and never sent again). Bob logs back in and his sync gets it paid.
#[tokio::test]
async fn a_shared_home_uploads_each_accounts_notes_under_its_own_session() {
    let server = RealServer::start().await;
    let dirs: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut alice = server.wallet(dirs[0].path(), "alice").await;
    let mut bob = server.wallet(dirs[1].path(), "bob").await;
    let mut carol = server.wallet(dirs[2].path(), "carol").await;
    let mut erin = server.wallet(dirs[3].path(), "erin").await;
    server.wallet(dirs[4].path(), "dave").await;
    server.deposit("alice", 100_000).await;
    alice.load_purse("500.00", unix_now()).await.unwrap();
    for payee in [&mut bob, &mut carol, &mut erin] {
        sync(payee).await;
    }
    drop(alice);
    let clone_dir = dirs[5].path().join("clone");
    clone_home(dirs[0].path(), &clone_dir);
    let mut alice = Wallet::open(dirs[0].path()).unwrap();
    let mut clone = Wallet::open(&clone_dir).unwrap();

    // Alice pays Bob (note 1) and Erin (note 2); the clone pays Carol another note 1.
    let note = alice.pay(&bob.request(amt(10_000), 600, unix_now()).unwrap().text, unix_now()).unwrap();
    bob.accept(&note.text, unix_now()).unwrap();
    let second = alice.pay(&erin.request(amt(5_000), 600, unix_now()).unwrap().text, unix_now()).unwrap();
    erin.accept(&second.text, unix_now()).unwrap();
    let forked = clone.pay(&carol.request(amt(20_000), 600, unix_now()).unwrap().text, unix_now()).unwrap();
    carol.accept(&forked.text, unix_now()).unwrap();
    assert_eq!(sync(&mut carol).await.settled, 1);
    let report = sync(&mut erin).await;
    assert_eq!((report.fraud, report.revoked_devices), (1, 1), "{report:?}");

    // Dave on Bob's home: Bob's note stays with Bob.
    bob.login("dave", real_server::PASSWORD).await.unwrap();
    let report = sync(&mut bob).await;
    assert_eq!(report.uploaded, 0, "{report:?}");
    assert_eq!(bob.offline_store().accepted_notes().unwrap()[0].status, UploadStatus::Pending);
    bob.login("bob", real_server::PASSWORD).await.unwrap();
    let report = sync(&mut bob).await;
    assert_eq!(report.uploaded, 1, "{report:?}");
    assert_ne!(bob.offline_store().accepted_notes().unwrap()[0].status, UploadStatus::Rejected);
    assert_eq!(server.balance("bob").await, 10_000);
    assert!(server.store.verify().await.unwrap().problems.is_empty());
}

/// One home signs in as `alice` on server A, then as another `alice` on server B (staging, or
/// A's database reset): its identity is B's account, not the one cached from A, so a request it
/// makes names the account that B pays. Before, the cached identity was kept because the handle
/// matched, and the home's requests named A's account number, someone else's on B.
#[tokio::test]
async fn the_same_handle_on_another_server_is_another_identity() {
    let (a, b) = (RealServer::start().await, RealServer::start().await);
    let others = tempfile::tempdir().unwrap();
    b.wallet(others.path(), "bob").await;
    let home = tempfile::tempdir().unwrap();
    let mut on_a = a.wallet(home.path(), "alice").await;
    let account_on_a = on_a.identity().await.unwrap().identity.account;
    drop(on_a);
    let mut on_b = b.wallet(home.path(), "alice").await;
    let identity = on_b.identity().await.unwrap().identity;
    let alice_on_b = b.store.user_by_handle(&Handle::parse("alice").unwrap()).await.unwrap().unwrap().id;
    assert_eq!(Some(identity.account), alice_on_b.account_number());
    assert_ne!(identity.account, account_on_a);
}

/// A device whose clock runs far ahead sees the purse the server just made as expired: the load
/// stays unfinished (the money is reserved), and the same load once the clock is right installs
/// that purse, not a second one. Before, the load was marked failed, the purse never installed,
/// and its money waited for the purse's expiry.
#[tokio::test]
async fn a_purse_refused_by_a_clock_ahead_is_installed_once_the_clock_is_right() {
    let server = RealServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut alice = server.wallet(dir.path(), "alice").await;
    server.deposit("alice", 100_000).await;
    let ahead = unix_now() + 400 * 86_400;
    let refused = alice.load_purse("100.00", ahead).await.unwrap_err();
    assert!(matches!(refused, OfflineError::LoadClockAhead), "{refused}");
    assert!(refused.to_string().contains("set the clock right"), "{refused}");
    assert_eq!(server.balance("alice").await, 90_000, "the server reserved it");
    let (loaded, _) = alice.load_purse("100.00", unix_now()).await.unwrap();
    assert!(loaded.resumed, "the same load, finished");
    assert_eq!(server.balance("alice").await, 90_000, "one purse, not two");
    assert_eq!(alice.purses().unwrap().len(), 1);
}

/// Asha with 1,000.00 deposited and a purse of 500.00 loaded, and Chai's shop phone synced once
/// (it knows the issuer keys), each in a home of its own (kept alive by the first value); and the
/// time after the load.
async fn customer_and_shop(server: &RealServer) -> ([tempfile::TempDir; 2], Wallet, Wallet, u64) {
    let homes = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut asha = server.wallet(homes[0].path(), "asha").await;
    let mut chai = server.wallet(homes[1].path(), "chai").await;
    server.deposit("asha", 100_000).await;
    asha.load_purse("500.00", unix_now()).await.unwrap();
    sync(&mut chai).await;
    // Read after the load: the purse is valid from the server's time of the load, which may be
    // a second later than a time read before it (a payment dated before it is refused).
    (homes, asha, chai, unix_now())
}

/// A card note the counter refused because the payer's clock was off (docs/decisions/
/// counter-refusals.md) is kept and given back at the shop's sync, whoever syncs first: the
/// customer, who pays again another way, is charged once. Refused again when shown again, even
/// with a window that would take it; a given-back note is not sent again.
#[tokio::test]
async fn a_card_note_refused_for_the_payer_s_clock_is_given_back() {
    use offpay_wallet::offline::counter_refusals::RefusalState;
    use offpay_wallet::offline::{CounterLimits, pay_card::parse_card};

    let server = RealServer::start().await;
    let (_homes, mut asha, mut chai, now) = customer_and_shop(&server).await;
    let card = parse_card(&chai.make_card("Chai Point", now).unwrap().text).unwrap();
    let limits = CounterLimits::default();
    // Asha's phone clock is 15 minutes ahead.
    let ahead = now + 900;

    // The shop syncs first: the note is voided, and Asha's upload of it pays nothing.
    let first = asha.pay_card(&card, amt(12_000), None, ahead).unwrap().text;
    let refused = chai.accept_at_counter(&first, limits, now).unwrap_err();
    assert!(matches!(refused, OfflineError::KeptToGiveBack { .. }), "{refused:?}");
    let wide = CounterLimits { card_window: 3_600, ..limits };
    let again = chai.accept_at_counter(&first, wide, now).unwrap_err();
    assert!(matches!(again, OfflineError::RefusedHereBefore { .. }), "{again:?}");
    let report = sync(&mut chai).await;
    let states: Vec<_> = report.counter_refusals.iter().map(|c| (c.state, c.returned.minor())).collect();
    assert_eq!(states, vec![(RefusalState::Voided, 0)]);
    let report = sync(&mut asha).await;
    assert_eq!(report.rejected.iter().map(|(_, r)| r.as_deref()).collect::<Vec<_>>(), vec![Some("refused_by_payee")]);
    assert_eq!(server.balance("chai").await, 0);

    // Asha syncs first: Chai is paid, then gives it back at its sync.
    let second = asha.pay_card(&card, amt(3_000), None, ahead).unwrap().text;
    assert!(matches!(chai.accept_at_counter(&second, limits, now), Err(OfflineError::KeptToGiveBack { .. })));
    assert_eq!(sync(&mut asha).await.settled, 1);
    assert_eq!(server.balance("chai").await, 3_000);
    let report = sync(&mut chai).await;
    let states: Vec<_> = report.counter_refusals.iter().map(|c| (c.state, c.returned.minor())).collect();
    assert_eq!(states, vec![(RefusalState::Refunded, 3_000)]);
    assert_eq!((server.balance("chai").await, server.balance("asha").await), (0, 50_000 + 3_000));
    // The shop's takings show the payment and its return: they add up to what it kept.
    let takings = chai.takings(None, None).await.unwrap();
    let lines: Vec<_> = takings.items.iter().map(|i| (i.delta, offpay_wallet::Takings::is_returned(i))).collect();
    assert_eq!(lines, vec![(3_000, false), (-3_000, true)]);
    // What came back to the customer is no sale of the customer's.
    assert!(asha.takings(None, None).await.unwrap().items.is_empty());
    // Nothing is sent again.
    assert!(sync(&mut chai).await.counter_refusals.is_empty());
    assert_eq!(server.sent_as("POST /v1/notes/refusals ").len(), 2);
    assert_eq!(chai.offline_store().counter_refusals().unwrap().len(), 2);
}

/// A card note for the shop's retired card, and one the counter could not check because it had
/// not synced since the operator's newest issuer key, are refused and given back at the shop's
/// sync: the customer, who pays again another way, is charged nothing for them.
#[tokio::test]
async fn notes_for_a_retired_card_or_an_unknown_issuer_key_are_given_back() {
    use offpay_wallet::offline::counter_refusals::RefusalState;
    use offpay_wallet::offline::{CounterLimits, pay_card::parse_card};

    let server = RealServer::start().await;
    let (_homes, mut asha, mut chai, now) = customer_and_shop(&server).await;
    let old = parse_card(&chai.make_card("Chai Point", now).unwrap().text).unwrap();
    let current = parse_card(&chai.make_card("Chai Point", now + 1).unwrap().text).unwrap();
    let limits = CounterLimits::default();

    let retired = asha.pay_card(&old, amt(4_000), None, now).unwrap().text;
    let refused = chai.accept_at_counter(&retired, limits, now).unwrap_err();
    assert!(
        matches!(refused, OfflineError::KeptToGiveBack { reason: offpay_protocol::RejectReason::WrongCard, .. }),
        "{refused:?}"
    );
    // The counter's cached issuer keys are gone, as on a phone that never synced since the
    // operator's newest key.
    let none = offpay_protocol::IssuerKeys::new([]).unwrap();
    chai.offline_store_mut().replace_issuer_keys(&none, 0).unwrap();
    let unchecked = asha.pay_card(&current, amt(6_000), None, now).unwrap().text;
    let refused = chai.accept_at_counter(&unchecked, limits, now).unwrap_err();
    assert!(
        matches!(refused, OfflineError::KeptToGiveBack { reason: offpay_protocol::RejectReason::UnknownIssuerKey, .. }),
        "{refused:?}"
    );

    // Asha syncs first: both are paid to Chai, then given back at Chai's sync.
    assert_eq!(sync(&mut asha).await.settled, 2);
    assert_eq!(server.balance("chai").await, 10_000);
    let report = sync(&mut chai).await;
    let mut states: Vec<_> = report.counter_refusals.iter().map(|c| (c.state, c.returned.minor())).collect();
    states.sort_by_key(|s| s.1);
    assert_eq!(states, vec![(RefusalState::Refunded, 4_000), (RefusalState::Refunded, 6_000)]);
    assert_eq!(server.balance("chai").await, 0);
    assert_eq!(server.balance("asha").await, 50_000 + 10_000, "the customer paid nothing for the refused codes");
}

/// A close whose answer never came leaves the purse closing on this device (it pays nothing
/// more); `sync` finishes it with the stored statement and key, whether the server closed it
/// then (the answer was lost: replayed, nothing returned twice) or never heard of it (a proxy
/// answered instead).
#[tokio::test]
async fn sync_finishes_a_close_whose_answer_never_came() {
    let server = RealServer::start().await;
    let alice_dir = tempfile::tempdir().unwrap();
    let mut alice = server.wallet(alice_dir.path(), "alice").await;
    server.deposit("alice", 100_000).await;
    for (fault, label) in [("lost", "first"), ("proxy", "second")] {
        alice.load_purse("100.00", unix_now()).await.unwrap();
        match fault {
            "lost" => server.lose_answer_to("POST /v1/purses/"),
            _ => server.answer_instead("POST /v1/purses/", "403 Forbidden", "blocked by the firewall"),
        }
        let closed = alice.close_purses(unix_now()).await.unwrap();
        assert!(closed.iter().all(|c| c.outcome.is_err()), "{label}: {closed:?}");
        assert!(alice.purses().unwrap().iter().any(|p| p.status == PurseStatus::Closing), "{label}");
        let report = sync(&mut alice).await;
        assert_eq!(report.closed.len(), 1, "{label}: {report:?}");
        assert!(report.closed[0].outcome.is_ok(), "{label}: {:?}", report.closed[0]);
        assert!(alice.purses().unwrap().iter().all(|p| p.status == PurseStatus::Closed), "{label}");
        assert_eq!(server.balance("alice").await, 100_000, "{label}: the whole purse came back, once");
        assert!(sync(&mut alice).await.closed.is_empty(), "{label}: nothing left to finish");
    }
}
