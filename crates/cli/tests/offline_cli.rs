//! Offline payment through the real `offpay` binary with no server at all: wallet homes in
//! temporary folders whose offline store was given an identity, a test issuer key and a purse
//! (the server's part, played with the protocol testkit through the wallet library). Checks
//! what a person sees: the text alone on stdout, refusals with their reason and a non-zero
//! exit, the confirmation rule, the sequence number across processes, and a cloned home.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod offline_home;

use std::process::Stdio;

use offline_home::{ALICE, BOB, CAROL, Home, offpay, single_line};
use serde_json::Value;

#[test]
fn alice_pays_bob_offline_and_every_bad_note_is_refused_with_its_reason() {
    let alice = Home::new("alice", ALICE);
    let bob = Home::new("bob", BOB);
    alice.load(ALICE, 50_000);
    assert_eq!(alice.status()["offline"], 50_000);

    let request = bob.request("150.00");
    // Without --yes and without a terminal, nothing is paid.
    let err = alice.fails(&["pay", &request]);
    assert!(err.contains("Pay 150.00 INR to account 2002 (bob)?") && err.contains("--yes"), "{err}");
    assert_eq!(alice.status()["purses"][0]["last_seq"], 0);

    let note = alice.pay(&request);
    assert_eq!(alice.status()["offline"], 35_000);
    assert_eq!(alice.status()["purses"][0]["last_seq"], 1);

    let accepted = bob.ok(&["accept", &note]);
    assert!(accepted.starts_with("Accepted 150.00 INR from account 1001"), "{accepted}");

    // The same note again.
    let err = bob.fails(&["accept", &note]);
    assert!(err.contains("already_accepted") && err.contains("already accepted"), "{err}");
    let json = bob.run(&["accept", &note, "--json"]);
    assert!(!json.status.success());
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!((json["accepted"].as_bool(), json["reason"].as_str()), (Some(false), Some("already_accepted")));

    // One character changed (in the middle of the signed body).
    let mut chars: Vec<char> = note.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'Q' { 'R' } else { 'Q' };
    let tampered: String = chars.into_iter().collect();
    let err = bob.fails(&["accept", &tampered]);
    assert!(err.contains("note refused ("), "{err}");

    // Past the purse: 150 + 200 + 150 = 500 is all there is; the payer refuses the next.
    let second = bob.request("200.00");
    bob.ok(&["accept", &alice.pay(&second)]);
    let third = bob.request("150.00");
    bob.ok(&["accept", &alice.pay(&third)]);
    assert_eq!(alice.status()["offline"], 0);
    let fourth = bob.request("1.00");
    let err = alice.fails(&["pay", &fourth, "--yes"]);
    assert!(err.contains("cannot pay") && err.contains("left"), "{err}");
    assert_eq!(alice.status()["purses"][0]["last_seq"], 3);
    // Over the per-payment cap.
    let big = bob.request("200.01");
    let err = alice.fails(&["pay", &big, "--yes"]);
    assert!(err.contains("per-payment cap"), "{err}");

    // A note for someone else.
    let carol = Home::new("carol", CAROL);
    let err = carol.fails(&["accept", &note]);
    assert!(err.contains("wrong_payee"), "{err}");
}

#[test]
fn a_fresh_process_continues_the_chain_and_a_copied_home_forks_it() {
    let alice = Home::new("alice", ALICE);
    let bob = Home::new("bob", BOB);
    let carol = Home::new("carol", CAROL);
    alice.load(ALICE, 50_000);

    // Copy Alice's home (no process has it open): a cloned device.
    let clone_dir = tempfile::tempdir().unwrap();
    let clone_path = clone_dir.path().join("home");
    std::fs::create_dir_all(&clone_path).unwrap();
    for entry in std::fs::read_dir(&alice.path).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), clone_path.join(entry.file_name())).unwrap();
    }
    let clone = Home { _dir: clone_dir, path: clone_path };

    let first = alice.pay(&bob.request("10.00"));
    // Each `offpay` run is a fresh process: the second payment continues at 2.
    let second = alice.pay(&bob.request("20.00"));
    assert_eq!(alice.status()["purses"][0]["last_seq"], 2);
    assert_ne!(first, second);
    bob.ok(&["accept", &first]);
    bob.ok(&["accept", &second]);

    // The clone still thinks nothing was spent: it signs its own note 1 for Carol.
    assert_eq!(clone.status()["purses"][0]["last_seq"], 0);
    let forked = clone.pay(&carol.request("150.00"));
    assert_eq!(clone.status()["purses"][0]["last_seq"], 1);
    let decoded = <offpay_protocol::PaymentNote as offpay_protocol::Encoded>::from_text(&forked).unwrap();
    let original = <offpay_protocol::PaymentNote as offpay_protocol::Encoded>::from_text(&first).unwrap();
    assert_eq!((decoded.seq(), original.seq()), (1, 1));
    assert_eq!(decoded.purse_id(), original.purse_id());
    // Carol cannot know: she accepts.
    let accepted = carol.ok(&["accept", &forked]);
    assert!(accepted.starts_with("Accepted 150.00 INR from account 1001 (note 1 of purse"), "{accepted}");
}

#[test]
fn qr_codes_go_to_stderr_and_the_text_alone_to_stdout() {
    let alice = Home::new("alice", ALICE);
    let bob = Home::new("bob", BOB);
    alice.load(ALICE, 50_000);
    let out = bob.run(&["request", "5.00", "--qr"]);
    assert!(out.status.success());
    let request = single_line(&String::from_utf8(out.stdout).unwrap(), "OPR1:");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains('█') || stderr.contains('▀'), "{stderr}");

    let out = alice.run(&["pay", &request, "--yes", "--qr"]);
    assert!(out.status.success());
    let note = single_line(&String::from_utf8(out.stdout).unwrap(), "OPN1:");
    assert!(String::from_utf8(out.stderr).unwrap().contains('▀'));
    // The note can also be piped in.
    let mut child =
        offpay(&bob.path).args(["accept", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{note}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("Accepted 5.00 INR"));
}

#[test]
fn a_device_that_never_met_the_server_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = offpay(&home).args(["request", "1.00"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("account number") && err.contains("sync"), "{err}");

    let bob = Home::new("bob", BOB);
    let request = bob.request("1.00");
    let out = offpay(&home).args(["pay", &request, "--yes"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no offline purse") && err.contains("purse load"), "{err}");
}
