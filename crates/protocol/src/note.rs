//! The payment note: the payer device's signed promise to pay one request, carrying its purse
//! certificate, its place in the purse's hash chain (sequence number, hash of the previous
//! note) and the purse's cumulative spending. Layout in docs/PROTOCOL.md section "Payment note".

use std::collections::HashMap;

use ed25519_dalek::{Signature, SigningKey};

use crate::Amount;
use crate::batch;
use crate::certificate::PurseCertificate;
use crate::crypto;
use crate::ids::{AccountNumber, Hash256, Nonce, PurseId, UnixTime};
use crate::purse::MAX_NOTES_PER_PURSE;
use crate::reject::RejectReason;
use crate::wire::{self, DecodeError, FieldError, Kind, Reader, Writer, field_rule};

/// What a note says besides its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteFields {
    /// 1 for the purse's first note, then 2, 3, ...
    pub seq: u32,
    /// Hash of note `seq - 1`, or of the certificate when `seq == 1`.
    pub prev_hash: Hash256,
    /// Total spent by the purse up to and including this note.
    pub cumulative: Amount,
    /// This payment.
    pub amount: Amount,
    pub payee: AccountNumber,
    /// The nonce of the payment request this note pays.
    pub nonce: Nonce,
    /// The payer device's clock when signing: informational, never trusted.
    pub time: UnixTime,
}

impl NoteFields {
    /// `seq >= 1`, `amount > 0`, `cumulative >= amount`.
    pub fn check(&self) -> Result<(), FieldError> {
        field_rule(self.seq >= 1, "seq", "must be at least 1")?;
        field_rule(!self.amount.is_zero(), "amount", "must be greater than zero")?;
        field_rule(self.cumulative >= self.amount, "cumulative", "must be at least amount")
    }
}

/// A signed payment note. Built only by [`PaymentNote::sign`] (see also
/// [`crate::purse::prepare_next`]) or by decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNote {
    certificate: PurseCertificate,
    fields: NoteFields,
    signature: Signature,
    /// [`Self::hash`], computed once when the note is built (it is used as the note's identity
    /// many times while settling).
    hash: Hash256,
}

impl PaymentNote {
    /// Encoded length in bytes (311), certificate included.
    pub const LEN: usize = 2 + PurseCertificate::LEN + 4 + 32 + 8 + 8 + 8 + 16 + 8 + wire::SIGNATURE_LEN;

    /// Signs a note with `device`. This does not check the chain or the purse's limits: use
    /// [`crate::purse::prepare_next`] to make notes a payee will accept.
    pub fn sign(
        certificate: PurseCertificate,
        fields: NoteFields,
        device: &SigningKey,
    ) -> Result<PaymentNote, FieldError> {
        fields.check()?;
        let unsigned = unsigned_encoding(&certificate, &fields);
        let signed = wire::signed_bytes(Kind::Note, &unsigned);
        let signature = crypto::sign(device, &signed);
        Ok(PaymentNote { certificate, fields, signature, hash: crypto::sha256(&signed) })
    }

    pub fn certificate(&self) -> &PurseCertificate {
        &self.certificate
    }

    pub fn fields(&self) -> &NoteFields {
        &self.fields
    }

    pub fn purse_id(&self) -> PurseId {
        self.certificate.purse_id()
    }

    pub fn seq(&self) -> u32 {
        self.fields.seq
    }

    pub fn amount(&self) -> Amount {
        self.fields.amount
    }

    signed_accessors!(Kind::Note, |this| unsigned_encoding(&this.certificate, &this.fields));

    /// The note hash: SHA-256 of [`Self::signed_bytes`] (so it does not depend on the
    /// signature). The next note links to it; uploads are idempotent by it.
    pub fn hash(&self) -> Hash256 {
        self.hash
    }

    pub fn decode(bytes: &[u8]) -> Result<PaymentNote, DecodeError> {
        Self::decode_with(bytes, PurseCertificate::decode)
    }

    /// [`Self::decode`] with the embedded certificate decoded by `certificate` (see
    /// [`NoteDecoder`]); same checks, same errors, in the same order.
    fn decode_with(
        bytes: &[u8],
        certificate: impl FnOnce(&[u8]) -> Result<PurseCertificate, DecodeError>,
    ) -> Result<PaymentNote, DecodeError> {
        let mut r = Reader::new(Kind::Note, bytes)?;
        wire::check_len(bytes.len(), Self::LEN)?;
        let certificate = certificate(r.slice(PurseCertificate::LEN)?)?;
        let fields = NoteFields {
            seq: r.u32()?,
            prev_hash: Hash256::from_bytes(r.array()?),
            cumulative: r.amount()?,
            amount: r.amount()?,
            payee: AccountNumber(r.u64()?),
            nonce: Nonce::from_bytes(r.array()?),
            time: r.u64()?,
        };
        let signature = r.signature_and_end()?;
        fields.check()?;
        let hash = crypto::sha256(&wire::signed_bytes(Kind::Note, &unsigned_encoding(&certificate, &fields)));
        Ok(PaymentNote { certificate, fields, signature, hash })
    }

