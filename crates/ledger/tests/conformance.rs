//! The storage conformance suite: one set of tests, each run against a fresh SQLite file and a
//! fresh PostgreSQL database (skipped with a notice when PostgreSQL is unreachable, unless
//! `CI=true`). Every backend of `Store` must pass all of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use offpay_ledger::*;
use offpay_protocol::{Amount, Handle};
use tokio::sync::broadcast;

#[macro_use]
mod support;
use support::row_hold::RowHold;
use support::{Fx, Kind};

const NOW: i64 = 1_764_000_000_000;

fn handle(name: &str) -> Handle {
    Handle::parse(name).unwrap()
}

fn amount(minor: u64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

fn transfer(from: &User, to: &str, minor: u64, idem: &str) -> TransferRequest {
    TransferRequest {
        from: from.id,
        to: handle(to),
        amount: amount(minor),
        idempotency_key: key(idem),
        memo: None,
        card: None,
    }
}

/// Waits for the next notice for `user` (the timeout only stops a broken backend from hanging
/// the suite; it asserts nothing about speed).
async fn next_notice_for(rx: &mut broadcast::Receiver<EventNotice>, user: UserId) -> EventNotice {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rx.recv().await {
                Ok(notice) if notice.user_id == user => return notice,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("event channel closed"),
            }
        }
    })
    .await
    .expect("no event notice arrived")
}

// --- the suite ------------------------------------------------------------------------------

async fn users_and_handles(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    assert_eq!(alice.handle.as_str(), "alice");
    assert!(!alice.frozen);
    assert!(matches!(fx.store.create_user(&handle("alice"), "x", NOW).await, Err(LedgerError::HandleTaken)));
    let bob = fx.user("bob", 0).await;
    assert_ne!(alice.id, bob.id);
    assert_ne!(alice.account_id, bob.account_id);

    let found = fx.store.user_by_handle(&handle("alice")).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.account_id, found.password_hash.as_str()),
        (alice.id, alice.account_id, "$argon2id$test")
    );
    assert_eq!(fx.store.user_by_id(bob.id).await.unwrap().unwrap().handle.as_str(), "bob");
    assert!(fx.store.user_by_handle(&handle("carol")).await.unwrap().is_none());
    assert!(fx.store.user_by_id(UserId(bob.id.0 + 1000)).await.unwrap().is_none());
    assert_eq!(fx.balance(&alice).await, 0);
    assert!(matches!(fx.store.balance(UserId(bob.id.0 + 1000)).await, Err(LedgerError::UnknownUser)));

    fx.store.set_frozen(alice.id, true).await.unwrap();
    assert!(fx.store.user_by_id(alice.id).await.unwrap().unwrap().frozen);
    fx.store.set_frozen(alice.id, false).await.unwrap();
    assert!(!fx.store.user_by_id(alice.id).await.unwrap().unwrap().frozen);
    assert!(matches!(fx.store.set_frozen(UserId(bob.id.0 + 1000), true).await, Err(LedgerError::UnknownUser)));
    assert!(["sqlite", "postgres"].contains(&fx.store.backend()));
}

/// Log out everywhere ends every session of the user; a password change ends every other
/// session and sets the hash in the same transaction; other users' sessions stay.
async fn end_sessions_and_change_password(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    let session = |token: u8, user_id| Session {
        token_hash: [token; 32],
        user_id,
        created_at_ms: NOW,
        last_seen_ms: NOW,
        idle_timeout_ms: 3_600_000,
        expires_at_ms: NOW + 86_400_000,
    };
    for (token, user) in [(1, alice.id), (2, alice.id), (3, alice.id), (9, bob.id)] {
        fx.store.create_session(&session(token, user)).await.unwrap();
    }
    let live = |token: u8| {
        let store = fx.store.clone();
        async move { store.touch_session(&[token; 32], NOW + 1).await.unwrap().is_some() }
    };

    // A password change from session 1: sessions 2 and 3 end, 1 stays; the hash changes.
    let mut ended = fx.store.end_sessions(alice.id, Some([1; 32]), Some("new-hash".into())).await.unwrap();
    ended.sort();
    assert_eq!(ended, vec![[2; 32], [3; 32]]);
    assert!(live(1).await && !live(2).await && !live(3).await && live(9).await);
    assert_eq!(fx.store.user_by_id(alice.id).await.unwrap().unwrap().password_hash, "new-hash");
    assert_ne!(fx.store.user_by_id(bob.id).await.unwrap().unwrap().password_hash, "new-hash");

    // Log out everywhere: session 1 ends too; Bob's stays; the password is untouched.
    assert_eq!(fx.store.end_sessions(alice.id, None, None).await.unwrap(), vec![[1; 32]]);
    assert!(!live(1).await && live(9).await);
    assert_eq!(fx.store.user_by_id(alice.id).await.unwrap().unwrap().password_hash, "new-hash");
    assert!(fx.store.end_sessions(alice.id, None, None).await.unwrap().is_empty());

    // An unknown user's password cannot be set, and nothing else changes.
    assert!(matches!(
        fx.store.end_sessions(UserId(bob.id.0 + 1000), None, Some("x".into())).await,
        Err(LedgerError::UnknownUser)
    ));
    assert!(live(9).await);
}

/// A sign-in's session is created only while the password hash is the one its password was
/// checked against: after a password change, a sign-in checked against the old hash gets none.
async fn a_sign_in_checked_against_an_old_password_gets_no_session(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let old = fx.store.user_by_id(alice.id).await.unwrap().unwrap().password_hash;
    let session = |token: u8| Session { token_hash: [token; 32], ..idle_session(&alice) };
    let live = |token: u8| {
        let store = fx.store.clone();
        async move { store.touch_session(&[token; 32], NOW + 1).await.unwrap().is_some() }
    };
    assert!(fx.store.create_session_if_password(&session(1), &old).await.unwrap());
    assert!(live(1).await);
    fx.store.end_sessions(alice.id, None, Some("new-hash".into())).await.unwrap();
    assert!(!live(1).await);
    assert!(!fx.store.create_session_if_password(&session(2), &old).await.unwrap());
    assert!(!live(2).await);
    assert!(fx.store.create_session_if_password(&session(3), "new-hash").await.unwrap());
    assert!(live(3).await);
    // An unknown user gets none.
    let stranger = Session { user_id: UserId(alice.id.0 + 1000), ..session(4) };
    assert!(!fx.store.create_session_if_password(&stranger, &old).await.unwrap());
}

/// Token [1; 32] of `user`, started at NOW: 1 s idle timeout, one minute absolute.
fn idle_session(user: &User) -> Session {
    Session {
        token_hash: [1; 32],
        user_id: user.id,
        created_at_ms: NOW,
        last_seen_ms: NOW,
        idle_timeout_ms: 1000,
        expires_at_ms: NOW + 60_000,
    }
}

