//! The offline loss bound under attack (docs/OFFLINE.md, "The loss bound"; docs/PROTOCOL.md
//! section 10), each case on a fresh SQLite file and a fresh PostgreSQL database: a payer who
//! signs whatever it likes with its own device key, accomplice accounts that upload the forks,
//! uploads after the revocation and after the settlement deadline, a payer with as many purses
//! as allowed, one request paid twice; and the honest cases that must still settle in full.
//! Every case prints the operator's loss beside its bound and checks that `verify` passes and
//! the money in the system is what was deposited. Two servers on one PostgreSQL: the bound holds
//! when the uploads race.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

use offpay_ledger::offline::*;
use offpay_ledger::*;
use offpay_protocol::testkit::signing_key;
use offpay_protocol::{Nonce, PaymentNote};
use support::row_hold::RowHold;
use support::*;

/// Purse amount `P` (2,000.00) and per-payment cap `C` (200.00) of these cases.
const P: u64 = 200_000;
const C: u64 = 20_000;

/// Signs a consistent chain of `P / C` notes of `C` to `payee` from a fresh copy of the purse
/// (each copy starts again at sequence number 1: a fork of every other copy).
fn full_chain(
    cert: &offpay_protocol::PurseCertificate,
    device: &offpay_protocol::SigningKey,
    payee: &User,
    tag: &str,
) -> Vec<PaymentNote> {
    let mut copy = Chain::new(cert, device);
    (0..P / C).map(|i| copy.pay(payee, C, &format!("{tag}-{i}"))).collect()
}

/// Sum of `fraud_loss` over every purse, and the same as booked on the fraud-loss account.
async fn operator_loss(fx: &Fx) -> i64 {
    let purses = fx.off().purses(None, 1000).await.unwrap();
    purses.iter().map(|p| p.fraud_loss).sum()
}

fn paid(results: &[NoteResult]) -> u64 {
    results.iter().map(|r| r.amount).sum()
}

/// `n` accomplice accounts with nothing on them, `mule00`, `mule01`, ...
async fn mules(fx: &Fx, n: usize) -> Vec<User> {
    let mut mules = Vec::new();
    for i in 0..n {
        mules.push(fx.user(&format!("mule{i:02}"), 0).await);
    }
    mules
}

async fn balances(fx: &Fx, users: &[User]) -> Vec<u64> {
    let mut out = Vec::new();
    for user in users {
        out.push(fx.balance(user).await);
    }
    out
}

fn count(results: &[NoteResult], status: NoteStatus, reason: Option<&str>) -> usize {
    results.iter().filter(|r| r.status == status && r.reason.as_deref() == reason).count()
}

/// 500 different notes, all sequence number 1, all paying one accomplice: an honest payee holds
/// one note per sequence number, so the account is paid once.
async fn one_colluder_with_500_forks(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let mule = fx.user("mule", 0).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-500").await;
    let forks: Vec<PaymentNote> =
        (0..500).map(|i| Chain::new(&cert, &device).pay(&mule, C, &format!("fork-{i}"))).collect();
    let results = fx.settle(&mule, &forks, NOW).await;
    assert_eq!(count(&results, NoteStatus::Fraud, Some("same_sequence")), 1, "{:?}", &results[..3]);
    assert_eq!(count(&results, NoteStatus::Rejected, Some("inconsistent_with_earlier_note")), 499);
    assert_eq!(paid(&results), C);
    // Uploading them again changes nothing: the paid one is a duplicate, the rest refused again.
    let again = fx.settle(&mule, &forks, NOW).await;
    assert_eq!(count(&again, NoteStatus::Duplicate, None), 1);
    assert_eq!(count(&again, NoteStatus::Rejected, Some("inconsistent_with_earlier_note")), 499);
    assert_eq!(fx.balance(&mule).await, C);
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.settled, purse.recovered, purse.fraud_loss, purse.notes_held), (C as i64, 0, 0, 0));
    assert_eq!(purse.state, PurseState::Revoked);
    assert!(fx.store.user_by_id(mallory.id).await.unwrap().unwrap().frozen);
    // The proof of every fork is kept.
    assert_eq!(fx.off().fraud_proofs(1000).await.unwrap().len(), 499);
    let loss = operator_loss(&fx).await;
    eprintln!("one colluder, 500 forks of note 1: paid {} to the mule, operator loss {loss} (bound {ALLOWANCE})", C);
    assert!(loss <= ALLOWANCE);
    fx.verify_clean(P).await;
}

/// The payer alone, uploading again and again forks of its own notes made out to accounts that
/// do not exist: nothing is paid, and the purse keeps one such note per sequence number (it
/// holds the place a fork of it proves) and at most `MAX_PROOFS_PER_PURSE` proofs, so the
/// notes and proofs every later upload to the purse reads back stay bounded
/// (docs/decisions/notes-per-purse.md, "Forks").
async fn forks_to_unknown_accounts_are_kept_once_per_sequence_number(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-ghost").await;
    let ghost = User { id: UserId(987_654), ..mallory.clone() };
    for round in 0..3 {
        let forks: Vec<PaymentNote> = (0..500)
            .map(|i| {
                let mut copy = Chain::new(&cert, &device);
                // Sequence numbers 1 and 2 of many copies of the purse.
                (0..=(i % 2)).map(|j| copy.pay(&ghost, 100, &format!("ghost-{round}-{i}-{j}"))).last().unwrap()
            })
            .collect();
        let results = fx.settle(&mallory, &forks, NOW).await;
        assert_eq!(count(&results, NoteStatus::Rejected, Some("unknown_payee")), 500, "{:?}", &results[..3]);
        assert_eq!(paid(&results), 0);
    }
    assert_eq!(fx.count("SELECT COUNT(*) FROM notes").await, 2);
    // 1,500 forks would make about 1,500 proofs: the first 1,000 are kept.
    assert_eq!(fx.count("SELECT COUNT(*) FROM fraud_proofs").await, MAX_PROOFS_PER_PURSE as i64);
    let purse = fx.purse(&cert).await;
    assert_eq!(purse.state, PurseState::Revoked);
    assert_eq!((purse.settled, purse.recovered, purse.fraud_loss, purse.notes_held), (0, 0, 0, 0));
    assert_eq!(operator_loss(&fx).await, 0);
    fx.verify_clean(P).await;
}

/// A forked purse with more held notes than an upload to it reads (`HELD_READ`), and money
/// reaching the payer: an upload pays the oldest held notes it read, in upload order, and no
/// further, not even the uploader's own held notes behind them; the uploader's new notes wait
/// behind the held ones though money is left; the background pass pays the rest in upload order.
async fn held_notes_of_a_revoked_purse_are_paid_in_upload_order(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-queue").await;
    let mules = mules(&fx, 54).await;
    let chains: Vec<Vec<PaymentNote>> =
        mules.iter().enumerate().map(|(i, m)| full_chain(&cert, &device, m, &format!("q{i}"))).collect();
    // mule00 from the reserve, mule01 from the allowance; held: mule02 to mule52 (510 notes),
    // then the first 5 notes of mule53.
    for (mule, chain) in mules.iter().zip(&chains).take(53) {
        fx.settle(mule, chain, NOW).await;
    }
    fx.settle(&mules[53], &chains[53][..5], NOW).await;
    assert_eq!(fx.purse(&cert).await.notes_held, (51 * P + 5 * C) as i64);
    const { assert!(HELD_READ < 510, "mule52's and mule53's notes lie past what an upload reads") };
    fx.deposit(&mallory, 505 * C, "mallory-money").await;
    // mule53 uploads its whole chain: the 500 oldest held notes (mule02 to mule51) are paid and
    // nothing after them: mule52's are next in line, so mule53's own held notes stay held, and
    // its 5 new notes wait behind them, though 5 C is left.
    let results = fx.settle(&mules[53], &chains[53], NOW).await;
    assert_eq!(count(&results, NoteStatus::Held, Some("loss_allowance_exhausted")), 10, "{results:?}");
    for mule in &mules[2..52] {
        assert_eq!(fx.balance(mule).await, P);
    }
    let watched = [mules[52].clone(), mules[53].clone(), mallory.clone()];
    assert_eq!(balances(&fx, &watched).await, vec![0, 0, 5 * C]);
    // The background pass, in upload order: mule52's oldest notes first.
    let released = fx.off().release_held(NOW).await.unwrap();
    assert_eq!(released, ReleaseOutcome { notes: 5, paid: 5 * C as i64 });
    assert_eq!(balances(&fx, &watched).await, vec![5 * C, 0, 0]);
    fx.deposit(&mallory, 20 * C, "mallory-more").await;
    let released = fx.off().release_held(NOW).await.unwrap();
    assert_eq!(released, ReleaseOutcome { notes: 15, paid: 15 * C as i64 });
    assert_eq!(balances(&fx, &watched).await, vec![P, P, 5 * C]);
    fx.verify_clean(P + 525 * C).await;
}

