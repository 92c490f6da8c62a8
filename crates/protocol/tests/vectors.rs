//! The shared test vectors (`testdata/protocol-vectors.json`): the file must equal what the
//! generator makes now, and every vector must decode, verify and check exactly as it says,
//! the way another implementation (the web wallet) will use it.
#![allow(clippy::unwrap_used, clippy::panic)]

mod vectors_gen;

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use offpay_protocol::*;
use serde_json::Value;
use sha2::{Digest, Sha512};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/protocol-vectors.json");

fn load() -> Value {
    let text = std::fs::read_to_string(PATH).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn key(v: &Value) -> VerifyingKey {
    VerifyingKey::from_bytes(&bytes(v).try_into().unwrap()).unwrap()
}

#[test]
fn file_matches_the_generator() {
    let expected = vectors_gen::generate();
    if std::env::var_os("OFFPAY_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, format!("{}\n", serde_json::to_string_pretty(&expected).unwrap())).unwrap();
    }
    assert!(load() == expected, "testdata/protocol-vectors.json is stale: run `{}`", vectors_gen::GENERATOR);
}

struct Ctx {
    now: UnixTime,
    keys: IssuerKeys,
    me: AccountNumber,
    requests: Vec<OpenRequest>,
    revocations: Revocations,
    tally: Option<PurseTally>,
    certificate: Option<PurseCertificate>,
    card: Option<ShopCard>,
    seen_nonces: std::collections::BTreeSet<Nonce>,
    window: u64,
    currency: CurrencyCode,
    seen_entries: std::collections::BTreeSet<u64>,
    max_age: u64,
}

fn context(c: &Value) -> Ctx {
    let keys = c["issuer_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let key = IssuerKey::new(
                key(&k["public_key"]),
                k["not_before"].as_u64().unwrap(),
                k["not_after"].as_u64().unwrap(),
            );
            assert_eq!(key.key_id.to_hex(), k["key_id"].as_str().unwrap());
            key
        })
        .collect::<Vec<_>>();
    let mut revocations = Revocations::default();
    for p in c["revoked_purses"].as_array().unwrap() {
        revocations.purses.insert(serde_json::from_value(p.clone()).unwrap());
    }
    for d in c["revoked_devices"].as_array().unwrap() {
        revocations.devices.insert(bytes(d).try_into().unwrap());
    }
    let mut tally: Option<PurseTally> = None;
    for n in c["accepted_before"].as_array().unwrap() {
        let note = PaymentNote::decode(&bytes(n)).unwrap();
        let f = note.fields();
        let t = tally.get_or_insert_with(|| PurseTally::new(note.purse_id()));
        t.notes.insert(
            f.seq,
            TallyEntry { hash: note.hash(), prev_hash: f.prev_hash, cumulative: f.cumulative, amount: f.amount },
        );
    }
    Ctx {
        now: c["now"].as_u64().unwrap(),
        keys: IssuerKeys::new(keys).unwrap(),
        me: AccountNumber(c["me"].as_u64().unwrap()),
        requests: serde_json::from_value(c["open_requests"].clone()).unwrap(),
        revocations,
        tally,
        certificate: c["certificate"].as_str().map(|h| PurseCertificate::decode(&hex::decode(h).unwrap()).unwrap()),
        card: c["card"].as_str().map(|h| ShopCard::decode(&hex::decode(h).unwrap()).unwrap()),
        seen_nonces: serde_json::from_value(c["seen_nonces"].clone()).unwrap(),
        window: c["window"].as_u64().unwrap(),
        currency: CurrencyCode::parse(c["currency"].as_str().unwrap()).unwrap(),
        seen_entries: serde_json::from_value(c["seen_entries"].clone()).unwrap(),
        max_age: c["max_age"].as_u64().unwrap(),
    }
}

/// Decodes (bytes and text, which must agree), then runs the kind's check. Returns the
/// outcome code ("ok", a reject reason, or "malformed/<decode error>") and, when decoding
/// worked, the re-encoding, signed bytes and signature.
/// Re-encoding, signed bytes and signature of a decoded object.
type Decoded = (Vec<u8>, Vec<u8>, [u8; 64]);