    /// Strict check of the device signature against the certificate's device key.
    pub fn verify_device_signature(&self) -> Result<(), RejectReason> {
        let key = &self.certificate.fields().device_key;
        if crypto::verify_strict(key, &self.signed_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(RejectReason::BadDeviceSignature)
        }
    }

    /// A first note must link to its certificate and have `cumulative == amount`.
    pub fn check_chain_start(&self) -> Result<(), RejectReason> {
        let f = &self.fields;
        if f.seq == 1 && (f.prev_hash != self.certificate.hash() || f.cumulative != f.amount) {
            return Err(RejectReason::BadChainStart);
        }
        Ok(())
    }

    /// The note within its purse's limits, in this order (the payee's checks 9 and 10, the
    /// server's the same): amount within the per-payment cap (`over_payment_cap`), `seq` at most
    /// [`MAX_NOTES_PER_PURSE`] (`over_note_limit`), cumulative within the purse amount
    /// (`over_purse_amount`).
    pub fn check_limits(&self) -> Result<(), RejectReason> {
        let (f, cert) = (&self.fields, self.certificate.fields());
        if f.amount > cert.per_payment_cap {
            return Err(RejectReason::OverPaymentCap);
        }
        if f.seq > MAX_NOTES_PER_PURSE {
            return Err(RejectReason::OverNoteLimit);
        }
        if f.cumulative > cert.amount {
            return Err(RejectReason::OverPurseAmount);
        }
        Ok(())
    }
}

fn unsigned_encoding(certificate: &PurseCertificate, f: &NoteFields) -> Vec<u8> {
    let mut w = Writer::new(Kind::Note, PaymentNote::LEN);
    w.bytes(&certificate.encode())
        .u32(f.seq)
        .bytes(f.prev_hash.as_bytes())
        .amount(f.cumulative)
        .amount(f.amount)
        .u64(f.payee.0)
        .bytes(f.nonce.as_bytes())
        .u64(f.time);
    w.finish()
}

/// Decodes many notes that share few certificates (an upload to the server): each distinct
/// certificate is decoded, and its device key decompressed, once. Results are exactly those of
/// [`PaymentNote::decode`] / `from_text`.
#[derive(Debug)]
pub struct NoteDecoder {
    certificates: HashMap<Vec<u8>, PurseCertificate>,
    /// Decodes a certificate this decoder has not seen: [`PurseCertificate::decode`], or a
    /// caller's cache of it that answers exactly the same.
    decode_certificate: fn(&[u8]) -> Result<PurseCertificate, DecodeError>,
}

impl Default for NoteDecoder {
    fn default() -> Self {
        NoteDecoder { certificates: HashMap::new(), decode_certificate: PurseCertificate::decode }
    }
}

impl NoteDecoder {
    /// A decoder that decodes new certificates with `decode`, which must answer exactly what
    /// [`PurseCertificate::decode`] answers (a cache kept across uploads, say).
    pub fn decoding_certificates_with(decode: fn(&[u8]) -> Result<PurseCertificate, DecodeError>) -> Self {
        NoteDecoder { certificates: HashMap::new(), decode_certificate: decode }
    }

    /// A decoder that already knows `certificate`, whose encoding is `encoded` (the caller has
    /// it decoded, from that very encoding), so notes carrying it do not decode it again.
    pub fn knowing(encoded: &[u8], certificate: &PurseCertificate) -> Self {
        NoteDecoder { certificates: HashMap::from([(encoded.to_vec(), certificate.clone())]), ..Self::default() }
    }

    pub fn decode(&mut self, bytes: &[u8]) -> Result<PaymentNote, DecodeError> {
        PaymentNote::decode_with(bytes, |cert| {
            if let Some(known) = self.certificates.get(cert) {
                return Ok(known.clone());
            }
            let decoded = (self.decode_certificate)(cert)?;
            self.certificates.insert(cert.to_vec(), decoded.clone());
            Ok(decoded)
        })
    }

    /// A note from its text form (`OPN1:...`).
    pub fn from_text(&mut self, text: &str) -> Result<PaymentNote, DecodeError> {
        self.decode(&crate::text::text_to_bytes(Kind::Note, text)?)
    }
}

/// Checks the device signatures of many notes in one batch: result `i` equals
/// `notes[i].verify_device_signature().is_ok()`. `seed`: 32 fresh random bytes (see
/// [`crate::batch`]).
pub fn verify_device_signatures(notes: &[PaymentNote], seed: [u8; 32]) -> Vec<bool> {
    let signed: Vec<Vec<u8>> = notes.iter().map(PaymentNote::signed_bytes).collect();
    let items: Vec<batch::Item<'_>> = notes
        .iter()
        .zip(&signed)
        .map(|(n, bytes)| (&n.certificate.fields().device_key, bytes.as_slice(), &n.signature))
        .collect();
    crypto::verify_strict_many(&items, seed)
}