/// A purse revoked by a clone's fork: the payer's own device still settles, by its upload, an
/// honest payee whose device never comes online (either side settles a payment); but not for a
/// payee holding more than `NOTES_PER_PAYEE_READ` notes of the purse (it uploads its own, and
/// reading all of them for each payee a payer's upload names would let a payer with colluding
/// accounts make each upload slow): that payee's own upload settles it.
async fn the_payer_still_settles_an_honest_payee_after_revocation(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let (busy, carol, dave) = (fx.user("busy", 0).await, fx.user("carol", 0).await, fx.user("dave", 0).await);
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-after").await;
    let mut phone = Chain::new(&cert, &device);
    let many = NOTES_PER_PAYEE_READ as usize + 8;
    let to_busy: Vec<PaymentNote> = (0..many).map(|i| phone.pay(&busy, 10, &format!("busy-{i}"))).collect();
    let to_dave = phone.pay(&dave, C, "dave-1");
    let busy_again = phone.pay(&busy, 10, "busy-again");
    let from_clone = Chain::new(&cert, &device).pay(&carol, C, "carol-1");
    fx.settle(&busy, &to_busy, NOW).await;
    fx.settle(&carol, &[from_clone], NOW).await;
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    let results = fx.settle(&alice, &[to_dave, busy_again.clone()], NOW).await;
    assert_eq!(
        statuses(&results),
        vec![(NoteStatus::Settled, None, C), (NoteStatus::Rejected, Some(PAYEE_MUST_UPLOAD), 0)]
    );
    assert_eq!(fx.balance(&dave).await, C);
    let results = fx.settle(&busy, &[busy_again], NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, 10)]);
    assert_eq!(fx.balance(&busy).await, 10 * (many as u64 + 1));
    fx.verify_clean(P).await;
}

/// 50 accomplice accounts, each with a full, self-consistent chain from its own copy of the
/// purse (each passes its own payee rules): the reserve pays one, the allowance one more, the
/// other 48 are held; money reaching the payer later pays the held notes in upload order.
async fn fifty_colluders(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-50").await;
    let mules = mules(&fx, 50).await;
    let mut all = Vec::new();
    for (i, mule) in mules.iter().enumerate() {
        let chain = full_chain(&cert, &device, mule, &format!("m{i}"));
        let results = fx.settle(mule, &chain, NOW).await;
        match i {
            0 => assert_eq!(count(&results, NoteStatus::Settled, None), 10, "{results:?}"),
            1 => assert_eq!(count(&results, NoteStatus::Fraud, Some("same_sequence")), 10, "{results:?}"),
            // After the revocation: held, nothing paid.
            _ => assert_eq!(count(&results, NoteStatus::Held, Some("loss_allowance_exhausted")), 10, "{results:?}"),
        }
        all.push(chain);
    }
    assert_eq!(fx.balance(&mules[0]).await, P);
    assert_eq!(fx.balance(&mules[1]).await, P);
    for mule in &mules[2..] {
        assert_eq!(fx.balance(mule).await, 0);
    }
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.settled, purse.recovered, purse.fraud_loss), (P as i64, 0, ALLOWANCE));
    assert_eq!(purse.notes_held, 48 * P as i64);
    // The operator's list of held notes, oldest upload first: mule02's chain.
    let held = fx.off().held_notes(5).await.unwrap();
    assert_eq!(held.len(), 5);
    assert_eq!(held[0].note, all[2][0].hash());
    assert_eq!((held[0].payer, held[0].payee, held[0].held, held[0].paid), (mallory.id, mules[2].id, C as i64, 0));
    // A held note uploaded again is still reported held.
    let again = fx.settle(&mules[2], &all[2][..1], NOW).await;
    assert_eq!(count(&again, NoteStatus::Held, Some("loss_allowance_exhausted")), 1);

    // Money reaches the payer: held notes are paid oldest upload first (mule02's first notes),
    // the last one in part.
    fx.deposit(&mallory, 2 * C + C / 2, "mallory-later").await;
    let released = fx.off().release_held(NOW).await.unwrap();
    assert_eq!(released, ReleaseOutcome { notes: 3, paid: (2 * C + C / 2) as i64 });
    assert_eq!(fx.balance(&mules[2]).await, 2 * C + C / 2);
    assert_eq!(fx.balance(&mallory).await, 0);
    let first = fx.settle(&mules[2], &all[2][..3], NOW).await;
    assert_eq!(
        first.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![NoteStatus::Duplicate, NoteStatus::Duplicate, NoteStatus::Held]
    );
    let purse = fx.purse(&cert).await;
    assert_eq!(purse.recovered, (2 * C + C / 2) as i64);
    assert_eq!(purse.notes_held, 48 * P as i64 - (2 * C + C / 2) as i64);
    // Nothing more to pay: a second pass moves nothing.
    assert_eq!(fx.off().release_held(NOW).await.unwrap(), ReleaseOutcome::default());
    // Each history entry names the note it paid, newest first: mule00's settlements, and the
    // payments of mule02's held notes from the payer's later money.
    let notes_in_history = |items: Vec<HistoryItem>| items.into_iter().map(|i| i.note).collect::<Vec<_>>();
    let settled_to_mule00: Vec<_> = all[0].iter().rev().map(|n| Some(n.hash())).collect();
    assert_eq!(notes_in_history(fx.store.history(mules[0].id, None, 50).await.unwrap()), settled_to_mule00);
    assert_eq!(
        notes_in_history(fx.store.history(mules[2].id, None, 50).await.unwrap()),
        vec![Some(all[2][2].hash()), Some(all[2][1].hash()), Some(all[2][0].hash())]
    );

    let loss = operator_loss(&fx).await;
    eprintln!(
        "50 colluders, one full chain each: paid {} from the reserve, {} recovered, operator loss {loss} (bound {ALLOWANCE}), held {}",
        purse.settled, purse.recovered, purse.notes_held
    );
    assert!(loss <= ALLOWANCE);
    fx.verify_clean(P + 2 * C + C / 2).await;
}

/// A fork that reaches the server only after the purse's settlement deadline is never an
/// operator loss: the remainder went back to the payer, who spent it; the late branch is held.
async fn fraud_after_the_deadline_is_held(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let mule = fx.user("mule", 0).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-late").await;
    let honest = Chain::new(&cert, &device).pay(&bob, C, "bob-1");
    let late = Chain::new(&cert, &device).pay(&mule, C, "mule-1");
    assert_eq!(
        statuses(&fx.settle(&bob, std::slice::from_ref(&honest), NOW).await),
        vec![(NoteStatus::Settled, None, C)]
    );
    let after = NOW_S + 3 * DAY + GRACE + 1;
    fx.off().expire_purses(after, GRACE, after as i64 * 1000).await.unwrap();
    assert_eq!(fx.balance(&mallory).await, P - C);
    fx.transfer(&mallory, &mule, P - C).await;
    let results = fx.settle(&mule, std::slice::from_ref(&late), after as i64 * 1000).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Held, Some("loss_allowance_exhausted"), 0)]);
    let loss = operator_loss(&fx).await;
    eprintln!("fork uploaded after the deadline: operator loss {loss} (bound 0 after the deadline)");
    assert_eq!(loss, 0);
    assert_eq!(fx.purse(&cert).await.notes_held, C as i64);
    fx.verify_clean(P).await;
}

