//! Fuzzes `PurseCertificate::decode`: never panics, and whatever it accepts re-encodes to the same bytes
//! (exactly one canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use offpay_protocol::PurseCertificate;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = PurseCertificate::decode(data) {
        assert_eq!(object.encode(), data, "decode accepted a non-canonical encoding");
        let _ = object.signed_bytes();
        let _ = object.hash();
    }
});
