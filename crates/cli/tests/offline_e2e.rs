//! End-to-end offline payment (issue 4, "What it must show") through the real `offpay` binary
//! against a real `offpay serve` (SQLite data in a temporary folder), with the server stopped
//! between loading the purse and syncing:
//!
//! - Alice loads 500.00; the server stops; Bob requests 150.00, Alice pays, Bob accepts; the
//!   same note again, a note with one character changed and a note that takes Alice past her
//!   purse are refused with their reasons; Alice's offline balance shows 350.00.
//! - A copy of Alice's wallet home pays Carol with the same sequence number; Carol accepts.
//! - The server starts again; Bob, Carol and Alice sync (each test a different order): Bob is
//!   paid exactly once, the fork is recorded with both notes, Alice's device and purse are
//!   revoked and her account frozen, Carol's note is paid once from the reserve, and a merchant
//!   who has synced refuses Alice's next offline note (`revoked`).
//! - `admin verify` passes, and wallet balances + purse reserves − fraud loss = what was
//!   deposited (checked from the wallets' `balance --json` and `admin purses --json`, and
//!   against `admin verify --json`'s `money_in_system`).
//! - A variant where the fork spends more than the reserve and the payer's balance: the rest is
//!   recovered from Alice and then booked as the operator's fraud loss, and the sum still holds.
//!
//! The note that goes past the purse cannot come out of an honest wallet (its `pay` refuses it),
//! so the test signs it with the protocol crate and Alice's device key, read from her home.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod offline_support;
mod wallet_support;

use std::path::Path;

use offline_support::{accept, assert_books_balance, balances, copy_home, pay, refused_reason, request, sync};
use offpay_protocol::{Encoded, Hash256, NoteFields, PaymentNote, PaymentRequest, SigningKey};
use serde_json::Value;
use wallet_support::{Server, WalletHome};

/// The device key in a wallet home (what a thief of the home has).
fn device_key(home: &Path) -> SigningKey {
    let conn =
        rusqlite::Connection::open_with_flags(home.join("wallet.sqlite3"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let secret: Vec<u8> = conn.query_row("SELECT secret FROM device WHERE id = 1", [], |r| r.get(0)).unwrap();
    SigningKey::from_bytes(&secret.try_into().unwrap())
}

/// A note of the same purse as `earlier`, signed by the payer's device, that answers `request`
/// as note `earlier.seq + 2` after a note `earlier.seq + 1` of the cap that the payee never saw:
/// its chain is consistent with `earlier`, but its cumulative total passes the purse amount.
fn note_past_the_purse(device: &SigningKey, earlier: &str, request: &str) -> String {
    let earlier = PaymentNote::from_text(earlier).unwrap();
    let request = PaymentRequest::from_text(request).unwrap();
    let cert = earlier.certificate().fields();
    let cap = cert.per_payment_cap;
    let amount = request.fields().amount;
    let cumulative = earlier.fields().cumulative.checked_add(cap).unwrap().checked_add(amount).unwrap();
    assert!(cumulative > cert.amount, "the note must pass the purse amount");
    let fields = NoteFields {
        seq: earlier.seq() + 2,
        prev_hash: Hash256::from_bytes([0x5a; 32]),
        cumulative,
        amount,
        payee: request.fields().payee,
        nonce: request.fields().nonce,
        time: offpay_wallet::offline::unix_now(),
    };
    PaymentNote::sign(earlier.certificate().clone(), fields, device).unwrap().to_text()
}

/// `admin purses --json`, the one purse of `handle`.
fn purse_of(server: &Server, handle: &str) -> Value {
    let purses: Value = serde_json::from_str(&server.admin(&["purses", "--handle", handle, "--json"])).unwrap();
    let purses = purses["purses"].as_array().unwrap();
    assert_eq!(purses.len(), 1, "{purses:?}");
    purses[0].clone()
}

/// The people of the scenario.
struct People {
    server: Server,
    alice: WalletHome,
    bob: WalletHome,
    carol: WalletHome,
    /// A copy of Alice's home taken after the purse load: a clone of her device.
    clone: WalletHome,
}

/// Online: three new users; 1000.00 deposited to Alice; Alice loads a purse of `purse`. Bob and
/// Carol sync once, as docs/OFFLINE.md asks before going offline.
fn set_up(deposit: &str, purse: &str) -> People {
    let server = Server::start();
    let alice = WalletHome::new("alice");
    let bob = WalletHome::new("bob");
    let carol = WalletHome::new("carol");
    for w in [&alice, &bob, &carol] {
        w.register(&server);
    }
    server.admin(&["deposit", "alice", deposit]);
    let loaded = alice.ok(&["purse", "load", purse]);
    assert!(loaded.starts_with(&format!("Loaded {purse} INR into offline purse")), "{loaded}");
    for w in [&bob, &carol] {
        let synced = sync(w);
        assert_eq!(synced["issuer_keys"], 1, "{synced}");
    }
    let clone = WalletHome::new("alice");
    People { server, alice, bob, carol, clone }
}

fn wallet<'a>(people: &'a People, name: &str) -> &'a WalletHome {
    match name {
        "alice" => &people.alice,
        "bob" => &people.bob,
        "carol" => &people.carol,
        _ => unreachable!(),
    }
}

