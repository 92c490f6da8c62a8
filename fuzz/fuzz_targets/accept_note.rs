//! Fuzzes the payee's whole offline check on arbitrary bytes against the testkit fixture's
//! context: never panics; anything accepted is a canonical, correctly signed note for me.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offpay_protocol::testkit::Fixture;
use offpay_protocol::{PaymentNote, Revocations, accept_note};

fuzz_target!(|data: &[u8]| {
    let Ok(note) = PaymentNote::decode(data) else { return };
    let fx = Fixture::new();
    let request = fx.request(1_250, "fuzz");
    let open = [Fixture::open(&request)];
    let revocations = Revocations::default();
    if let Ok(accepted) = accept_note(&note, None, &fx.context(&open, &revocations)) {
        assert_eq!(note.encode(), data);
        assert!(note.verify_device_signature().is_ok());
        assert_eq!(accepted.nonce, request.fields().nonce);
    }
});
