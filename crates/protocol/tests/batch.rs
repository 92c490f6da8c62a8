//! Batch verification accepts exactly what `verify_strict` accepts, on honest signatures and on
//! every kind of malformed or torsion-carrying one, alone, in pairs, and mixed into big batches;
//! and plain `ed25519_dalek::verify_batch` really would be fooled by the torsion cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use offpay_protocol::batch::{Item, verify_strict_many};
use offpay_protocol::testkit::signing_key;
use sha2::{Digest, Sha512};

/// A key pair given by its scalar, so that torsion can be added to the public point.
struct RawKey {
    a: Scalar,
    public: EdwardsPoint,
}

impl RawKey {
    fn new(label: &str, torsion: Option<usize>) -> RawKey {
        let a = Scalar::from_hash(Sha512::new().chain_update(label.as_bytes()));
        let public = ED25519_BASEPOINT_POINT * a + torsion.map_or(EdwardsPoint::default(), |t| EIGHT_TORSION[t]);
        RawKey { a, public }
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.public.compress().to_bytes()).unwrap()
    }

    /// s = r + k·a with R = r·B + T (T = EIGHT_TORSION[r_torsion], or none).
    fn sign(&self, message: &[u8], r_torsion: Option<usize>) -> Signature {
        let r = Scalar::from_hash(Sha512::new().chain_update(self.a.as_bytes()).chain_update(message));
        let big_r = ED25519_BASEPOINT_POINT * r + r_torsion.map_or(EdwardsPoint::default(), |t| EIGHT_TORSION[t]);
        let big_r = big_r.compress();
        let k = challenge(&big_r.to_bytes(), &self.public.compress().to_bytes(), message);
        let s = r + k * self.a;
        signature(big_r.to_bytes(), s.to_bytes())
    }
}

fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    Scalar::from_hash(Sha512::new().chain_update(r).chain_update(a).chain_update(message))
}

fn signature(r: [u8; 32], s: [u8; 32]) -> Signature {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&r);
    bytes[32..].copy_from_slice(&s);
    Signature::from_bytes(&bytes)
}

struct Case {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
}

fn strict(c: &Case) -> bool {
    c.key.verify_strict(&c.message, &c.signature).is_ok()
}

fn batch(cases: &[Case], seed: u8) -> Vec<bool> {
    let items: Vec<Item<'_>> = cases.iter().map(|c| (&c.key, c.message.as_slice(), &c.signature)).collect();
    verify_strict_many(&items, [seed; 32])
}

fn assert_agrees(cases: &[Case]) {
    let expected: Vec<bool> = cases.iter().map(strict).collect();
    for seed in 0..3 {
        assert_eq!(batch(cases, seed), expected, "seed {seed}");
    }
}

fn honest(i: usize) -> Case {
    let key: SigningKey = signing_key(&format!("honest-{}", i % 7));
    let message = format!("note {i}").into_bytes();
    Case { key: key.verifying_key(), signature: key.sign(&message), message }
}

/// Every kind of signature `verify_strict` refuses (and one mixed-key kind it may accept).
fn malformed(i: usize) -> Vec<Case> {
    let mut out = Vec::new();
    let base = honest(i);
    // A flipped bit in R, in s, in the message.
    for byte in [0usize, 17, 40, 63] {
        let mut bytes = base.signature.to_bytes();
        bytes[byte] ^= 1 << (i % 8);
        out.push(Case { key: base.key, message: base.message.clone(), signature: Signature::from_bytes(&bytes) });
    }
    let mut message = base.message.clone();
    message.push(b'!');
    out.push(Case { key: base.key, message, signature: base.signature });
    // s = s + l (non-canonical s, same value mod l).
    let sig = base.signature.to_bytes();
    let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
    let mut wide = [0u8; 32];
    let mut carry = 0u16;
    // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    for k in 0..32 {
        let v = u16::from(s.as_bytes()[k]) + u16::from(l[k]) + carry;
        wide[k] = v as u8;
        carry = v >> 8;
    }
    out.push(Case {
        key: base.key,
        message: base.message.clone(),
        signature: signature(sig[..32].try_into().unwrap(), wide),
    });
    // Torsion in R: cofactored verification accepts these, strict refuses them.
    let raw = RawKey::new(&format!("raw-{i}"), None);
    for t in [1usize, 2, 4, 6] {
        let message = format!("torsion {i} {t}").into_bytes();
        out.push(Case { key: raw.verifying_key(), signature: raw.sign(&message, Some(t)), message });
    }
    // Small-order R (the order-4 point) with any s.
    let message = format!("small {i}").into_bytes();
    out.push(Case {
        key: raw.verifying_key(),
        signature: signature(EIGHT_TORSION[2].compress().to_bytes(), [0; 32]),
        message,
    });
    // A small-order key.
    let message = format!("small key {i}").into_bytes();
    out.push(Case {
        key: VerifyingKey::from_bytes(&EIGHT_TORSION[1].compress().to_bytes()).unwrap(),
        signature: signature(ED25519_BASEPOINT_POINT.compress().to_bytes(), [0; 32]),
        message,
    });
    // Non-canonical R: y + p for a point whose y is tiny (y = 2 might not decompress; try a few).
    for y in 2u8..40 {
        let mut enc = [0xffu8; 32];
        enc[31] = 0x7f;
        enc[0] = 0xed + y; // y + p, wraps for y < 19
        if y < 19
            && let Some(_) = curve25519_dalek::edwards::CompressedEdwardsY(enc).decompress()
        {
            out.push(Case {
                key: base.key,
                message: base.message.clone(),
                signature: signature(enc, sig[32..].try_into().unwrap()),
            });
            break;
        }
    }
    // A key with an order-2 component: strict accepts exactly when k is even.
    let mixed = RawKey::new(&format!("mixed-{i}"), Some(4));
    for n in 0..4 {
        let message = format!("mixed {i} {n}").into_bytes();
        out.push(Case { key: mixed.verifying_key(), signature: mixed.sign(&message, None), message });
    }
    out
}

