//! Fuzzes the text (QR) parsers of all six kinds: never panic, and an accepted text is the
//! canonical text of the object, up to surrounding whitespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offpay_protocol::{CloseStatement, Encoded, PaymentNote, PaymentRequest, PurseCertificate, Receipt, ShopCard};

fn check<T: Encoded>(text: &str) {
    if let Ok(object) = T::from_text(text) {
        assert_eq!(object.to_text(), text.trim(), "text parser accepted a non-canonical text");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check::<PurseCertificate>(text);
        check::<PaymentRequest>(text);
        check::<PaymentNote>(text);
        check::<CloseStatement>(text);
        check::<ShopCard>(text);
        check::<Receipt>(text);
    }
});