/// Mallory with two purses of `P` loaded on two devices (her balance: nothing left).
async fn payer_with_two_purses(
    fx: &Fx,
) -> (
    User,
    (offpay_protocol::PurseCertificate, offpay_protocol::SigningKey),
    (offpay_protocol::PurseCertificate, offpay_protocol::SigningKey),
) {
    let mallory = fx.user("mallory", 2 * P).await;
    let (device_a, device_b) = (signing_key("mallory-phone-a"), signing_key("mallory-phone-b"));
    let purse_a = fx.load(&mallory, &device_a, P, 3 * DAY, "purse-a").await;
    let purse_b = fx.load(&mallory, &device_b, P, 3 * DAY, "purse-b").await;
    (mallory, (purse_a, device_a), (purse_b, device_b))
}

/// A caught payer owes held notes on two purses: the honest shop's on purse A (uploaded first)
/// and an accomplice's on purse B. Money that reaches the payer pays them in upload order, the
/// shop first, even when the accomplice uploads its held notes again at once (which reads
/// purse B in full and used to pay B's held notes from the payer's money on the spot).
async fn held_notes_of_two_purses_are_paid_in_upload_order(fx: Fx) {
    let (mallory, (purse_a, device_a), (purse_b, device_b)) = payer_with_two_purses(&fx).await;
    let payees = mules(&fx, 6).await;
    for (i, payee) in payees[..3].iter().enumerate() {
        fx.settle(payee, &full_chain(&purse_a, &device_a, payee, &format!("a{i}")), NOW).await;
    }
    let b_chains: Vec<Vec<PaymentNote>> =
        payees[3..].iter().enumerate().map(|(i, m)| full_chain(&purse_b, &device_b, m, &format!("b{i}"))).collect();
    for (payee, chain) in payees[3..].iter().zip(&b_chains) {
        fx.settle(payee, chain, NOW).await;
    }
    let (shop, accomplice) = (payees[2].clone(), payees[5].clone());
    assert_eq!((fx.purse(&purse_a).await.notes_held, fx.purse(&purse_b).await.notes_held), (P as i64, P as i64));
    // The operator's unfreeze waits until nothing is owed (counted over every purse).
    assert_eq!(fx.off().unfreeze_unless_held(mallory.id).await.unwrap(), 2 * P as i64);
    assert!(fx.store.user_by_id(mallory.id).await.unwrap().unwrap().frozen);
    fx.deposit(&mallory, P, "mallory-income").await;
    let results = fx.settle(&accomplice, &b_chains[2], NOW).await;
    eprintln!("the accomplice's held notes uploaded again: {:?}", statuses(&results));
    assert_eq!(fx.balance(&accomplice).await, 0, "the accomplice was paid before the older held notes");
    let released = fx.off().release_held(NOW).await.unwrap();
    assert_eq!(released.paid, P as i64, "{released:?}");
    assert_eq!(balances(&fx, &[shop, accomplice.clone(), mallory.clone()]).await, vec![P, 0, 0]);
    assert_eq!(fx.off().unfreeze_unless_held(mallory.id).await.unwrap(), P as i64, "the accomplice's is still held");
    fx.deposit(&mallory, P, "mallory-more").await;
    assert_eq!(fx.off().release_held(NOW).await.unwrap().paid, P as i64);
    assert_eq!(fx.balance(&accomplice).await, P);
    assert_eq!(fx.off().unfreeze_unless_held(mallory.id).await.unwrap(), 0);
    assert!(!fx.store.user_by_id(mallory.id).await.unwrap().unwrap().frozen);
    // Unfrozen, a further copy of an already revoked purse is held again: that freezes her again.
    let late = fx.user("late_mule", 0).await;
    let results = fx.settle(&late, &full_chain(&purse_b, &device_b, &late, "late"), NOW).await;
    assert_eq!(count(&results, NoteStatus::Held, Some("loss_allowance_exhausted")), 10, "{results:?}");
    assert!(fx.store.user_by_id(mallory.id).await.unwrap().unwrap().frozen, "held again, and not frozen");
    // ... and she is told, as at the first freeze (one event per purse revoked, one now).
    let events = fx.store.events_after(mallory.id, 0, 1000).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "account_frozen").count(), 3);
    let security = fx.store.security_events(100).await.unwrap();
    assert!(security.iter().any(|e| e.detail.contains("account frozen again")), "{security:?}");
    fx.verify_clean(4 * P).await;
}

/// A fork uploaded after the settlement deadline but before the expiry pass has run (it runs
/// every minute, and may be late): the operator books no loss on it; it is held. Before, the
/// deadline was the expiry pass's flag only, and such a fork was paid from the loss allowance.
async fn fraud_past_the_deadline_books_no_loss_before_the_expiry_pass(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let (bob, mule) = (fx.user("bob", 0).await, fx.user("mule", 0).await);
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-past").await;
    let purse = fx.purse(&cert).await;
    assert_eq!(purse.settle_by, Some(i64::try_from(cert.fields().valid_until + GRACE).unwrap()));
    // Bob's chain takes the whole reserve in time; mule's copy arrives just past the deadline.
    fx.settle(&bob, &full_chain(&cert, &device, &bob, "bob"), NOW).await;
    let after_ms = (cert.fields().valid_until + GRACE + 1) as i64 * 1000;
    let results = fx.settle(&mule, &full_chain(&cert, &device, &mule, "mule"), after_ms).await;
    assert!(!fx.purse(&cert).await.expired, "the expiry pass has not run");
    assert_eq!(fx.balance(&mule).await, 0, "{:?}", statuses(&results));
    let loss = operator_loss(&fx).await;
    eprintln!("fork past the deadline, before the expiry pass: operator loss {loss} (bound 0 after the deadline)");
    assert_eq!(loss, 0);
    assert_eq!(fx.purse(&cert).await.notes_held, P as i64);
    fx.verify_clean(P).await;
}

/// A payer with as many purses as allowed (one per device), each forked to accomplices: the loss
/// is at most the open-purse limit times the allowance, and no further purse can be loaded.
async fn every_allowed_purse_forked(fx: Fx) {
    let mallory = fx.user("mallory", MAX_OPEN as u64 * P).await;
    let mut certs = Vec::new();
    for d in 0..MAX_OPEN {
        let device = signing_key(&format!("mallory-device-{d}"));
        certs.push((fx.load(&mallory, &device, P, 3 * DAY, &format!("purse-d{d}")).await, device));
    }
    let extra = signing_key("mallory-device-extra");
    fx.off().register_device(mallory.id, extra.verifying_key().to_bytes(), NOW).await.unwrap();
    let refused = fx
        .off()
        .load_purse(
            &load_request(mallory.id, certificate(&mallory, &extra, C, DAY, "purse-extra"), "load-purse-extra"),
            NOW,
        )
        .await;
    assert!(matches!(refused, Err(OfflineError::TooManyPurses(MAX_OPEN))), "{refused:?}");
    for (d, (cert, device)) in certs.iter().enumerate() {
        for m in 0..4 {
            let mule = fx.user(&format!("mule{d}x{m}"), 0).await;
            let chain = full_chain(cert, device, &mule, &format!("d{d}m{m}"));
            fx.settle(&mule, &chain, NOW).await;
        }
    }
    let loss = operator_loss(&fx).await;
    let bound = i64::from(MAX_OPEN) * ALLOWANCE;
    eprintln!(
        "{MAX_OPEN} purses, each forked to 4 accomplices: operator loss {loss} (bound {bound} = {MAX_OPEN} x {ALLOWANCE})"
    );
    assert_eq!(loss, bound);
    for (cert, _) in &certs {
        let purse = fx.purse(cert).await;
        assert_eq!((purse.fraud_loss, purse.notes_held), (ALLOWANCE, 2 * P as i64));
    }
    fx.verify_clean(MAX_OPEN as u64 * P).await;
}

