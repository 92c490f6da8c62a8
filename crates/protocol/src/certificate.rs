//! The purse certificate: the issuer's signed statement that a device may spend up to `amount`
//! from an offline purse of an account, at most `per_payment_cap` per payment, between
//! `valid_from` and `valid_until`. Layout in docs/PROTOCOL.md section "Purse certificate".

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

use crate::Amount;
use crate::crypto;
use crate::ids::{AccountNumber, CurrencyCode, KeyId, PurseId, UnixTime};
use crate::keys::IssuerKeys;
use crate::reject::RejectReason;
use crate::wire::{self, DecodeError, FieldError, Kind, Reader, Writer, field_rule};

/// What the issuer certifies (everything but the issuer key id and signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFields {
    pub purse_id: PurseId,
    pub account: AccountNumber,
    pub device_key: VerifyingKey,
    pub currency: CurrencyCode,
    /// The most the purse may spend in total.
    pub amount: Amount,
    pub per_payment_cap: Amount,
    pub valid_from: UnixTime,
    pub valid_until: UnixTime,
}

impl CertificateFields {
    /// The rules every certificate obeys: `0 < per_payment_cap <= amount`,
    /// `valid_from < valid_until`.
    pub fn check(&self) -> Result<(), FieldError> {
        field_rule(!self.per_payment_cap.is_zero(), "per_payment_cap", "must be greater than zero")?;
        field_rule(self.per_payment_cap <= self.amount, "per_payment_cap", "must not exceed amount")?;
        field_rule(self.valid_from < self.valid_until, "valid_until", "must be after valid_from")
    }
}

/// A signed purse certificate. Built only by [`PurseCertificate::issue`] or by decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurseCertificate {
    fields: CertificateFields,
    issuer_key_id: KeyId,
    signature: Signature,
}

impl PurseCertificate {
    /// Encoded length in bytes.
    pub const LEN: usize = 2 + 16 + 4 + 8 + 32 + 3 + 8 + 8 + 8 + 8 + wire::SIGNATURE_LEN;

    /// Signs `fields` with the issuer key; the key id is derived from the key.
    pub fn issue(fields: CertificateFields, issuer: &SigningKey) -> Result<PurseCertificate, FieldError> {
        fields.check()?;
        let issuer_key_id = crypto::key_id(&issuer.verifying_key());
        let unsigned = unsigned_encoding(&fields, issuer_key_id);
        let signature = crypto::sign(issuer, &wire::signed_bytes(Kind::Certificate, &unsigned));
        Ok(PurseCertificate { fields, issuer_key_id, signature })
    }

    pub fn fields(&self) -> &CertificateFields {
        &self.fields
    }

    pub fn purse_id(&self) -> PurseId {
        self.fields.purse_id
    }

    pub fn issuer_key_id(&self) -> KeyId {
        self.issuer_key_id
    }

    // The certificate hash is the one note 1 of the purse links to; the encoding is `LEN` bytes.
    signed_accessors!(hash, Kind::Certificate, |this| unsigned_encoding(&this.fields, this.issuer_key_id));

    /// Parses the canonical encoding; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<PurseCertificate, DecodeError> {
        let mut r = Reader::new(Kind::Certificate, bytes)?;
        wire::check_len(bytes.len(), Self::LEN)?;
        let purse_id = PurseId::from_bytes(r.array()?);
        let issuer_key_id = KeyId::from_bytes(r.array()?);
        let account = AccountNumber(r.u64()?);
        let device_key = r.public_key()?;
        let currency = r.currency()?;
        let amount = r.amount()?;
        let per_payment_cap = r.amount()?;
        let valid_from = r.u64()?;
        let valid_until = r.u64()?;
        let signature = r.signature_and_end()?;
        let fields = CertificateFields {
            purse_id,
            account,
            device_key,
            currency,
            amount,
            per_payment_cap,
            valid_from,
            valid_until,
        };
        fields.check()?;
        Ok(PurseCertificate { fields, issuer_key_id, signature })
    }

    /// The issuer checks, in order: key id known (`unknown_issuer_key`), key valid at
    /// `valid_from` (`issuer_key_not_valid`), signature (`bad_issuer_signature`), `valid_from <=
    /// now` (`certificate_not_yet_valid`), `now <= valid_until` (`certificate_expired`).
    pub fn verify(&self, issuer_keys: &IssuerKeys, now: UnixTime) -> Result<(), RejectReason> {
        self.verify_issuer(issuer_keys)?;
        self.check_window(now)
    }

    /// The first three checks of [`Self::verify`]: no clock involved.
    pub fn verify_issuer(&self, issuer_keys: &IssuerKeys) -> Result<(), RejectReason> {
        let key = issuer_keys.get(self.issuer_key_id).ok_or(RejectReason::UnknownIssuerKey)?;
        if !key.valid_at(self.fields.valid_from) {
            return Err(RejectReason::IssuerKeyNotValid);
        }
        if !crypto::verify_strict(&key.public_key, &self.signed_bytes(), &self.signature) {
            return Err(RejectReason::BadIssuerSignature);
        }
        Ok(())
    }

    /// The window checks of [`Self::verify`].
    pub fn check_window(&self, now: UnixTime) -> Result<(), RejectReason> {
        if now < self.fields.valid_from {
            return Err(RejectReason::CertificateNotYetValid);
        }
        if now > self.fields.valid_until {
            return Err(RejectReason::CertificateExpired);
        }
        Ok(())
    }
}

fn unsigned_encoding(f: &CertificateFields, issuer_key_id: KeyId) -> Vec<u8> {
    let mut w = Writer::new(Kind::Certificate, PurseCertificate::LEN);
    w.bytes(f.purse_id.as_bytes())
        .bytes(issuer_key_id.as_bytes())
        .u64(f.account.0)
        .bytes(f.device_key.as_bytes())
        .bytes(&f.currency.to_bytes())
        .amount(f.amount)
        .amount(f.per_payment_cap)
        .u64(f.valid_from)
        .u64(f.valid_until);
    w.finish()
}
