//! The payment request a payee shows (QR code or text): who to pay, how much, a fresh nonce and
//! an expiry, signed by the payee's device so the payer sees it was not altered. Layout in
//! docs/PROTOCOL.md section "Payment request".

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

use crate::crypto;
use crate::ids::{AccountNumber, CurrencyCode, Nonce, UnixTime};
use crate::reject::RejectReason;
use crate::wire::{self, DecodeError, FieldError, Kind, Reader, Writer, field_rule};
use crate::{Amount, Handle};

/// What a payment request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFields {
    pub payee: AccountNumber,
    /// The payee device's public key; the request's signature is checked against it.
    pub payee_device_key: VerifyingKey,
    pub currency: CurrencyCode,
    pub amount: Amount,
    pub nonce: Nonce,
    pub expires_at: UnixTime,
    /// The payee's handle, for display to the payer only (never trusted for routing money).
    pub handle: Option<Handle>,
}

impl RequestFields {
    pub fn check(&self) -> Result<(), FieldError> {
        field_rule(!self.amount.is_zero(), "amount", "must be greater than zero")
    }
}

/// A signed payment request. Built only by [`PaymentRequest::sign`] or by decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    fields: RequestFields,
    signature: Signature,
}

const FIXED_LEN: usize = 2 + 8 + 32 + 3 + 8 + 16 + 8 + 1;
const HANDLE_LEN_OFFSET: usize = FIXED_LEN - 1;

impl PaymentRequest {
    /// Shortest encoding (no handle).
    pub const MIN_LEN: usize = FIXED_LEN + wire::SIGNATURE_LEN;
    /// Longest encoding (a 32-character handle).
    pub const MAX_LEN: usize = Self::MIN_LEN + Handle::MAX_LEN;

    /// Signs the request with `device` (normally the key whose public half is
    /// `fields.payee_device_key`).
    pub fn sign(fields: RequestFields, device: &SigningKey) -> Result<PaymentRequest, FieldError> {
        fields.check()?;
        let signature = crypto::sign(device, &wire::signed_bytes(Kind::Request, &unsigned_encoding(&fields)));
        Ok(PaymentRequest { fields, signature })
    }

    pub fn fields(&self) -> &RequestFields {
        &self.fields
    }

    signed_accessors!(hash, Kind::Request, |this| unsigned_encoding(&this.fields));

    pub fn decode(bytes: &[u8]) -> Result<PaymentRequest, DecodeError> {
        let mut r = Reader::new(Kind::Request, bytes)?;
        let handle_len =
            wire::length_byte(bytes, Self::MIN_LEN, HANDLE_LEN_OFFSET, Handle::MAX_LEN, DecodeError::BadHandle)?;
        wire::check_len(bytes.len(), Self::MIN_LEN + handle_len)?;
        let payee = AccountNumber(r.u64()?);
        let payee_device_key = r.public_key()?;
        let currency = r.currency()?;
        let amount = r.amount()?;
        let nonce = Nonce::from_bytes(r.array()?);
        let expires_at = r.u64()?;
        let len = usize::from(r.u8()?);
        let handle = match len {
            0 => None,
            _ => Some(canonical_handle(r.slice(len)?)?),
        };
        let signature = r.signature_and_end()?;
        let fields = RequestFields { payee, payee_device_key, currency, amount, nonce, expires_at, handle };
        fields.check()?;
        Ok(PaymentRequest { fields, signature })
    }

    /// Checks, in order: signature by `payee_device_key`, which must also be an acceptable
    /// device key ([`crypto::check_device_key`]: a key with a small-order component is refused
    /// like a bad signature, since verifiers may disagree on its signatures)
    /// (`bad_request_signature`); `now <= expires_at` (`request_expired`). The payer runs this
    /// before paying.
    pub fn verify(&self, now: UnixTime) -> Result<(), RejectReason> {
        let key = &self.fields.payee_device_key;
        if crypto::check_device_key(key.as_bytes()).is_err()
            || !crypto::verify_strict(key, &self.signed_bytes(), &self.signature)
        {
            return Err(RejectReason::BadRequestSignature);
        }
        if now > self.fields.expires_at {
            return Err(RejectReason::RequestExpired);
        }
        Ok(())
    }
}

pub(crate) fn canonical_handle(bytes: &[u8]) -> Result<Handle, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadHandle)?;
    let handle = Handle::parse(text).map_err(|_| DecodeError::BadHandle)?;
    if handle.as_str() != text {
        return Err(DecodeError::BadHandle);
    }
    Ok(handle)
}

fn unsigned_encoding(f: &RequestFields) -> Vec<u8> {
    let handle = f.handle.as_ref().map_or("", Handle::as_str).as_bytes();
    let mut w = Writer::new(Kind::Request, PaymentRequest::MAX_LEN);
    w.u64(f.payee.0)
        .bytes(f.payee_device_key.as_bytes())
        .bytes(&f.currency.to_bytes())
        .amount(f.amount)
        .bytes(f.nonce.as_bytes())
        .u64(f.expires_at)
        // Invariant: a Handle is at most 32 bytes, so the length fits in a byte.
        .u8(u8::try_from(handle.len()).unwrap_or(0))
        .bytes(handle);
    w.finish()
}
