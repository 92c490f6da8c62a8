//! Fuzzes the shop's check of a note without a request on arbitrary bytes against the testkit
//! fixture's card: never panics; anything accepted is a canonical, correctly signed note for
//! the card's account whose nonce carries the card's prefix.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use offpay_protocol::testkit::Fixture;
use offpay_protocol::{CardAcceptContext, PaymentNote, Revocations, accept_card_note};

fuzz_target!(|data: &[u8]| {
    let Ok(note) = PaymentNote::decode(data) else { return };
    let fx = Fixture::new();
    let card = fx.card();
    let seen = BTreeSet::new();
    let revocations = Revocations::default();
    let ctx = CardAcceptContext {
        card: &card,
        seen_nonces: &seen,
        window: 600,
        issuer_keys: &fx.issuer_keys,
        revocations: &revocations,
        now: fx.now,
    };
    if let Ok(accepted) = accept_card_note(&note, None, &ctx) {
        assert_eq!(note.encode(), data);
        assert!(note.verify_device_signature().is_ok());
        assert_eq!(accepted.nonce.as_bytes()[..4], card.nonce_prefix());
    }
});