fn check(kind: &str, encoded: &[u8], text: &str, ctx: &Ctx) -> (String, Option<Decoded>) {
    fn run<T: Encoded + PartialEq + std::fmt::Debug>(encoded: &[u8], text: &str) -> Result<T, DecodeError> {
        let from_bytes = T::decode(encoded);
        let from_text = T::from_text(text);
        assert_eq!(from_bytes, from_text, "bytes and text decode differently");
        from_bytes
    }
    let outcome = |r: Result<(), RejectReason>| r.map_or_else(|e| e.code().to_string(), |()| "ok".to_string());
    macro_rules! go {
        ($t:ty, $verify:expr) => {
            match run::<$t>(encoded, text) {
                Err(e) => (format!("malformed/{}", e.code()), None),
                Ok(obj) => {
                    let verify: &dyn Fn(&$t) -> Result<(), RejectReason> = &$verify;
                    (outcome(verify(&obj)), Some((obj.encode(), obj.signed_bytes(), obj.signature().to_bytes())))
                }
            }
        };
    }
    let ctx_ref = ctx;
    match kind {
        "purse_certificate" => go!(PurseCertificate, |c: &PurseCertificate| c.verify(&ctx_ref.keys, ctx_ref.now)),
        "payment_request" => go!(PaymentRequest, |r: &PaymentRequest| r.verify(ctx_ref.now)),
        "payment_note" if ctx_ref.card.is_some() => go!(PaymentNote, |n: &PaymentNote| {
            let card_ctx = CardAcceptContext {
                card: ctx_ref.card.as_ref().unwrap(),
                seen_nonces: &ctx_ref.seen_nonces,
                window: ctx_ref.window,
                issuer_keys: &ctx_ref.keys,
                revocations: &ctx_ref.revocations,
                now: ctx_ref.now,
            };
            accept_card_note(n, ctx_ref.tally.as_ref(), &card_ctx).map(|_| ())
        }),
        "payment_note" => go!(PaymentNote, |n: &PaymentNote| {
            let accept_ctx = AcceptContext {
                me: ctx_ref.me,
                open_requests: &ctx_ref.requests,
                issuer_keys: &ctx_ref.keys,
                revocations: &ctx_ref.revocations,
                now: ctx_ref.now,
            };
            accept_note(n, ctx_ref.tally.as_ref(), &accept_ctx).map(|_| ())
        }),
        "purse_close" => go!(CloseStatement, |c: &CloseStatement| c.verify(ctx_ref.certificate.as_ref().unwrap())),
        "shop_card" => go!(ShopCard, |c: &ShopCard| c.verify()),
        "receipt" => go!(Receipt, |r: &Receipt| {
            r.check(&ReceiptContext {
                me: ctx_ref.me,
                currency: ctx_ref.currency,
                card_prefix: ctx_ref.card.as_ref().unwrap().nonce_prefix(),
                issuer_keys: &ctx_ref.keys,
                seen_entries: &ctx_ref.seen_entries,
                now: ctx_ref.now,
                max_age: ctx_ref.max_age,
            })
        }),
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn every_vector_checks_as_stated() {
    let file = load();
    let vectors = file["vectors"].as_array().unwrap();
    let mut per_kind = std::collections::BTreeMap::<(String, bool), usize>::new();
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let kind = v["kind"].as_str().unwrap();
        let valid = v["valid"].as_bool().unwrap();
        *per_kind.entry((kind.to_string(), valid)).or_default() += 1;
        let encoded = bytes(&v["encoded"]);
        assert_eq!(hex::encode(sha2::Sha256::digest(&encoded)), v["sha256"].as_str().unwrap(), "{name}: sha256");
        let ctx = context(&v["context"]);
        let (got, decoded) = check(kind, &encoded, v["text"].as_str().unwrap(), &ctx);
        let expected = match (v["reason"].as_str(), v["decode_error"].as_str()) {
            (None, _) => "ok".to_string(),
            (Some("malformed"), Some(e)) => format!("malformed/{e}"),
            (Some(r), None) => r.to_string(),
            (Some(r), Some(e)) => panic!("{name}: reason {r} with decode_error {e}"),
        };
        assert_eq!(got, expected, "{name}");
        assert_eq!(valid, expected == "ok", "{name}: valid flag");
        let signer = key(&v["signer_public_key"]);
        let signed = bytes(&v["signed_bytes"]);
        let signature = Signature::from_bytes(&bytes(&v["signature"]).try_into().unwrap());
        if let Some((reencoded, signed_bytes, sig)) = decoded {
            assert_eq!(reencoded, encoded, "{name}: decode then encode differs");
            assert_eq!(signed_bytes, signed, "{name}: signed_bytes");
            assert_eq!(sig, signature.to_bytes(), "{name}: signature");
            assert!(
                signed.ends_with(&encoded[..encoded.len() - 64]),
                "{name}: signed bytes = domain || encoding - signature"
            );
        }
        // The signature is acceptable exactly when the vector is not about a bad signature:
        // it verifies strictly and, on a request, the payee device key passes the device-key
        // check (section 7).
        let bad_sig = matches!(
            v["reason"].as_str(),
            Some(
                "bad_issuer_signature"
                    | "bad_device_signature"
                    | "bad_request_signature"
                    | "bad_card_signature"
                    | "bad_receipt_signature"
            )
        );
        let device_signed = kind == "payment_request" || kind == "shop_card";
        let key_ok = !device_signed || check_device_key(signer.as_bytes()).is_ok();
        assert_eq!(signer.verify_strict(&signed, &signature).is_ok() && key_ok, !bad_sig, "{name}: verify_strict");
    }
    for kind in Kind::ALL {
        let valid = per_kind.get(&(kind.name().to_string(), true)).copied().unwrap_or(0);
        let invalid = per_kind.get(&(kind.name().to_string(), false)).copied().unwrap_or(0);
        assert!(valid >= 1 && invalid >= 3, "{}: {valid} valid, {invalid} invalid", kind.name());
    }
}

fn vector<'a>(file: &'a Value, name: &str) -> &'a Value {
    file["vectors"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap()
}

