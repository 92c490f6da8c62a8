//! Batch verification of Ed25519 signatures that accepts exactly what `verify_strict` accepts.
//!
//! ed25519-dalek's `verify_batch` checks one random linear combination of the cofactorless
//! equations `s·B = R + k·A`. When every R and every key lies in the prime-order subgroup,
//! each equation's defect `s·B − k·A − R` does too, and the combination vanishes only if every
//! defect is zero (up to ~2⁻¹²⁸): the batch then accepts exactly what `verify_strict` accepts.
//! A torsion component breaks that: a signer can make R = r·B + T so that the defect is the
//! small-order point −T, which a random 128-bit coefficient cancels with probability up to 1/2
//! (and dalek derives its coefficients from the inputs, so a signer can search for a batch that
//! passes). `verify_strict` refuses such a signature; so must we.
//!
//! So, for every item, in order:
//! 1. the checks `verify_strict` makes before its equation, with the same outcome: `s` canonical
//!    (below the group order), R a canonical encoding of a curve point (strict compares the
//!    recomputed R, always canonical, with the given bytes), R and the key not of small order;
//! 2. keys with a torsion component (never made by honest signers) are checked one by one with
//!    `verify_strict`; every other key is checked torsion-free once per call;
//! 3. all remaining R points are checked torsion-free together with [`TORSION_SKETCHES`] random
//!    subset sums: the torsion part of a subset sum is the sum of the members' torsion parts,
//!    and a random subset misses a non-zero torsion vector with probability at most 1/2, so 64
//!    independent subsets miss it with probability at most 2⁻⁶⁴ (each subset sum then costs one
//!    `is_torsion_free`). The subsets come from the caller's secret `seed`, so an attacker cannot
//!    aim at them. If a sketch finds torsion, every item falls back to `verify_strict`;
//! 4. `verify_batch` over the rest; a failing batch is split in halves until the bad items are
//!    found, small groups with `verify_strict`.
//!
//! This is the standard batch equation from an established crate plus standard subgroup checks;
//! nothing here is new cryptography. Figures: docs/PERFORMANCE.md, "Settlement".

use std::collections::HashMap;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::crypto::verify_strict;

/// Number of random subset sums that check the R points for torsion (one bit of a `u64` each).
pub const TORSION_SKETCHES: usize = 64;

/// Below this many items a failing group is checked one by one instead of split further.
const SPLIT_BELOW: usize = 8;

/// One signature to check: key, message, signature.
pub type Item<'a> = (&'a VerifyingKey, &'a [u8], &'a Signature);

/// Verifies many signatures; result `i` equals `verify_strict` of item `i` (see the module
/// docs for the argument and its error bounds). `seed` must be fresh secret randomness (32 bytes
/// from the operating system): it chooses the torsion sketches.
pub fn verify_strict_many(items: &[Item<'_>], seed: [u8; 32]) -> Vec<bool> {
    let mut ok = vec![false; items.len()];
    let mut keys: HashMap<[u8; 32], KeyClass> = HashMap::new();
    let mut batch: Vec<(usize, EdwardsPoint)> = Vec::with_capacity(items.len());
    let mut one_by_one: Vec<usize> = Vec::new();
    for (i, (key, _, signature)) in items.iter().enumerate() {
        match precheck(key, signature, &mut keys) {
            Precheck::Refused => {}
            Precheck::OneByOne => one_by_one.push(i),
            Precheck::Batch(r) => batch.push((i, r)),
        }
    }
    if !batch.is_empty() {
        if all_torsion_free(&batch, seed) {
            let indices: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
            check_group(items, &indices, &mut ok);
        } else {
            one_by_one.extend(batch.iter().map(|(i, _)| *i));
        }
    }
    for i in one_by_one {
        let (key, message, signature) = items[i];
        ok[i] = verify_strict(key, message, signature);
    }
    ok
}

#[derive(Clone, Copy)]
enum KeyClass {
    /// Small order: `verify_strict` refuses every signature.
    SmallOrder,
    /// Has a torsion component: check its signatures one by one.
    Mixed,
    /// In the prime-order subgroup.
    TorsionFree,
}

enum Precheck {
    Refused,
    OneByOne,
    Batch(EdwardsPoint),
}

fn precheck(key: &VerifyingKey, signature: &Signature, keys: &mut HashMap<[u8; 32], KeyClass>) -> Precheck {
    if Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes())).is_none() {
        return Precheck::Refused;
    }
    let r_bytes = signature.r_bytes();
    if !is_canonical_y(r_bytes) {
        return Precheck::Refused;
    }
    let Some(r) = CompressedEdwardsY(*r_bytes).decompress() else {
        return Precheck::Refused;
    };
    if r.is_small_order() {
        return Precheck::Refused;
    }
    let class = *keys.entry(key.to_bytes()).or_insert_with(|| {
        let point = key.to_edwards();
        if point.is_small_order() {
            KeyClass::SmallOrder
        } else if point.is_torsion_free() {
            KeyClass::TorsionFree
        } else {
            KeyClass::Mixed
        }
    });
    match class {
        KeyClass::SmallOrder => Precheck::Refused,
        KeyClass::Mixed => Precheck::OneByOne,
        KeyClass::TorsionFree => Precheck::Batch(r),
    }
}

