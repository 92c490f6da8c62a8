//! The purse close statement: the device's signed word that it signed notes 1..=`last_seq`
//! ending in `last_hash` for `total_spent` in all, and will sign no more from this purse. The
//! server keeps what those notes need and returns the rest of the reserve. Layout in
//! docs/PROTOCOL.md section "Purse close statement".

use ed25519_dalek::{Signature, SigningKey};

use crate::Amount;
use crate::certificate::PurseCertificate;
use crate::crypto;
use crate::ids::{Hash256, PurseId, UnixTime};
use crate::reject::RejectReason;
use crate::wire::{self, DecodeError, FieldError, Kind, Reader, Writer, field_rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseFields {
    pub purse_id: PurseId,
    /// Sequence number of the last note signed; 0 if none.
    pub last_seq: u32,
    /// Hash of the last note, or of the certificate if no note was signed.
    pub last_hash: Hash256,
    /// Cumulative amount of the last note; 0 if none.
    pub total_spent: Amount,
    /// The device's clock when closing: informational.
    pub time: UnixTime,
}

impl CloseFields {
    /// `last_seq == 0` exactly when `total_spent == 0`.
    pub fn check(&self) -> Result<(), FieldError> {
        field_rule(
            (self.last_seq == 0) == self.total_spent.is_zero(),
            "total_spent",
            "must be zero exactly when last_seq is zero",
        )
    }
}

/// A signed close statement. Built only by [`CloseStatement::sign`] (see also
/// [`crate::purse::PurseState::close`]) or by decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatement {
    fields: CloseFields,
    signature: Signature,
}

impl CloseStatement {
    pub const LEN: usize = 2 + 16 + 4 + 32 + 8 + 8 + wire::SIGNATURE_LEN;

    pub fn sign(fields: CloseFields, device: &SigningKey) -> Result<CloseStatement, FieldError> {
        fields.check()?;
        let signature = crypto::sign(device, &wire::signed_bytes(Kind::Close, &unsigned_encoding(&fields)));
        Ok(CloseStatement { fields, signature })
    }

    pub fn fields(&self) -> &CloseFields {
        &self.fields
    }

    signed_accessors!(hash, Kind::Close, |this| unsigned_encoding(&this.fields));

    pub fn decode(bytes: &[u8]) -> Result<CloseStatement, DecodeError> {
        let mut r = Reader::new(Kind::Close, bytes)?;
        wire::check_len(bytes.len(), Self::LEN)?;
        let fields = CloseFields {
            purse_id: PurseId::from_bytes(r.array()?),
            last_seq: r.u32()?,
            last_hash: Hash256::from_bytes(r.array()?),
            total_spent: r.amount()?,
            time: r.u64()?,
        };
        let signature = r.signature_and_end()?;
        fields.check()?;
        Ok(CloseStatement { fields, signature })
    }

    /// Checks against the purse's certificate, in order: same purse (`wrong_purse`), device
    /// signature (`bad_device_signature`), an empty close links to the certificate
    /// (`bad_chain_start`), total within the purse (`over_purse_amount`).
    pub fn verify(&self, certificate: &PurseCertificate) -> Result<(), RejectReason> {
        let f = &self.fields;
        if f.purse_id != certificate.purse_id() {
            return Err(RejectReason::WrongPurse);
        }
        if !crypto::verify_strict(&certificate.fields().device_key, &self.signed_bytes(), &self.signature) {
            return Err(RejectReason::BadDeviceSignature);
        }
        if f.last_seq == 0 && f.last_hash != certificate.hash() {
            return Err(RejectReason::BadChainStart);
        }
        if f.total_spent > certificate.fields().amount {
            return Err(RejectReason::OverPurseAmount);
        }
        Ok(())
    }
}

fn unsigned_encoding(f: &CloseFields) -> Vec<u8> {
    let mut w = Writer::new(Kind::Close, CloseStatement::LEN);
    w.bytes(f.purse_id.as_bytes()).u32(f.last_seq).bytes(f.last_hash.as_bytes()).amount(f.total_spent).u64(f.time);
    w.finish()
}
