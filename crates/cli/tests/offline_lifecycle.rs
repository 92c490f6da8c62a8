//! End-to-end life of offline purses beyond paying (what the ledger and unit tests cover only
//! in parts), through the real `offpay` binary against a real `offpay serve` (SQLite data in a
//! temporary folder):
//!
//! - Issuer key rotation: `offpay admin rotate-issuer-key` adds a key; after the server restarts
//!   (running servers pick the file up within a minute; a test cannot wait that long) both keys
//!   are published, a purse certified by the old key still pays a payee who synced, new purses
//!   are certified by the new key, and a payee whose cached keyset predates the rotation refuses
//!   such a note (`unknown_issuer_key`) until it syncs.
//! - Purse close: the server returns the unspent rest at once and holds what the notes the close
//!   statement counts need until their payee uploads them; the honest wallet signs nothing more,
//!   and a note from a copy of the device made before the close is paid to its payee (in good
//!   faith) but recorded as `beyond_close` fraud and recovered from the payer.
//! - Expiry: the server restarted with `--purse-validity 8s --purse-grace 2s` (the harness's
//!   `Server::restart_with`); after validity + grace a restart runs the expiry pass, which
//!   returns an unclosed purse's remainder and marks it `expired`; a note uploaded after that
//!   settlement deadline is refused (`settlement_deadline_passed`, nothing moves) while the
//!   owner's balance cannot cover it, and paid from that balance once it can.
//!   Bad purse option values are refused with one line and exit status 2 before anything starts.
//! - Every scenario ends with `admin verify` passing and wallet balances + purse reserves −
//!   fraud loss = what was deposited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod offline_support;
mod wallet_support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use offline_support::{accept, assert_books_balance, balances, copy_home, pay, refused_reason, request, sync};
use offpay_protocol::{Encoded, PaymentNote, PurseCertificate};
use serde_json::Value;
use wallet_support::{Server, WAIT, WalletHome, offpay};

/// `purse load AMOUNT --json`: the certificate the server issued.
fn load(wallet: &WalletHome, amount: &str) -> PurseCertificate {
    let loaded = wallet.json(&["purse", "load", amount]);
    let certificate = PurseCertificate::from_text(loaded["certificate"].as_str().unwrap()).unwrap();
    assert_eq!(loaded["purse_id"], certificate.purse_id().to_hex(), "{loaded}");
    assert_eq!(loaded["amount"].as_u64(), Some(certificate.fields().amount.minor()), "{loaded}");
    certificate
}

/// `admin purses --json` of `handle`, keyed by purse id.
fn purse_row(server: &Server, handle: &str, purse: &PurseCertificate) -> Value {
    let purses: Value = serde_json::from_str(&server.admin(&["purses", "--handle", handle, "--json"])).unwrap();
    let id = purse.purse_id().to_hex();
    purses["purses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purse_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no purse {id} in {purses}"))
        .clone()
}

/// `GET PATH` of the running server, as JSON.
fn get_json(server: &Server, path: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = client.get(format!("{}{path}", server.url)).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    })
}

/// `GET /v1/issuer-keys` of the running server.
fn published_keys(server: &Server) -> Vec<Value> {
    get_json(server, "/v1/issuer-keys")["keys"].as_array().unwrap().clone()
}

/// A server and registered users; `deposit` (major units) credited to the first one.
fn set_up(handles: &[&str], deposit: &str) -> (Server, Vec<WalletHome>) {
    let server = Server::start();
    let wallets: Vec<WalletHome> = handles.iter().map(|h| WalletHome::new(h)).collect();
    for w in &wallets {
        w.register(&server);
    }
    server.admin(&["deposit", handles[0], deposit]);
    (server, wallets)
}

