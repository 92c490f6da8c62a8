//! One payment per request through the real `offpay` binary, with no server (docs/OFFLINE.md,
//! "The payer"): `pay` on a request this home already paid prints the same note alone on stdout
//! and says on stderr that it was already paid, signing nothing; two `pay` processes started
//! together on one request print one note; a request with a paid request's nonce and another
//! amount is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod offline_home;

use std::process::{Output, Stdio};

use offline_home::{ALICE, BOB, Home, offpay, single_line};
use offpay_protocol::{Amount, Encoded, PaymentRequest, testkit};

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// (notes signed, offline balance) from `purse status --json`.
fn signed_and_offline(home: &Home) -> (u64, u64) {
    let status = home.status();
    (status["purses"][0]["last_seq"].as_u64().unwrap(), status["offline"].as_u64().unwrap())
}

#[test]
fn paying_a_request_twice_prints_the_same_note_and_pays_once() {
    let alice = Home::new("alice", ALICE);
    let bob = Home::new("bob", BOB);
    alice.load(ALICE, 50_000);
    let request = bob.request("150.00");
    let note = alice.pay(&request);
    assert_eq!(signed_and_offline(&alice), (1, 35_000));

    let out = alice.run(&["pay", &request, "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(single_line(&stdout(&out), "OPN1:"), note);
    let message = stderr(&out);
    assert!(message.contains("You already paid this request: 150.00 INR to account 2002 (bob)"), "{message}");
    assert!(message.contains("same note is shown again") && message.contains("not paid twice"), "{message}");
    assert!(message.contains("Left in the purse: 350.00 INR."), "{message}");
    assert!(!message.contains("Paid 150.00"), "{message}");
    assert_eq!(signed_and_offline(&alice), (1, 35_000));

    // Nothing is paid, so nothing needs confirming: without --yes and without a terminal the
    // note is shown again too, and the QR code still goes to stderr.
    let out = alice.run(&["pay", &request, "--qr"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(single_line(&stdout(&out), "OPN1:"), note);
    assert!(stderr(&out).contains("already paid") && stderr(&out).contains('▀'), "{}", stderr(&out));
    assert_eq!(signed_and_offline(&alice), (1, 35_000));

    // The note is good for the payee, once.
    bob.ok(&["accept", &note]);
    assert!(bob.fails(&["accept", &note]).contains("already_accepted"));
    // A new request for the same amount is a new payment.
    let next = alice.pay(&bob.request("150.00"));
    assert_ne!(next, note);
    assert_eq!(signed_and_offline(&alice), (2, 20_000));
}

#[test]
fn two_pay_processes_started_together_on_one_request_print_one_note() {
    let alice = Home::new("alice", ALICE);
    let bob = Home::new("bob", BOB);
    alice.load(ALICE, 50_000);
    for round in 1..=3u64 {
        let request = bob.request("10.00");
        let children: Vec<_> = (0..2)
            .map(|_| {
                offpay(&alice.path)
                    .args(["pay", &request, "--yes"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        for out in &outs {
            assert!(out.status.success(), "{}", stderr(out));
        }
        let notes: Vec<String> = outs.iter().map(|o| single_line(&stdout(o), "OPN1:")).collect();
        assert_eq!(notes[0], notes[1], "both print the one note");
        let repeated = outs.iter().filter(|o| stderr(o).contains("You already paid this request")).count();
        assert_eq!(
            repeated,
            1,
            "one signed, the other showed its note: {:?}",
            outs.iter().map(stderr).collect::<Vec<_>>()
        );
        assert_eq!(signed_and_offline(&alice), (round, 50_000 - round * 1_000));
        bob.ok(&["accept", &notes[0]]);
    }
}

#[test]
fn a_request_with_a_paid_nonce_and_another_amount_is_refused() {
    let alice = Home::new("alice", ALICE);
    let bob = Home::new("bob", BOB);
    alice.load(ALICE, 50_000);
    let request = bob.request("150.00");
    let note = alice.pay(&request);

    // Bob's request with 200.00 instead of 150.00, validly signed by a key it names: the same
    // nonce, so not a new request an honest payee would make.
    let mut fields = PaymentRequest::from_text(&request).unwrap().fields().clone();
    let key = testkit::signing_key("cli-pay-once/forger");
    fields.amount = Amount::from_minor(20_000).unwrap();
    fields.payee_device_key = key.verifying_key();
    let forged = PaymentRequest::sign(fields, &key).unwrap().to_text();

    let out = alice.run(&["pay", &forged, "--yes"]);
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "", "no note is printed");
    let err = stderr(&out);
    assert!(err.contains("looks like one you already paid (150.00 INR to account 2002)"), "{err}");
    assert!(err.contains("asks for 200.00 INR to account 2002") && err.contains("nothing was paid"), "{err}");
    assert_eq!(signed_and_offline(&alice), (1, 35_000));
    // The real request still shows its note.
    assert_eq!(single_line(&alice.ok(&["pay", &request, "--yes"]), "OPN1:"), note);
}

#[test]
fn a_payment_over_the_cap_or_the_purse_is_refused_in_money_not_minor_units() {
    let alice = Home::new("alice", ALICE);
    let bob = Home::new("bob", BOB);
    alice.load(ALICE, 25_000);
    let over_cap = alice.fails(&["pay", &bob.request("300.00"), "--yes"]);
    assert!(over_cap.contains("per-payment cap of 200.00 INR"), "{over_cap}");
    alice.pay(&bob.request("200.00"));
    let over_purse = alice.fails(&["pay", &bob.request("100.00"), "--yes"]);
    assert!(over_purse.contains("only 50.00 INR left"), "{over_purse}");
    assert!(!over_cap.contains("minor units") && !over_purse.contains("minor units"));
}
