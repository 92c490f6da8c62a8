//! The protocol's Ed25519 verifiers over outside test vectors: every Wycheproof Ed25519 test
//! (valid ones verify, invalid ones are refused, by `crypto::verify_strict` and by the batch
//! verifier), and the 12 cases of "Taming the many EdDSAs" (their stated conditions recomputed
//! from the bytes; what strict verification, the batch verifier and the device-key check say of
//! each). `testdata/ed25519-verify-vectors.json`, which the web wallet's tests read, must equal
//! what the generator makes now.
#![allow(clippy::unwrap_used, clippy::panic)]

mod ed25519_vectors_gen;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::Signer;
use ed25519_vectors_gen::{Case, device_key_error, parsed, strict, taming_cases, taming_file, wycheproof_cases};
use offpay_protocol::batch::{Item, verify_strict_many};
use offpay_protocol::testkit::signing_key;
use offpay_protocol::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

#[test]
fn wycheproof_valid_vectors_verify_and_invalid_ones_are_refused() {
    let cases = wycheproof_cases();
    let (mut valid, mut invalid) = (0, 0);
    for c in &cases {
        let ok = strict(c);
        match c.expected {
            Some("valid") => {
                assert!(ok, "tcId {} ({}) must verify", c.id, c.comment);
                valid += 1;
            }
            Some("invalid") => {
                assert!(!ok, "tcId {} ({}, {:?}) must be refused", c.id, c.comment, c.flags);
                invalid += 1;
            }
            // No "acceptable" test in this version of the data; one would have to be judged
            // against docs/PROTOCOL.md section 7 and asserted here case by case.
            other => panic!("tcId {}: result {other:?} is not asserted yet", c.id),
        }
    }
    println!("wycheproof Ed25519: {valid} valid verified, {invalid} invalid refused");
    assert_eq!(valid + invalid, cases.len());
    assert!(valid >= 80 && invalid >= 60, "{valid} valid, {invalid} invalid: the data set shrank");
}

/// `n` honest signatures to put around the cases, so that the batch path (64 items or more)
/// really runs.
fn honest(n: usize) -> Vec<(VerifyingKey, Vec<u8>, Signature)> {
    (0..n)
        .map(|i| {
            let key = signing_key(&format!("vector-batch-{}", i % 5));
            let message = format!("honest {i}").into_bytes();
            (key.verifying_key(), message.clone(), key.sign(&message))
        })
        .collect()
}

/// Batch-verifies `owned` with several seeds and asserts the results equal strict verification.
fn assert_batch_agrees(owned: &[(VerifyingKey, Vec<u8>, Signature)], what: &str) {
    let items: Vec<Item<'_>> = owned.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
    let expected: Vec<bool> = owned.iter().map(|(k, m, s)| offpay_protocol::crypto::verify_strict(k, m, s)).collect();
    for seed in 0..3u8 {
        assert_eq!(verify_strict_many(&items, [seed; 32]), expected, "{what}, seed {seed}");
    }
}

/// Each case alone among 70 honest signatures, then all cases together with them.
fn batch_agrees_on(cases: &[Case], source: &str) {
    let usable: Vec<(VerifyingKey, Vec<u8>, Signature)> =
        cases.iter().filter_map(|c| parsed(c).map(|(k, s)| (k, c.message.clone(), s))).collect();
    for (i, item) in usable.iter().enumerate() {
        let mut owned = honest(70);
        owned.insert(i % 70, item.clone());
        assert_batch_agrees(&owned, &format!("{source} case {i} among honest signatures"));
    }
    let mut all = honest(70);
    all.extend(usable.iter().cloned());
    assert_batch_agrees(&all, &format!("all {source} cases with honest signatures"));
    assert_batch_agrees(&usable, &format!("all {source} cases alone"));
}

#[test]
fn batch_verification_agrees_with_strict_on_wycheproof() {
    let cases = wycheproof_cases();
    batch_agrees_on(&cases, "wycheproof");
    // The valid ones alone: enough for the batch equation itself to run (no fallback).
    let valid: Vec<(VerifyingKey, Vec<u8>, Signature)> = cases
        .iter()
        .filter(|c| c.expected == Some("valid"))
        .map(|c| parsed(c).map(|(k, s)| (k, c.message.clone(), s)).unwrap())
        .collect();
    assert!(valid.len() >= 64);
    let items: Vec<Item<'_>> = valid.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
    assert!(verify_strict_many(&items, [7; 32]).iter().all(|ok| *ok));
}

/// What a case's bytes are, computed: S's range, the orders of A and R (decoded as
/// curve25519-dalek decodes, which accepts the non-canonical encodings), the cofactored and
/// cofactorless equations with k over the bytes as given, and the cofactorless equation with k
/// over the canonical re-encodings of R and A.
#[derive(Debug, PartialEq)]
struct Computed {
    s: &'static str,
    a_order: &'static str,
    r_order: &'static str,
    cofactored: bool,
    cofactorless: bool,
    cofactorless_reencoded: bool,
}