/// Rotation: a purse certified by the old key keeps paying; new purses get the new key; payees
/// need the new keyset (one sync) to accept notes of new purses.
#[test]
fn issuer_key_rotation_keeps_old_purses_paying_and_certifies_new_purses_with_the_new_key() {
    let (mut server, wallets) = set_up(&["alice", "bob", "carol"], "1000.00");
    let [alice, bob, carol] = &wallets[..] else { unreachable!() };

    // Before the rotation: one key; Alice's first purse is certified by it.
    let old_purse = load(alice, "200.00");
    let old_key = old_purse.issuer_key_id().to_hex();
    assert_eq!(purse_row(&server, "alice", &old_purse)["issuer_key_id"], old_key.as_str());
    let keys = published_keys(&server);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["key_id"], old_key.as_str());
    for w in [bob, carol] {
        assert_eq!(sync(w)["issuer_keys"], 1);
    }

    // The operator rotates; the key file is the data folder's.
    let rotated: Value = serde_json::from_str(&server.admin(&["rotate-issuer-key", "--json"])).unwrap();
    let new_key = rotated["key_id"].as_str().unwrap().to_string();
    assert_ne!(new_key, old_key);
    assert_eq!(rotated["file"], server.data.join("issuer-keys.json").display().to_string());
    let human =
        server.admin(&["rotate-issuer-key", "--issuer-keys", server.data.join("other-keys.json").to_str().unwrap()]);
    assert!(human.starts_with("New issuer key ") && human.contains("stops issuing in 300 seconds"), "{human}");

    // Running servers reload the key file every minute; restarting picks it up at once.
    server.restart();
    let keys = published_keys(&server);
    assert_eq!(keys.len(), 2, "both keys are published: {keys:?}");
    let old = keys.iter().find(|k| k["key_id"] == old_key.as_str()).unwrap();
    let new = keys.iter().find(|k| k["key_id"] == new_key.as_str()).unwrap();
    // The old key stops issuing 300 seconds after the rotation; the new one issues from it.
    assert_eq!(old["not_after"].as_u64().unwrap(), new["not_before"].as_u64().unwrap() + 300, "{keys:?}");
    assert!(old_purse.fields().valid_from >= old["not_before"].as_u64().unwrap());
    let synced = sync(bob);
    assert_eq!(synced["issuer_keys"], 2, "{synced}");

    // Alice pays Bob from the old purse (the old key was valid when it certified it).
    let note = pay(alice, &request(bob, "150.00"));
    assert_eq!(PaymentNote::from_text(&note).unwrap().purse_id(), old_purse.purse_id());
    accept(bob, &note, "150.00");
    let synced = sync(bob);
    assert_eq!((synced["uploaded"].as_u64(), synced["settled"].as_u64()), (Some(1), Some(1)), "{synced}");
    assert_eq!(balances(bob), (15_000, 0));

    // A purse loaded now is certified by the new key.
    let new_purse = load(alice, "200.00");
    assert_eq!(new_purse.issuer_key_id().to_hex(), new_key);
    assert_eq!(purse_row(&server, "alice", &new_purse)["issuer_key_id"], new_key.as_str());
    assert_eq!(purse_row(&server, "alice", &old_purse)["issuer_key_id"], old_key.as_str());
    assert_eq!(balances(alice), (60_000, 5_000 + 20_000));

    // 100.00 does not fit in the old purse (50.00 left): the note is drawn on the new purse.
    // Carol's keyset predates the rotation: she refuses it; after one sync she accepts it.
    let carol_req = request(carol, "100.00");
    let note = pay(alice, &carol_req);
    assert_eq!(PaymentNote::from_text(&note).unwrap().purse_id(), new_purse.purse_id());
    assert_eq!(refused_reason(carol, &note), "unknown_issuer_key");
    assert_eq!(sync(carol)["issuer_keys"], 2);
    accept(carol, &note, "100.00");
    let synced = sync(carol);
    assert_eq!((synced["uploaded"].as_u64(), synced["settled"].as_u64()), (Some(1), Some(1)), "{synced}");

    // Alice uploads her two notes: both already settled by their payees.
    let synced = sync(alice);
    assert_eq!((synced["uploaded"].as_u64(), synced["duplicate"].as_u64()), (Some(2), Some(2)), "{synced}");
    assert_eq!(balances(alice), (60_000, 15_000));
    assert_eq!(balances(carol), (10_000, 0));
    assert_eq!(purse_row(&server, "alice", &old_purse)["settled"], 15_000);
    assert_eq!(purse_row(&server, "alice", &new_purse)["settled"], 10_000);
    assert_books_balance(&server, &[alice, bob, carol], 100_000);
}

