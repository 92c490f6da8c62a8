//! Fuzzes `ShopCard::decode`: never panics, and whatever it accepts re-encodes to the same bytes
//! (exactly one canonical encoding) and has a name that prints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offpay_protocol::{ShopCard, ShopName};

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = ShopCard::decode(data) {
        assert_eq!(card.encode(), data, "decode accepted a non-canonical encoding");
        assert!(ShopName::parse(card.fields().name.as_str()).is_ok());
        let _ = card.verify();
        let _ = card.nonce_prefix();
    }
});
