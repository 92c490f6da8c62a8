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
//! 4. the batch equation over the rest (the one ed25519-dalek's `verify_batch` checks, with
//!    secret random 128-bit coefficients, and each distinct key's terms summed into one); a
//!    failing batch is split in halves until the bad items are found, small groups with
//!    `verify_strict`.
//!
//! This is the standard batch equation, computed with curve25519-dalek's multiscalar
//! multiplication, plus standard subgroup checks; nothing here is new cryptography. Figures: docs/PERFORMANCE.md, "Settlement".

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha512};

use crate::crypto::verify_strict;

/// Number of random subset sums that check the R points for torsion (one bit of a `u64` each).
pub const TORSION_SKETCHES: usize = 64;

/// Below this many items a failing group is checked one by one instead of split further.
const SPLIT_BELOW: usize = 8;

/// Fewer items (or prechecked items) than this are checked one by one: the torsion sketches cost about as
/// much as 30 strict verifications whatever the batch size, and batching saves a little over
/// half a verification per item (`examples/batch_costs.rs`).
const BATCH_FROM: usize = 64;

/// One signature to check: key, message, signature.
pub type Item<'a> = (&'a VerifyingKey, &'a [u8], &'a Signature);

/// Verifies many signatures; result `i` equals `verify_strict` of item `i` (see the module
/// docs for the argument and its error bounds). `seed` must be fresh secret randomness (32 bytes
/// from the operating system): it chooses the torsion sketches.
pub fn verify_strict_many(items: &[Item<'_>], seed: [u8; 32]) -> Vec<bool> {
    if items.len() < BATCH_FROM {
        return items.iter().map(|(key, message, signature)| verify_strict(key, message, signature)).collect();
    }
    let mut ok = vec![false; items.len()];
    let mut keys: HashMap<[u8; 32], KeyClass> = HashMap::new();
    let mut batch: Vec<Prepared> = Vec::with_capacity(items.len());
    let mut one_by_one: Vec<usize> = Vec::new();
    for (i, (key, _, signature)) in items.iter().enumerate() {
        match precheck(key, signature, &mut keys) {
            Precheck::Refused => {}
            Precheck::OneByOne => one_by_one.push(i),
            Precheck::Batch { r, s, key } => batch.push(Prepared { index: i, r, s, key }),
        }
    }
    let mut rng = StdRng::from_seed(seed);
    if batch.len() >= BATCH_FROM && all_torsion_free(&batch, &mut rng) {
        check_group(items, &batch, &mut rng, &mut ok);
    } else {
        one_by_one.extend(batch.iter().map(|p| p.index));
    }
    for i in one_by_one {
        let (key, message, signature) = items[i];
        ok[i] = verify_strict(key, message, signature);
    }
    ok
}

/// An item that passed the prechecks, with its decoded parts.
struct Prepared {
    index: usize,
    r: EdwardsPoint,
    s: Scalar,
    key: EdwardsPoint,
}

#[derive(Clone, Copy)]
enum KeyClass {
    /// Small order: `verify_strict` refuses every signature.
    SmallOrder,
    /// Has a torsion component: check its signatures one by one.
    Mixed,
    /// In the prime-order subgroup (the decoded point).
    TorsionFree(EdwardsPoint),
}

// Returned by value once per item and consumed at once: boxing the big variant would only add
// an allocation per signature.
#[allow(clippy::large_enum_variant)]
enum Precheck {
    Refused,
    OneByOne,
    Batch { r: EdwardsPoint, s: Scalar, key: EdwardsPoint },
}

fn precheck(key: &VerifyingKey, signature: &Signature, keys: &mut HashMap<[u8; 32], KeyClass>) -> Precheck {
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes())) else {
        return Precheck::Refused;
    };
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
            KeyClass::TorsionFree(point)
        } else {
            KeyClass::Mixed
        }
    });
    match class {
        KeyClass::SmallOrder => Precheck::Refused,
        KeyClass::Mixed => Precheck::OneByOne,
        KeyClass::TorsionFree(key) => Precheck::Batch { r, s, key },
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

/// Random subset sums of the R points, each checked for a torsion component. Points go in
/// blocks of four: the 15 non-empty sums of a block are built once (11 additions), then each
/// sketch adds the one its four random bits pick, about 18 additions per point instead of 32.
fn all_torsion_free(batch: &[Prepared], rng: &mut StdRng) -> bool {
    let mut sums = [EdwardsPoint::identity(); TORSION_SKETCHES];
    for block in batch.chunks(4) {
        let mut table = [EdwardsPoint::identity(); 16];
        for m in 1..(1usize << block.len()) {
            let low = m.trailing_zeros() as usize;
            let rest = m & (m - 1);
            table[m] = if rest == 0 { block[low].r } else { table[rest] + block[low].r };
        }
        let present = (1u64 << block.len()) - 1;
        let mut bits = [0u64; TORSION_SKETCHES / 16];
        for word in &mut bits {
            *word = rng.next_u64();
        }
        for (j, sum) in sums.iter_mut().enumerate() {
            let pick = (bits[j / 16] >> (4 * (j % 16))) & present;
            if pick != 0 {
                *sum += table[pick as usize];
            }
        }
    }
    sums.iter().all(is_torsion_free)
}

/// `[ℓ]P = O`, computed as `[ℓ−1]P + P` with variable-time arithmetic (the points are public).
fn is_torsion_free(p: &EdwardsPoint) -> bool {
    (EdwardsPoint::vartime_double_scalar_mul_basepoint(&-Scalar::ONE, p, &Scalar::ZERO) + p).is_identity()
}

/// The batch equation over `group` (prechecked: torsion-free R and keys): with random 128-bit
/// zᵢ, `Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ − (Σ zᵢsᵢ)B = O` where kᵢ = SHA-512(R ‖ A ‖ M) mod ℓ, the equation
/// ed25519-dalek's `verify_batch` checks, with each distinct key's coefficients summed so a key
/// is one term. On failure, the halves are checked again with fresh coefficients; small groups
/// one by one with `verify_strict`.
fn check_group(items: &[Item<'_>], group: &[Prepared], rng: &mut StdRng, ok: &mut [bool]) {
    if group.len() < SPLIT_BELOW {
        for p in group {
            let (key, message, signature) = items[p.index];
            ok[p.index] = verify_strict(key, message, signature);
        }
        return;
    }
    if equation_holds(items, group, rng) {
        for p in group {
            ok[p.index] = true;
        }
        return;
    }
    let (left, right) = group.split_at(group.len() / 2);
    check_group(items, left, rng, ok);
    check_group(items, right, rng, ok);
}

fn equation_holds(items: &[Item<'_>], group: &[Prepared], rng: &mut StdRng) -> bool {
    let mut scalars: Vec<Scalar> = Vec::with_capacity(group.len() + 16);
    let mut points: Vec<EdwardsPoint> = Vec::with_capacity(group.len() + 16);
    let mut key_terms: HashMap<[u8; 32], usize> = HashMap::new();
    let mut key_scalars: Vec<Scalar> = Vec::new();
    let mut key_points: Vec<EdwardsPoint> = Vec::new();
    let mut base = Scalar::ZERO;
    for p in group {
        let (key, message, signature) = items[p.index];
        let k = Scalar::from_hash(
            Sha512::new().chain_update(signature.r_bytes()).chain_update(key.as_bytes()).chain_update(message),
        );
        let z = Scalar::from(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
        base += z * p.s;
        scalars.push(z);
        points.push(p.r);
        let term = *key_terms.entry(key.to_bytes()).or_insert_with(|| {
            key_scalars.push(Scalar::ZERO);
            key_points.push(p.key);
            key_points.len() - 1
        });
        key_scalars[term] += z * k;
    }
    scalars.push(-base);
    points.push(ED25519_BASEPOINT_POINT);
    scalars.extend(key_scalars);
    points.extend(key_points);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

#[cfg(test)]
mod tests {
    use super::{Prepared, all_torsion_free, is_canonical_y};
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The sketches pass prime-order points and catch any torsion, also when two order-2
    /// components would cancel in a plain sum, for many seeds and in every block position.
    #[test]
    fn sketches_find_torsion_in_any_position() {
        let prepared = |r: EdwardsPoint| Prepared { index: 0, r, s: Scalar::ZERO, key: ED25519_BASEPOINT_POINT };
        let points: Vec<EdwardsPoint> = (0..101u64).map(|i| ED25519_BASEPOINT_POINT * Scalar::from(i + 1)).collect();
        let batch = |pts: &[EdwardsPoint]| pts.iter().map(|p| prepared(*p)).collect::<Vec<_>>();
        for seed in 0..20u8 {
            let rng = || StdRng::from_seed([seed; 32]);
            assert!(all_torsion_free(&batch(&points), &mut rng()));
            let mut one = points.clone();
            one[usize::from(seed) * 5] += EIGHT_TORSION[4];
            assert!(!all_torsion_free(&batch(&one), &mut rng()));
            let mut two = one.clone();
            two[100 - usize::from(seed)] += EIGHT_TORSION[4];
            assert!(!all_torsion_free(&batch(&two), &mut rng()));
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