/// Close with a note its payee has not uploaded yet: the rest comes back at once, the note's
/// amount is held and paid when the payee syncs; the wallet then signs nothing more.
#[test]
fn closing_a_purse_returns_the_rest_and_holds_what_unsettled_notes_need() {
    let (server, wallets) = set_up(&["alice", "bob"], "1000.00");
    let [alice, bob] = &wallets[..] else { unreachable!() };
    let purse = load(alice, "500.00");
    assert_eq!(sync(bob)["issuer_keys"], 1);
    assert_eq!(balances(alice), (50_000, 50_000));

    let note = pay(alice, &request(bob, "120.00"));
    accept(bob, &note, "120.00");
    assert_eq!(balances(alice), (50_000, 38_000));

    // Nobody has uploaded the note: the close statement counts it, so 120.00 stays held.
    let closed = alice.json(&["purse", "close"]);
    let expected = serde_json::json!({"purses": [{
        "purse_id": purse.purse_id().to_hex(), "spent": 12_000, "returned": 38_000, "held": 12_000,
    }]});
    assert_eq!(closed, expected);
    assert_eq!(balances(alice), (88_000, 0));
    let row = purse_row(&server, "alice", &purse);
    assert_eq!(row["state"], "closed", "{row}");
    assert_eq!(
        (row["settled"].as_u64(), row["returned"].as_u64(), row["held"].as_u64()),
        (Some(0), Some(38_000), Some(12_000)),
        "{row}"
    );
    let status: Value = serde_json::from_str(&alice.ok(&["purse", "status", "--json"])).unwrap();
    assert_eq!(status["purses"][0]["state"], "closed", "{status}");
    assert_eq!(status["offline"], 0, "{status}");
    let line = alice.ok(&["purse", "status"]);
    assert!(line.contains("1 of 1000 payments made, closed"), "{line}");
    // Closing again: nothing open is left.
    assert_eq!(alice.ok(&["purse", "close"]).trim(), "No open purse to close.");

    // The payee uploads the note: paid from what the close held.
    let synced = sync(bob);
    assert_eq!((synced["uploaded"].as_u64(), synced["settled"].as_u64()), (Some(1), Some(1)), "{synced}");
    assert_eq!(synced["rejected"], serde_json::json!([]), "{synced}");
    assert_eq!(balances(bob), (12_000, 0));
    let row = purse_row(&server, "alice", &purse);
    assert_eq!(
        (row["settled"].as_u64(), row["returned"].as_u64(), row["held"].as_u64()),
        (Some(12_000), Some(38_000), Some(0)),
        "{row}"
    );
    // Alice's own upload of the same note moves nothing.
    let synced = sync(alice);
    assert_eq!((synced["uploaded"].as_u64(), synced["duplicate"].as_u64()), (Some(1), Some(1)), "{synced}");
    assert_eq!(balances(alice), (100_000 - 12_000, 0));

    // The wallet signs nothing more from the closed purse: it refuses before signing.
    let refusal = alice.refused(&["pay", &request(bob, "10.00"), "--yes"]);
    assert!(refusal.line.contains("no offline purse"), "{}", refusal.line);
    assert_books_balance(&server, &[alice, bob], 100_000);
}