/// A caught payer with a second purse: money that reaches the payer goes to the notes held on
/// the first purse (oldest upload first), not to new notes of the second purse that accomplices
/// upload before the background pass. Before, the second purse's notes looked only at their
/// own purse's held notes and took the payer's new money, so the honest payee of a held note
/// was never paid while each fresh accomplice was.
async fn new_money_pays_held_notes_before_another_purse_s_notes(fx: Fx) {
    let (mallory, (purse_a, device_a), (purse_b, device_b)) = payer_with_two_purses(&fx).await;
    let mules = mules(&fx, 3).await;
    // Purse A forked three ways: the reserve pays one, the allowance one, the honest shop's is held.
    for (i, mule) in mules.iter().enumerate() {
        fx.settle(mule, &full_chain(&purse_a, &device_a, mule, &format!("a{i}")), NOW).await;
    }
    let shop = mules[2].clone();
    assert_eq!(fx.purse(&purse_a).await.notes_held, P as i64);
    assert_eq!(fx.balance(&shop).await, 0);
    // Money reaches mallory; before the pass runs, accomplices upload two copies of purse B.
    fx.deposit(&mallory, P, "mallory-income").await;
    let (x, y) = (fx.user("accomplice_x", 0).await, fx.user("accomplice_y", 0).await);
    fx.settle(&x, &full_chain(&purse_b, &device_b, &x, "bx"), NOW).await;
    let results = fx.settle(&y, &full_chain(&purse_b, &device_b, &y, "by"), NOW).await;
    eprintln!("accomplice y's copy of purse B: {:?}", statuses(&results));
    assert_eq!(fx.balance(&mallory).await, P, "a new note took the money owed to the held notes");
    // The pass pays the shop's held notes from it.
    let released = fx.off().release_held(NOW).await.unwrap();
    assert_eq!(released.paid, P as i64, "{released:?}");
    assert_eq!(fx.balance(&shop).await, P);
    assert_eq!(fx.balance(&mallory).await, 0);
    let b = fx.purse(&purse_b).await;
    assert_eq!(b.recovered, 0, "purse B took nothing from the payer while A's notes were held");
    let loss = operator_loss(&fx).await;
    eprintln!("two purses, held notes first: operator loss {loss} (bound {})", 2 * ALLOWANCE);
    assert!(loss <= 2 * ALLOWANCE);
    fx.verify_clean(3 * P).await;
}

/// Closing a purse does not free its place before its settlement deadline (forks of it may
/// still arrive); expiry does. A load refused for the limit stays refused under its key after
/// the place is free (an earlier attempt of it, still on its way, must not load a purse the
/// wallet was told was refused); the same load under a new key goes through.
async fn closed_purses_count_until_their_deadline(fx: Fx) {
    let alice = fx.user("alice", 3 * P).await;
    let device = signing_key("alice-phone");
    let first = fx.load(&alice, &device, P, 3 * DAY, "purse-c1").await;
    fx.load(&alice, &device, P, 3 * DAY, "purse-c2").await;
    let close = Chain::new(&first, &device).close();
    fx.off().close_purse(alice.id, &close, &key("close-purse-c1"), NOW).await.unwrap();
    let third = load_request(alice.id, certificate(&alice, &device, P, 3 * DAY, "purse-c3"), "load-purse-c3");
    assert!(matches!(fx.off().load_purse(&third, NOW).await, Err(OfflineError::TooManyPurses(2))));
    let after = NOW_S + 3 * DAY + GRACE + 1;
    fx.off().expire_purses(after, GRACE, after as i64 * 1000).await.unwrap();
    let again = fx.off().load_purse(&third, after as i64 * 1000).await;
    assert!(matches!(again, Err(OfflineError::TooManyPurses(2))), "{again:?}");
    let anew = LoadRequest { idempotency_key: key("load-purse-c3-anew"), ..third };
    let loaded = fx.off().load_purse(&anew, after as i64 * 1000).await.unwrap();
    assert!(!loaded.replayed);
    fx.verify_clean(3 * P).await;
}

/// One request, one payment: an honest payer who paid one request from two devices pays once;
/// a payer who first uploads a smaller note for the request does not cut the payee's own note.
async fn one_payment_per_request(fx: Fx) {
    let alice = fx.user("alice", 2 * P).await;
    let bob = fx.user("bob", 0).await;
    let phone = signing_key("alice-phone");
    let tablet = signing_key("alice-tablet");
    let p1 = fx.load(&alice, &phone, P, 3 * DAY, "purse-phone").await;
    let p2 = fx.load(&alice, &tablet, P, 3 * DAY, "purse-tablet").await;
    let mut phone_chain = Chain::new(&p1, &phone);
    let mut tablet_chain = Chain::new(&p2, &tablet);
    // Bob's request "req-30" paid 30.00 from each device.
    let from_phone = phone_chain.pay(&bob, 3_000, "req-30");
    let from_tablet = tablet_chain.pay(&bob, 3_000, "req-30");
    // The tablet's note sent twice: the copy gets the same refusal, never "duplicate" (which a
    // wallet takes for settled).
    let results = fx.settle(&alice, &[from_phone.clone(), from_tablet.clone(), from_tablet.clone()], NOW).await;
    assert_eq!(
        statuses(&results),
        vec![
            (NoteStatus::Settled, None, 3_000),
            (NoteStatus::Rejected, Some("request_already_paid"), 0),
            (NoteStatus::Rejected, Some("request_already_paid"), 0)
        ]
    );
    // Bob's own upload of the note he accepted (the tablet's) changes nothing.
    let results = fx.settle(&bob, std::slice::from_ref(&from_tablet), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some("request_already_paid"), 0)]);
    assert_eq!(fx.balance(&bob).await, 3_000);

    // The payer uploads a 10.00 note for Bob's 50.00 request "req-50" first; Bob's accepted
    // 50.00 note still brings him 50.00 in all, never more.
    let small = phone_chain.pay(&bob, 1_000, "req-50");
    let full = phone_chain.pay(&bob, 5_000, "req-50");
    assert_eq!(
        statuses(&fx.settle(&alice, std::slice::from_ref(&small), NOW).await),
        vec![(NoteStatus::Settled, None, 1_000)]
    );
    assert_eq!(
        statuses(&fx.settle(&bob, std::slice::from_ref(&full), NOW).await),
        vec![(NoteStatus::Settled, None, 4_000)]
    );
    let more = tablet_chain.pay(&bob, 5_000, "req-50");
    assert_eq!(
        statuses(&fx.settle(&alice, std::slice::from_ref(&more), NOW).await),
        vec![(NoteStatus::Rejected, Some("request_already_paid"), 0)]
    );
    assert_eq!(fx.balance(&bob).await, 3_000 + 5_000);
    // Alice paid 80.00 in all; what her purses did not pay out returns to her at close.
    let p1_state = fx.purse(&p1).await;
    let p2_state = fx.purse(&p2).await;
    assert_eq!(p1_state.settled + p2_state.settled, 8_000);
    fx.verify_clean(2 * P).await;
}