/// True when the 32-byte Edwards encoding's y coordinate (bit 255 is the sign of x) is below
/// p = 2²⁵⁵ − 19. (Decompression reduces a larger y modulo p, so such bytes name a point whose
/// own encoding differs: `verify_strict` can never match them.) The other non-canonical
/// encodings, x = 0 with the sign bit set, are the points y = ±1, both of small order.
pub fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    // y >= p exactly when bits 0..255 are all ones except possibly in the low byte, which
    // is then at least 0xed (p's low byte).
    let top = bytes[31] & 0x7f;
    !(top == 0x7f && bytes[1..31].iter().all(|b| *b == 0xff) && bytes[0] >= 0xed)
}

/// Random subset sums of the R points, each checked for a torsion component.
fn all_torsion_free(batch: &[(usize, EdwardsPoint)], seed: [u8; 32]) -> bool {
    let mut rng = StdRng::from_seed(seed);
    let mut sums = [EdwardsPoint::default(); TORSION_SKETCHES];
    for (_, r) in batch {
        let mut mask = rng.next_u64();
        while mask != 0 {
            let bit = mask.trailing_zeros() as usize;
            sums[bit] += r;
            mask &= mask - 1;
        }
    }
    sums.iter().all(EdwardsPoint::is_torsion_free)
}

/// `verify_batch` over `group` (all prechecked, torsion-free R and keys); on failure, halves.
fn check_group(items: &[Item<'_>], group: &[usize], ok: &mut [bool]) {
    if group.len() < SPLIT_BELOW {
        for &i in group {
            let (key, message, signature) = items[i];
            ok[i] = verify_strict(key, message, signature);
        }
        return;
    }
    let messages: Vec<&[u8]> = group.iter().map(|&i| items[i].1).collect();
    let signatures: Vec<Signature> = group.iter().map(|&i| *items[i].2).collect();
    let keys: Vec<VerifyingKey> = group.iter().map(|&i| *items[i].0).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        for &i in group {
            ok[i] = true;
        }
        return;
    }
    let (left, right) = group.split_at(group.len() / 2);
    check_group(items, left, ok);
    check_group(items, right, ok);
}

#[cfg(test)]
mod tests {
    use super::{all_torsion_free, is_canonical_y};
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;

    /// The sketches pass prime-order points and catch any torsion, also when two order-2
    /// components would cancel in a plain sum, for many seeds.
    #[test]
    fn sketches_find_torsion_in_any_position() {
        let points: Vec<(usize, EdwardsPoint)> =
            (0..100u64).map(|i| (i as usize, ED25519_BASEPOINT_POINT * Scalar::from(i + 1))).collect();
        for seed in 0..20u8 {
            assert!(all_torsion_free(&points, [seed; 32]));
            let mut one = points.clone();
            one[usize::from(seed) * 3].1 += EIGHT_TORSION[4];
            assert!(!all_torsion_free(&one, [seed; 32]));
            let mut two = one.clone();
            two[99 - usize::from(seed)].1 += EIGHT_TORSION[4];
            assert!(!all_torsion_free(&two, [seed; 32]));
        }
    }

    /// The cheap canonical test agrees with "decompress, then compress gives the same y" for
    /// every y near p and near 0, with and without the sign bit, wherever a point decompresses.
    #[test]
    fn canonical_y_matches_round_trip() {
        let mut cases: Vec<[u8; 32]> = Vec::new();
        for low in 0u8..=255 {
            let mut near_p = [0xffu8; 32];
            near_p[31] = 0x7f;
            near_p[0] = low;
            cases.push(near_p);
            let mut signed = near_p;
            signed[31] |= 0x80;
            cases.push(signed);
            let mut small = [0u8; 32];
            small[0] = low;
            cases.push(small);
            let mut small_signed = small;
            small_signed[31] = 0x80;
            cases.push(small_signed);
        }
        let mut checked = 0;
        for bytes in cases {
            if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                // The y part survives the round trip exactly when it was canonical.
                let again = point.compress().to_bytes();
                let same_y = again[..31] == bytes[..31] && again[31] & 0x7f == bytes[31] & 0x7f;
                assert_eq!(is_canonical_y(&bytes), same_y, "{bytes:02x?}");
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} cases decompressed");
    }
}