/// A copy of Alice's home made before the close still thinks the purse is open and signs a
/// note after it; Bob cannot know and accepts. At sync the server pays Bob (good faith), finds
/// the note beyond the close statement, recovers the amount from Alice's balance (the reserve
/// was returned), revokes the purse and device and freezes Alice.
#[test]
fn a_note_signed_after_the_close_by_a_copy_of_the_device_is_beyond_close_fraud() {
    let (server, wallets) = set_up(&["alice", "bob"], "1000.00");
    let [alice, bob] = &wallets[..] else { unreachable!() };
    let purse = load(alice, "500.00");
    assert_eq!(sync(bob)["issuer_keys"], 1);
    let first = pay(alice, &request(bob, "120.00"));
    accept(bob, &first, "120.00");
    let clone = WalletHome::new("alice");
    copy_home(&alice.home, &clone.home);

    let closed = alice.json(&["purse", "close"]);
    assert_eq!(
        (closed["purses"][0]["returned"].as_u64(), closed["purses"][0]["held"].as_u64()),
        (Some(38_000), Some(12_000)),
        "{closed}"
    );

    let late = pay(&clone, &request(bob, "100.00"));
    let late_note = PaymentNote::from_text(&late).unwrap();
    assert_eq!((late_note.purse_id(), late_note.seq()), (purse.purse_id(), 2));
    accept(bob, &late, "100.00");

    let synced = sync(bob);
    assert_eq!(synced["uploaded"], 2, "{synced}");
    assert_eq!((synced["settled"].as_u64(), synced["fraud"].as_u64()), (Some(1), Some(1)), "{synced}");
    assert_eq!((synced["revoked_purses"].as_u64(), synced["revoked_devices"].as_u64()), (Some(1), Some(1)), "{synced}");
    assert_eq!(balances(bob), (22_000, 0));
    // 120.00 spent honestly, 100.00 recovered from what the close returned.
    assert_eq!(balances(alice), (100_000 - 22_000, 0));

    let row = purse_row(&server, "alice", &purse);
    assert_eq!(row["state"], "revoked", "{row}");
    assert_eq!(
        (row["settled"].as_u64(), row["returned"].as_u64(), row["recovered"].as_u64(), row["fraud_loss"].as_u64()),
        (Some(12_000), Some(38_000), Some(10_000), Some(0)),
        "{row}"
    );
    let fraud: Value = serde_json::from_str(&server.admin(&["fraud", "--json"])).unwrap();
    let proofs = fraud["fraud_proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 1, "{fraud}");
    assert_eq!(proofs[0]["kind"], "beyond_close", "{fraud}");
    assert_eq!(proofs[0]["purse_id"], purse.purse_id().to_hex(), "{fraud}");
    let objects = [proofs[0]["first"].as_str().unwrap(), proofs[0]["second"].as_str().unwrap()];
    assert!(objects.contains(&late.as_str()), "{fraud}");
    assert!(objects.iter().any(|o| o.starts_with("OPX1:")), "the close statement is the other half: {fraud}");

    let refusal = alice.refused(&["send", "bob", "1.00"]);
    assert!(refusal.line.contains("frozen"), "{}", refusal.line);
    assert_books_balance(&server, &[alice, bob], 100_000);
}

// ---------------------------------------------------------------------------------------------
// Expiry: `offpay serve --purse-validity/--purse-grace` make it reachable in seconds.

/// Sleeps until the system clock reads at least `unix_secs` (a bounded wait, no assertion).
fn sleep_until(unix_secs: u64) {
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let target = Duration::from_secs(unix_secs);
        if now >= target {
            return;
        }
        std::thread::sleep(target - now);
    }
}

/// (settled, returned, held, recovered, fraud_loss) of an `admin purses --json` row.
fn purse_totals(row: &Value) -> [u64; 5] {
    ["settled", "returned", "held", "recovered", "fraud_loss"]
        .map(|k| row[k].as_u64().unwrap_or_else(|| panic!("{k} in {row}")))
}

