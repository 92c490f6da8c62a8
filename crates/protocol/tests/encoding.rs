//! Canonical encoding: sizes, round trips, strict rejection of anything non-canonical, the
//! text form, and property tests over random field values and random bit flips.
#![allow(clippy::unwrap_used, clippy::panic)]

use offpay_protocol::testkit::{Fixture, NOW};
use offpay_protocol::*;
use proptest::prelude::*;

fn first_note(fx: &Fixture) -> PaymentNote {
    let state = PurseState::new(&fx.certificate);
    let request = fx.request(1_250, "nonce-1");
    prepare_next(&fx.certificate, &state, &fx.payer_device, &request, NOW).unwrap().1
}

#[test]
fn first_note_fits_one_qr_code() {
    let fx = Fixture::new();
    let note = first_note(&fx);
    let bytes = note.encode();
    let text = note.to_text();
    println!("payment note (certificate included): {} bytes, text form {} characters", bytes.len(), text.len());
    assert_eq!(bytes.len(), PaymentNote::LEN);
    assert!(bytes.len() <= 320, "note is {} bytes", bytes.len());
    assert_eq!(PurseCertificate::LEN, 161);
    assert_eq!(CloseStatement::LEN, 134);
    // QR alphanumeric mode: 0-9 A-Z space $ % * + - . / :
    assert!(text.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || " $%*+-./:".contains(c)));
}

#[test]
fn round_trips_every_kind() {
    let fx = Fixture::new();
    let cert = &fx.certificate;
    assert_eq!(PurseCertificate::decode(&cert.encode()).unwrap(), *cert);
    assert_eq!(PurseCertificate::from_text(&cert.to_text()).unwrap(), *cert);
    let request = fx.request(500, "n");
    assert_eq!(PaymentRequest::decode(&request.encode()).unwrap(), request);
    assert_eq!(PaymentRequest::from_text(&format!("  {}\n", request.to_text())).unwrap(), request);
    let mut no_handle = fx.request_fields(500, "n");
    no_handle.handle = None;
    let bare = PaymentRequest::sign(no_handle, &fx.payee_device).unwrap();
    assert_eq!(bare.encode().len(), PaymentRequest::MIN_LEN);
    assert_eq!(PaymentRequest::decode(&bare.encode()).unwrap(), bare);
    let note = first_note(&fx);
    assert_eq!(PaymentNote::decode(&note.encode()).unwrap(), note);
    assert_eq!(PaymentNote::from_text(&note.to_text()).unwrap(), note);
    let close = PurseState::new(cert).close(cert, &fx.payer_device, NOW).unwrap();
    assert_eq!(CloseStatement::decode(&close.encode()).unwrap(), close);
    assert_eq!(CloseStatement::from_text(&close.to_text()).unwrap(), close);
}

#[test]
fn refuses_non_canonical_bytes() {
    let fx = Fixture::new();
    let note = first_note(&fx).encode();
    let code = |b: &[u8]| PaymentNote::decode(b).unwrap_err().code();
    assert_eq!(code(&[]), "truncated");
    assert_eq!(code(&note[..1]), "truncated");
    assert_eq!(code(&note[..note.len() - 1]), "truncated");
    let mut long = note.clone();
    long.push(0);
    assert_eq!(code(&long), "trailing_bytes");
    let mut v = note.clone();
    v[1] = 2;
    assert_eq!(code(&v), "unsupported_version");
    let mut t = note.clone();
    t[0] = b'C';
    assert_eq!(code(&t), "wrong_tag");
    // A certificate is not a note, and a note's embedded certificate must be a certificate.
    assert_eq!(code(&fx.certificate.encode()), "wrong_tag");
    let mut inner = note.clone();
    inner[2] = b'N';
    assert_eq!(code(&inner), "wrong_tag");
    // Amount above 2^53 - 1 (the note's amount field).
    let mut big = note.clone();
    let at = 2 + PurseCertificate::LEN + 4 + 32 + 8;
    big[at..at + 8].copy_from_slice(&(1u64 << 53).to_le_bytes());
    assert_eq!(code(&big), "amount_out_of_range");
    // seq 0.
    let mut zero = note.clone();
    zero[2 + PurseCertificate::LEN..2 + PurseCertificate::LEN + 4].copy_from_slice(&[0; 4]);
    assert_eq!(code(&zero), "invalid_field");
}