/// Requests are found by the first eight bytes of their nonce (SQLite's index key): requests
/// whose nonces share those bytes, and one nonce used by two payees, are still separate requests,
/// each paid once; the same nonce to the same payee is still the same request.
async fn requests_sharing_a_nonce_prefix_stay_apart(fx: Fx) {
    let alice = fx.user("alice", 2 * P).await;
    let bob = fx.user("bob", 0).await;
    let carol = fx.user("carol", 0).await;
    let phone = signing_key("alice-phone");
    let tablet = signing_key("alice-tablet");
    let mut phone_chain = Chain::new(&fx.load(&alice, &phone, P, 3 * DAY, "purse-phone").await, &phone);
    let mut tablet_chain = Chain::new(&fx.load(&alice, &tablet, P, 3 * DAY, "purse-tablet").await, &tablet);
    let nonce = |tail: u8| {
        let mut bytes = [7u8; 16];
        bytes[15] = tail;
        Nonce::from_bytes(bytes)
    };
    // One upload each, so that each request is looked up among the notes already stored.
    for (payee, minor, tail) in [(&bob, 1_000, 1), (&bob, 2_000, 2), (&carol, 4_000, 1)] {
        let note = phone_chain.pay_nonce(payee, minor, nonce(tail));
        let results = fx.settle(&alice, std::slice::from_ref(&note), NOW).await;
        assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, minor)]);
    }
    let again = tablet_chain.pay_nonce(&bob, 2_000, nonce(2));
    assert_eq!(
        statuses(&fx.settle(&bob, std::slice::from_ref(&again), NOW).await),
        vec![(NoteStatus::Rejected, Some("request_already_paid"), 0)]
    );
    assert_eq!((fx.balance(&bob).await, fx.balance(&carol).await), (3_000, 4_000));
    fx.verify_clean(2 * P).await;
}

/// A payer who paid Bob 200.00 offline uploads, before Bob syncs, a cheaper fork of that note to
/// Bob's account (same sequence number): Bob's own upload of the note he accepted is still paid
/// in full (with the same request nonce, the difference; with another, the whole note), the fork
/// is proven and the payer frozen. The payer's uploads alone cannot pay Bob a second fork.
async fn a_payer_cannot_cut_the_payees_own_note(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-cut").await;
    let mut honest = Chain::new(&cert, &device);
    let accepted = [honest.pay(&bob, C, "bob-1"), honest.pay(&bob, C, "bob-2")];
    let mut cheat = Chain::new(&cert, &device);
    let cheap_same_request = cheat.pay(&bob, 1, "bob-1");
    let cheap_other_request = cheat.pay(&bob, 1, "cheat-2");
    let results = fx.settle(&alice, &[cheap_same_request.clone(), cheap_other_request.clone()], NOW).await;
    assert_eq!(paid(&results), 2, "{results:?}");
    let results = fx.settle(&bob, &accepted, NOW).await;
    assert_eq!(
        statuses(&results),
        vec![(NoteStatus::Fraud, Some("same_sequence"), C - 1), (NoteStatus::Fraud, Some("same_sequence"), C)]
    );
    assert_eq!(fx.balance(&bob).await, 2 * C + 1);
    assert!(fx.store.user_by_id(alice.id).await.unwrap().unwrap().frozen);
    // A third branch of the now revoked purse, uploaded by the payer, is judged against every
    // note of Bob's account; uploaded by someone who is neither its payer nor its payee, it is
    // not judged at all (docs/decisions/notes-per-purse.md, "Forks").
    let third = Chain::new(&cert, &device).pay(&bob, C, "third-1");
    let results = fx.settle(&alice, std::slice::from_ref(&third), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some("inconsistent_with_earlier_note"), 0)]);
    let stranger = fx.user("stranger", 0).await;
    let results = fx.settle(&stranger, std::slice::from_ref(&third), NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Rejected, Some(PAYEE_MUST_UPLOAD), 0)]);
    eprintln!("payer's cheap fork of the payee's note: payee paid {} for notes of {}", 2 * C + 1, 2 * C);
    fx.verify_clean(P).await;
}

/// A copied wallet paying three honest payees who sync in time: each is paid in full from the
/// reserve; a chain uploaded in any order settles in full.
async fn honest_payees_are_paid_in_full(fx: Fx) {
    let alice = fx.user("alice", P).await;
    let payees = [fx.user("bob", 0).await, fx.user("carol", 0).await, fx.user("dave", 0).await];
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-h").await;
    let mut notes = Vec::new();
    for (i, payee) in payees.iter().enumerate() {
        let mut copy = Chain::new(&cert, &device);
        notes.push((
            payee,
            vec![copy.pay(payee, 15_000, &format!("h{i}-1")), copy.pay(payee, 15_000, &format!("h{i}-2"))],
        ));
    }
    for (payee, chain) in notes.iter().rev() {
        let mut reversed = chain.clone();
        reversed.reverse();
        let results = fx.settle(payee, &reversed, NOW).await;
        assert_eq!(paid(&results), 30_000, "{results:?}");
    }
    for payee in &payees {
        assert_eq!(fx.balance(payee).await, 30_000);
    }
    let purse = fx.purse(&cert).await;
    assert_eq!((purse.settled, purse.recovered, purse.fraud_loss, purse.notes_held), (90_000, 0, 0, 0));
    fx.verify_clean(P).await;
}

/// `verify` finds a purse that lost more than its allowance, a note paid beyond its amount (a
/// held note paid twice), and one request paid twice — each edited into the database.
async fn verify_catches_losses_past_the_bound(fx: Fx) {
    let mallory = fx.user("mallory", P).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-audit").await;
    for i in 0..3 {
        let mule = fx.user(&format!("mule{i}"), 0).await;
        fx.settle(&mule, &full_chain(&cert, &device, &mule, &format!("a{i}")), NOW).await;
    }
    assert!(fx.problems().await.is_empty());
    let found = |problems: Vec<String>, what: &str| {
        assert!(problems.iter().any(|p| p.contains(what)), "{what:?} not in {problems:#?}");
    };
    fx.tamper("UPDATE purses SET loss_allowance = loss_allowance - 1").await;
    found(fx.problems().await, "is over its loss allowance");
    fx.tamper("UPDATE purses SET loss_allowance = loss_allowance + 1").await;
    assert!(fx.problems().await.is_empty());
    fx.tamper("UPDATE notes SET from_payer = from_payer + amount WHERE held > 0 AND seq = 1").await;
    found(fx.problems().await, "paid and held add up to more than its amount");
    fx.tamper("UPDATE notes SET from_payer = from_payer - amount WHERE held > 0 AND seq = 1").await;
    assert!(fx.problems().await.is_empty());
    fx.tamper(
        "UPDATE notes SET nonce = (SELECT n.nonce FROM notes n WHERE n.seq = 1 AND n.from_reserve > 0)
         WHERE seq = 2 AND from_reserve > 0",
    )
    .await;
    found(fx.problems().await, "paid twice");
}

