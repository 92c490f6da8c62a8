//! What the pieces of batch verification cost on this machine, on one core: strict and plain
//! batch verification, point decompression, the torsion checks and point additions that
//! `offpay_protocol::batch` is built from (the figures behind its design, docs/PERFORMANCE.md).
//!
//! `cargo run --release -p offpay-protocol --example batch_costs`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::time::Instant;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use ed25519_dalek::{Signer, VerifyingKey};
use offpay_protocol::testkit::signing_key;

fn per(label: &str, n: usize, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    println!("{label:40} {:8.2} µs each", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}

fn main() {
    let n = 4096;
    let keys: Vec<_> = (0..n / 64).map(|i| signing_key(&format!("k{i}"))).collect();
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("message {i} {}", "x".repeat(200)).into_bytes()).collect();
    let sigs: Vec<_> = (0..n).map(|i| keys[i % keys.len()].sign(&msgs[i])).collect();
    let vks: Vec<VerifyingKey> = (0..n).map(|i| keys[i % keys.len()].verifying_key()).collect();
    per("verify_strict", n, || {
        for i in 0..n {
            assert!(vks[i].verify_strict(&msgs[i], &sigs[i]).is_ok());
        }
    });
    for b in [16usize, 64, 256, 1024, 4096] {
        per(&format!("verify_batch n={b}"), n, || {
            for c in 0..n / b {
                let r = c * b..(c + 1) * b;
                let m: Vec<&[u8]> = msgs[r.clone()].iter().map(|m| m.as_slice()).collect();
                ed25519_dalek::verify_batch(&m, &sigs[r.clone()], &vks[r]).unwrap();
            }
        });
    }
    let rs: Vec<_> =
        sigs.iter().map(|s| curve25519_dalek::edwards::CompressedEdwardsY(s.r_bytes().to_owned())).collect();
    let mut pts = Vec::new();
    per("decompress R", n, || pts = rs.iter().map(|r| r.decompress().unwrap()).collect::<Vec<EdwardsPoint>>());
    per("compress R", n, || {
        for p in &pts {
            std::hint::black_box(p.compress());
        }
    });
    per("is_small_order", n, || {
        for p in &pts {
            assert!(!p.is_small_order());
        }
    });
    per("is_torsion_free", n, || {
        for p in &pts {
            assert!(p.is_torsion_free());
        }
    });
    per("point add", n, || {
        let mut acc = EdwardsPoint::default();
        for p in &pts {
            acc += p;
        }
        std::hint::black_box(acc);
    });
    torsion_checks(&pts[..512]);
    let ones: Vec<Scalar> = (0..n).map(|i| Scalar::from(1u64 + (i as u64 % 7))).collect();
    per("MSM small scalars per point", n, || {
        std::hint::black_box(EdwardsPoint::vartime_multiscalar_mul(&ones, &pts));
    });
    let big: Vec<Scalar> = (0..n).map(|i| Scalar::from(u128::MAX - i as u128)).collect();
    per("MSM 128-bit scalars per point", n, || {
        std::hint::black_box(EdwardsPoint::vartime_multiscalar_mul(&big, &pts));
    });
}

fn torsion_checks(pts: &[EdwardsPoint]) {
    let n = pts.len();
    per("vartime [l-1]P + P == O", n, || {
        for p in pts {
            let q = EdwardsPoint::vartime_multiscalar_mul([-Scalar::ONE], [*p]) + p;
            assert!(curve25519_dalek::traits::IsIdentity::is_identity(&q));
        }
    });
    per("vartime_double_scalar_mul_basepoint(l-1, P, 0) + P", n, || {
        for p in pts {
            let q = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-Scalar::ONE, p, &Scalar::ZERO) + p;
            assert!(curve25519_dalek::traits::IsIdentity::is_identity(&q));
        }
    });
}
