//! The server's settlement rule: payable notes in order, duplicates, refused notes, and fraud
//! proofs (same sequence, broken chain, beyond the close statement) carrying both signed objects.
#![allow(clippy::unwrap_used, clippy::panic)]

use offpay_protocol::testkit::{Fixture, NOW, signing_key};
use offpay_protocol::*;

fn chain(fx: &Fixture, amounts: &[u64]) -> (PurseState, Vec<PaymentNote>) {
    let mut state = PurseState::new(&fx.certificate);
    let mut notes = Vec::new();
    for (i, minor) in amounts.iter().enumerate() {
        let request = fx.request(*minor, &format!("r{i}"));
        let (next, note) = prepare_next(&fx.certificate, &state, &fx.payer_device, &request, NOW).unwrap();
        state = next;
        notes.push(note);
    }
    (state, notes)
}

#[test]
fn honest_chain_in_any_order_with_duplicates() {
    let fx = Fixture::new();
    let (state, notes) = chain(&fx, &[1_000, 2_000, 3_000]);
    let uploads = vec![notes[2].clone(), notes[0].clone(), notes[2].clone(), notes[1].clone(), notes[0].clone()];
    let close = state.close(&fx.certificate, &fx.payer_device, NOW + 10).unwrap();
    let s = settle_purse(&fx.certificate, &uploads, Some(&close)).unwrap();
    assert_eq!(s.payable, notes);
    assert_eq!(s.duplicates.len(), 2);
    assert!(s.fraud.is_empty() && s.rejected.is_empty());
    assert_eq!((s.covered.minor(), s.uncovered.minor()), (6_000, 0));
}

#[test]
fn fork_at_one_sequence_is_proven_and_both_notes_are_paid() {
    let fx = Fixture::new();
    let (_, honest) = chain(&fx, &[1_000, 2_000]);
    // A clone of the device pays someone else with its own note 2.
    let request = fx.request(5_000, "elsewhere");
    let after_one = PurseState {
        last_seq: 1,
        last_hash: honest[0].hash(),
        spent: honest[0].fields().cumulative,
        purse_id: fx.certificate.purse_id(),
    };
    let (_, fork) = prepare_next(&fx.certificate, &after_one, &fx.payer_device, &request, NOW).unwrap();
    let s = settle_purse(&fx.certificate, &[honest[0].clone(), honest[1].clone(), fork.clone()], None).unwrap();
    assert_eq!(s.payable.len(), 3);
    assert_eq!(s.fraud.len(), 1);
    let FraudProof::SameSequence { first, second } = &s.fraud[0] else { panic!("{:?}", s.fraud) };
    let mut pair = [first.hash(), second.hash()];
    pair.sort();
    let mut expected = [honest[1].hash(), fork.hash()];
    expected.sort();
    assert_eq!(pair, expected);
    // Both signed notes of the proof verify: the proof stands on its own.
    assert!(first.verify_device_signature().is_ok() && second.verify_device_signature().is_ok());
    assert_eq!(s.fraud[0].code(), "same_sequence");
}

#[test]
fn broken_chain_and_close_violations_are_proven() {
    let fx = Fixture::new();
    let (state, notes) = chain(&fx, &[1_000, 2_000]);
    let mut fields = *notes[1].fields();
    fields.prev_hash = Hash256::from_bytes([3; 32]);
    let relinked = PaymentNote::sign(fx.certificate.clone(), fields, &fx.payer_device).unwrap();
    let s = settle_purse(&fx.certificate, &[notes[0].clone(), relinked.clone()], None).unwrap();
    assert_eq!(s.fraud.len(), 1);
    assert!(
        matches!(&s.fraud[0], FraudProof::BrokenChain { earlier, later } if *earlier == notes[0] && *later == relinked)
    );

    // Close after note 1, then note 2 turns up: beyond the close statement.
    let after_one =
        PurseState { last_seq: 1, last_hash: notes[0].hash(), spent: notes[0].fields().cumulative, ..state };
    let close = after_one.close(&fx.certificate, &fx.payer_device, NOW).unwrap();
    let s = settle_purse(&fx.certificate, &notes, Some(&close)).unwrap();
    assert_eq!(s.fraud.len(), 1);
    assert!(matches!(&s.fraud[0], FraudProof::BeyondClose { note, .. } if *note == notes[1]));
}

#[test]
fn refuses_notes_no_payee_should_have_accepted() {
    let fx = Fixture::new();
    let (_, notes) = chain(&fx, &[1_000]);
    let thief = PaymentNote::sign(fx.certificate.clone(), *notes[0].fields(), &signing_key("thief")).unwrap();
    let other_cert = fx.certificate_with(&fx.issuer, |f| f.purse_id = PurseId::from_bytes([5; 16]));
    let other = PaymentNote::sign(other_cert, *notes[0].fields(), &fx.payer_device).unwrap();
    let s = settle_purse(&fx.certificate, &[thief, other, notes[0].clone()], None).unwrap();
    assert_eq!(s.payable, notes);
    let reasons: Vec<_> = s.rejected.iter().map(|(_, r)| r.code()).collect();
    assert_eq!(reasons, ["bad_device_signature", "wrong_purse"]);
    // A close statement by another device is refused as a whole.
    let forged = PurseState::new(&fx.certificate);
    let bad = CloseStatement::sign(
        CloseFields {
            purse_id: forged.purse_id,
            last_seq: 0,
            last_hash: forged.last_hash,
            total_spent: Amount::ZERO,
            time: NOW,
        },
        &signing_key("thief"),
    )
    .unwrap();
    assert_eq!(settle_purse(&fx.certificate, &notes, Some(&bad)).unwrap_err(), RejectReason::BadDeviceSignature);
}

#[test]
fn payments_beyond_the_reserve_are_reported_uncovered() {
    let fx = Fixture::new();
    // Two full forks of the purse: 10 notes of 20,000 each.
    let (_, a) = chain(&fx, &[20_000; 10]);
    let fx_b = Fixture { payee: AccountId(4004), ..fx.clone() };
    let (_, b) = chain(&fx_b, &[20_000; 10]);
    let all: Vec<_> = a.iter().chain(b.iter()).cloned().collect();
    let s = settle_purse(&fx.certificate, &all, None).unwrap();
    assert_eq!(s.payable.len(), 20);
    assert_eq!((s.covered.minor(), s.uncovered.minor()), (200_000, 200_000));
    assert_eq!(s.fraud.iter().filter(|p| p.code() == "same_sequence").count(), 10);
    assert!(
        crypto::verify_strict_many(
            &s.payable
                .iter()
                .map(|n| (&n.certificate().fields().device_key, n.signed_bytes(), n.signature()))
                .collect::<Vec<_>>()
                .iter()
                .map(|(k, m, sig)| (*k, m.as_slice(), *sig))
                .collect::<Vec<_>>(),
            [7; 32]
        )
        .iter()
        .all(|ok| *ok)
    );
}
