//! Deterministic fixtures for tests, benchmarks, the test-vector generator and other crates'
//! tests: keys derived from fixed labels, a certificate, requests and an acceptance context.
//! Never use these keys for real money: their seeds are public.

// Fixture data is fixed and valid; a failure here is a broken test, so panicking is right.
#![allow(clippy::panic)]

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha512};

use crate::accept::{AcceptContext, OpenRequest};
use crate::certificate::{CertificateFields, PurseCertificate};
use crate::crypto::sha256;
use crate::ids::{AccountNumber, CurrencyCode, Nonce, PurseId, UnixTime};
use crate::keys::{IssuerKey, IssuerKeys, Revocations};
use crate::note::PaymentNote;
use crate::purse::{PurseState, prepare_next};
use crate::request::{PaymentRequest, RequestFields};
use crate::shop_card::{CardFields, ShopCard, ShopName};
use crate::{Amount, Handle};

/// 2026-01-01T00:00:00Z: the "now" of every fixture.
pub const NOW: UnixTime = 1_767_225_600;
pub const DAY: UnixTime = 86_400;

/// The 32-byte seed of a fixture key: SHA-256 of `"offpay-testkit/" + label`.
pub fn seed(label: &str) -> [u8; 32] {
    sha256(format!("offpay-testkit/{label}").as_bytes()).to_bytes()
}

/// A signing key from [`seed`].
pub fn signing_key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&seed(label))
}

/// 16 bytes from a label (purse ids, nonces).
pub fn bytes16(label: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&sha256(label.as_bytes()).as_bytes()[..16]);
    out
}

/// `minor` as an Amount; panics above [`Amount::MAX`] (fixtures only).
pub fn amount(minor: u64) -> Amount {
    Amount::from_minor(minor).unwrap_or(Amount::MAX)
}

/// A payer with a loaded purse, a payee, and the issuer that certified the purse.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub issuer: SigningKey,
    pub issuer_keys: IssuerKeys,
    pub payer: AccountNumber,
    pub payer_device: SigningKey,
    pub payee: AccountNumber,
    pub payee_device: SigningKey,
    pub certificate: PurseCertificate,
    pub now: UnixTime,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    /// Purse of 2,000.00 INR with a 200.00 cap, valid from 1 hour before [`NOW`] for 30 days;
    /// issuer key valid for a year either side of [`NOW`].
    pub fn new() -> Fixture {
        let issuer = signing_key("issuer-1");
        let issuer_keys = IssuerKeys::new([IssuerKey::new(issuer.verifying_key(), NOW - 365 * DAY, NOW + 365 * DAY)])
            .unwrap_or_default();
        let payer_device = signing_key("payer-device");
        let fields = CertificateFields {
            purse_id: PurseId::from_bytes(bytes16("purse-1")),
            account: AccountNumber(1001),
            device_key: payer_device.verifying_key(),
            currency: CurrencyCode::INR,
            amount: amount(200_000),
            per_payment_cap: amount(20_000),
            valid_from: NOW - 3600,
            valid_until: NOW + 30 * DAY,
        };
        Fixture {
            certificate: Fixture::issue(&issuer, fields),
            issuer,
            issuer_keys,
            payer: AccountNumber(1001),
            payer_device,
            payee: AccountNumber(2002),
            payee_device: signing_key("payee-device"),
            now: NOW,
        }
    }

    /// Issues a certificate; fixture fields are valid, so this does not fail (a field error
    /// yields the fixture's default certificate fields' error only in broken tests).
    pub fn issue(issuer: &SigningKey, fields: CertificateFields) -> PurseCertificate {
        match PurseCertificate::issue(fields, issuer) {
            Ok(cert) => cert,
            Err(e) => panic!("fixture certificate: {e}"),
        }
    }

    /// A certificate like the fixture's with `edit` applied to its fields, signed by `issuer`.
    pub fn certificate_with(&self, issuer: &SigningKey, edit: impl FnOnce(&mut CertificateFields)) -> PurseCertificate {
        let mut fields = self.certificate.fields().clone();
        edit(&mut fields);
        Fixture::issue(issuer, fields)
    }

    /// The request fields of a payee request for `minor` units with nonce from `nonce_label`.
    pub fn request_fields(&self, minor: u64, nonce_label: &str) -> RequestFields {
        RequestFields {
            payee: self.payee,
            payee_device_key: self.payee_device.verifying_key(),
            currency: CurrencyCode::INR,
            amount: amount(minor),
            nonce: Nonce::from_bytes(bytes16(nonce_label)),
            expires_at: self.now + 600,
            handle: Handle::parse("chai_shop").ok(),
        }
    }

    /// A payment request by the fixture payee, signed by the payee device.
    pub fn request(&self, minor: u64, nonce_label: &str) -> PaymentRequest {
        match PaymentRequest::sign(self.request_fields(minor, nonce_label), &self.payee_device) {
            Ok(r) => r,
            Err(e) => panic!("fixture request: {e}"),
        }
    }

    /// The fixture payer's first notes, one per amount, each for its own request by the fixture
    /// payee (nonce labels `r0`, `r1`, ...), and the purse state after the last.
    pub fn chain(&self, amounts: &[u64]) -> (PurseState, Vec<PaymentNote>) {
        let mut state = PurseState::new(&self.certificate);
        let mut notes = Vec::with_capacity(amounts.len());
        for (i, minor) in amounts.iter().enumerate() {
            let request = self.request(*minor, &format!("r{i}"));
            match prepare_next(&self.certificate, &state, &self.payer_device, &request, self.now) {
                Ok((next, note)) => {
                    state = next;
                    notes.push(note);
                }
                Err(e) => panic!("fixture chain: {e}"),
            }
        }
        (state, notes)
    }

    /// The payee's record of `request`, unpaid.
    pub fn open(request: &PaymentRequest) -> OpenRequest {
        let f = request.fields();
        OpenRequest { nonce: f.nonce, amount: f.amount, expires_at: f.expires_at, paid: false }
    }

    /// The fixture payee's shop card: account 2002 (`chai_shop`, "Chai Point"), signed by the
    /// payee device, issued 30 days before [`NOW`].
    pub fn card(&self) -> ShopCard {
        self.card_with(&self.payee_device, |_| {})
    }

    /// A card like [`Self::card`] with `edit` applied, signed by `device`.
    pub fn card_with(&self, device: &SigningKey, edit: impl FnOnce(&mut CardFields)) -> ShopCard {
        let Ok(name) = ShopName::parse("Chai Point") else { panic!("fixture shop name") };
        let mut fields = CardFields {
            payee: self.payee,
            shop_device_key: self.payee_device.verifying_key(),
            currency: CurrencyCode::INR,
            issued_at: NOW - 30 * DAY,
            handle: Handle::parse("chai_shop").ok(),
            name,
        };
        edit(&mut fields);
        ShopCard::sign(fields, device)
    }

    /// The payee's acceptance context at the fixture's `now`.
    pub fn context<'a>(&'a self, requests: &'a [OpenRequest], revocations: &'a Revocations) -> AcceptContext<'a> {
        AcceptContext {
            me: self.payee,
            open_requests: requests,
            issuer_keys: &self.issuer_keys,
            revocations,
            now: self.now,
        }
    }
}