/// A purse nobody closes: notes uploaded while it is valid settle from its reserve; once past
/// `valid_until` + grace, the expiry pass (at server start, then every minute) returns the
/// remainder — including what a note not uploaded yet would need — and marks it `expired`.
/// The end of the grace period is the settlement deadline: a note uploaded after it is paid only
/// when the owner's balance covers it in full, and otherwise refused as
/// `settlement_deadline_passed` with nothing moved (never an operator loss); it is judged again
/// when uploaded again: the payee's wallet sends it again at each sync, and it is paid once the
/// payer has money again.
#[test]
fn an_unclosed_purse_returns_its_remainder_after_validity_and_grace_and_late_notes_are_paid_from_the_owner() {
    let (mut server, wallets) = set_up(&["alice", "bob", "carol"], "1000.00");
    let [alice, bob, carol] = &wallets[..] else { unreachable!() };
    // Validity long enough for the offline steps below on a busy machine; a short grace.
    let options = [
        "--purse-validity",
        "8s",
        "--purse-grace",
        "2s",
        "--max-payment",
        "150.00",
        "--max-purse",
        "500.00",
        "--loss-allowance",
        "75.00",
        "--max-open-purses",
        "3",
    ];
    server.restart_with(&options);
    let limits = get_json(&server, "/v1/config")["offline"].clone();
    let expected = serde_json::json!({
        "per_payment_cap": 15_000, "purse_max": 50_000, "validity_secs": 8, "grace_secs": 2,
        "loss_allowance": 7_500, "max_open_purses": 3,
    });
    assert_eq!(limits, expected);
    for w in [bob, carol] {
        assert_eq!(sync(w)["issuer_keys"], 1);
    }
    let refusal = alice.refused(&["purse", "load", "500.01"]);
    assert!(refusal.line.contains("at most 500.00 INR"), "the refusal names --max-purse: {}", refusal.line);

    let purse = load(alice, "500.00");
    let f = purse.fields();
    assert_eq!((f.valid_until - f.valid_from, f.per_payment_cap.minor()), (8, 15_000));
    let to_bob = pay(alice, &request(bob, "120.00"));
    accept(bob, &to_bob, "120.00");
    let to_carol = pay(alice, &request(carol, "80.00"));
    accept(carol, &to_carol, "80.00");
    // Bob uploads while the purse is valid: paid from the reserve.
    let synced = sync(bob);
    assert_eq!((synced["uploaded"].as_u64(), synced["settled"].as_u64()), (Some(1), Some(1)), "{synced}");
    assert_eq!(balances(bob).0, 12_000);

    // Past valid_until + grace (the server expires when valid_until + grace < now, in seconds).
    sleep_until(f.valid_until + 2 + 1);
    // The running server's pass ran at its start, before the purse existed; the next is a
    // minute away: the purse is still open, its reserve still holds Carol's 80.00 and the rest.
    let row = purse_row(&server, "alice", &purse);
    assert_eq!((row["state"].as_str(), purse_totals(&row)), (Some("open"), [12_000, 0, 38_000, 0, 0]), "{row}");

    // A restart runs the pass at once.
    server.restart();
    let line = server.wait_for_log("the expiry pass", |l| l.contains("expired purses returned"));
    assert!(line.contains("purses=1") && line.contains("returned=38000"), "{line}");
    let row = purse_row(&server, "alice", &purse);
    assert_eq!((row["state"].as_str(), purse_totals(&row)), (Some("expired"), [12_000, 38_000, 0, 0, 0]), "{row}");
    // The remainder is back in Alice's balance; the expired purse pays nothing offline.
    assert_eq!(balances(alice), (50_000 + 38_000, 0));
    let status: Value = serde_json::from_str(&alice.ok(&["purse", "status", "--json"])).unwrap();
    assert_eq!(status["offline"], 0, "{status}");
    assert_books_balance(&server, &[alice, bob, carol], 100_000);

    // Alice spends most of it online before Carol comes back.
    alice.ok(&["send", "bob", "850.00"]);
    assert_eq!(balances(alice).0, 3_000);

    // Carol uploads her note after expiry + grace, when Alice's 30.00 cannot cover it: refused,
    // nothing moves, no fraud loss, Alice is not frozen.
    let synced = sync(carol);
    assert_eq!(
        (synced["uploaded"].as_u64(), synced["settled"].as_u64(), synced["fraud"].as_u64()),
        (Some(1), Some(0), Some(0)),
        "{synced}"
    );
    assert_eq!(synced["rejected"][0]["reason"], "settlement_deadline_passed", "{synced}");
    assert_eq!(synced["rejected"][0]["sent_again"], true, "{synced}");
    assert_eq!(balances(carol), (0, 0));
    assert_eq!(balances(alice).0, 3_000);
    let row = purse_row(&server, "alice", &purse);
    assert_eq!((row["state"].as_str(), purse_totals(&row)), (Some("expired"), [12_000, 38_000, 0, 0, 0]), "{row}");
    assert_books_balance(&server, &[alice, bob, carol], 100_000);

    // Carol's wallet sends the refused note again at each sync (a refusal at the deadline is
    // judged again): refused again while Alice's balance cannot cover it.
    let synced = sync(carol);
    assert_eq!((synced["uploaded"].as_u64(), synced["settled"].as_u64()), (Some(1), Some(0)), "{synced}");
    assert_eq!(synced["rejected"][0]["reason"], "settlement_deadline_passed", "{synced}");
    assert_eq!(synced["rejected"][0]["sent_again"], true, "{synced}");
    assert_eq!(balances(carol), (0, 0));

    // Bob pays Alice back 100.00; Carol's next sync uploads the note again, and now Alice's
    // balance covers it: Carol is paid 80.00 from Alice's balance, without Alice coming online.
    bob.ok(&["send", "alice", "100.00"]);
    let synced = sync(carol);
    assert_eq!((synced["uploaded"].as_u64(), synced["settled"].as_u64()), (Some(1), Some(1)), "{synced}");
    assert_eq!(balances(carol).0, 8_000);
    // Paid once: Alice's own sync finds both her notes settled already, and Carol's wallet sends
    // nothing more.
    let synced = sync(alice);
    assert_eq!((synced["uploaded"].as_u64(), synced["duplicate"].as_u64()), (Some(2), Some(2)), "{synced}");
    assert_eq!(sync(carol)["uploaded"], 0);
    assert_eq!(balances(carol).0, 8_000);
    assert_eq!(balances(alice).0, 13_000 - 8_000);
    let row = purse_row(&server, "alice", &purse);
    assert_eq!((row["state"].as_str(), purse_totals(&row)), (Some("expired"), [12_000, 38_000, 0, 8_000, 0]), "{row}");
    let status: Value = serde_json::from_str(&alice.ok(&["purse", "status", "--json"])).unwrap();
    assert_eq!(status["purses"][0]["state"], "expired", "{status}");
    assert_eq!(alice.ok(&["purse", "close"]).trim(), "No open purse to close.");
    // 50.00 + 870.00 + 80.00 held by users = 1000.00 deposited; no fraud loss.
    assert_eq!(balances(bob).0, 87_000);
    assert_books_balance(&server, &[alice, bob, carol], 100_000);
}

