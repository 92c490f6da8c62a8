//! The `device_keys` part of `testdata/protocol-vectors.json`: public keys with the verdict of
//! `check_device_key` (docs/PROTOCOL.md section 2), some with a signature and what strict and
//! cofactored verification say about it (section 7). Deterministic, like the rest of the file.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::Signer;
use offpay_protocol::testkit::{MixedOrderKey, signing_key};
use offpay_protocol::{Signature, VerifyingKey, check_device_key};
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

/// The message every signed device-key vector signs.
pub const MESSAGE: &[u8] = b"offpay device key vector";

/// What a verifier computes from (key, message, signature): strict verification, the
/// cofactored equation `[8](s·B − k·A − R) = O` (ZIP-215 style: S < ℓ, points decode, no
/// small-order check), and whether R is torsion-free. None when the bytes do not decode.
pub struct Verdicts {
    pub strict: bool,
    pub cofactored: bool,
    pub torsion_free_r: bool,
}

pub fn verdicts(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Option<Verdicts> {
    let key = VerifyingKey::from_bytes(public_key).ok()?;
    let strict = key.verify_strict(message, &Signature::from_bytes(signature)).is_ok();
    let a = CompressedEdwardsY(*public_key).decompress()?;
    let r_bytes: [u8; 32] = signature[..32].try_into().ok()?;
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(signature[32..].try_into().ok()?))?;
    let k = Scalar::from_hash(Sha512::new().chain_update(r_bytes).chain_update(public_key).chain_update(message));
    let residue = curve25519_dalek::EdwardsPoint::mul_base(&s) - a * k - r;
    Some(Verdicts { strict, cofactored: residue.mul_by_cofactor().is_identity(), torsion_free_r: r.is_torsion_free() })
}

fn entry(name: &str, description: &str, public_key: [u8; 32], signature: Option<[u8; 64]>) -> Value {
    let error = check_device_key(&public_key).err().map(|e| e.code());
    let mut v = json!({
        "name": name,
        "description": description,
        "public_key": hex::encode(public_key),
        "error": error,
    });
    if let Some(sig) = signature {
        let Some(d) = verdicts(&public_key, MESSAGE, &sig) else {
            panic!("device key vector {name}: the signature does not decode");
        };
        v["message"] = json!(hex::encode(MESSAGE));
        v["signature"] = json!(hex::encode(sig));
        v["verify_strict"] = json!(d.strict);
        v["cofactored"] = json!(d.cofactored);
        v["torsion_free_r"] = json!(d.torsion_free_r);
    }
    v
}

/// Bytes with `low` as byte 0 and `high` as byte 31, the rest `fill`.
fn bytes(low: u8, fill: u8, high: u8) -> [u8; 32] {
    let mut b = [fill; 32];
    b[0] = low;
    b[31] = high;
    b
}

/// The device-key vectors.
pub fn generate() -> Vec<Value> {
    let honest = signing_key("payer-device");
    let mixed = MixedOrderKey::new("device-key-vector");
    let identity = bytes(1, 0, 0);
    let mut identity_sig = [0u8; 64];
    identity_sig[0] = 1;
    vec![
        entry(
            "device_key_valid",
            "an honest device key (the payer device) and its signature",
            honest.verifying_key().to_bytes(),
            Some(honest.sign(MESSAGE).to_bytes()),
        ),
        entry(
            "device_key_mixed_order_strict_accepts",
            "A = aB + T (T of order 8); R = rB + tT with t = -k mod 8: verify_strict and cofactored verification accept, a check that R is torsion-free refuses",
            mixed.public_bytes(),
            Some(mixed.sign_strict(MESSAGE)),
        ),
        entry(
            "device_key_mixed_order_cofactored_only",
            "the same key; R = rB (torsion-free), k not 0 mod 8: cofactored verification accepts, verify_strict refuses",
            mixed.public_bytes(),
            Some(mixed.sign_cofactored_only(MESSAGE)),
        ),
        entry(
            "device_key_small_order_identity",
            "the identity point with R = identity, s = 0: cofactored and plain cofactorless verification accept for any message, verify_strict refuses",
            identity,
            Some(identity_sig),
        ),
        entry("device_key_small_order_8", "a point of order 8", EIGHT_TORSION[1].compress().to_bytes(), None),
        entry(
            "device_key_non_canonical_y",
            "y = p + 1 (the identity with y not reduced mod p)",
            bytes(0xee, 0xff, 0x7f),
            None,
        ),
        entry(
            "device_key_non_canonical_sign",
            "the identity (x = 0) with the sign bit of x set",
            bytes(1, 0, 0x80),
            None,
        ),
        entry("device_key_not_a_point", "y = 2 is the y of no curve point", bytes(2, 0, 0), None),
    ]
}