/// The whole scenario, with the wallets syncing in `order` once the server is back.
fn scenario(order: [&str; 3]) {
    let mut p = set_up("1000.00", "500.00");
    assert_eq!(balances(&p.alice), (50_000, 50_000));

    // ---- The server stops. Everything below until the restart happens with no server.
    p.server.stop();
    copy_home(&p.alice.home, &p.clone.home);

    let req = request(&p.bob, "150.00");
    let note = pay(&p.alice, &req);
    accept(&p.bob, &note, "150.00");

    // The same note again.
    assert_eq!(refused_reason(&p.bob, &note), "already_accepted");
    // One character changed, in the middle of the signed body.
    let mut chars: Vec<char> = note.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'Q' { 'R' } else { 'Q' };
    let tampered: String = chars.into_iter().collect();
    assert_ne!(tampered, note);
    let reason = refused_reason(&p.bob, &tampered);
    assert_ne!(reason, "already_accepted");
    // A note that takes Alice past her purse (150.00 + 200.00 + 200.00 > 500.00).
    let req200 = request(&p.bob, "200.00");
    let past = note_past_the_purse(&device_key(&p.alice.home), &note, &req200);
    assert_eq!(refused_reason(&p.bob, &past), "over_purse_amount");
    // Alice's own wallet never signs past the cap either.
    let over_cap = request(&p.bob, "200.01");
    let refusal = p.alice.refused(&["pay", &over_cap, "--yes"]);
    assert!(refusal.line.contains("per-payment cap"), "{}", refusal.line);

    // Alice's offline balance: 350.00 (the balance is the last one known, with a warning).
    assert_eq!(balances(&p.alice), (50_000, 35_000));
    let status: Value = serde_json::from_str(&p.alice.ok(&["purse", "status", "--json"])).unwrap();
    assert_eq!(status["purses"][0]["last_seq"], 1, "{status}");

    // The copy of Alice's home pays Carol with the same sequence number; Carol cannot know.
    let carol_req = request(&p.carol, "150.00");
    let forked = pay(&p.clone, &carol_req);
    let (a, b) = (PaymentNote::from_text(&note).unwrap(), PaymentNote::from_text(&forked).unwrap());
    assert_eq!((a.purse_id(), a.seq()), (b.purse_id(), b.seq()));
    assert_ne!(a.hash(), b.hash());
    accept(&p.carol, &forked, "150.00");

    // ---- The server starts again on the same address and data.
    p.server.restart();
    let mut fraud_seen = false;
    for name in order {
        let r = sync(wallet(&p, name));
        assert_eq!(r["pending"], 0, "{name}: {r}");
        assert_eq!(r["rejected"], serde_json::json!([]), "{name}: {r}");
        let settled = r["settled"].as_u64().unwrap();
        let fraud = r["fraud"].as_u64().unwrap();
        let duplicate = r["duplicate"].as_u64().unwrap();
        // Each note is uploaded by its payee and (Bob's) by Alice: one of them settles it or
        // finds the fork; the other is told it was already settled.
        assert_eq!(r["uploaded"], settled + fraud + duplicate, "{name}: {r}");
        if fraud > 0 {
            fraud_seen = true;
        }
        if fraud_seen {
            assert_eq!(r["revoked_devices"], 1, "{name} synced after the fork was found: {r}");
            assert_eq!(r["revoked_purses"], 1, "{name}: {r}");
        }
        if name == "alice" {
            assert_eq!(r["uploaded"], 1, "alice uploads the note she paid: {r}");
            assert_eq!(r["device_revoked"], fraud_seen, "{r}");
        }
    }
    assert!(fraud_seen, "one of the syncs must report the fork");

    // Every wallet learns the revocation at its next sync.
    for name in ["alice", "bob", "carol"] {
        let r = sync(wallet(&p, name));
        assert_eq!(r["uploaded"], 0, "{name}: {r}");
        assert_eq!((r["revoked_devices"].as_u64(), r["revoked_purses"].as_u64()), (Some(1), Some(1)), "{name}: {r}");
    }

    // Bob is paid exactly once; Carol's fork note is paid too (in good faith), once, from the
    // reserve; Alice's balance is what she did not load.
    assert_eq!(balances(&p.bob), (15_000, 0));
    assert_eq!(balances(&p.carol), (15_000, 0));
    assert_eq!(balances(&p.alice), (50_000, 0));

    // The fork is recorded with both signed notes.
    let fraud: Value = serde_json::from_str(&p.server.admin(&["fraud", "--json"])).unwrap();
    let proofs = fraud["fraud_proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 1, "{fraud}");
    let proof = &proofs[0];
    assert_eq!(proof["purse_id"], a.purse_id().to_hex(), "{proof}");
    let mut pair = [proof["first"].as_str().unwrap().to_string(), proof["second"].as_str().unwrap().to_string()];
    pair.sort();
    let mut expected = [note.clone(), forked.clone()];
    expected.sort();
    assert_eq!(pair, expected);
    let human = p.server.admin(&["fraud"]);
    assert!(human.contains(&a.purse_id().to_hex()) && human.contains("alice"), "{human}");

    // Alice's purse and device are revoked; her account is frozen.
    let purse = purse_of(&p.server, "alice");
    assert_eq!(purse["state"], "revoked", "{purse}");
    assert_eq!(purse["settled"], 30_000, "{purse}");
    assert_eq!((purse["recovered"].as_u64(), purse["fraud_loss"].as_u64()), (Some(0), Some(0)), "{purse}");
    let status: Value = serde_json::from_str(&p.alice.ok(&["purse", "status", "--json"])).unwrap();
    assert_eq!(status["purses"][0]["state"], "revoked", "{status}");
    assert_eq!(status["offline"], 0, "{status}");
    let refusal = p.alice.refused(&["send", "bob", "1.00"]);
    assert!(refusal.line.contains("frozen"), "{}", refusal.line);
    let refusal = p.alice.refused(&["purse", "load", "10.00"]);
    assert!(refusal.line.contains("frozen") || refusal.line.contains("revoked"), "{}", refusal.line);

    // Alice's next offline note: her own wallet refuses to sign it; the clone (never synced)
    // signs one, and Bob, who has synced, refuses it.
    let next_req = request(&p.bob, "10.00");
    let refusal = p.alice.refused(&["pay", &next_req, "--yes"]);
    assert!(refusal.line.contains("revoked"), "{}", refusal.line);
    let next = pay(&p.clone, &next_req);
    assert_eq!(refused_reason(&p.bob, &next), "revoked");
    assert_eq!(balances(&p.bob), (15_000, 0));

    assert_books_balance(&p.server, &[&p.alice, &p.bob, &p.carol], 100_000);
}

#[test]
fn offline_fork_settles_once_when_bob_then_carol_then_alice_sync() {
    scenario(["bob", "carol", "alice"]);
}

#[test]
fn offline_fork_settles_once_when_alice_then_carol_then_bob_sync() {
    scenario(["alice", "carol", "bob"]);
}

/// Clones that spend more than the reserve: Alice keeps no balance; she and her clone each pay
/// 200.00 + 200.00 (two merchants, each within the purse). The reserve (500.00) covers 500.00
/// of the 800.00; Alice's balance (0.00) covers nothing; the operator books 300.00 of fraud loss.
#[test]
fn a_fork_past_the_reserve_is_recovered_then_booked_as_fraud_loss() {
    let mut p = set_up("500.00", "500.00");
    assert_eq!(balances(&p.alice), (0, 50_000));
    p.server.stop();
    copy_home(&p.alice.home, &p.clone.home);
    for _ in 0..2 {
        let note = pay(&p.alice, &request(&p.bob, "200.00"));
        accept(&p.bob, &note, "200.00");
        let note = pay(&p.clone, &request(&p.carol, "200.00"));
        accept(&p.carol, &note, "200.00");
    }
    p.server.restart();
    for w in [&p.carol, &p.bob, &p.alice, &p.carol, &p.bob] {
        let r = sync(w);
        assert_eq!(r["pending"], 0, "{r}");
    }
    // Both merchants acted in good faith and are paid in full, each note once.
    assert_eq!(balances(&p.bob), (40_000, 0));
    assert_eq!(balances(&p.carol), (40_000, 0));
    assert_eq!(balances(&p.alice), (0, 0));
    let purse = purse_of(&p.server, "alice");
    assert_eq!(purse["state"], "revoked", "{purse}");
    // From the reserve 500.00, from Alice's balance nothing (she has none), the rest is loss.
    assert_eq!(purse["settled"], 50_000, "{purse}");
    assert_eq!(purse["recovered"], 0, "{purse}");
    assert_eq!(purse["held"], 0, "{purse}");
    assert_eq!(purse["fraud_loss"], 30_000, "{purse}");
    let fraud: Value = serde_json::from_str(&p.server.admin(&["fraud", "--json"])).unwrap();
    assert!(!fraud["fraud_proofs"].as_array().unwrap().is_empty(), "{fraud}");
    assert_books_balance(&p.server, &[&p.alice, &p.bob, &p.carol], 50_000);
}

/// A payee account with two devices that accepted the two branches of one fork is paid for the
/// first branch only (an honest single device would have refused the second), and what goes
/// beyond the reserve, the payer's balance and the operator's loss allowance (100.00 here) is
/// held: shown by `wallet sync` and `admin fraud`, and paid when money reaches the payer.
#[test]
fn a_second_branch_for_one_account_is_refused_and_notes_past_the_allowance_are_held() {
    let mut server = Server::start();
    server.restart_with(&["--loss-allowance", "100.00"]);
    let (alice, bob, carol) = (WalletHome::new("alice"), WalletHome::new("bob"), WalletHome::new("carol"));
    for w in [&alice, &bob, &carol] {
        w.register(&server);
    }
    // Bob's second device: the same account, logged in on a tablet.
    let tablet = WalletHome::new("bob");
    let login = tablet.login(&server, wallet_support::PASSWORD);
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    server.admin(&["deposit", "alice", "500.00"]);
    alice.ok(&["purse", "load", "500.00"]);
    for w in [&bob, &tablet, &carol] {
        sync(w);
    }

    server.stop();
    let clone = WalletHome::new("alice");
    copy_home(&alice.home, &clone.home);
    for _ in 0..2 {
        accept(&bob, &pay(&alice, &request(&bob, "200.00")), "200.00");
    }
    // The clone's note 1 goes to Bob's tablet, which has not seen the phone's note 1.
    accept(&tablet, &pay(&clone, &request(&tablet, "100.00")), "100.00");
    for _ in 0..2 {
        accept(&carol, &pay(&clone, &request(&carol, "200.00")), "200.00");
    }

    server.restart();
    let r = sync(&bob);
    assert_eq!(r["settled"], 2, "{r}");
    let r = sync(&tablet);
    assert_eq!(r["rejected"][0]["reason"], "inconsistent_with_earlier_note", "{r}");
    assert_eq!(r["rejected"][0]["sent_again"], false, "{r}");
    // A final refusal is not sent again.
    assert_eq!(sync(&tablet)["uploaded"], 0);
    // Carol's first note forks Bob's second: 100.00 left in the reserve, nothing in Alice's
    // balance, 100.00 of allowance: paid 200.00. Her second note is held. The purse was revoked
    // by the tablet's upload already, so Carol's upload reads only her own notes of it
    // (docs/decisions/notes-per-purse.md): her note is paid the same, and reported settled,
    // not fraud.
    let r = sync(&carol);
    assert_eq!((r["settled"].as_u64(), r["fraud"].as_u64(), r["pending"].as_u64()), (Some(1), Some(0), Some(0)), "{r}");
    assert_eq!(r["held"][0]["paid"], 0, "{r}");
    assert_eq!(r["held"][0]["reason"], "loss_allowance_exhausted", "{r}");
    let human = carol.ok(&["sync"]);
    assert!(human.contains("held note") && human.contains("recovered from the payer"), "{human}");
    assert_eq!(balances(&bob), (40_000, 0));
    assert_eq!(balances(&carol), (20_000, 0));

    let fraud = server.admin(&["fraud"]);
    assert!(fraud.contains("operator loss 100.00 of allowance 100.00, held for notes 200.00"), "{fraud}");
    let json: Value = serde_json::from_str(&server.admin(&["fraud", "--json"])).unwrap();
    let purse = &json["fraud_proofs"][0]["purse"];
    assert_eq!((purse["fraud_loss"].as_u64(), purse["notes_held"].as_u64()), (Some(10_000), Some(20_000)), "{json}");
    let held = server.admin(&["held"]);
    assert!(
        held.contains("alice owes carol 200.00 (paid 0.00 of 200.00)") && held.contains("loss_allowance_exhausted"),
        "{held}"
    );
    let held: Value = serde_json::from_str(&server.admin(&["held", "--json"])).unwrap();
    assert_eq!(
        (held["held_notes"][0]["held"].as_u64(), held["held_notes"][0]["payee"].as_str()),
        (Some(20_000), Some("carol")),
        "{held}"
    );
    assert_books_balance(&server, &[&alice, &bob, &carol], 50_000);
    // Alice owes Carol: the operator does not unfreeze her by mistake (she could send away the
    // money that reaches her before the pass pays Carol).
    let refused = wallet_support::offpay()
        .arg("admin")
        .arg("--data")
        .arg(&server.data)
        .args(["unfreeze", "alice"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("alice owes 200.00 on held notes") && said.contains("--force"),
        "{said}"
    );

    // Money reaches Alice: Carol's next sync (the held note goes up again) is paid from it.
    server.admin(&["deposit", "alice", "150.00"]);
    let r = sync(&carol);
    assert_eq!(r["held"][0]["paid"], 15_000, "{r}");
    server.admin(&["deposit", "alice", "50.00"]);
    let r = sync(&carol);
    assert_eq!((r["settled"].as_u64(), r["held"].as_array().map(Vec::len)), (Some(1), Some(0)), "{r}");
    assert_eq!(balances(&carol), (40_000, 0));
    let purses = server.admin(&["purses"]);
    assert!(purses.contains("recovered from payer 200.00") && purses.contains("held for notes 0.00"), "{purses}");
    assert_eq!(server.admin(&["held"]).trim(), "No held notes.");
    assert_books_balance(&server, &[&alice, &bob, &carol], 70_000);
    // Nothing is owed any more: the unfreeze goes through.
    assert!(server.admin(&["unfreeze", "alice"]).contains("Account alice unfrozen."));
}
