//! Micro-benchmark of the offline path on this machine: making a note (payer), the full
//! acceptance check from the QR text (payee), one raw Ed25519 `verify_strict` for scale, and the
//! server's batch check of an upload of 500 notes.
//! `cargo bench -p offpay-protocol --bench offline`. Under `cargo test` divan runs each once.
#![allow(clippy::unwrap_used)]

use divan::{Bencher, black_box};
use offpay_protocol::testkit::{Fixture, NOW};
use offpay_protocol::*;

fn main() {
    divan::main();
}

/// The payer's whole step: check the request (one verify_strict), build and sign the note.
#[divan::bench]
fn prepare_next_note(bencher: Bencher) {
    let fx = Fixture::new();
    let state = PurseState::new(&fx.certificate);
    let request = fx.request(1_250, "bench");
    bencher.bench(|| prepare_next(&fx.certificate, &state, &fx.payer_device, black_box(&request), NOW).unwrap());
}

/// Building and signing a note alone (no request check).
#[divan::bench]
fn sign_note(bencher: Bencher) {
    let fx = Fixture::new();
    let request = fx.request(1_250, "bench");
    let (_, note) =
        prepare_next(&fx.certificate, &PurseState::new(&fx.certificate), &fx.payer_device, &request, NOW).unwrap();
    let fields = *note.fields();
    bencher.bench(|| PaymentNote::sign(fx.certificate.clone(), black_box(fields), &fx.payer_device).unwrap());
}

/// The payee's whole check from the QR text: base45, decode, issuer and device signatures
/// (two verify_strict), request, limits, tally.
#[divan::bench]
fn accept_note_from_text(bencher: Bencher) {
    let fx = Fixture::new();
    let request = fx.request(1_250, "bench");
    let (_, note) =
        prepare_next(&fx.certificate, &PurseState::new(&fx.certificate), &fx.payer_device, &request, NOW).unwrap();
    let text = note.to_text();
    let open = [Fixture::open(&request)];
    let revocations = Revocations::default();
    let ctx = fx.context(&open, &revocations);
    bencher.bench(|| accept_note_text(black_box(&text), None, &ctx).unwrap());
}

/// One raw Ed25519 strict verification of the note's device signature, for comparison.
#[divan::bench]
fn raw_verify_strict(bencher: Bencher) {
    let fx = Fixture::new();
    let request = fx.request(1_250, "bench");
    let (_, note) =
        prepare_next(&fx.certificate, &PurseState::new(&fx.certificate), &fx.payer_device, &request, NOW).unwrap();
    let message = note.signed_bytes();
    let key = fx.payer_device.verifying_key();
    let signature = *note.signature();
    bencher.bench(|| key.verify_strict(black_box(&message), &signature).unwrap());
}

/// Batch verification of 500 notes' device signatures (one upload), per call; divide by 500
/// for the cost per note, to compare with `raw_verify_strict`.
#[divan::bench]
fn verify_device_signatures_500(bencher: Bencher) {
    let (_, notes) = Fixture::new().chain(&[100; 500]);
    bencher.bench(|| {
        let ok = note::verify_device_signatures(black_box(&notes), [7; 32]);
        assert!(ok.iter().all(|v| *v));
    });
}