async fn sessions_expire(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let idle = idle_session(&alice);
    fx.store.create_session(&idle).await.unwrap();
    let s = fx.store.touch_session(&[1; 32], NOW + 900).await.unwrap().unwrap();
    assert_eq!((s.user_id, s.last_seen_ms), (alice.id, NOW + 900));
    // Idle time counts from the last touch, which was stored.
    assert!(fx.store.touch_session(&[1; 32], NOW + 1800).await.unwrap().is_some());
    assert!(fx.store.touch_session(&[1; 32], NOW + 2800).await.unwrap().is_none());
    // Expired rows are deleted: even an earlier time no longer finds it.
    assert!(fx.store.touch_session(&[1; 32], NOW + 1900).await.unwrap().is_none());

    let absolute = Session { token_hash: [2; 32], expires_at_ms: NOW + 2500, ..idle.clone() };
    fx.store.create_session(&absolute).await.unwrap();
    assert!(fx.store.touch_session(&[2; 32], NOW + 900).await.unwrap().is_some());
    assert!(fx.store.touch_session(&[2; 32], NOW + 1800).await.unwrap().is_some());
    assert!(fx.store.touch_session(&[2; 32], NOW + 2500).await.unwrap().is_none());

    let logout = Session { token_hash: [3; 32], ..idle.clone() };
    fx.store.create_session(&logout).await.unwrap();
    fx.store.delete_session(&[3; 32]).await.unwrap();
    assert!(fx.store.touch_session(&[3; 32], NOW + 1).await.unwrap().is_none());
    assert!(fx.store.touch_session(&[4; 32], NOW + 1).await.unwrap().is_none());
}

/// An account keeps at most `SESSIONS_PER_USER` sessions: a new one ends the least recently used
/// beyond, and no other account's. Before, every login added a session that stayed until its
/// absolute expiry, so one account's logins grew the table (and its log-out-everywhere) without bound.
async fn an_account_keeps_at_most_its_share_of_sessions(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    let session = |user: &User, n: u8, at: i64| Session {
        token_hash: [n; 32],
        user_id: user.id,
        created_at_ms: at,
        last_seen_ms: at,
        idle_timeout_ms: 3_600_000,
        expires_at_ms: at + 3_600_000,
    };
    fx.store.create_session(&session(&bob, 255, NOW)).await.unwrap();
    let cap = u8::try_from(SESSIONS_PER_USER).unwrap();
    for n in 0..cap + 5 {
        fx.store.create_session(&session(&alice, n, NOW + i64::from(n))).await.unwrap();
    }
    let later = NOW + 1_000;
    for n in 0..5 {
        assert!(fx.store.touch_session(&[n; 32], later).await.unwrap().is_none(), "alice's oldest session {n} ended");
    }
    for n in 5..cap + 5 {
        assert!(fx.store.touch_session(&[n; 32], later).await.unwrap().is_some(), "alice's session {n} kept");
    }
    assert!(fx.store.touch_session(&[255; 32], later).await.unwrap().is_some(), "bob's session kept");
    // A session in use is not the one to go: alice's session 5 is used a minute later (the use
    // is written), so 6 is then the least recently used.
    let minute = NOW + 60_000;
    assert!(fx.store.touch_session(&[5; 32], minute).await.unwrap().is_some());
    fx.store.create_session(&session(&alice, cap + 5, minute + 1)).await.unwrap();
    assert!(fx.store.touch_session(&[5; 32], minute + 2).await.unwrap().is_some());
    assert!(fx.store.touch_session(&[6; 32], minute + 2).await.unwrap().is_none());
}

/// The one read of a signed-in request: the session and its user together, touched like
/// `touch_session`, and never a stale user (a freeze shows at once).
async fn session_user_in_one_call(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let idle = idle_session(&alice);
    fx.store.create_session(&idle).await.unwrap();
    let (s, user) = fx.store.session_user(&[1; 32], NOW + 900).await.unwrap().unwrap();
    assert_eq!((s.user_id, s.last_seen_ms), (alice.id, NOW + 900), "a use after a while is stored");
    assert_eq!(user, fx.store.user_by_id(alice.id).await.unwrap().unwrap());
    // Soon after (under an eighth of the idle timeout): answered without a write.
    let (s, _) = fx.store.session_user(&[1; 32], NOW + 950).await.unwrap().unwrap();
    assert_eq!(s.last_seen_ms, NOW + 900);
    // A freeze shows on the next request.
    fx.store.set_frozen(alice.id, true).await.unwrap();
    let (_, user) = fx.store.session_user(&[1; 32], NOW + 960).await.unwrap().unwrap();
    assert!(user.frozen);
    // Idle time counts from the last stored use (NOW + 1800), then the session ends for good.
    assert!(fx.store.session_user(&[1; 32], NOW + 1800).await.unwrap().is_some());
    assert!(fx.store.session_user(&[1; 32], NOW + 2800).await.unwrap().is_none());
    assert!(fx.store.session_user(&[1; 32], NOW + 1900).await.unwrap().is_none(), "the ended row is deleted");
    assert!(fx.store.touch_session(&[1; 32], NOW + 1900).await.unwrap().is_none());
    // Past the absolute expiry, and unknown tokens.
    let absolute = Session { token_hash: [2; 32], expires_at_ms: NOW + 2500, ..idle.clone() };
    fx.store.create_session(&absolute).await.unwrap();
    assert!(fx.store.session_user(&[2; 32], NOW + 900).await.unwrap().is_some());
    assert!(fx.store.session_user(&[2; 32], NOW + 2500).await.unwrap().is_none());
    assert!(fx.store.session_user(&[4; 32], NOW + 1).await.unwrap().is_none());
}

async fn login_throttle(fx: Fx) {
    assert_eq!(fx.store.login_throttle("h:alice").await.unwrap(), LoginThrottle::default());
    let t = fx.store.record_login_failure("h:alice", NOW, 1000, 1000).await.unwrap();
    assert_eq!(t, LoginThrottle { failures: 1, locked_until_ms: NOW + 1000, last_failure_ms: NOW });
    let t = fx.store.record_login_failure("h:alice", NOW + 10, 1000, 4000).await.unwrap();
    assert_eq!(t, LoginThrottle { failures: 2, locked_until_ms: NOW + 4010, last_failure_ms: NOW + 10 });
    assert_eq!(fx.store.login_throttle("h:alice").await.unwrap(), t);
    // A failure long after the last one starts the count again.
    let t = fx.store.record_login_failure("h:alice", NOW + 5000, 1000, 0).await.unwrap();
    assert_eq!(t, LoginThrottle { failures: 1, locked_until_ms: NOW + 5000, last_failure_ms: NOW + 5000 });
    assert_eq!(fx.store.login_throttle("ip:127.0.0.1").await.unwrap(), LoginThrottle::default());
    fx.store.clear_login_failures("h:alice").await.unwrap();
    assert_eq!(fx.store.login_throttle("h:alice").await.unwrap(), LoginThrottle::default());

    for (i, kind) in ["login_failed", "login_locked", "forbidden"].iter().enumerate() {
        fx.store.record_security_event(kind, &format!("detail {i}"), NOW + i as i64).await.unwrap();
    }
    let events = fx.store.security_events(2).await.unwrap();
    assert_eq!(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["forbidden", "login_locked"]);
    assert_eq!(events[1].detail, "detail 1");
    assert_eq!(events[0].created_at_ms, NOW + 2);
}

