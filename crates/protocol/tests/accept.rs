//! The payee's offline acceptance check: the happy path, a chain of notes, and every reason
//! for refusal (docs/PROTOCOL.md section 9: each threat the protocol crate owns).
#![allow(clippy::unwrap_used, clippy::panic)]

use offpay_protocol::testkit::{DAY, Fixture, NOW, signing_key};
use offpay_protocol::*;

struct Payee {
    fx: Fixture,
    requests: Vec<OpenRequest>,
    revocations: Revocations,
    tally: Option<PurseTally>,
}

impl Payee {
    fn new(fx: &Fixture) -> Payee {
        Payee { fx: fx.clone(), requests: Vec::new(), revocations: Revocations::default(), tally: None }
    }

    fn ask(&mut self, minor: u64, label: &str) -> PaymentRequest {
        let r = self.fx.request(minor, label);
        self.requests.push(Fixture::open(&r));
        r
    }

    fn check(&self, note: &PaymentNote) -> Result<Accepted, RejectReason> {
        accept_note(note, self.tally.as_ref(), &self.fx.context(&self.requests, &self.revocations))
    }

    /// Accepts and records, like a wallet would.
    fn take(&mut self, note: &PaymentNote) -> Result<Accepted, RejectReason> {
        let ok = self.check(note)?;
        self.tally = Some(ok.tally.clone());
        self.requests.iter_mut().filter(|r| r.nonce == ok.nonce).for_each(|r| r.paid = true);
        Ok(ok)
    }
}

fn pay(fx: &Fixture, state: &PurseState, request: &PaymentRequest) -> (PurseState, PaymentNote) {
    prepare_next(&fx.certificate, state, &fx.payer_device, request, fx.now).unwrap()
}

fn resign(fx: &Fixture, note: &PaymentNote, edit: impl FnOnce(&mut NoteFields)) -> PaymentNote {
    let mut fields = *note.fields();
    edit(&mut fields);
    PaymentNote::sign(note.certificate().clone(), fields, &fx.payer_device).unwrap()
}

#[test]
fn accepts_a_chain_of_notes_and_refuses_replays() {
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let mut state = PurseState::new(&fx.certificate);
    let mut notes = Vec::new();
    for i in 0..3 {
        let request = payee.ask(10_000, &format!("n{i}"));
        let (next, note) = pay(&fx, &state, &request);
        state = next;
        let ok = payee.take(&note).unwrap();
        assert_eq!((ok.seq, ok.amount.minor(), ok.payer), (i + 1, 10_000, fx.payer));
        notes.push(note);
    }
    assert_eq!(state.spent.minor(), 30_000);
    assert_eq!(payee.tally.as_ref().unwrap().taken().unwrap().minor(), 30_000);
    // Replay of any accepted note.
    for note in &notes {
        assert_eq!(payee.check(note).unwrap_err(), RejectReason::AlreadyAccepted);
    }
    // The same request paid by another (otherwise valid) note.
    let again = resign(&fx, &notes[2], |f| {
        f.seq = 4;
        f.prev_hash = notes[2].hash();
        f.cumulative = Amount::from_minor(40_000).unwrap();
    });
    assert_eq!(payee.check(&again).unwrap_err(), RejectReason::RequestAlreadyPaid);
}

#[test]
fn refuses_changed_amount_payee_or_sequence_without_resigning() {
    // A note whose bytes were changed keeps its old signature: bad_device_signature.
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let request = payee.ask(5_000, "n");
    let (_, note) = pay(&fx, &PurseState::new(&fx.certificate), &request);
    let at_seq = 2 + PurseCertificate::LEN;
    // seq 1 -> 3, amount 5000 -> 4992, payee 2002 -> 2000.
    for (offset, xor) in [(at_seq, 2), (at_seq + 4 + 32 + 8, 8), (at_seq + 4 + 32 + 16, 2)] {
        let mut bytes = note.encode();
        bytes[offset] ^= xor;
        let changed = PaymentNote::decode(&bytes).unwrap();
        assert_eq!(payee.check(&changed).unwrap_err(), RejectReason::BadDeviceSignature);
    }
}

