//! Device keys that every verifier judges the same (docs/PROTOCOL.md, sections 2 and 7).
//!
//! Strict verification (`verify_strict`, the cofactorless equation) and cofactored verification
//! disagree only on signatures whose R or key has a small-order (torsion) component. Honest
//! signers never make such keys. [`check_device_key`] admits exactly the keys on which every
//! correct verifier agrees: a canonical encoding of a point in the prime-order subgroup. The
//! server refuses any other key when a device is registered or a purse is loaded, and a payer
//! refuses a payment request naming one. Pure: no I/O.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::VerifyingKey;

/// Why a 32-byte string is not acceptable as a device public key. Each has a stable code
/// ([`DeviceKeyError::code`]) and a sentence for people (its `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceKeyError {
    #[error("the device key is not a point of the Ed25519 curve")]
    NotAPoint,
    #[error("the device key is not the canonical encoding of its curve point")]
    NonCanonical,
    #[error("the device key is a point of small order, which would match forged signatures")]
    SmallOrder,
    #[error("the device key has a small-order component (mixed order), on whose signatures Ed25519 verifiers disagree")]
    MixedOrder,
}

impl DeviceKeyError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            DeviceKeyError::NotAPoint => "not_a_point",
            DeviceKeyError::NonCanonical => "non_canonical",
            DeviceKeyError::SmallOrder => "small_order",
            DeviceKeyError::MixedOrder => "mixed_order",
        }
    }
}

/// Accepts `bytes` as a device public key when they are the canonical encoding (re-compressing
/// the point gives the same 32 bytes) of a point of prime order ℓ: not of small order
/// ([8]A ≠ O) and without a torsion component ([ℓ]A = O). Checked in that order; the first
/// failure is the error.
pub fn check_device_key(bytes: &[u8; 32]) -> Result<VerifyingKey, DeviceKeyError> {
    let point = CompressedEdwardsY(*bytes).decompress().ok_or(DeviceKeyError::NotAPoint)?;
    if point.compress().to_bytes() != *bytes {
        return Err(DeviceKeyError::NonCanonical);
    }
    if point.is_small_order() {
        return Err(DeviceKeyError::SmallOrder);
    }
    if !point.is_torsion_free() {
        return Err(DeviceKeyError::MixedOrder);
    }
    VerifyingKey::from_bytes(bytes).map_err(|_| DeviceKeyError::NotAPoint)
}

#[cfg(test)]
mod tests {
    use super::{DeviceKeyError, check_device_key};
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;

    #[test]
    fn prime_order_keys_pass_and_every_torsion_is_caught() {
        let a = ED25519_BASEPOINT_POINT * Scalar::from(123_456_789u64);
        let ok = check_device_key(&a.compress().to_bytes());
        assert_eq!(ok.map(|k| k.to_bytes()), Ok(a.compress().to_bytes()));
        for (i, t) in EIGHT_TORSION.iter().enumerate() {
            assert_eq!(
                check_device_key(&t.compress().to_bytes()).err(),
                Some(DeviceKeyError::SmallOrder),
                "torsion {i}"
            );
            if i > 0 {
                let mixed = (a + t).compress().to_bytes();
                assert_eq!(check_device_key(&mixed).err(), Some(DeviceKeyError::MixedOrder), "a + torsion {i}");
            }
        }
    }

    #[test]
    fn non_canonical_and_non_points_are_refused() {
        // y = p + 1 (the identity with y not reduced), and x = 0 with the sign bit set.
        let mut y_over_p = [0xffu8; 32];
        y_over_p[31] = 0x7f;
        y_over_p[0] = 0xee;
        assert_eq!(check_device_key(&y_over_p).err(), Some(DeviceKeyError::NonCanonical));
        let mut signed_identity = [0u8; 32];
        signed_identity[0] = 1;
        signed_identity[31] = 0x80;
        assert_eq!(check_device_key(&signed_identity).err(), Some(DeviceKeyError::NonCanonical));
        // y = 2 is not the y of any curve point.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert_eq!(check_device_key(&two).err(), Some(DeviceKeyError::NotAPoint));
        assert_eq!(DeviceKeyError::MixedOrder.code(), "mixed_order");
    }
}