/// Failure rows of addresses that never come back are removed by later failures (a botnet's
/// ever new addresses cannot grow the table without bound), but never while they still lock or
/// still count.
async fn login_throttle_forgets_old_rows(fx: Fx) {
    const OLD: usize = 150;
    for i in 0..OLD {
        fx.store.record_login_failure(&format!("ip:10.0.{}.{}", i / 256, i % 256), NOW, 1000, 0).await.unwrap();
    }
    // Still locked long after its failure is forgotten; failed recently; forgotten.
    fx.store.record_login_failure("pair:alice 10.1.0.1", NOW, 1000, 60_000).await.unwrap();
    let recent = fx.store.record_login_failure("ip:10.1.0.2", NOW + 4500, 1000, 0).await.unwrap();
    // Each later failure removes a bounded number of forgettable rows; two are enough for 150.
    for i in 0..2 {
        fx.store.record_login_failure(&format!("ip:10.2.0.{i}"), NOW + 5000, 1000, 0).await.unwrap();
    }
    for i in 0..OLD {
        let key = format!("ip:10.0.{}.{}", i / 256, i % 256);
        assert_eq!(fx.store.login_throttle(&key).await.unwrap(), LoginThrottle::default(), "{key} was kept");
    }
    let locked = fx.store.login_throttle("pair:alice 10.1.0.1").await.unwrap();
    assert_eq!(locked, LoginThrottle { failures: 1, locked_until_ms: NOW + 60_000, last_failure_ms: NOW });
    assert_eq!(fx.store.login_throttle("ip:10.1.0.2").await.unwrap(), recent);
    // The count of a kept row goes on as before.
    let again = fx.store.record_login_failure("ip:10.1.0.2", NOW + 5100, 1000, 0).await.unwrap();
    assert_eq!(again.failures, 2);
}

/// The security log forgets what is past its retention, oldest first, a bounded number of
/// rows per call, and keeps everything younger (even when written out of order).
async fn security_events_are_forgotten(fx: Fx) {
    let max = offpay_ledger::SECURITY_FORGET_MAX as usize;
    let day = 86_400_000;
    // More old events than one call deletes, then a young one, an old one written late (a
    // server whose clock is behind), and another young one.
    for i in 0..max + 5 {
        fx.store.record_security_event("login_failed", &format!("old {i}"), NOW - 100 * day).await.unwrap();
    }
    fx.store.record_security_event("forbidden", "young", NOW - day).await.unwrap();
    fx.store.record_security_event("forbidden", "late", NOW - 100 * day).await.unwrap();
    fx.store.record_security_event("forbidden", "newest", NOW).await.unwrap();
    let cutoff = NOW - 90 * day;
    assert_eq!(fx.store.forget_security_events(cutoff).await.unwrap(), max as u64);
    assert_eq!(fx.store.forget_security_events(cutoff).await.unwrap(), 6, "the 5 old ones left and the late one");
    assert_eq!(fx.store.forget_security_events(cutoff).await.unwrap(), 0);
    let kept = fx.store.security_events(100).await.unwrap();
    assert_eq!(kept.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(), ["newest", "young"]);
}

/// Guess budgets: a sliding window per key, exact under concurrency, guesses given back.
async fn login_guess_budget(fx: Fx) {
    let window = 30 * 60_000;
    let mut ids = Vec::new();
    for i in 0..3 {
        match fx.store.take_login_guess("account:alice", NOW + i, window, 3).await.unwrap() {
            LoginGuess::Granted { id } => ids.push(id),
            other => panic!("guess {i}: {other:?}"),
        }
    }
    assert_eq!(
        fx.store.take_login_guess("account:alice", NOW + 10, window, 3).await.unwrap(),
        LoginGuess::Refused { retry_at_ms: NOW + window }
    );
    // Another key has its own budget.
    assert!(matches!(
        fx.store.take_login_guess("account:bob", NOW + 10, window, 3).await.unwrap(),
        LoginGuess::Granted { .. }
    ));
    // A guess given back (the password was right) frees its place; a wrong key gives back nothing.
    fx.store.return_login_guess("account:bob", ids[1]).await.unwrap();
    fx.store.return_login_guess("account:alice", ids[1]).await.unwrap();
    assert!(matches!(
        fx.store.take_login_guess("account:alice", NOW + 20, window, 3).await.unwrap(),
        LoginGuess::Granted { .. }
    ));
    assert_eq!(
        fx.store.take_login_guess("account:alice", NOW + 20, window, 3).await.unwrap(),
        LoginGuess::Refused { retry_at_ms: NOW + window }
    );
    // Sliding: the first guess leaves the window, one place opens; the rest stay counted.
    assert!(matches!(
        fx.store.take_login_guess("account:alice", NOW + window, window, 3).await.unwrap(),
        LoginGuess::Granted { .. }
    ));
    assert_eq!(
        fx.store.take_login_guess("account:alice", NOW + window, window, 3).await.unwrap(),
        LoginGuess::Refused { retry_at_ms: NOW + 2 + window }
    );

    // Many servers at once: exactly `limit` guesses are granted.
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let store = fx.store.clone();
            tokio::spawn(async move { store.take_login_guess("account:carol", NOW, window, 10).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), LoginGuess::Granted { .. }) {
            granted += 1;
        }
    }
    assert_eq!(granted, 10);
}