/// A held note is owed, not paid, so it does not stand for its request: a payer whose forked
/// purse is used up signs notes for a shop's requests and uploads them before the shop does
/// (they are held); the shop's honest notes for those requests, from a clean purse, are still
/// paid in full. When the first payer has money again, each held note gets only what its request
/// still lacks of its largest note: nothing for a request paid in full, the rest for one paid in
/// part.
async fn a_held_note_does_not_stand_for_its_request(fx: Fx) {
    let carol = fx.user("carol", P).await;
    let mallory = fx.user("mallory", P).await;
    let bob = fx.user("bob", 0).await;
    let mules = mules(&fx, 2).await;
    let (carol_phone, mallory_phone) = (signing_key("carol-phone"), signing_key("mallory-phone"));
    let used_up = fx.load(&carol, &carol_phone, P, 3 * DAY, "purse-used-up").await;
    let clean = fx.load(&mallory, &mallory_phone, P, 3 * DAY, "purse-clean").await;
    // Two full copies of Carol's purse: one paid from its reserve, one from the allowance.
    for (i, mule) in mules.iter().enumerate() {
        fx.settle(mule, &full_chain(&used_up, &carol_phone, mule, &format!("copy{i}")), NOW).await;
    }
    assert_eq!(fx.balance(&carol).await, 0);
    // Carol's copy "pays" Bob's requests shop-1 and shop-2, C each, first.
    let mut copy = Chain::new(&used_up, &carol_phone);
    let blockers = [copy.pay(&bob, C, "shop-1"), copy.pay(&bob, C, "shop-2")];
    let results = fx.settle(&carol, &blockers, NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Held, Some("loss_allowance_exhausted"), 0); 2]);
    // Mallory's clean purse pays shop-1 in full and half of shop-2 (Bob accepted less there);
    // Bob uploads what he accepted.
    let mut till = Chain::new(&clean, &mallory_phone);
    let honest = [till.pay(&bob, C, "shop-1"), till.pay(&bob, C / 2, "shop-2")];
    let results = fx.settle(&bob, &honest, NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, C), (NoteStatus::Settled, None, C / 2)]);
    assert_eq!(fx.balance(&bob).await, C + C / 2);
    assert_eq!(fx.purse(&clean).await.settled, (C + C / 2) as i64);
    // Carol gets money again: shop-1 was paid, so its held note gets nothing; shop-2's largest
    // note is Carol's C, of which C / 2 is still unpaid.
    fx.deposit(&carol, 3 * C, "carol-money").await;
    let released = fx.off().release_held(NOW).await.unwrap();
    assert_eq!(released, ReleaseOutcome { notes: 1, paid: (C / 2) as i64 });
    assert_eq!(balances(&fx, &[bob.clone(), carol.clone()]).await, vec![2 * C, 3 * C - C / 2]);
    assert_eq!(fx.purse(&used_up).await.notes_held, 0);
    fx.verify_clean(2 * P + 3 * C).await;
}

/// An account cannot fill the device table: at most `DEVICES_PER_DAY` new keys in any 24 hours;
/// a key it registered before is still answered, and another account is not held back by it.
async fn device_keys_per_account_are_bounded(fx: Fx) {
    let mallory = fx.user("mallory", 0).await;
    let bob = fx.user("bob", 0).await;
    let key = |i: u32| signing_key(&format!("mallory-key-{i}")).verifying_key().to_bytes();
    for i in 0..DEVICES_PER_DAY {
        fx.off().register_device(mallory.id, key(i), NOW + i64::from(i)).await.unwrap();
    }
    let refused = fx.off().register_device(mallory.id, key(DEVICES_PER_DAY), NOW + 60_000).await;
    assert!(matches!(refused, Err(OfflineError::TooManyDevices(DEVICES_PER_DAY))), "{refused:?}");
    fx.off().register_device(mallory.id, key(0), NOW + 60_000).await.unwrap();
    fx.off().register_device(bob.id, signing_key("bob-phone").verifying_key().to_bytes(), NOW).await.unwrap();
    assert_eq!(fx.count(&format!("SELECT count(*) FROM devices WHERE user_id = {}", mallory.id)).await, 20);
    // A day after the first ones, room again.
    let later = NOW + DEVICE_WINDOW_MS + 1;
    fx.off().register_device(mallory.id, key(DEVICES_PER_DAY), later).await.unwrap();
}

on_both_backends!([
    device_keys_per_account_are_bounded,
    one_colluder_with_500_forks,
    forks_to_unknown_accounts_are_kept_once_per_sequence_number,
    held_notes_of_a_revoked_purse_are_paid_in_upload_order,
    the_payer_still_settles_an_honest_payee_after_revocation,
    fifty_colluders,
    fraud_after_the_deadline_is_held,
    fraud_past_the_deadline_books_no_loss_before_the_expiry_pass,
    every_allowed_purse_forked,
    new_money_pays_held_notes_before_another_purse_s_notes,
    held_notes_of_two_purses_are_paid_in_upload_order,
    closed_purses_count_until_their_deadline,
    one_payment_per_request,
    requests_sharing_a_nonce_prefix_stay_apart,
    honest_payees_are_paid_in_full,
    verify_catches_losses_past_the_bound,
    a_payer_cannot_cut_the_payees_own_note,
    a_held_note_does_not_stand_for_its_request,
]);

/// Two servers on one PostgreSQL, uploads racing: the 50 accomplices' chains split between
/// them; the operator's loss is still exactly the allowance and every note is paid at most once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_fifty_colluders() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let mallory = fx.user("mallory", P).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-race").await;
    let mut uploads = Vec::new();
    for i in 0..50 {
        let mule = fx.user(&format!("mule{i:02}"), 0).await;
        let chain = full_chain(&cert, &device, &mule, &format!("r{i}"));
        let store = if i % 2 == 0 { fx.store.clone() } else { other.clone() };
        uploads.push(tokio::spawn(async move { store.offline().settle_notes(mule.id, chain, NOW).await.unwrap() }));
    }
    let mut total = 0;
    for upload in uploads {
        total += paid(&upload.await.unwrap());
    }
    let loss = operator_loss(&fx).await;
    eprintln!("two servers, 50 colluders racing: paid {total}, operator loss {loss} (bound {ALLOWANCE})");
    assert_eq!(total, P + ALLOWANCE as u64);
    assert_eq!(loss, ALLOWANCE);
    fx.verify_clean(P).await;
}

/// Two servers: the payee and the payer upload the same notes at the same time, and one request
/// is paid from two purses on the two servers at once: each note is paid once, the request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_honest_uploads() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let alice = fx.user("alice", 2 * P).await;
    let bob = fx.user("bob", 0).await;
    let phone = signing_key("alice-phone");
    let tablet = signing_key("alice-tablet");
    let p1 = fx.load(&alice, &phone, P, 3 * DAY, "purse-r1").await;
    let p2 = fx.load(&alice, &tablet, P, 3 * DAY, "purse-r2").await;
    let mut chain = Chain::new(&p1, &phone);
    let notes: Vec<PaymentNote> = (0..10).map(|i| chain.pay(&bob, 1_000, &format!("n{i}"))).collect();
    let (a, b) = tokio::join!(
        fx.store.offline().settle_notes(bob.id, notes.clone(), NOW),
        other.offline().settle_notes(alice.id, notes.clone(), NOW)
    );
    assert_eq!(paid(&a.unwrap()) + paid(&b.unwrap()), 10_000);
    assert_eq!(fx.balance(&bob).await, 10_000);

    let twice_1 = chain.pay(&bob, 2_500, "same-request");
    let twice_2 = Chain::new(&p2, &tablet).pay(&bob, 2_500, "same-request");
    let (a, b) = tokio::join!(
        fx.store.offline().settle_notes(bob.id, vec![twice_1], NOW),
        other.offline().settle_notes(alice.id, vec![twice_2], NOW)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(paid(&a) + paid(&b), 2_500, "{a:?} {b:?}");
    assert_eq!(
        count(&a, NoteStatus::Rejected, Some("request_already_paid"))
            + count(&b, NoteStatus::Rejected, Some("request_already_paid")),
        1
    );
    assert_eq!(fx.balance(&bob).await, 12_500);
    fx.verify_clean(2 * P).await;
}