#[test]
fn issuer_and_certificate_checks() {
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let request = payee.ask(5_000, "n");
    let note_with = |cert: PurseCertificate| {
        pay(&Fixture { certificate: cert.clone(), ..fx.clone() }, &PurseState::new(&cert), &request).1
    };
    // Unknown issuer key.
    let rogue = fx.certificate_with(&signing_key("rogue-issuer"), |_| {});
    assert_eq!(payee.check(&note_with(rogue)).unwrap_err(), RejectReason::UnknownIssuerKey);
    // Issuer key not valid when the certificate was issued.
    let early = fx.certificate_with(&fx.issuer, |f| f.valid_from = NOW - 400 * DAY);
    let early_note = PaymentNote::sign(early.clone(), *note_with(fx.certificate.clone()).fields(), &fx.payer_device);
    let early_note = early_note.unwrap();
    assert_eq!(payee.check(&early_note).unwrap_err(), RejectReason::IssuerKeyNotValid);
    // Bad issuer signature: flip a bit of the certificate's signature.
    let mut bytes = note_with(fx.certificate.clone()).encode();
    bytes[2 + PurseCertificate::LEN - 1] ^= 0x01;
    let forged = PaymentNote::decode(&bytes).unwrap();
    assert_eq!(payee.check(&forged).unwrap_err(), RejectReason::BadIssuerSignature);
    // Expired certificate / not yet valid: the payee's clock decides.
    let note = note_with(fx.certificate.clone());
    let late = Payee { fx: Fixture { now: NOW + 31 * DAY, ..fx.clone() }, ..Payee::new(&fx) };
    assert_eq!(late.check(&note).unwrap_err(), RejectReason::CertificateExpired);
    let soon = Payee { fx: Fixture { now: NOW - 2 * 3600, ..fx.clone() }, ..Payee::new(&fx) };
    assert_eq!(soon.check(&note).unwrap_err(), RejectReason::CertificateNotYetValid);
}

#[test]
fn device_payee_request_and_limit_checks() {
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let request = payee.ask(5_000, "n");
    let (_, note) = pay(&fx, &PurseState::new(&fx.certificate), &request);
    // Signed by another device key.
    let cloned = PaymentNote::sign(fx.certificate.clone(), *note.fields(), &signing_key("thief")).unwrap();
    assert_eq!(payee.check(&cloned).unwrap_err(), RejectReason::BadDeviceSignature);
    // Revoked purse, revoked device.
    let mut revoked = Payee::new(&fx);
    revoked.requests = payee.requests.clone();
    revoked.revocations.purses.insert(fx.certificate.purse_id());
    assert_eq!(revoked.check(&note).unwrap_err(), RejectReason::Revoked);
    revoked.revocations = Revocations::default();
    revoked.revocations.devices.insert(fx.payer_device.verifying_key().to_bytes());
    assert_eq!(revoked.check(&note).unwrap_err(), RejectReason::Revoked);
    // A first note that does not start from the certificate.
    let bad_start = resign(&fx, &note, |f| f.prev_hash = Hash256::from_bytes([7; 32]));
    assert_eq!(payee.check(&bad_start).unwrap_err(), RejectReason::BadChainStart);
    // A note for payee A presented to B.
    let other = Payee { fx: Fixture { payee: AccountNumber(3003), ..fx.clone() }, ..Payee::new(&fx) };
    let other = Payee { requests: payee.requests.clone(), ..other };
    assert_eq!(other.check(&note).unwrap_err(), RejectReason::WrongPayee);
    // Unknown request (my requests do not include the nonce).
    let stranger = Payee::new(&fx);
    assert_eq!(stranger.check(&note).unwrap_err(), RejectReason::UnknownRequest);
    // Expired request.
    let mut expired = Payee::new(&fx);
    expired.requests = payee.requests.clone();
    expired.requests[0].expires_at = NOW - 1;
    assert_eq!(expired.check(&note).unwrap_err(), RejectReason::RequestExpired);
    // Amount differs from the request's.
    let mut asked_less = Payee::new(&fx);
    asked_less.requests = payee.requests.clone();
    asked_less.requests[0].amount = Amount::from_minor(4_999).unwrap();
    assert_eq!(asked_less.check(&note).unwrap_err(), RejectReason::AmountMismatch);
    // Over the per-payment cap (the payer's wallet refuses, a modified one does not).
    let big_request = payee.ask(20_001, "big");
    let err = prepare_next(&fx.certificate, &PurseState::new(&fx.certificate), &fx.payer_device, &big_request, NOW);
    assert!(matches!(err, Err(PayError::OverPaymentCap { .. })));
    let over_cap = resign(&fx, &note, |f| {
        f.amount = Amount::from_minor(20_001).unwrap();
        f.cumulative = f.amount;
        f.nonce = big_request.fields().nonce;
    });
    assert_eq!(payee.check(&over_cap).unwrap_err(), RejectReason::OverPaymentCap);
    // Correct payment of the right request succeeds.
    assert!(payee.check(&note).is_ok());
}