/// Device tokens: bound to one user, a few failures lock them, success clears, idle ones lapse,
/// at most `keep` per user.
async fn login_devices(fx: Fx) {
    let alice = fx.user("alice", 0).await.id;
    let bob = fx.user("bob", 0).await.id;
    let token = [7u8; 32];
    fx.store.create_login_device(&token, alice, NOW, 3).await.unwrap();
    // Unknown tokens and other users' tokens are not valid.
    assert_eq!(fx.store.take_device_guess(&[8; 32], alice, NOW, 3).await.unwrap(), None);
    assert_eq!(fx.store.take_device_guess(&token, bob, NOW, 3).await.unwrap(), None);
    assert_eq!(fx.store.take_device_guess(&token, alice, NOW, 3).await.unwrap(), Some(1));
    assert_eq!(fx.store.take_device_guess(&token, alice, NOW, 3).await.unwrap(), Some(2));
    fx.store.device_login_succeeded(&token, NOW + 5).await.unwrap();
    for expected in 1..=3 {
        assert_eq!(fx.store.take_device_guess(&token, alice, NOW, 3).await.unwrap(), Some(expected));
    }
    // Locked after 3 failures, even for its owner, until a success clears it (which the server
    // never asks for once it is locked).
    assert_eq!(fx.store.take_device_guess(&token, alice, NOW, 3).await.unwrap(), None);
    // Not used since `used_since_ms`: lapsed.
    let other = [9u8; 32];
    fx.store.create_login_device(&other, alice, NOW + 10, 3).await.unwrap();
    assert_eq!(fx.store.take_device_guess(&other, alice, NOW + 11, 3).await.unwrap(), None);
    assert_eq!(fx.store.take_device_guess(&other, alice, NOW + 10, 3).await.unwrap(), Some(1));
    // Beyond `keep` the least recently used go.
    for (i, t) in [[10u8; 32], [11u8; 32], [12u8; 32]].iter().enumerate() {
        fx.store.create_login_device(t, alice, NOW + 20 + i as i64, 3).await.unwrap();
    }
    assert_eq!(fx.store.take_device_guess(&other, alice, NOW, 3).await.unwrap(), None);
    assert_eq!(fx.store.take_device_guess(&[10; 32], alice, NOW, 3).await.unwrap(), Some(1));
    // Concurrent guesses with one token: exactly `max_failures` are counted.
    let shared = [13u8; 32];
    fx.store.create_login_device(&shared, bob, NOW, 3).await.unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = fx.store.clone();
            tokio::spawn(async move { store.take_device_guess(&shared, bob, NOW, 5).await.unwrap() })
        })
        .collect();
    let mut counted = 0;
    for task in tasks {
        if task.await.unwrap().is_some() {
            counted += 1;
        }
    }
    assert_eq!(counted, 5);
}

async fn deposit_and_transfer(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    let dep = fx.store.deposit(&handle("alice"), amount(1000), &key("deposit-0001"), NOW).await.unwrap();
    assert_eq!(
        (dep.kind, dep.from.clone(), dep.to.as_str(), dep.amount.minor(), dep.replayed),
        (EntryKind::Deposit, None, "alice", 1000, false)
    );
    assert_eq!(dep.created_at_ms, NOW);

    let mut request = transfer(&alice, "bob", 300, "transfer-0001");
    request.memo = Some("chai".into());
    let sent = fx.store.transfer(&request, NOW + 5).await.unwrap();
    assert_eq!(sent.kind, EntryKind::Transfer);
    assert_eq!(sent.from.as_ref().map(Handle::as_str), Some("alice"));
    assert_eq!((sent.to.as_str(), sent.amount.minor(), sent.replayed), ("bob", 300, false));
    assert!(sent.entry_id > dep.entry_id);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (700, 300));

    let history = fx.store.history(alice.id, None, 50).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0],
        HistoryItem {
            entry_id: sent.entry_id,
            kind: EntryKind::Transfer,
            delta: -300,
            counterparty: Some(handle("bob")),
            memo: Some("chai".into()),
            created_at_ms: NOW + 5,
            note: None,
        }
    );
    assert_eq!(
        (history[1].entry_id, history[1].kind, history[1].delta, history[1].counterparty.clone()),
        (dep.entry_id, EntryKind::Deposit, 1000, None)
    );
    let bob_history = fx.store.history(bob.id, None, 50).await.unwrap();
    assert_eq!(bob_history.len(), 1);
    assert_eq!((bob_history[0].delta, bob_history[0].counterparty.clone()), (300, Some(handle("alice"))));

    let report = fx.verify_report().await;
    assert_eq!(report.money_in_system, 1000);
    assert_eq!(report.entries, 2);
    // funding, reserve, fraud loss, two wallets
    assert_eq!(report.accounts, 5);
}

/// A transfer answers with the sender's balance right after it; a replay with the balance now.
async fn transfer_returns_the_senders_balance(fx: Fx) {
    let alice = fx.user("alice", 1000).await;
    let bob = fx.user("bob", 50).await;
    let (sent, balance) =
        fx.store.transfer_and_balance(&transfer(&alice, "bob", 300, "balance-0001"), NOW).await.unwrap();
    assert_eq!((sent.amount.minor(), balance.minor()), (300, 700));
    let (_, balance) = fx.store.transfer_and_balance(&transfer(&bob, "alice", 25, "balance-0002"), NOW).await.unwrap();
    assert_eq!(balance.minor(), 325, "bob's own balance, not alice's");
    fx.store.transfer(&transfer(&alice, "bob", 100, "balance-0003"), NOW).await.unwrap();
    let (again, balance) =
        fx.store.transfer_and_balance(&transfer(&alice, "bob", 300, "balance-0001"), NOW + 1).await.unwrap();
    assert_eq!((again.entry_id, again.replayed), (sent.entry_id, true));
    assert_eq!(balance.minor(), 625, "a replay answers with the balance now (1000 - 300 + 25 - 100)");
    assert_eq!(fx.balance(&alice).await, 625);
    // A refusal moves nothing.
    let refused = fx.store.transfer_and_balance(&transfer(&alice, "bob", 5000, "balance-0004"), NOW).await;
    assert!(matches!(refused, Err(LedgerError::InsufficientFunds)), "{refused:?}");
    fx.verify_report().await;
}

/// The card a payment's receipts name: the first binding stays, a second card never replaces
/// it (not even when both ask at once), and each payment has its own.
async fn receipt_card_binds_once(fx: Fx) {
    let alice = fx.user("alice", 1000).await;
    fx.user("bob", 0).await;
    let first = fx.store.transfer(&transfer(&alice, "bob", 250, "card-0001"), NOW).await.unwrap();
    let second = fx.store.transfer(&transfer(&alice, "bob", 250, "card-0002"), NOW).await.unwrap();
    let (a, b) = ([1, 2, 3, 4], [9, 9, 9, 9]);
    assert_eq!(fx.store.receipt_card(first.entry_id, None, NOW).await.unwrap(), None);
    assert_eq!(fx.store.receipt_card(first.entry_id, Some(a), NOW).await.unwrap(), Some(a));
    assert_eq!(fx.store.receipt_card(first.entry_id, Some(b), NOW + 1).await.unwrap(), Some(a), "first stays");
    assert_eq!(fx.store.receipt_card(first.entry_id, None, NOW + 2).await.unwrap(), Some(a));
    assert_eq!(fx.store.receipt_card(first.entry_id, Some(a), NOW + 3).await.unwrap(), Some(a));
    // Two cards asked for at once: both answers name the same one.
    let store = std::sync::Arc::clone(&fx.store);
    let (x, y) = tokio::join!(
        store.receipt_card(second.entry_id, Some(a), NOW),
        store.receipt_card(second.entry_id, Some(b), NOW)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.is_some() && x == y, "{x:?} {y:?}");
    fx.verify_report().await;
}