/// Runs `offpay ARGS` (with `env`) that must refuse before starting anything: exit status 2,
/// nothing on stdout, one line on stderr, which is returned. Fails (rather than hangs) when the
/// command starts a server after all.
fn refused_option(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child =
        offpay().args(args).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`offpay {}` did not refuse within {WAIT:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "`offpay {}`: {stderr}", args.join(" "));
    assert!(out.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    stderr.trim_end().to_string()
}

#[test]
fn bad_purse_options_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let serve = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data", data];
        args.extend_from_slice(extra);
        refused_option(&args, env)
    };
    // (options, environment, the one line expected)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 16] = [
        (
            &["--purse-validity", "0s"],
            &[],
            "error: invalid --purse-validity \"0s\" (or OFFPAY_PURSE_VALIDITY): must be more than zero",
        ),
        (
            &["--purse-validity", "3"],
            &[],
            "error: invalid --purse-validity \"3\" (or OFFPAY_PURSE_VALIDITY): no unit; a duration is a whole number with a unit s, m, h or d, like 90m, 36h or 3d",
        ),
        (
            &["--purse-grace=-2d"],
            &[],
            "error: invalid --purse-grace \"-2d\" (or OFFPAY_PURSE_GRACE): must be more than zero",
        ),
        (
            &["--max-purse", "-5"],
            &[],
            "error: invalid --max-purse \"-5\" (or OFFPAY_MAX_PURSE): the amount cannot be negative (INR in major units, like 200.00)",
        ),
        (
            &[],
            &[("OFFPAY_PURSE_GRACE", "45d")],
            "error: invalid --purse-grace \"45d\" (or OFFPAY_PURSE_GRACE): at most 30d",
        ),
        (
            &["--max-payment", "0.00"],
            &[],
            "error: invalid --max-payment \"0.00\" (or OFFPAY_MAX_PAYMENT): the amount must be greater than zero (INR in major units, like 200.00)",
        ),
        (
            &["--max-purse", "2,000.00"],
            &[],
            "error: invalid --max-purse \"2,000.00\" (or OFFPAY_MAX_PURSE): the amount must be a number like 12.50 (INR in major units, like 200.00)",
        ),
        (
            &["--max-payment", "300.00", "--max-purse", "250.00"],
            &[],
            "error: invalid --max-payment \"300.00\" (or OFFPAY_MAX_PAYMENT): more than --max-purse \"250.00\"; one payment cannot be larger than a purse",
        ),
        (
            &["--loss-allowance", "-1.00"],
            &[],
            "error: invalid --loss-allowance \"-1.00\" (or OFFPAY_LOSS_ALLOWANCE): the amount cannot be negative (INR in major units, like 2000.00, or 0.00 for no loss)",
        ),
        (
            &[],
            &[("OFFPAY_MAX_OPEN_PURSES", "0")],
            "error: invalid --max-open-purses \"0\" (or OFFPAY_MAX_OPEN_PURSES): a whole number from 1 to 100",
        ),
        (
            &["--max-open-purses", "many"],
            &[],
            "error: invalid --max-open-purses \"many\" (or OFFPAY_MAX_OPEN_PURSES): a whole number from 1 to 100",
        ),
        (
            &["--max-purse", "100.00"],
            &[],
            "error: invalid --max-payment \"200.00\" (or OFFPAY_MAX_PAYMENT): more than --max-purse \"100.00\"; one payment cannot be larger than a purse",
        ),
        (
            &["--header-read-timeout", "0s"],
            &[],
            "error: invalid --header-read-timeout \"0s\" (or OFFPAY_HEADER_READ_TIMEOUT): must be more than zero",
        ),
        (
            &[],
            &[("OFFPAY_BODY_READ_TIMEOUT", "2h")],
            "error: invalid --body-read-timeout \"2h\" (or OFFPAY_BODY_READ_TIMEOUT): at most 1h",
        ),
        (
            &["--ws-per-user", "0"],
            &[],
            "error: invalid --ws-per-user \"0\" (or OFFPAY_WS_PER_USER): a whole number from 1 to 1000",
        ),
        (
            &[],
            &[("OFFPAY_MAX_CONNECTIONS", "lots")],
            "error: invalid --max-connections \"lots\" (or OFFPAY_MAX_CONNECTIONS): a whole number from 1 to 1000000",
        ),
    ];
    for (extra, env, want) in cases {
        assert_eq!(serve(extra, env), want, "{extra:?} {env:?}");
    }
    // Nothing was started: no database, no issuer key file.
    assert!(!Path::new(data).exists());

    // Rotation takes the same window (it decides how long old keys stay published).
    let keys = dir.path().join("keys.json");
    let keys = keys.to_str().unwrap();
    let line = refused_option(
        &["admin", "--data", data, "rotate-issuer-key", "--issuer-keys", keys, "--purse-grace", "0m"],
        &[],
    );
    assert_eq!(line, "error: invalid --purse-grace \"0m\" (or OFFPAY_PURSE_GRACE): must be more than zero");
    let line = refused_option(
        &["admin", "--data", data, "rotate-issuer-key", "--issuer-keys", keys],
        &[("OFFPAY_PURSE_VALIDITY", "31d")],
    );
    assert_eq!(line, "error: invalid --purse-validity \"31d\" (or OFFPAY_PURSE_VALIDITY): at most 30d");
    assert!(!Path::new(keys).exists());
    let out = offpay()
        .args([
            "admin",
            "--data",
            data,
            "rotate-issuer-key",
            "--issuer-keys",
            keys,
            "--purse-validity",
            "1d12h",
            "--purse-grace",
            "12h",
        ])
        .output()
        .unwrap();
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(human.contains("until its purses expire (validity 1d12h + grace 12h)"), "{human}");
}