#[test]
fn honest_batches_all_pass() {
    let cases: Vec<Case> = (0..300).map(honest).collect();
    assert!(batch(&cases, 1).iter().all(|ok| *ok));
}

#[test]
fn each_malformed_kind_alone_agrees_with_strict() {
    let cases = malformed(3);
    let expected: Vec<bool> = cases.iter().map(strict).collect();
    assert!(expected.iter().filter(|ok| !**ok).count() >= 12, "{expected:?}");
    assert!(expected.iter().any(|ok| *ok), "some mixed-key signature is strictly valid");
    for c in &cases {
        assert_agrees(std::slice::from_ref(c));
        // And each one alone among honest signatures, on the batched path.
        let mut mixed: Vec<Case> = (0..80).map(honest).collect();
        mixed.insert(40, Case { key: c.key, message: c.message.clone(), signature: c.signature });
        assert_agrees(&mixed);
    }
}

#[test]
fn malformed_signatures_mixed_into_honest_batches_agree_with_strict() {
    for round in 0..6 {
        let mut cases: Vec<Case> = (0..200).map(|i| honest(i + round * 1000)).collect();
        let bad = malformed(round);
        // Spread the bad ones through the batch, sometimes two torsion notes side by side.
        for (k, c) in bad.into_iter().enumerate() {
            let at = (k * 37 + round * 11) % cases.len();
            cases.insert(at, c);
        }
        assert_agrees(&cases);
    }
}

#[test]
fn pairs_of_order_two_torsion_signatures_are_refused() {
    // Two signatures whose defects are the same order-2 point: any coefficients z1, z2 of equal
    // parity cancel them in a plain random combination.
    let raw = RawKey::new("pair", None);
    let cases: Vec<Case> = (0..2)
        .map(|n| {
            let message = format!("pair {n}").into_bytes();
            Case { key: raw.verifying_key(), signature: raw.sign(&message, Some(4)), message }
        })
        .chain((0..100).map(honest))
        .collect();
    assert_agrees(&cases);
    assert_eq!(batch(&cases, 9)[..2], [false, false]);
}

/// The reason for the torsion checks: ed25519-dalek's plain `verify_batch` accepts a batch
/// holding a signature `verify_strict` refuses, for some inputs (here found by trying
/// messages), and `verify_strict_many` refuses that same signature.
#[test]
fn plain_verify_batch_is_fooled_where_ours_is_not() {
    let raw = RawKey::new("fooled", None);
    let mut fooled = None;
    for n in 0..200 {
        let message = format!("grind {n}").into_bytes();
        let case = Case { key: raw.verifying_key(), signature: raw.sign(&message, Some(4)), message };
        assert!(!strict(&case));
        let honest_one = honest(n);
        let messages: Vec<&[u8]> = vec![&case.message, &honest_one.message];
        if ed25519_dalek::verify_batch(&messages, &[case.signature, honest_one.signature], &[case.key, honest_one.key])
            .is_ok()
        {
            fooled = Some(vec![case, honest_one]);
            break;
        }
    }
    let mut cases = fooled.expect("an order-2 defect survives a random combination about half the time");
    assert_eq!(batch(&cases, 5), vec![false, true]);
    // The same signature inside a batch big enough for the batched path.
    cases.extend((1000..1100).map(honest));
    let results = batch(&cases, 5);
    assert!(!results[0] && results[1..].iter().all(|ok| *ok));
}