#[test]
fn overspent_purse_is_refused() {
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let request = payee.ask(10_000, "n");
    let (_, note) = pay(&fx, &PurseState::new(&fx.certificate), &request);
    // Cumulative beyond the purse amount (seq 12, claiming 200,000 spent before).
    let beyond = resign(&fx, &note, |f| {
        f.seq = 12;
        f.cumulative = Amount::from_minor(210_000).unwrap();
    });
    assert_eq!(payee.check(&beyond).unwrap_err(), RejectReason::OverPurseAmount);
    // The payer's wallet refuses to overspend.
    let state =
        PurseState { spent: Amount::from_minor(195_000).unwrap(), last_seq: 20, ..PurseState::new(&fx.certificate) };
    let err = prepare_next(&fx.certificate, &state, &fx.payer_device, &request, NOW).unwrap_err();
    assert_eq!(err, PayError::InsufficientPurse { remaining: Amount::from_minor(5_000).unwrap() });
}

#[test]
fn a_cloned_purse_takes_at_most_its_amount_from_one_payee() {
    // A cloned purse re-signs a fresh fork for every payment, always claiming seq 1, so each
    // note on its own is valid. The payee's tally catches the fork and bounds the total.
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let fresh = PurseState::new(&fx.certificate);
    let first = payee.ask(20_000, "a");
    let (_, n1) = pay(&fx, &fresh, &first);
    payee.take(&n1).unwrap();
    let second = payee.ask(20_000, "b");
    let (_, fork) = pay(&fx, &fresh, &second);
    assert_eq!(payee.check(&fork).unwrap_err(), RejectReason::InconsistentWithEarlierNote);
    // Continuing the chain: accepted until the purse amount is reached from this payee.
    let mut state = PurseState::new(&fx.certificate);
    let mut last = n1;
    for i in 0..10 {
        let request = if i == 0 { first.clone() } else { payee.ask(20_000, &format!("c{i}")) };
        let (next, note) = pay(&fx, &state, &request);
        if i > 0 {
            payee.take(&note).unwrap();
        }
        state = next;
        last = note;
    }
    assert_eq!(payee.tally.as_ref().unwrap().taken().unwrap().minor(), 200_000);
    let request = payee.ask(20_000, "more");
    assert!(matches!(
        prepare_next(&fx.certificate, &state, &fx.payer_device, &request, NOW),
        Err(PayError::InsufficientPurse { .. })
    ));
    // A modified wallet that lies about the cumulative total to stay within the purse.
    let liar = resign(&fx, &last, |f| {
        f.seq = 11;
        f.prev_hash = last.hash();
        f.nonce = request.fields().nonce;
    });
    assert_eq!(liar.fields().cumulative.minor(), 200_000);
    assert_eq!(payee.check(&liar).unwrap_err(), RejectReason::OverPurseAmount);
}

#[test]
fn notes_out_of_order_must_still_agree() {
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let r1 = payee.ask(1_000, "1");
    let r2 = payee.ask(2_000, "2");
    let r3 = payee.ask(3_000, "3");
    let s0 = PurseState::new(&fx.certificate);
    let (s1, n1) = pay(&fx, &s0, &r1);
    let (s2, n2) = pay(&fx, &s1, &r2);
    let (_, n3) = pay(&fx, &s2, &r3);
    // Receive 3, then 1 (gap), then 2: all consistent.
    payee.take(&n3).unwrap();
    payee.take(&n1).unwrap();
    payee.take(&n2).unwrap();
    // A note 2' whose link to note 1 is wrong is caught by its neighbours.
    let mut other = Payee::new(&fx);
    other.requests = vec![Fixture::open(&r1), Fixture::open(&r2)];
    other.take(&n1).unwrap();
    let bad_link = resign(&fx, &n2, |f| f.prev_hash = Hash256::from_bytes([1; 32]));
    assert_eq!(other.check(&bad_link).unwrap_err(), RejectReason::InconsistentWithEarlierNote);
    let bad_total = resign(&fx, &n2, |f| f.cumulative = Amount::from_minor(2_500).unwrap());
    assert_eq!(other.check(&bad_total).unwrap_err(), RejectReason::InconsistentWithEarlierNote);
}