/// A payment made at a shop's counter names its card: the receipt is bound to that card in the
/// transfer itself (a later ask for another card gets the first), and the payee's `money_in`
/// event names it, so only that counter announces it. The card is part of the request under
/// its key.
async fn a_counter_payment_binds_its_card_in_the_transfer(fx: Fx) {
    let alice = fx.user("alice", 1000).await;
    let bob = fx.user("bob", 0).await;
    let (a, b) = ([1, 2, 3, 4], [9, 9, 9, 9]);
    let request = TransferRequest { card: Some(a), ..transfer(&alice, "bob", 250, "counter-0001") };
    let paid = fx.store.transfer(&request, NOW).await.unwrap();
    assert_eq!(fx.store.receipt_card(paid.entry_id, None, NOW).await.unwrap(), Some(a));
    assert_eq!(fx.store.receipt_card(paid.entry_id, Some(b), NOW).await.unwrap(), Some(a), "bound in the transfer");
    let events = fx.store.events_after(bob.id, 0, 10).await.unwrap();
    let money_in = events.iter().find(|e| e.kind == "money_in").unwrap();
    assert_eq!(money_in.payload["card"], "01020304", "{}", money_in.payload);
    assert!(fx.store.events_after(alice.id, 0, 10).await.unwrap().iter().all(|e| e.payload.get("card").is_none()));
    // The same key for another card, or for none, is another request.
    for other in [Some(b), None] {
        let again = TransferRequest { card: other, ..request.clone() };
        assert!(matches!(fx.store.transfer(&again, NOW).await, Err(LedgerError::IdempotencyConflict)));
    }
    assert!(fx.store.transfer(&request, NOW).await.unwrap().replayed);
    assert_eq!(fx.balance(&bob).await, 250);
    fx.events_fit_the_api().await;
    fx.verify_report().await;
}

/// A receipt's facts: either party reads the transfer; a third user, a deposit and an unknown id
/// all read as nothing.
async fn transfer_entries_for_receipts(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    let carol = fx.user("carol", 0).await;
    let dep = fx.fund("alice", 1000).await;
    let sent = fx.store.transfer(&transfer(&alice, "bob", 250, "receipt-0001"), NOW + 7).await.unwrap();
    let expected = TransferEntry {
        entry_id: sent.entry_id,
        from: alice.id,
        from_handle: handle("alice"),
        to: bob.id,
        to_handle: handle("bob"),
        amount: amount(250),
        created_at_ms: NOW + 7,
    };
    assert_eq!(fx.store.transfer_entry(alice.id, sent.entry_id).await.unwrap(), Some(expected.clone()));
    assert_eq!(fx.store.transfer_entry(bob.id, sent.entry_id).await.unwrap(), Some(expected));
    assert_eq!(fx.store.transfer_entry(carol.id, sent.entry_id).await.unwrap(), None);
    assert_eq!(fx.store.transfer_entry(alice.id, dep.entry_id).await.unwrap(), None);
    assert_eq!(fx.store.transfer_entry(alice.id, EntryId(sent.entry_id.0 + 1000)).await.unwrap(), None);
}

async fn refusals_change_nothing(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    fx.fund("alice", 500).await;
    let seq = fx.store.latest_event_seq().await.unwrap();

    let refused = [
        (transfer(&alice, "bob", 501, "refused-0001"), "insufficient"),
        (transfer(&alice, "nobody", 5, "refused-0002"), "unknown"),
        (transfer(&alice, "alice", 5, "refused-0003"), "same"),
        (TransferRequest { memo: Some("x".repeat(141)), ..transfer(&alice, "bob", 5, "refused-0004") }, "memo"),
        (TransferRequest { amount: Amount::ZERO, ..transfer(&alice, "bob", 5, "refused-0005") }, "zero"),
    ];
    for (request, why) in refused {
        let err = fx.store.transfer(&request, NOW).await.unwrap_err();
        let expected = match why {
            "insufficient" => matches!(err, LedgerError::InsufficientFunds),
            "unknown" => matches!(err, LedgerError::UnknownUser),
            "same" => matches!(err, LedgerError::SameAccount),
            "memo" => matches!(err, LedgerError::MemoTooLong),
            _ => matches!(err, LedgerError::InvalidAmount),
        };
        assert!(expected, "{why}: got {err:?}");
        assert!(err.is_definitive());
    }
    assert!(matches!(
        fx.store.deposit(&handle("nobody"), amount(5), &key("refused-0006"), NOW).await,
        Err(LedgerError::UnknownUser)
    ));
    fx.store.set_frozen(alice.id, true).await.unwrap();
    assert!(matches!(
        fx.store.transfer(&transfer(&alice, "bob", 5, "refused-0007"), NOW).await,
        Err(LedgerError::AccountFrozen)
    ));

    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (500, 0));
    assert_eq!(fx.store.history(alice.id, None, 50).await.unwrap().len(), 1);
    assert!(fx.store.history(bob.id, None, 50).await.unwrap().is_empty());
    assert_eq!(fx.store.latest_event_seq().await.unwrap(), seq);
    assert_eq!(fx.verify_report().await.entries, 1);

    // A refusal that depends on the state is kept under its key: once the state changes (the
    // money arrives, the payee registers, the account is unfrozen), the same key is still
    // refused (deposits too), so an earlier attempt of the same request that arrives late cannot pay after a
    // client was told "refused"; the same key with other terms is a conflict; a new key pays.
    fx.store.set_frozen(alice.id, false).await.unwrap();
    fx.fund("alice", 1).await;
    fx.user("nobody", 0).await;
    for (request, refusal) in [
        (transfer(&alice, "bob", 501, "refused-0001"), LedgerError::InsufficientFunds),
        (transfer(&alice, "nobody", 5, "refused-0002"), LedgerError::UnknownUser),
        (transfer(&alice, "bob", 5, "refused-0007"), LedgerError::AccountFrozen),
    ] {
        let err = fx.store.transfer(&request, NOW + 1).await.unwrap_err();
        assert_eq!(err.to_string(), refusal.to_string(), "{request:?}");
    }
    assert!(matches!(
        fx.store.transfer(&transfer(&alice, "bob", 500, "refused-0001"), NOW).await,
        Err(LedgerError::IdempotencyConflict)
    ));
    // The same for an operator's deposit to a user who did not exist yet.
    assert!(matches!(
        fx.store.deposit(&handle("nobody"), amount(5), &key("refused-0006"), NOW).await,
        Err(LedgerError::UnknownUser)
    ));
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (501, 0));
    let ok = fx.store.transfer(&transfer(&alice, "bob", 501, "refused-0008"), NOW).await.unwrap();
    assert!(!ok.replayed);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (0, 501));
    // No wallet grows past the largest amount (a stored balance always reads back as one): a
    // deposit or a transfer that would take it there is refused and moves nothing.
    let max = Amount::MAX.minor();
    fx.fund("bob", max - 501).await;
    assert!(matches!(
        fx.store.deposit(&handle("bob"), amount(1), &key("refused-0009"), NOW).await,
        Err(LedgerError::AmountOverflow)
    ));
    fx.fund("alice", 1).await;
    assert!(matches!(
        fx.store.transfer(&transfer(&alice, "bob", 1, "refused-0010"), NOW).await,
        Err(LedgerError::AmountOverflow)
    ));
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (1, max));
    fx.verify_report().await;
}

