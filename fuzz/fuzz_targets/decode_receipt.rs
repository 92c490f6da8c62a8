//! Fuzzes `Receipt::decode`: never panics, and whatever it accepts re-encodes to the same bytes
//! (exactly one canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use offpay_protocol::Receipt;

fuzz_target!(|data: &[u8]| {
    if let Ok(receipt) = Receipt::decode(data) {
        assert_eq!(receipt.encode(), data, "decode accepted a non-canonical encoding");
        let _ = receipt.signed_bytes();
        let _ = receipt.hash();
    }
});