/// The torsion vector really is one: cofactored verification ([8](sB - kA - R) = 0) accepts
/// it, R is not of small order, and only the cofactorless strict check refuses it.
#[test]
fn torsion_vector_is_accepted_by_cofactored_verification_only() {
    let file = load();
    let v = vector(&file, "note_torsion_signature");
    let sig = bytes(&v["signature"]);
    let a_bytes = bytes(&v["signer_public_key"]);
    let msg = bytes(&v["signed_bytes"]);
    let r = CompressedEdwardsY::from_slice(&sig[..32]).unwrap().decompress().unwrap();
    let a = CompressedEdwardsY::from_slice(&a_bytes).unwrap().decompress().unwrap();
    let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
    let k = Scalar::from_hash(Sha512::new().chain_update(&sig[..32]).chain_update(&a_bytes).chain_update(&msg));
    let residue = curve25519_dalek::EdwardsPoint::mul_base(&s) - a * k - r;
    assert!(!residue.is_identity(), "cofactorless equation must fail");
    assert!(residue.mul_by_cofactor().is_identity(), "cofactored equation must hold");
    assert!(!r.is_small_order() && !r.is_torsion_free());
    let key = key(&v["signer_public_key"]);
    let signature = Signature::from_bytes(&sig.try_into().unwrap());
    assert!(key.verify_strict(&msg, &signature).is_err());
}

/// The small-order key vector is accepted by non-strict verification, refused by strict.
#[test]
fn small_order_key_vector_needs_strict_verification() {
    use ed25519_dalek::Verifier;
    let file = load();
    let v = vector(&file, "note_small_order_device_key");
    let key = key(&v["signer_public_key"]);
    let msg = bytes(&v["signed_bytes"]);
    let signature = Signature::from_bytes(&bytes(&v["signature"]).try_into().unwrap());
    assert!(key.is_weak());
    assert!(key.verify(&msg, &signature).is_ok(), "non-strict verification accepts");
    assert!(key.verify_strict(&msg, &signature).is_err());
}

/// The mixed-order request vector: the signature alone passes `verify_strict`; only the
/// device-key check refuses the request.
#[test]
fn mixed_order_request_vector_is_refused_by_the_key_check_only() {
    let file = load();
    let v = vector(&file, "request_mixed_order_device_key");
    let key = key(&v["signer_public_key"]);
    let signature = Signature::from_bytes(&bytes(&v["signature"]).try_into().unwrap());
    assert!(key.verify_strict(&bytes(&v["signed_bytes"]), &signature).is_ok());
    assert_eq!(check_device_key(key.as_bytes()).err(), Some(DeviceKeyError::MixedOrder));
    assert_eq!(v["fields"]["payee_device_key"], v["signer_public_key"]);
}

