//! The server's settlement rule: payable notes in order, duplicates, refused notes, and fraud
//! proofs (same sequence, broken chain, beyond the close statement) carrying both signed objects.
#![allow(clippy::unwrap_used, clippy::panic)]

use offpay_protocol::testkit::{Fixture, NOW, signing_key};
use offpay_protocol::*;

#[test]
fn honest_chain_in_any_order_with_duplicates() {
    let fx = Fixture::new();
    let (state, notes) = fx.chain(&[1_000, 2_000, 3_000]);
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
    let (_, honest) = fx.chain(&[1_000, 2_000]);
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
    let (state, notes) = fx.chain(&[1_000, 2_000]);
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
    let (_, notes) = fx.chain(&[1_000]);
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
    let (_, a) = fx.chain(&[20_000; 10]);
    let fx_b = Fixture { payee: AccountNumber(4004), ..fx.clone() };
    let (_, b) = fx_b.chain(&[20_000; 10]);
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

/// Notes of `k` copies of the purse at sequence numbers 1 to 3, some copies linking to other
/// copies' notes: every note inconsistent with a neighbour is in a `broken_chain` or
/// `same_sequence` proof, as in a listing of every inconsistent pair, with about `k` proofs per
/// sequence number instead of `k²` (a forked purse must not make settlement quadratic).
#[test]
fn a_purse_forked_many_times_gives_proofs_linear_in_the_forks_naming_every_inconsistent_note() {
    use rand::{Rng, SeedableRng};
    let fx = Fixture::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (round, k) in [2usize, 3, 5, 40].into_iter().enumerate() {
        let mut notes: Vec<PaymentNote> = Vec::new();
        let mut previous: Vec<PaymentNote> = Vec::new();
        for seq in 1..=3u32 {
            let mut here = Vec::new();
            for copy in 0..k {
                let amount = rng.random_range(1..=3u64);
                let (prev_hash, before) = match previous.get(rng.random_range(0..k.max(1))) {
                    Some(p) if seq > 1 => (p.hash(), p.fields().cumulative.minor() + rng.random_range(0..=1u64)),
                    _ if seq > 1 => (Hash256::from_bytes([copy as u8; 32]), 10),
                    _ => (fx.certificate.hash(), 0),
                };
                let fields = NoteFields {
                    seq,
                    prev_hash,
                    cumulative: Amount::from_minor(before + amount).unwrap(),
                    amount: Amount::from_minor(amount).unwrap(),
                    payee: AccountNumber(2002),
                    nonce: Nonce::from_bytes(testkit::bytes16(&format!("{round}-{seq}-{copy}"))),
                    time: NOW,
                };
                here.push(PaymentNote::sign(fx.certificate.clone(), fields, &fx.payer_device).unwrap());
            }
            notes.extend(here.iter().cloned());
            previous = here;
        }
        let s = settle_purse(&fx.certificate, &notes, None).unwrap();
        // What every inconsistent pair of neighbours would name.
        let entry = |n: &PaymentNote| {
            let f = n.fields();
            TallyEntry { hash: n.hash(), prev_hash: f.prev_hash, cumulative: f.cumulative, amount: f.amount }
        };
        let mut expected = std::collections::BTreeSet::new();
        for a in notes.iter().filter(|n| n.seq() < 3) {
            for b in notes.iter().filter(|n| n.seq() == a.seq() + 1) {
                if !accept::consistent(a.seq(), &entry(a), b.seq(), &entry(b)) {
                    expected.insert(a.hash());
                    expected.insert(b.hash());
                }
            }
        }
        let mut named = std::collections::BTreeSet::new();
        for proof in s.fraud.iter().filter(|p| p.code() == "broken_chain") {
            let FraudProof::BrokenChain { earlier, later } = proof else { unreachable!() };
            assert!(!accept::consistent(earlier.seq(), &entry(earlier), later.seq(), &entry(later)));
            named.insert(earlier.hash());
            named.insert(later.hash());
        }
        assert_eq!(named, expected, "k = {k}");
        // Same sequence: k - 1 proofs per number; broken chain: at most 2k per neighbouring pair.
        assert_eq!(s.fraud.iter().filter(|p| p.code() == "same_sequence").count(), 3 * (k - 1));
        assert!(s.fraud.len() <= 3 * (k - 1) + 2 * 2 * k, "k = {k}: {} proofs", s.fraud.len());
    }
}
