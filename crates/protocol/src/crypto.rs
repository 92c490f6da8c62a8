//! The only cryptography offpay uses, in one place: SHA-256 digests, issuer key ids, and
//! Ed25519 signatures checked with `verify_strict` (which refuses small-order keys, small-order
//! R and non-canonical encodings, and does the cofactorless check, so a signature with a
//! torsion component is refused; see docs/PROTOCOL.md). The batch form of that check, which
//! accepts exactly the same signatures, is in [`crate::batch`]. Which device keys are acceptable
//! at all (no small-order component, so that every correct verifier agrees on their signatures)
//! is [`check_device_key`], in [`crate::device_key`].

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ids::{Hash256, KeyId};

pub use crate::device_key::{DeviceKeyError, check_device_key};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash256 {
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    Hash256::from_bytes(out)
}

/// An issuer key id: the first 4 bytes of SHA-256 of the 32-byte public key.
pub fn key_id(public_key: &VerifyingKey) -> KeyId {
    let digest = sha256(public_key.as_bytes());
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest.as_bytes()[..4]);
    KeyId::from_bytes(id)
}

/// Strict Ed25519 verification (RFC 8032 with ed25519-dalek's `verify_strict` rules).
pub fn verify_strict(public_key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    public_key.verify_strict(message, signature).is_ok()
}

/// Verifies many signatures; result `i` is exactly `verify_strict` of item `i`. Batched, with
/// the torsion checks that make a batch agree with `verify_strict`: see [`crate::batch`].
/// `seed`: 32 fresh random bytes from the caller (this crate does no I/O).
pub fn verify_strict_many(items: &[crate::batch::Item<'_>], seed: [u8; 32]) -> Vec<bool> {
    crate::batch::verify_strict_many(items, seed)
}

pub(crate) fn sign(key: &SigningKey, message: &[u8]) -> Signature {
    key.sign(message)
}