/// A signature on `message` by the key with `seed`, whose R has an 8-torsion component:
/// R = rB + T, s = r + H(R || A || M) a. Cofactored verification (ZIP-215, @noble/curves by
/// default) accepts it; `verify_strict` and this protocol refuse it.
pub fn torsion_signature(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let h = Sha512::digest(seed);
    let mut a_bytes = [0u8; 32];
    a_bytes.copy_from_slice(&h[..32]);
    a_bytes[0] &= 248;
    a_bytes[31] &= 127;
    a_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a_bytes);
    let public = (ED25519_BASEPOINT_POINT * a).compress();
    let r = Scalar::from_hash(Sha512::new().chain_update(&h[32..]).chain_update(message));
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1]).compress();
    let k = Scalar::from_hash(
        Sha512::new().chain_update(big_r.as_bytes()).chain_update(public.as_bytes()).chain_update(message),
    );
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// A key with a small-order component, A = a·B + T with T of order 8, which honest wallets
/// never make and [`crate::check_device_key`] refuses (`mixed_order`). Its signatures show why:
/// strict and cofactored verifiers, and a cofactored one that also wants R torsion-free,
/// disagree on them (docs/PROTOCOL.md section 7).
#[derive(Debug, Clone)]
pub struct MixedOrderKey {
    a: Scalar,
    public: [u8; 32],
}

impl MixedOrderKey {
    /// The key for `label`: `a` from SHA-512 of the label, T = `EIGHT_TORSION[1]`.
    pub fn new(label: &str) -> MixedOrderKey {
        let a = Scalar::from_hash(Sha512::new().chain_update(b"offpay-testkit/mixed/").chain_update(label.as_bytes()));
        let public = (ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[1]).compress().to_bytes();
        MixedOrderKey { a, public }
    }

    /// The 32-byte public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// A signature that `verify_strict` accepts: R = r·B + [t]T with t ≡ −k (mod 8), t ≠ 0, so
    /// that R = s·B − k·A exactly. R has a torsion component, so a cofactored verifier that
    /// also requires R torsion-free refuses it.
    pub fn sign_strict(&self, message: &[u8]) -> [u8; 64] {
        for attempt in 0u32..256 {
            let r = self.nonce(message, attempt);
            for t in 1u8..8 {
                let big_r = ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1] * Scalar::from(t);
                let k = self.challenge(&big_r.compress().to_bytes(), message);
                if (8 - (k.as_bytes()[0] & 7)) & 7 == t {
                    return signature(big_r.compress().to_bytes(), r + k * self.a);
                }
            }
        }
        panic!("no torsion match in 256 attempts");
    }

    /// A signature that `verify_strict` refuses but cofactored verification accepts, with a
    /// torsion-free R: R = r·B, s = r + k·a with k ≢ 0 (mod 8), so s·B − k·A − R = −k·T ≠ O.
    pub fn sign_cofactored_only(&self, message: &[u8]) -> [u8; 64] {
        for attempt in 0u32..256 {
            let r = self.nonce(message, attempt);
            let big_r = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
            let k = self.challenge(&big_r, message);
            if k.as_bytes()[0] & 7 != 0 {
                return signature(big_r, r + k * self.a);
            }
        }
        panic!("no k with a torsion residue in 256 attempts");
    }

    fn nonce(&self, message: &[u8], attempt: u32) -> Scalar {
        Scalar::from_hash(
            Sha512::new().chain_update(self.a.as_bytes()).chain_update(attempt.to_le_bytes()).chain_update(message),
        )
    }

    fn challenge(&self, r: &[u8; 32], message: &[u8]) -> Scalar {
        Scalar::from_hash(Sha512::new().chain_update(r).chain_update(self.public).chain_update(message))
    }
}

fn signature(r: [u8; 32], s: Scalar) -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}