#[test]
fn refuses_non_canonical_request_handles() {
    let fx = Fixture::new();
    let bytes = fx.request(500, "n").encode();
    let handle_at = PaymentRequest::MIN_LEN - 64 - 1;
    assert_eq!(bytes[handle_at], 9); // "chai_shop"
    let mut upper = bytes.clone();
    upper[handle_at + 1] = b'C';
    assert_eq!(PaymentRequest::decode(&upper).unwrap_err(), DecodeError::BadHandle);
    let mut too_long = bytes.clone();
    too_long[handle_at] = 33;
    assert_eq!(PaymentRequest::decode(&too_long).unwrap_err(), DecodeError::BadHandle);
    let mut shorter = bytes.clone();
    shorter[handle_at] = 8;
    assert_eq!(PaymentRequest::decode(&shorter).unwrap_err(), DecodeError::TrailingBytes);
}

#[test]
fn refuses_bad_text() {
    let fx = Fixture::new();
    let text = first_note(&fx).to_text();
    let code = |t: &str| PaymentNote::from_text(t).unwrap_err().code();
    assert_eq!(code(&text.replacen("OPN1:", "OPR1:", 1)), "text_prefix");
    assert_eq!(code(&text.to_lowercase()), "text_prefix");
    assert_eq!(code(&format!("{text}{}", "0".repeat(600))), "text_too_long");
    assert_eq!(code(&format!("{text}!")), "text_encoding");
    // 467 characters + 1 = 156 full groups: one byte too many.
    assert_eq!(code(&format!("{text}0")), "trailing_bytes");
    // + 2: a dangling single character is not base45.
    assert_eq!(code(&format!("{text}00")), "text_encoding");
    // A final pair worth more than 255 is not canonical base45.
    assert_eq!(code("OPN1:::"), "text_encoding");
    assert!(PaymentNote::from_text(&format!("\n\t {text} \r\n")).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_valid_note_round_trips(
        seq in 1u32..,
        amount in 1u64..=20_000,
        extra in 0u64..=180_000,
        payee in any::<u64>(),
        nonce in any::<[u8; 16]>(),
        prev in any::<[u8; 32]>(),
        time in any::<u64>(),
    ) {
        let fx = Fixture::new();
        let fields = NoteFields {
            seq,
            prev_hash: Hash256::from_bytes(prev),
            cumulative: Amount::from_minor(amount + extra).unwrap(),
            amount: Amount::from_minor(amount).unwrap(),
            payee: AccountNumber(payee),
            nonce: Nonce::from_bytes(nonce),
            time,
        };
        let note = PaymentNote::sign(fx.certificate.clone(), fields, &fx.payer_device).unwrap();
        let bytes = note.encode();
        prop_assert_eq!(bytes.len(), PaymentNote::LEN);
        let back = PaymentNote::decode(&bytes).unwrap();
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(PaymentNote::from_text(&note.to_text()).unwrap(), note);
    }

    #[test]
    fn decode_never_panics_and_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(note) = PaymentNote::decode(&bytes) { prop_assert_eq!(note.encode(), bytes.clone()); }
        if let Ok(cert) = PurseCertificate::decode(&bytes) { prop_assert_eq!(cert.encode(), bytes.clone()); }
        if let Ok(req) = PaymentRequest::decode(&bytes) { prop_assert_eq!(req.encode(), bytes.clone()); }
        if let Ok(close) = CloseStatement::decode(&bytes) { prop_assert_eq!(close.encode(), bytes.clone()); }
    }

    #[test]
    fn text_parse_never_panics(text in "[ -~]{0,700}") {
        let _ = PaymentNote::from_text(&text);
        let _ = PaymentRequest::from_text(&text);
    }

    #[test]
    fn mutated_prefix_bytes_are_rejected_or_canonical(at in 0usize..PaymentNote::LEN, byte in any::<u8>()) {
        let fx = Fixture::new();
        let mut bytes = first_note(&fx).encode();
        bytes[at] = byte;
        if let Ok(note) = PaymentNote::decode(&bytes) { prop_assert_eq!(note.encode(), bytes); }
    }
}