async fn idempotent_replay_and_conflict(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    fx.fund("alice", 1000).await;

    let first = fx.store.transfer(&transfer(&alice, "bob", 100, "same-key-01"), NOW).await.unwrap();
    let again = fx.store.transfer(&transfer(&alice, "bob", 100, "same-key-01"), NOW + 99).await.unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(Posted { replayed: false, ..again.clone() }, first);
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (900, 100));

    for changed in [
        transfer(&alice, "bob", 101, "same-key-01"),
        TransferRequest { memo: Some("other".into()), ..transfer(&alice, "bob", 100, "same-key-01") },
    ] {
        assert!(matches!(fx.store.transfer(&changed, NOW).await, Err(LedgerError::IdempotencyConflict)));
    }
    fx.user("carol", 0).await;
    assert!(matches!(
        fx.store.transfer(&transfer(&alice, "carol", 100, "same-key-01"), NOW).await,
        Err(LedgerError::IdempotencyConflict)
    ));
    // Keys are scoped per sender: bob may use the same key for his own transfer.
    let bobs = fx.store.transfer(&transfer(&bob, "alice", 10, "same-key-01"), NOW).await.unwrap();
    assert!(!bobs.replayed);
    assert_ne!(bobs.entry_id, first.entry_id);

    let dep1 = fx.store.deposit(&handle("bob"), amount(50), &key("dep-key-001"), NOW).await.unwrap();
    let dep2 = fx.store.deposit(&handle("bob"), amount(50), &key("dep-key-001"), NOW + 1).await.unwrap();
    assert!(dep2.replayed);
    assert_eq!(dep2.entry_id, dep1.entry_id);
    assert!(matches!(
        fx.store.deposit(&handle("bob"), amount(51), &key("dep-key-001"), NOW).await,
        Err(LedgerError::IdempotencyConflict)
    ));
    assert!(matches!(
        fx.store.deposit(&handle("alice"), amount(50), &key("dep-key-001"), NOW).await,
        Err(LedgerError::IdempotencyConflict)
    ));
    assert_eq!((fx.balance(&alice).await, fx.balance(&bob).await), (910, 140));
    // A replay is not a new entry.
    assert_eq!(fx.store.history(alice.id, None, 50).await.unwrap().len(), 3);
    // Replays after the sender was frozen still return the first outcome.
    fx.store.set_frozen(alice.id, true).await.unwrap();
    assert!(fx.store.transfer(&transfer(&alice, "bob", 100, "same-key-01"), NOW).await.unwrap().replayed);
    fx.verify_report().await;
}

async fn history_pagination(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    fx.user("bob", 0).await;
    let mut ids = Vec::new();
    for i in 1..=7 {
        ids.push(fx.fund("alice", i * 10).await.entry_id);
    }
    ids.push(fx.store.transfer(&transfer(&alice, "bob", 5, "page-key-01"), NOW).await.unwrap().entry_id);
    ids.reverse();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = fx.store.history(alice.id, before, 3).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        before = Some(page.last().unwrap().entry_id);
        seen.extend(page.iter().map(|h| h.entry_id));
    }
    assert_eq!(seen, ids);
    assert_eq!(fx.store.history(alice.id, Some(ids[0]), 200).await.unwrap().len(), 7);
    assert_eq!(fx.store.history(alice.id, Some(ids[6]), 200).await.unwrap().len(), 1);
    assert!(fx.store.history(alice.id, None, 0).await.unwrap().is_empty());
    assert_eq!(fx.store.history(alice.id, None, u32::MAX).await.unwrap().len(), 8);
}

async fn events_and_subscribe(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    assert_eq!(fx.store.latest_event_seq().await.unwrap(), 0);
    let mut rx = fx.store.subscribe();

    let dep = fx.store.deposit(&handle("alice"), amount(1000), &key("events-dep-1"), NOW).await.unwrap();
    let notice = next_notice_for(&mut rx, alice.id).await;
    let events = fx.store.events_after(alice.id, 0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, notice.seq);
    assert_eq!(events[0].kind, "deposit");
    assert_eq!(events[0].payload["entry_id"], dep.entry_id.0);
    assert_eq!(events[0].payload["amount"], 1000);
    assert_eq!(events[0].payload["to"], "alice");
    assert!(events[0].payload["from"].is_null());
    assert_eq!(events[0].payload["balance"], 1000);
    assert_eq!(events[0].created_at_ms, NOW);

    let sent = fx.store.transfer(&transfer(&alice, "bob", 250, "events-tr-01"), NOW + 1).await.unwrap();
    let bob_notice = next_notice_for(&mut rx, bob.id).await;
    let out = fx.store.events_after(alice.id, notice.seq, 100).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].kind.as_str(), out[0].user_id), ("money_out", alice.id));
    assert_eq!(out[0].payload["balance"], 750);
    assert_eq!(out[0].payload["from"], "alice");
    assert_eq!(out[0].payload["to"], "bob");
    assert_eq!(out[0].payload["entry_id"], sent.entry_id.0);
    let inn = fx.store.events_after(bob.id, 0, 100).await.unwrap();
    assert_eq!(inn.len(), 1);
    assert_eq!((inn[0].kind.as_str(), inn[0].seq), ("money_in", bob_notice.seq));
    assert_eq!(inn[0].payload["balance"], 250);
    assert_eq!(inn[0].payload["amount"], 250);
    assert!(inn[0].seq > notice.seq);
    assert_eq!(fx.store.latest_event_seq().await.unwrap(), out[0].seq.max(inn[0].seq));
    assert_eq!(fx.store.events_after(alice.id, 0, 1).await.unwrap().len(), 1);
    assert!(fx.store.events_after(bob.id, inn[0].seq, 100).await.unwrap().is_empty());

    // A replay writes no new event.
    fx.store.transfer(&transfer(&alice, "bob", 250, "events-tr-01"), NOW + 2).await.unwrap();
    assert!(fx.store.events_after(bob.id, inn[0].seq, 100).await.unwrap().is_empty());
}