#[test]
fn tally_for_another_purse_is_a_caller_bug() {
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let request = payee.ask(1_000, "n");
    let (_, note) = pay(&fx, &PurseState::new(&fx.certificate), &request);
    payee.tally = Some(PurseTally::new(PurseId::from_bytes([9; 16])));
    assert_eq!(payee.check(&note).unwrap_err(), RejectReason::TallyMismatch);
}

#[test]
fn text_acceptance_reports_malformed() {
    let fx = Fixture::new();
    let payee = Payee::new(&fx);
    let ctx = fx.context(&payee.requests, &payee.revocations);
    let err = accept_note_text("OPN1:garbage", None, &ctx).unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert!(err.to_string().contains("not canonical base45"), "{err}");
}

#[test]
fn reason_codes_are_stable_and_distinct() {
    let reasons = [
        RejectReason::UnknownIssuerKey,
        RejectReason::IssuerKeyNotValid,
        RejectReason::BadIssuerSignature,
        RejectReason::CertificateNotYetValid,
        RejectReason::CertificateExpired,
        RejectReason::BadDeviceSignature,
        RejectReason::BadRequestSignature,
        RejectReason::Revoked,
        RejectReason::BadChainStart,
        RejectReason::WrongPayee,
        RejectReason::AlreadyAccepted,
        RejectReason::UnknownRequest,
        RejectReason::RequestAlreadyPaid,
        RejectReason::RequestExpired,
        RejectReason::AmountMismatch,
        RejectReason::OverPaymentCap,
        RejectReason::OverPurseAmount,
        RejectReason::InconsistentWithEarlierNote,
        RejectReason::WrongPurse,
        RejectReason::TallyMismatch,
    ];
    let codes: std::collections::BTreeSet<_> = reasons.iter().map(RejectReason::code).collect();
    assert_eq!(codes.len(), reasons.len());
    assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
}

#[test]
fn a_purse_pays_at_most_max_notes_and_a_note_past_them_is_refused_everywhere() {
    let fx = Fixture::new();
    let mut payee = Payee::new(&fx);
    let request = payee.ask(100, "last");
    // The honest wallet signs note 1,000 and no note after it.
    let before_last = PurseState { last_seq: MAX_NOTES_PER_PURSE - 1, ..PurseState::new(&fx.certificate) };
    let (full, last) = pay(&fx, &before_last, &request);
    assert_eq!(last.seq(), MAX_NOTES_PER_PURSE);
    assert_eq!(
        prepare_next(&fx.certificate, &full, &fx.payer_device, &payee.ask(100, "one more"), NOW),
        Err(PayError::PurseFull { max: MAX_NOTES_PER_PURSE })
    );
    // A modified wallet signs note 1,001 with its own device key: the payee refuses it offline...
    let more = payee.ask(100, "past");
    let past = resign(&fx, &last, |f| {
        f.seq = MAX_NOTES_PER_PURSE + 1;
        f.prev_hash = last.hash();
        f.cumulative = last.fields().cumulative.checked_add(f.amount).unwrap();
        f.nonce = more.fields().nonce;
    });
    assert_eq!(payee.check(&past).unwrap_err(), RejectReason::OverNoteLimit);
    assert_eq!(payee.check(&past).unwrap_err().code(), "over_note_limit");
    // ...the note at the limit is still accepted...
    assert!(payee.check(&last).is_ok());
    // ...and the server refuses it at settlement: nothing is paid from it.
    let s = settle_purse(&fx.certificate, &[last.clone(), past.clone()], None).unwrap();
    assert_eq!(s.payable, vec![last.clone()]);
    assert_eq!(s.rejected, vec![(past, RejectReason::OverNoteLimit)]);
    assert_eq!(s.covered, last.amount());
    assert!(s.fraud.is_empty());
}
