//! Purse certificates decoded once per thread: those read back from the database, and those in
//! uploaded notes (the server's upload route). Decoding a certificate decompresses its device
//! key (a field square root). Settlement reads the purse row, so the same certificate was
//! decoded again for every upload to the purse: about a tenth of the SQLite writer's time under
//! one-note uploads (docs/PERFORMANCE.md, "Single-note uploads by an outside client (wrk), and
//! certificates decoded once"), and again on the request threads, where each upload decoded its
//! notes. The cache is keyed by the exact bytes, so it answers exactly what
//! `PurseCertificate::decode` answers; refusals are not kept.

use std::cell::RefCell;
use std::collections::HashMap;

use offpay_protocol::PurseCertificate;
use offpay_protocol::wire::DecodeError;

/// Most certificates kept per thread (about 400 bytes each); the cache starts empty again when
/// full.
const KEEP: usize = 4096;

thread_local! {
    static DECODED: RefCell<HashMap<Vec<u8>, PurseCertificate>> = RefCell::new(HashMap::new());
}

/// `PurseCertificate::decode(bytes)`, from this thread's cache when these bytes were decoded
/// before.
pub fn decode(bytes: &[u8]) -> Result<PurseCertificate, DecodeError> {
    if let Some(known) = DECODED.with_borrow(|cache| cache.get(bytes).cloned()) {
        return Ok(known);
    }
    let decoded = PurseCertificate::decode(bytes)?;
    DECODED.with_borrow_mut(|cache| {
        if cache.len() >= KEEP {
            cache.clear();
        }
        cache.insert(bytes.to_vec(), decoded.clone());
    });
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use offpay_protocol::PurseCertificate;
    use offpay_protocol::testkit::Fixture;

    use super::decode;

    #[test]
    fn answers_exactly_what_decode_answers() {
        let fx = Fixture::new();
        let bytes = fx.certificate.encode();
        assert_eq!(decode(&bytes).unwrap(), fx.certificate);
        assert_eq!(decode(&bytes).unwrap(), fx.certificate, "again, from the cache");
        // One byte changed: decoded afresh (or refused), never the cached certificate.
        for at in [2, 40, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            assert_eq!(decode(&changed), PurseCertificate::decode(&changed));
            assert_ne!(decode(&changed).ok(), Some(fx.certificate.clone()));
        }
        let mut short = bytes.clone();
        short.pop();
        assert!(decode(&short).is_err());
        assert!(decode(&short).is_err(), "a refusal is not kept");
    }
}