/// PostgreSQL only: a notice committed through one store instance reaches subscribers of
/// another instance on the same database (as with two server processes).
async fn cross_instance_notices(fx: Fx) {
    let Some(url) = &fx.url else { return };
    let other = offpay_ledger::postgres::PostgresStore::connect(url).await.unwrap();
    let alice = fx.user("alice", 0).await;
    let bob = fx.user("bob", 0).await;
    let mut rx_other = other.subscribe();
    fx.fund("alice", 100).await;
    let n1 = next_notice_for(&mut rx_other, alice.id).await;
    other.transfer(&transfer(&alice, "bob", 40, "cross-inst-1"), NOW).await.unwrap();
    let mut rx_first = fx.store.subscribe();
    // rx_first subscribed after the transfer may or may not see it; a second transfer it must.
    other.transfer(&transfer(&alice, "bob", 10, "cross-inst-2"), NOW).await.unwrap();
    let n2 = loop {
        let n = next_notice_for(&mut rx_first, bob.id).await;
        let events = fx.store.events_after(bob.id, n.seq - 1, 10).await.unwrap();
        if events.first().is_some_and(|e| e.payload["amount"] == 10) {
            break n;
        }
    };
    assert!(n2.seq > n1.seq);
    assert_eq!(fx.balance(&bob).await, 50);
}

/// PostgreSQL only: when the listener's connection is killed, the store reconnects and still
/// delivers the notices of events committed meanwhile (catch-up from the events table).
async fn listener_reconnects(fx: Fx) {
    let Some(url) = &fx.url else { return };
    let alice = fx.user("alice", 0).await;
    let mut rx = fx.store.subscribe();
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(conn);
    let killed: i64 = client
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'offpay-listener'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "the store's listener connection was found and killed");
    drop(client);
    driver.await.unwrap().unwrap();
    let posted = fx.fund("alice", 70).await;
    let notice = next_notice_for(&mut rx, alice.id).await;
    let events = fx.store.events_after(alice.id, notice.seq - 1, 10).await.unwrap();
    assert_eq!(events[0].payload["entry_id"], posted.entry_id.0);
    // And live notices flow again afterwards.
    let posted = fx.fund("alice", 80).await;
    let notice = next_notice_for(&mut rx, alice.id).await;
    let events = fx.store.events_after(alice.id, notice.seq - 1, 10).await.unwrap();
    assert_eq!(events[0].payload["entry_id"], posted.entry_id.0);
}

async fn verify_detects_tampering(fx: Fx) {
    let alice = fx.user("alice", 0).await;
    fx.user("bob", 0).await;
    fx.fund("alice", 1000).await;
    let t1 = fx.store.transfer(&transfer(&alice, "bob", 100, "tamper-0001"), NOW).await.unwrap();
    fx.store.transfer(&transfer(&alice, "bob", 200, "tamper-0002"), NOW).await.unwrap();
    fx.verify_report().await;

    // A posting edited in place: the entry's postings no longer sum to zero, its hash breaks and
    // the balance no longer matches.
    fx.tamper(&format!("UPDATE postings SET delta = delta + 1 WHERE entry_id = {} AND delta > 0", t1.entry_id)).await;
    let report = fx.store.verify().await.unwrap();
    assert!(report.problems.iter().any(|p| p.contains("sum to 1")), "{:#?}", report.problems);
    assert!(
        report.problems.iter().any(|p| p.contains(&format!("entry {}: stored hash", t1.entry_id))),
        "{:#?}",
        report.problems
    );
    fx.tamper(&format!("UPDATE postings SET delta = delta - 1 WHERE entry_id = {} AND delta > 0", t1.entry_id)).await;
    fx.verify_report().await;

    // A balance edited in place.
    fx.tamper(&format!("UPDATE accounts SET balance = balance + 5 WHERE id = {}", alice.account_id)).await;
    let report = fx.store.verify().await.unwrap();
    assert!(report.problems.iter().any(|p| p.contains("stored balance")), "{:#?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("not zero")), "{:#?}", report.problems);
    fx.tamper(&format!("UPDATE accounts SET balance = balance - 5 WHERE id = {}", alice.account_id)).await;
    fx.verify_report().await;

    // A memo or amount rewritten consistently with the postings still breaks the hash.
    fx.tamper(&format!("UPDATE journal SET memo = 'rewritten' WHERE id = {}", t1.entry_id)).await;
    let report = fx.store.verify().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    assert!(report.problems[0].contains("stored hash"));
}

async fn concurrent_transfers(fx: Fx) {
    const TASKS: usize = 64;
    const PER_TASK: usize = 50;
    const USERS: usize = 4;
    let names: Vec<String> = (0..USERS).map(|i| format!("user{i}")).collect();
    let mut users = Vec::new();
    for name in &names {
        users.push(fx.user(name, 0).await);
        fx.fund(name, 1000).await;
    }
    let broke = fx.user("broke", 0).await;
    let total: u64 = 1000 * USERS as u64;

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(&fx.store);
        let users = users.clone();
        let broke = broke.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut insufficient = 0usize;
            // Deterministic pseudo-random walk per task.
            let mut x = (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for i in 0..PER_TASK {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let from_index = (x % USERS as u64) as usize;
                let to_index = (from_index + 1 + ((x >> 8) % (USERS as u64 - 1)) as usize) % USERS;
                let (from, to) = (&users[from_index], &users[to_index]);
                let minor = 1 + (x >> 20) % 200;
                let request = TransferRequest {
                    from: from.id,
                    to: to.handle.clone(),
                    amount: amount(minor),
                    idempotency_key: key(&format!("race-{t}-{i}")),
                    memo: None,
                    card: None,
                };
                // Every fifth request is sent twice at once: the key must move the money once.
                let outcome = if i % 5 == 0 {
                    let (a, b) = tokio::join!(store.transfer(&request, NOW), store.transfer(&request, NOW));
                    match (a, b) {
                        (Ok(a), Ok(b)) => {
                            assert_eq!(a.entry_id, b.entry_id);
                            assert!(a.replayed != b.replayed, "exactly one of the two is the original");
                            Ok(a)
                        }
                        (Err(LedgerError::InsufficientFunds), Err(LedgerError::InsufficientFunds)) => {
                            Err(LedgerError::InsufficientFunds)
                        }
                        // Never one refused and the other paid: the first decision is kept under
                        // the key (a refusal too), so a client that saw the refusal was told the
                        // truth.
                        other => panic!("unexpected outcome {other:?}"),
                    }
                } else {
                    store.transfer(&request, NOW).await
                };
                match outcome {
                    Ok(posted) => acked.push((posted.entry_id, from.id, to.id, minor)),
                    Err(LedgerError::InsufficientFunds) => insufficient += 1,
                    Err(e) => panic!("unexpected error {e:?}"),
                }
            }
            let doomed = TransferRequest {
                from: broke.id,
                to: users[0].handle.clone(),
                amount: amount(1),
                idempotency_key: key(&format!("broke-key-{t}")),
                memo: None,
                card: None,
            };
            match store.transfer(&doomed, NOW).await {
                Err(LedgerError::InsufficientFunds) => insufficient += 1,
                other => panic!("a transfer from an empty wallet must fail: {other:?}"),
            }
            (acked, insufficient)
        }));
    }
    let mut acked = Vec::new();
    let mut insufficient = 0;
    for task in tasks {
        let (a, i) = task.await.unwrap();
        acked.extend(a);
        insufficient += i;
    }
    assert!(insufficient >= TASKS);
    assert!(!acked.is_empty());

    let mut sum = 0;
    for user in &users {
        sum += fx.balance(user).await;
    }
    assert_eq!(sum, total, "money is conserved");
    assert_eq!(fx.balance(&broke).await, 0);

    // Every acknowledged transfer is in the journal exactly once, with the right parties.
    let unique: HashSet<EntryId> = acked.iter().map(|a| a.0).collect();
    assert_eq!(unique.len(), acked.len(), "an entry id was acknowledged twice");
    let mut by_entry: HashMap<EntryId, Vec<(UserId, i64)>> = HashMap::new();
    for user in &users {
        let mut before = None;
        loop {
            let page = fx.store.history(user.id, before, 200).await.unwrap();
            let Some(last) = page.last() else { break };
            before = Some(last.entry_id);
            for item in page.iter().filter(|h| h.kind == EntryKind::Transfer) {
                by_entry.entry(item.entry_id).or_default().push((user.id, item.delta));
            }
        }
    }
    assert_eq!(by_entry.len(), acked.len(), "the journal holds exactly the acknowledged transfers");
    for (entry_id, from, to, minor) in &acked {
        let mut sides = by_entry.remove(entry_id).expect("acknowledged transfer missing");
        sides.sort();
        let mut expected = vec![(*from, -(*minor as i64)), (*to, *minor as i64)];
        expected.sort();
        assert_eq!(sides, expected);
    }
    let report = fx.verify_report().await;
    assert_eq!(report.money_in_system, total as i64);
    assert_eq!(report.entries as usize, USERS + acked.len());
}