/// Every device-key vector: `check_device_key` gives `error`; where there is a signature,
/// strict verification, the cofactored equation and "R is torsion-free" give what it says. And
/// the file has what section 12 promises: an acceptable key, a mixed-order key with a signature
/// `verify_strict` accepts (and one it refuses that cofactored verification accepts), a
/// small-order key, non-canonical encodings.
#[test]
fn device_key_vectors_check_as_stated() {
    let file = load();
    let entries = file["device_keys"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for v in entries {
        let name = v["name"].as_str().unwrap();
        let pk: [u8; 32] = bytes(&v["public_key"]).try_into().unwrap();
        let error = check_device_key(&pk).err().map(|e| e.code().to_string());
        assert_eq!(error.as_deref(), v["error"].as_str(), "{name}: check_device_key");
        let mut tag = error.unwrap_or_else(|| "ok".into());
        if let Some(sig) = v["signature"].as_str() {
            let sig: [u8; 64] = hex::decode(sig).unwrap().try_into().unwrap();
            let d = vectors_gen::device_key_vectors::verdicts(&pk, &bytes(&v["message"]), &sig).unwrap();
            assert_eq!(d.strict, v["verify_strict"].as_bool().unwrap(), "{name}: verify_strict");
            assert_eq!(d.cofactored, v["cofactored"].as_bool().unwrap(), "{name}: cofactored");
            assert_eq!(d.torsion_free_r, v["torsion_free_r"].as_bool().unwrap(), "{name}: torsion-free R");
            tag = format!("{tag}/strict={}/cofactored={}", d.strict, d.cofactored);
        }
        seen.insert(tag);
    }
    for wanted in [
        "ok/strict=true/cofactored=true",
        "mixed_order/strict=true/cofactored=true",
        "mixed_order/strict=false/cofactored=true",
        "small_order/strict=false/cofactored=true",
        "small_order",
        "non_canonical",
        "not_a_point",
    ] {
        assert!(seen.contains(wanted), "no device-key vector {wanted}: {seen:?}");
    }
}

/// The mixed-order card vector, like the request one: only the device-key check refuses it.
#[test]
fn mixed_order_card_vector_is_refused_by_the_key_check_only() {
    let file = load();
    let v = vector(&file, "card_mixed_order_device_key");
    let key = key(&v["signer_public_key"]);
    let signature = Signature::from_bytes(&bytes(&v["signature"]).try_into().unwrap());
    assert!(key.verify_strict(&bytes(&v["signed_bytes"]), &signature).is_ok());
    assert_eq!(check_device_key(key.as_bytes()).err(), Some(DeviceKeyError::MixedOrder));
    assert_eq!(v["fields"]["shop_device_key"], v["signer_public_key"]);
}

/// The longest shop card (32-byte handle, 48-byte name) fits a small printed QR code, and the
/// card notes really were made for the card: their nonce starts with its prefix.
#[test]
fn card_vectors_fit_a_qr_code_and_card_notes_carry_the_prefix() {
    assert_eq!(ShopCard::MAX_LEN, 199);
    let longest_text = 5 + ShopCard::MAX_LEN.div_ceil(2) * 3 - (ShopCard::MAX_LEN % 2);
    println!("shop card: at most {} bytes, {longest_text} text characters", ShopCard::MAX_LEN);
    // QR version 9 at level L holds 335 alphanumeric characters; version 10 at level M, 311.
    assert!(longest_text <= 311, "{longest_text}");
    let file = load();
    let v = vector(&file, "card_note_valid");
    let prefix = v["context"]["card"].as_str().map(|h| ShopCard::decode(&hex::decode(h).unwrap()).unwrap()).unwrap();
    assert!(v["fields"]["nonce"].as_str().unwrap().starts_with(&hex::encode(prefix.nonce_prefix())));
}

#[test]
fn first_note_vector_fits_one_qr_code() {
    let file = load();
    let v = vector(&file, "note_first_valid");
    let len = bytes(&v["encoded"]).len();
    println!("note_first_valid: {len} bytes, {} text characters", v["text"].as_str().unwrap().len());
    assert!(len <= 320);
}