/// Two servers on one PostgreSQL: the payee uploads the notes of a purse on one while the payer
/// closes it on the other, both released at once from behind a lock on the purse's row, four
/// times over. Whichever goes first, the payee is paid every note once (from the
/// reserve, or from what the close held back), the payer gets back exactly the rest, and the
/// books balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_a_close_against_the_upload_of_its_notes() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    const ROUNDS: u64 = 4;
    let bob = fx.user("bob", 0).await;
    let mut spent_in_all = 0;
    for round in 0..ROUNDS {
        // A payer per round: a user holds at most two purses.
        let alice = fx.user(&format!("alice{round}"), P).await;
        let device = signing_key(&format!("alice{round}-phone"));
        let cert = fx.load(&alice, &device, P, 3 * DAY, &format!("purse-close-race-{round}")).await;
        let mut chain = Chain::new(&cert, &device);
        let notes: Vec<PaymentNote> =
            (0..3).map(|i| chain.pay(&bob, 1_000 * (round + i + 1), &format!("r{round}-n{i}"))).collect();
        let spent = chain.spent;
        let close = chain.close();
        let key = key(&format!("close-race-{round}"));
        let hold = RowHold::purse(&fx, &cert).await;
        let (uploaded, closed, ()) = tokio::join!(
            fx.store.offline().settle_notes(bob.id, notes.clone(), NOW),
            other.offline().close_purse(alice.id, &close, &key, NOW),
            hold.commit_when_waiting(2),
        );
        let (uploaded, closed) = (uploaded.unwrap(), closed.unwrap());
        assert_eq!(paid(&uploaded), spent, "round {round}: {uploaded:?}");
        let (spent_i, left_i) = (spent as i64, (P - spent) as i64);
        assert_eq!(closed.returned, left_i, "round {round}: {closed:?}");
        assert!(!closed.fraud);
        let purse = fx.purse(&cert).await;
        assert_eq!((purse.settled, purse.returned, purse.held()), (spent_i, left_i, 0), "round {round}");
        assert_eq!(fx.balance(&alice).await, P - spent, "round {round}");
        spent_in_all += spent;
    }
    assert_eq!(fx.balance(&bob).await, spent_in_all);
    assert_eq!(operator_loss(&fx).await, 0);
    fx.verify_clean(ROUNDS * P).await;
}

/// Two servers on one PostgreSQL: money reaches the payer of a forked purse with held notes, and
/// the background release of held notes on one server races an accomplice's upload to the same
/// purse on the other (each of which pays held notes from that money), both released at once
/// from behind a lock on the purse's row. The money is paid out once: the payees get exactly
/// what reached the payer, and the books balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_the_release_of_held_notes_against_an_upload() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let mallory = fx.user("mallory", P).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-release-race").await;
    let mules = mules(&fx, 5).await;
    let chains: Vec<Vec<PaymentNote>> =
        mules.iter().enumerate().map(|(i, m)| full_chain(&cert, &device, m, &format!("rr{i}"))).collect();
    // mule00 from the reserve, mule01 from the allowance, mule02 and mule03 held.
    for (mule, chain) in mules.iter().zip(&chains).take(4) {
        fx.settle(mule, chain, NOW).await;
    }
    assert_eq!(fx.purse(&cert).await.notes_held, 2 * P as i64);
    let later = 2 * C + C / 2;
    fx.deposit(&mallory, later, "mallory-later").await;
    let before: u64 = balances(&fx, &mules).await.iter().sum();

    let hold = RowHold::purse(&fx, &cert).await;
    let (released, uploaded, ()) = tokio::join!(
        fx.store.offline().release_held(NOW),
        other.offline().settle_notes(mules[4].id, chains[4].clone(), NOW),
        hold.commit_when_waiting(2),
    );
    let (released, uploaded) = (released.unwrap(), uploaded.unwrap());
    let after: u64 = balances(&fx, &mules).await.iter().sum();
    assert_eq!(after - before, later, "released {released:?}, uploaded {uploaded:?}");
    assert_eq!(fx.balance(&mallory).await, 0);
    let purse = fx.purse(&cert).await;
    assert_eq!(purse.recovered, later as i64);
    assert_eq!(purse.notes_held, 3 * P as i64 - later as i64);
    assert_eq!(operator_loss(&fx).await, ALLOWANCE);
    fx.verify_clean(P + later).await;
}

/// Two servers on one PostgreSQL: 500 forks of note 1 to one accomplice, uploaded as 10 uploads
/// of 50 split between the two servers at once: the account is still paid once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_500_forks_to_one_colluder() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let mallory = fx.user("mallory", P).await;
    let mule = fx.user("mule", 0).await;
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-race-500").await;
    let forks: Vec<PaymentNote> =
        (0..500).map(|i| Chain::new(&cert, &device).pay(&mule, C, &format!("race-{i}"))).collect();
    let mut uploads = Vec::new();
    for (i, chunk) in forks.chunks(50).enumerate() {
        let store = if i % 2 == 0 { fx.store.clone() } else { other.clone() };
        let (chunk, id) = (chunk.to_vec(), mule.id);
        uploads.push(tokio::spawn(async move { store.offline().settle_notes(id, chunk, NOW).await.unwrap() }));
    }
    let mut total = 0;
    for upload in uploads {
        total += paid(&upload.await.unwrap());
    }
    let loss = operator_loss(&fx).await;
    eprintln!(
        "two servers, 500 forks of note 1 to one colluder racing: paid {total}, operator loss {loss} (bound {ALLOWANCE})"
    );
    assert_eq!(total, C);
    assert_eq!(fx.balance(&mule).await, C);
    assert_eq!(loss, 0);
    fx.verify_clean(P).await;
}

/// Two servers on one PostgreSQL: a payer at the purse limit less one asks both servers at once,
/// with two keys, for another purse, both requests released together from behind a lock on the
/// payer's wallet row. Exactly one purse is loaded, the other request is refused, and the money
/// leaves the wallet once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_two_loads_against_the_purse_limit() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let alice = fx.user("alice", 3 * P).await;
    let device = signing_key("alice-phone");
    for i in 1..MAX_OPEN {
        fx.load(&alice, &device, P, 3 * DAY, &format!("purse-limit-{i}")).await;
    }
    let requests: Vec<_> = ["race-load-a", "race-load-b"]
        .iter()
        .map(|tag| load_request(alice.id, certificate(&alice, &device, P, 3 * DAY, tag), tag))
        .collect();
    let hold = RowHold::begin(&fx).await;
    let locked = hold
        .client
        .execute(
            "SELECT 1 FROM accounts WHERE id = (SELECT account_id FROM users WHERE id = $1) FOR UPDATE",
            &[&alice.id],
        )
        .await
        .unwrap();
    assert_eq!(locked, 1);
    let (first, second, ()) = tokio::join!(
        fx.store.offline().load_purse(&requests[0], NOW),
        other.offline().load_purse(&requests[1], NOW),
        hold.commit_when_waiting(2),
    );
    let outcomes = [first, second];
    let loaded = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes.iter().filter(|o| matches!(o, Err(OfflineError::TooManyPurses(MAX_OPEN)))).count();
    assert_eq!((loaded, refused), (1, 1), "{outcomes:?}");
    assert_eq!(fx.balance(&alice).await, 3 * P - u64::from(MAX_OPEN) * P);
    fx.verify_clean(3 * P).await;
}

/// Two servers on one PostgreSQL: the same signed close statement sent to both at once under two
/// keys (a wallet that lost the first answer and a second device of the payer), both released
/// together from behind a lock on the purse's row. The purse is closed once: what it did not pay
/// out goes back once, and the notes still settle in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_two_closes_of_one_purse() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let alice = fx.user("alice", P).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-two-closes").await;
    let mut chain = Chain::new(&cert, &device);
    let notes: Vec<PaymentNote> = (0..3).map(|i| chain.pay(&bob, C, &format!("n{i}"))).collect();
    let close = chain.close();
    let (one, two) = (key("close-one-0001"), key("close-two-0001"));
    let hold = RowHold::purse(&fx, &cert).await;
    let (first, second, ()) = tokio::join!(
        fx.store.offline().close_purse(alice.id, &close, &one, NOW),
        other.offline().close_purse(alice.id, &close, &two, NOW),
        hold.commit_when_waiting(2),
    );
    let outcomes = [first, second];
    let closed: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(closed.len(), 1, "{outcomes:?}");
    assert_eq!(closed[0].returned, (P - 3 * C) as i64);
    assert_eq!(fx.balance(&alice).await, P - 3 * C);
    let results = fx.settle(&bob, &notes, NOW).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, C); 3]);
    assert_eq!(fx.balance(&bob).await, 3 * C);
    assert_eq!(fx.balance(&alice).await, P - 3 * C);
    fx.verify_clean(P).await;
}