// --- one test per backend and case ----------------------------------------------------------

/// A sign-in checked against the old password whose session is created while a password change
/// holds the user's row waits for the change, and then gets no session: it never outlives the
/// change. PostgreSQL only: SQLite's one writer runs the two one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_waiting_on_a_password_change_gets_no_session() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let alice = fx.user("alice", 0).await;
    let old = fx.store.user_by_id(alice.id).await.unwrap().unwrap().password_hash;
    // As `end_sessions` does: the new hash first, then the other sessions end.
    let change = RowHold::begin(&fx).await;
    change.client.execute("UPDATE users SET password_hash = 'new-hash' WHERE id = $1", &[&alice.id]).await.unwrap();
    let store = Arc::clone(&fx.store);
    let session = Session { token_hash: [5; 32], ..idle_session(&alice) };
    let sign_in = tokio::spawn(async move { store.create_session_if_password(&session, &old).await });
    change.commit_when_waiting(1).await;
    assert!(!sign_in.await.unwrap().unwrap(), "a session was made with the old password");
    assert!(fx.store.touch_session(&[5; 32], NOW + 1).await.unwrap().is_none());
}

/// A transfer that waits for its sender's account while another transaction freezes the sender
/// (as a fraud upload does: it locks the payer's account, then freezes the payer) is refused once
/// that transaction commits: the frozen flag is read after the account lock, not from the row
/// the lock statement joined before it waited. PostgreSQL only: SQLite's one writer runs the
/// two one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_committed_while_a_transfer_waits_for_the_account_refuses_it() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let alice = fx.user("alice", 0).await;
    fx.fund("alice", 1000).await;
    let bob = fx.user("bob", 0).await;
    // As a fraud upload does: lock the payer's account, then freeze the payer.
    let freezer = RowHold::begin(&fx).await;
    freezer.client.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", &[&alice.account_id]).await.unwrap();
    freezer.client.execute("UPDATE users SET frozen = true WHERE id = $1", &[&alice.id]).await.unwrap();

    let store = Arc::clone(&fx.store);
    let request = TransferRequest {
        from: alice.id,
        to: bob.handle.clone(),
        amount: amount(100),
        idempotency_key: key("while-frozen"),
        memo: None,
        card: None,
    };
    let transfer = tokio::spawn(async move { store.transfer(&request, NOW).await });
    // The transfer queues behind the freezer's lock on the account row; then the freeze commits.
    freezer.commit_when_waiting(1).await;

    let outcome = transfer.await.unwrap();
    assert!(matches!(outcome, Err(LedgerError::AccountFrozen)), "{outcome:?}");
    assert_eq!(fx.balance(&alice).await, 1000);
    assert_eq!(fx.balance(&bob).await, 0);
    fx.verify_clean(1000).await;
}

/// The operator's freeze waits for a transfer that already holds the account: "Account frozen"
/// is printed only once no payment of the account is still on its way to a commit. Before, the
/// freeze was a bare update of the user row, and a transfer that had locked the account and read
/// `frozen = false` committed after the operator was told the account was frozen. PostgreSQL
/// only: SQLite's one writer runs the two one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_waits_for_a_transfer_that_holds_the_account() {
    let Some(fx) = Fx::new(Kind::Postgres).await else { return };
    let alice = fx.user("alice", 0).await;
    // As a transfer under way does: the account's row is locked.
    let transfer = RowHold::begin(&fx).await;
    transfer.client.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", &[&alice.account_id]).await.unwrap();
    let store = Arc::clone(&fx.store);
    let freeze = tokio::spawn(async move { store.set_frozen(alice.id, true).await });
    // The freeze queues behind the transfer's lock, and ends only after the transfer commits.
    transfer.commit_when_waiting(1).await;
    freeze.await.unwrap().unwrap();
    assert!(fx.store.user_by_handle(&alice.handle).await.unwrap().unwrap().frozen);
}

on_both_backends!([
    users_and_handles,
    sessions_expire,
    an_account_keeps_at_most_its_share_of_sessions,
    session_user_in_one_call,
    end_sessions_and_change_password,
    a_sign_in_checked_against_an_old_password_gets_no_session,
    login_throttle,
    login_throttle_forgets_old_rows,
    security_events_are_forgotten,
    login_guess_budget,
    login_devices,
    deposit_and_transfer,
    transfer_returns_the_senders_balance,
    receipt_card_binds_once,
    a_counter_payment_binds_its_card_in_the_transfer,
    transfer_entries_for_receipts,
    refusals_change_nothing,
    idempotent_replay_and_conflict,
    history_pagination,
    events_and_subscribe,
    cross_instance_notices,
    listener_reconnects,
    verify_detects_tampering,
    concurrent_transfers,
]);