fn order(p: &EdwardsPoint) -> &'static str {
    if p.is_small_order() {
        "small"
    } else if p.is_torsion_free() {
        "L"
    } else {
        "mixed"
    }
}

fn compute(c: &Case) -> Computed {
    let point = |b: &[u8]| CompressedEdwardsY::from_slice(b).unwrap().decompress().unwrap();
    let (a, r) = (point(&c.public_key), point(&c.signature[..32]));
    let s_bytes: [u8; 32] = c.signature[32..].try_into().unwrap();
    let canonical = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes));
    let s = match canonical {
        Some(s) if s == Scalar::ZERO => "S = 0",
        Some(_) => "0 < S < L",
        // S >= L: "S >> L" when it does not even fit in 253 bits.
        None if s_bytes[31] >> 5 == 0 => "S > L",
        None => "S >> L",
    };
    // S·B with S unreduced equals S mod L times B (B has order L).
    let sb = EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(s_bytes));
    let k = |r_bytes: &[u8], a_bytes: &[u8]| {
        Scalar::from_hash(Sha512::new().chain_update(r_bytes).chain_update(a_bytes).chain_update(&c.message))
    };
    let k_given = k(&c.signature[..32], &c.public_key);
    let k_reencoded = k(r.compress().as_bytes(), a.compress().as_bytes());
    Computed {
        s,
        a_order: order(&a),
        r_order: order(&r),
        cofactored: (sb - r - a * k_given).mul_by_cofactor().is_identity(),
        cofactorless: (sb - r - a * k_given).is_identity(),
        cofactorless_reencoded: (sb - r - a * k_reencoded).is_identity(),
    }
}

/// Per case: the file's conditions must hold, then what this protocol says. "Strict" is
/// `crypto::verify_strict`; "key" is `check_device_key` of A.
#[test]
fn taming_cases_are_as_the_paper_says_and_strict_refuses_all_but_case_3() {
    let file = taming_file();
    let described = file["cases"].as_array().unwrap();
    let cases = taming_cases();
    assert_eq!(cases.len(), 12);
    // (strict verification accepts, check_device_key error)
    let expected: [(bool, Option<&str>); 12] = [
        (false, Some("small_order")),   // 0: S = 0, A and R small order
        (false, Some("small_order")),   // 1: A small order
        (false, Some("mixed_order")),   // 2: R small order
        (true, Some("mixed_order")),    // 3: A and R mixed, both equations hold: strict accepts, the key is refused
        (false, Some("mixed_order")),   // 4: only the cofactored equation holds
        (false, Some("mixed_order")),   // 5: only the cofactored equation holds
        (false, None),                  // 6: S > L
        (false, None),                  // 7: S >> L
        (false, Some("mixed_order")),   // 8: R non-canonical and small order
        (false, Some("mixed_order")),   // 9: R non-canonical and small order
        (false, Some("non_canonical")), // 10: A non-canonical and small order
        (false, Some("non_canonical")), // 11: A non-canonical and small order
    ];
    for (i, (c, d)) in cases.iter().zip(described).enumerate() {
        let got = compute(c);
        assert_eq!(got.s, d["s"].as_str().unwrap(), "case {i}: S");
        assert_eq!(got.a_order, d["a_order"].as_str().unwrap(), "case {i}: A");
        assert_eq!(got.r_order, d["r_order"].as_str().unwrap(), "case {i}: R");
        match (d["cofactored_equation"].as_str(), d["cofactorless_equation"].as_str()) {
            (Some(co), Some(less)) => {
                assert_eq!(got.cofactored, co.starts_with("ok"), "case {i}: cofactored equation");
                assert_eq!(got.cofactorless, less.starts_with("ok"), "case {i}: cofactorless equation");
            }
            _ => {
                // Non-canonical R or A: the equation holds for exactly one way of hashing it.
                let note = d["note"].as_str().unwrap();
                let given = note.contains("hashed as given");
                assert_eq!(got.cofactorless, given, "case {i}: cofactorless with the bytes as given");
                assert_eq!(got.cofactorless_reencoded, !given, "case {i}: cofactorless with re-encoded points");
            }
        }
        assert_eq!((strict(c), device_key_error(c)), expected[i], "case {i}: strict verification, device key check");
    }
}

#[test]
fn batch_verification_agrees_with_strict_on_taming() {
    batch_agrees_on(&taming_cases(), "taming");
}

#[test]
fn export_file_matches_the_generator() {
    if std::env::var_os("OFFPAY_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&ed25519_vectors_gen::generate()).unwrap();
        std::fs::write(ed25519_vectors_gen::EXPORT_PATH, format!("{text}\n")).unwrap();
    }
    let text = std::fs::read_to_string(ed25519_vectors_gen::EXPORT_PATH).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        file == ed25519_vectors_gen::generate(),
        "testdata/ed25519-verify-vectors.json is stale: run `{}`",
        ed25519_vectors_gen::GENERATOR
    );
}