/// Every single-bit change of a valid note's encoding is refused by decode, verification or
/// acceptance: exhaustive over all 311 * 8 bits.
#[test]
fn every_single_bit_flip_of_a_note_is_refused() {
    let fx = Fixture::new();
    let request = fx.request(1_250, "nonce-1");
    let note =
        prepare_next(&fx.certificate, &PurseState::new(&fx.certificate), &fx.payer_device, &request, NOW).unwrap().1;
    let open = [Fixture::open(&request)];
    let revocations = Revocations::default();
    let ctx = fx.context(&open, &revocations);
    let bytes = note.encode();
    assert!(accept_note(&note, None, &ctx).is_ok());
    let mut refused = 0;
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let outcome =
            PaymentNote::decode(&flipped).map_err(RejectReason::from).and_then(|n| accept_note(&n, None, &ctx));
        assert!(outcome.is_err(), "bit {bit} flipped was accepted");
        refused += 1;
    }
    assert_eq!(refused, PaymentNote::LEN * 8);
}

/// A public key whose y coordinate is not reduced (y + p for y = 1, the identity point) is
/// refused, so that every implementation decodes the same set of keys.
#[test]
fn refuses_non_canonical_public_keys() {
    let fx = Fixture::new();
    let mut bytes = fx.certificate.encode();
    // 2^255 - 19 + 1 = p + 1, little-endian: 0xee, 0xff x 30, 0x7f.
    let mut y = [0xffu8; 32];
    y[0] = 0xee;
    y[31] = 0x7f;
    bytes[30..62].copy_from_slice(&y);
    assert_eq!(PurseCertificate::decode(&bytes).unwrap_err(), DecodeError::BadPublicKey);
    // Not a point at all.
    let mut y = [0u8; 32];
    y[0] = 2;
    bytes[30..62].copy_from_slice(&y);
    assert_eq!(PurseCertificate::decode(&bytes).unwrap_err(), DecodeError::BadPublicKey);
}

/// The upload decoder gives exactly `decode`'s result for a valid note, for every single-bit
/// change of it, and again from its cache.
#[test]
fn note_decoder_agrees_with_decode() {
    let fx = Fixture::new();
    let bytes = first_note(&fx).encode();
    let mut decoder = note::NoteDecoder::default();
    assert_eq!(decoder.decode(&bytes), PaymentNote::decode(&bytes));
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(decoder.decode(&flipped), PaymentNote::decode(&flipped), "bit {bit}");
        assert_eq!(decoder.decode(&bytes), PaymentNote::decode(&bytes), "after bit {bit}");
    }
    let text = first_note(&fx).to_text();
    assert_eq!(decoder.from_text(&text), PaymentNote::from_text(&text));
}

/// A decoder given its own certificate decoding (a cache kept across uploads) asks it once per
/// distinct certificate and still answers exactly what `decode` answers.
#[test]
fn note_decoder_asks_its_certificate_decoding_once_per_certificate() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static ASKED: AtomicUsize = AtomicUsize::new(0);
    fn counting(bytes: &[u8]) -> Result<PurseCertificate, DecodeError> {
        ASKED.fetch_add(1, Ordering::SeqCst);
        PurseCertificate::decode(bytes)
    }
    let fx = Fixture::new();
    let bytes = first_note(&fx).encode();
    let mut decoder = note::NoteDecoder::decoding_certificates_with(counting);
    for _ in 0..3 {
        assert_eq!(decoder.decode(&bytes), PaymentNote::decode(&bytes));
    }
    assert_eq!(ASKED.load(Ordering::SeqCst), 1);
    // A note whose certificate was changed asks again, and is refused as `decode` refuses it.
    let mut other = bytes.clone();
    other[40] ^= 1;
    assert_eq!(decoder.decode(&other), PaymentNote::decode(&other));
    assert_eq!(ASKED.load(Ordering::SeqCst), 2);
}
