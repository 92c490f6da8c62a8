//! How a settled note is kept in the `notes` table: its encoding without the purse certificate
//! (150 of its 311 bytes), since the purse row holds that certificate and every note of a purse
//! carries the same one. About a fifth fewer bytes per settled note go through the database
//! (measured with `settle_bench`, docs/PERFORMANCE.md). Rows written before this layout hold the
//! full encoding; both are read.

use offpay_protocol::note::NoteDecoder;
use offpay_protocol::wire::DecodeError;
use offpay_protocol::{PaymentNote, PurseCertificate};

/// Bytes before the certificate in a note's encoding: the tag and the version.
const HEAD: usize = 2;

/// Length of the stored form.
pub const COMPACT_LEN: usize = PaymentNote::LEN - PurseCertificate::LEN;

/// The stored form of a note, from its full encoding (`PaymentNote::encode`).
pub fn compact(full: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(COMPACT_LEN);
    out.extend_from_slice(&full[..HEAD]);
    out.extend_from_slice(&full[HEAD + PurseCertificate::LEN..]);
    out
}

/// Restores the stored notes of one purse: the certificate is encoded once, and the decoder
/// knows it already decoded (the purse row's), so no note decompresses its device key again.
pub struct Restorer {
    certificate: PurseCertificate,
    encoded: Vec<u8>,
    decoder: NoteDecoder,
}

impl Restorer {
    pub fn new(certificate: &PurseCertificate) -> Self {
        let encoded = certificate.encode();
        let decoder = NoteDecoder::knowing(&encoded, certificate);
        Restorer { certificate: certificate.clone(), encoded, decoder }
    }

    /// The note stored as `bytes` (either form) for this purse. A full encoding must carry the
    /// purse's certificate.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<PaymentNote, String> {
        let note = if bytes.len() == COMPACT_LEN {
            let mut full = Vec::with_capacity(PaymentNote::LEN);
            full.extend_from_slice(&bytes[..HEAD]);
            full.extend_from_slice(&self.encoded);
            full.extend_from_slice(&bytes[HEAD..]);
            self.decoder.decode(&full)
        } else {
            self.decoder.decode(bytes)
        }
        .map_err(|e: DecodeError| e.to_string())?;
        if note.certificate() != &self.certificate {
            return Err("a stored note carries another purse's certificate".into());
        }
        Ok(note)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use offpay_protocol::note::NoteDecoder;
    use offpay_protocol::purse::{PurseState, prepare_next};
    use offpay_protocol::testkit::{Fixture, NOW, signing_key};

    use super::{COMPACT_LEN, Restorer, compact};

    #[test]
    fn both_forms_restore_to_the_same_note() {
        let fx = Fixture::new();
        let request = fx.request(1_000, "stored");
        let state = PurseState::new(&fx.certificate);
        let (_, note) = prepare_next(&fx.certificate, &state, &fx.payer_device, &request, NOW).unwrap();
        let stored = compact(&note.encode());
        assert_eq!(stored.len(), COMPACT_LEN);
        let mut restorer = Restorer::new(&fx.certificate);
        assert_eq!(restorer.restore(&stored).unwrap(), note);
        assert_eq!(restorer.restore(&note.encode()).unwrap(), note);
        assert_eq!(restorer.restore(&stored).unwrap(), NoteDecoder::default().decode(&note.encode()).unwrap());
        let other = fx.certificate_with(&signing_key("issuer-2"), |f| f.amount = f.per_payment_cap);
        assert!(Restorer::new(&other).restore(&note.encode()).is_err());
        assert!(restorer.restore(&stored[..stored.len() - 1]).is_err());
    }
}