/// Two servers on one PostgreSQL: at the settlement deadline, the payer's close of a purse on one
/// server meets the expiry pass on the other, the close waiting behind a lock on the purse's row
/// (expiry skips a locked purse and finds it on a later pass). Whatever the order, the purse's
/// money goes back once: the payee's notes, uploaded after, are paid in full from the payer's
/// returned money, and the payer ends with the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_expiry_against_a_close() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let alice = fx.user("alice", P).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");
    let cert = fx.load(&alice, &device, P, 3 * DAY, "purse-expiry-race").await;
    let mut chain = Chain::new(&cert, &device);
    let notes: Vec<PaymentNote> = (0..3).map(|i| chain.pay(&bob, C, &format!("n{i}"))).collect();
    let close = chain.close();
    let after = NOW_S + 3 * DAY + GRACE + 1;
    let after_ms = after as i64 * 1000;
    let close_key = key("close-at-expiry");
    let hold = RowHold::purse(&fx, &cert).await;
    let (closed, expired, ()) = tokio::join!(
        fx.store.offline().close_purse(alice.id, &close, &close_key, after_ms),
        other.offline().expire_purses(after, GRACE, after_ms),
        hold.commit_when_waiting(1),
    );
    expired.unwrap();
    eprintln!("close at the deadline beside the expiry pass: {closed:?}");
    assert!(fx.balance(&alice).await <= P);
    // Later passes on both servers, then the payee's upload.
    fx.off().expire_purses(after, GRACE, after_ms).await.unwrap();
    other.offline().expire_purses(after, GRACE, after_ms).await.unwrap();
    assert!(fx.balance(&alice).await <= P);
    let results = fx.settle(&bob, &notes, after_ms).await;
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, C); 3]);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (P - 3 * C, 3 * C));
    assert_eq!(operator_loss(&fx).await, 0);
    fx.verify_clean(P).await;
}

/// Two servers on one PostgreSQL: an upload whose clock was read before the settlement deadline
/// meets the expiry pass run after it, in both orders. (a) The upload waits on the purse's row
/// when the pass runs: the pass skips the locked purse, the upload pays from the reserve, and a
/// later pass returns only the rest. (b) The pass goes first and the upload, its clock still
/// before the deadline, comes after: its notes are paid from the payer's returned money, never
/// from the reserve a second time. Either way the payee is paid once, the purse's money goes back
/// once and the operator loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_race_expiry_against_an_upload() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let other = fx.second_server().await;
    let alice = fx.user("alice", 2 * P).await;
    let bob = fx.user("bob", 0).await;
    let device = signing_key("alice-phone");
    let waiting = fx.load(&alice, &device, P, 3 * DAY, "purse-upload-waits").await;
    let first = fx.load(&alice, &device, P, 3 * DAY, "purse-expiry-first").await;
    let after = NOW_S + 3 * DAY + GRACE + 1;
    let (before_ms, after_ms) = ((after - 2) as i64 * 1000, after as i64 * 1000);

    // (a) The upload waits for the purse's row (held here) while the pass runs on the other
    // server: the pass skips that purse and expires the other one.
    let mut chain = Chain::new(&waiting, &device);
    let notes: Vec<PaymentNote> = (0..3).map(|i| chain.pay(&bob, C, &format!("a{i}"))).collect();
    let hold = RowHold::purse(&fx, &waiting).await;
    let upload = tokio::spawn({
        let (store, bob_id) = (fx.store.clone(), bob.id);
        async move { store.offline().settle_notes(bob_id, notes, before_ms).await }
    });
    let waits = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..500 {
        if fx.count(waits).await >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(fx.count(waits).await, 1, "the upload waits for the purse's row");
    let expired = other.offline().expire_purses(after, GRACE, after_ms).await.unwrap();
    assert_eq!(expired, ExpiryOutcome { purses: 1, returned: P as i64 });
    assert!(!fx.purse(&waiting).await.expired);
    hold.commit_when_waiting(1).await;
    let uploaded = upload.await.unwrap().unwrap();
    assert_eq!(statuses(&uploaded), vec![(NoteStatus::Settled, None, C); 3]);
    // A later pass returns only the rest.
    let expired = fx.off().expire_purses(after, GRACE, after_ms).await.unwrap();
    assert_eq!(expired, ExpiryOutcome { purses: 1, returned: (P - 3 * C) as i64 });
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (2 * P - 3 * C, 3 * C));

    // (b) The pass went first (above); the upload's clock was read before the deadline.
    let mut chain = Chain::new(&first, &device);
    let late: Vec<PaymentNote> = (0..2).map(|i| chain.pay(&bob, C, &format!("b{i}"))).collect();
    let results = other.offline().settle_notes(bob.id, late.clone(), before_ms).await.unwrap();
    assert_eq!(statuses(&results), vec![(NoteStatus::Settled, None, C); 2]);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (2 * P - 5 * C, 5 * C));
    assert_eq!(fx.purse(&first).await.recovered, (2 * C) as i64);
    // The same notes again, on either server, move nothing.
    let again = fx.settle(&bob, &late, after_ms).await;
    assert_eq!(statuses(&again), vec![(NoteStatus::Duplicate, None, 0); 2]);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (2 * P - 5 * C, 5 * C));
    assert_eq!(operator_loss(&fx).await, 0);
    fx.verify_clean(2 * P).await;
}

/// The operator unfreezes a payer (nothing held) while an upload that finds a new fraud of the
/// payer's other purse waits for the payer's account: the upload read the payer as frozen
/// before the lock. The payer must end frozen. Before, the freeze was written only when the
/// upload's (stale) read said the payer was not frozen, so the account stayed unfrozen with a
/// revoked purse. PostgreSQL only: SQLite's one writer runs the two one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fraud_found_while_the_payer_is_unfrozen_freezes_it() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let mallory = fx.user("mallory", P).await;
    let (bob, carol) = (fx.user("bob", 0).await, fx.user("carol", 0).await);
    let device = signing_key("mallory-phone");
    let cert = fx.load(&mallory, &device, P, 3 * DAY, "purse-unfrozen").await;
    fx.store.set_frozen(mallory.id, true).await.unwrap();
    fx.settle(&bob, &[Chain::new(&cert, &device).pay(&bob, C, "bob-1")], NOW).await;
    let fork = Chain::new(&cert, &device).pay(&carol, C, "carol-1");
    // The operator's unfreeze holds the account (as `unfreeze_unless_held` does) ...
    let operator = RowHold::begin(&fx).await;
    operator.client.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", &[&mallory.account_id]).await.unwrap();
    operator.client.execute("UPDATE users SET frozen = false WHERE id = $1", &[&mallory.id]).await.unwrap();
    // ... while the fork's upload reads the payer (frozen) and waits for the account.
    let upload = tokio::spawn({
        let (store, carol_id) = (fx.store.clone(), carol.id);
        async move { store.offline().settle_notes(carol_id, vec![fork], NOW).await }
    });
    operator.commit_when_waiting(1).await;
    let results = upload.await.unwrap().unwrap();
    assert_eq!(statuses(&results)[0].0, NoteStatus::Fraud, "{results:?}");
    assert_eq!(fx.purse(&cert).await.state, PurseState::Revoked);
    assert!(
        fx.store.user_by_id(mallory.id).await.unwrap().unwrap().frozen,
        "a fraud was found and the payer is not frozen"
    );
}
