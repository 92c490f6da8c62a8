//! Card payments (issue 14): the shop card and the receipt encode, decode and verify; the
//! customer pays a card without a request; the shop's check of such notes and of receipts gives
//! every refusal of docs/PROTOCOL.md section 16; random bytes never make the new decoders panic.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use offpay_protocol::testkit::{DAY, Fixture, NOW, amount, signing_key};
use offpay_protocol::*;
use proptest::prelude::*;

const WINDOW: u64 = 600;

fn random(n: u8) -> [u8; 12] {
    [n; 12]
}

/// A shop device with its card, what it saw and accepted.
struct Shop {
    fx: Fixture,
    card: ShopCard,
    seen: BTreeSet<Nonce>,
    tally: Option<PurseTally>,
    revocations: Revocations,
    now: UnixTime,
}

impl Shop {
    fn new(fx: &Fixture) -> Shop {
        Shop {
            fx: fx.clone(),
            card: fx.card(),
            seen: BTreeSet::new(),
            tally: None,
            revocations: Revocations::default(),
            now: NOW,
        }
    }

    fn check(&self, note: &PaymentNote) -> Result<Accepted, RejectReason> {
        let ctx = CardAcceptContext {
            card: &self.card,
            seen_nonces: &self.seen,
            window: WINDOW,
            issuer_keys: &self.fx.issuer_keys,
            revocations: &self.revocations,
            now: self.now,
        };
        // Like a wallet, pass the tally of the note's purse (this shop keeps one purse's).
        accept_card_note(note, self.tally.as_ref().filter(|t| t.purse_id == note.purse_id()), &ctx)
    }

    fn take(&mut self, note: &PaymentNote) -> Result<Accepted, RejectReason> {
        let ok = self.check(note)?;
        self.tally = Some(ok.tally.clone());
        self.seen.insert(ok.nonce);
        Ok(ok)
    }
}

/// The customer's device paying the fixture card.
fn pay(
    fx: &Fixture,
    state: &PurseState,
    card: &ShopCard,
    minor: u64,
    n: u8,
    now: UnixTime,
) -> (PurseState, PaymentNote) {
    prepare_card_payment(&fx.certificate, state, &fx.payer_device, card, amount(minor), random(n), now).unwrap()
}

fn code<T: std::fmt::Debug>(r: Result<T, RejectReason>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn card_round_trips_verifies_and_fits_a_qr_code() {
    let fx = Fixture::new();
    let card = fx.card();
    assert_eq!(ShopCard::decode(&card.encode()).unwrap(), card);
    assert_eq!(ShopCard::from_text(&card.to_text()).unwrap(), card);
    assert!(card.to_text().starts_with("OPS1:"));
    assert_eq!(card.verify(), Ok(()));
    assert_eq!(card.encode().len(), ShopCard::MIN_LEN + 9 + 10);
    let longest = fx.card_with(&fx.payee_device, |f| {
        f.handle = Handle::parse(&format!("a{}", "b".repeat(31))).ok();
        f.name = ShopName::parse(&"n".repeat(48)).unwrap();
    });
    assert_eq!(longest.encode().len(), ShopCard::MAX_LEN);
    println!("longest shop card: {} bytes, {} text characters", ShopCard::MAX_LEN, longest.to_text().len());
    assert!(longest.to_text().len() <= 311);
    // Another device's signature, and a card whose fields were changed after signing.
    let forged = fx.card_with(&signing_key("thief"), |_| {});
    assert_eq!(code(forged.verify()), "bad_card_signature");
    let mut changed = card.encode();
    changed[2] ^= 1;
    assert_eq!(code(ShopCard::decode(&changed).unwrap().verify()), "bad_card_signature");
    // A card is not a request, and the other way round.
    assert_eq!(ShopCard::decode(&fx.request(100, "r").encode()).unwrap_err().code(), "wrong_tag");
    assert_eq!(PaymentRequest::decode(&card.encode()).unwrap_err().code(), "wrong_tag");
}

#[test]
fn card_names_are_checked_when_decoding() {
    let fx = Fixture::new();
    let e = fx.card().encode();
    let name_at = 64;
    let with = |at: usize, byte: u8| {
        let mut b = e.clone();
        b[at] = byte;
        ShopCard::decode(&b).map(|_| ()).map_err(|e| e.code())
    };
    assert_eq!(with(name_at, b'\t'), Err("bad_name"));
    assert_eq!(with(name_at, 0x80), Err("bad_name"));
    assert_eq!(with(name_at, b' '), Err("bad_name"));
    assert_eq!(with(name_at - 1, 49), Err("bad_name"));
    assert_eq!(with(name_at - 1, 11), Err("truncated"));
    assert_eq!(with(name_at - 1, 9), Err("trailing_bytes"));
    assert_eq!(with(53, 33), Err("bad_handle"));
    // Lengths are read before fields: with handle length 2 the name length byte is then 'a' (97).
    assert_eq!(with(53, 2), Err("bad_name"));
    // A name that prints in another script round-trips byte for byte.
    let hindi = fx.card_with(&fx.payee_device, |f| f.name = ShopName::parse("चाय की दुकान").unwrap());
    assert_eq!(ShopCard::decode(&hindi.encode()).unwrap().fields().name.as_str(), "चाय की दुकान");
}

#[test]
fn card_payments_are_accepted_in_a_chain_and_refused_when_replayed() {
    let fx = Fixture::new();
    let mut shop = Shop::new(&fx);
    let s0 = PurseState::new(&fx.certificate);
    let (s1, n1) = pay(&fx, &s0, &shop.card, 14_900, 1, NOW);
    assert_eq!(n1.fields().nonce.as_bytes()[..4], shop.card.nonce_prefix());
    assert_eq!(n1.fields().payee, fx.payee);
    let ok = shop.take(&n1).unwrap();
    assert_eq!((ok.amount, ok.payer, ok.seq), (amount(14_900), fx.payer, 1));
    // The same note again, and another note (other purse) with the nonce already seen.
    assert_eq!(code(shop.check(&n1)), "already_accepted");
    let cert2 = fx.certificate_with(&fx.issuer, |f| f.purse_id = PurseId::from_bytes([7; 16]));
    let (_, copy) = prepare_card_payment(
        &cert2,
        &PurseState::new(&cert2),
        &fx.payer_device,
        &shop.card,
        amount(100),
        random(1),
        NOW,
    )
    .unwrap();
    assert_eq!(copy.fields().nonce, n1.fields().nonce);
    assert_eq!(code(shop.check(&copy)), "nonce_replayed");
    // The next payment from the purse is fine.
    shop.now = NOW + 300;
    let (_, n2) = pay(&fx, &s1, &shop.card, 5_000, 2, NOW + 290);
    assert_eq!(shop.take(&n2).unwrap().seq, 2);
    // A card note is no answer to a request, and the request check refuses it.
    let revocations = Revocations::default();
    assert_eq!(code(accept_note(&n1, None, &fx.context(&[], &revocations))), "unknown_request");
}

#[test]
fn every_card_note_refusal() {
    let fx = Fixture::new();
    let shop = Shop::new(&fx);
    let s0 = PurseState::new(&fx.certificate);
    let (_, n1) = pay(&fx, &s0, &shop.card, 14_900, 1, NOW);
    let resign = |edit: &dyn Fn(&mut NoteFields)| {
        let mut f = *n1.fields();
        edit(&mut f);
        PaymentNote::sign(fx.certificate.clone(), f, &fx.payer_device).unwrap()
    };
    // Time window, both ways, and its edges.
    for (now, want) in [
        (NOW + WINDOW, None),
        (NOW + WINDOW + 1, Some("stale_note")),
        (NOW - WINDOW, None),
        (NOW - WINDOW - 1, Some("stale_note")),
    ] {
        let s = Shop { now, ..Shop::new(&fx) };
        assert_eq!(s.check(&n1).err().map(|e| e.code()), want, "now = NOW {:+}", now as i64 - NOW as i64);
    }
    // Another card of the same shop (a new issued_at), and a note that answers a request.
    let other = Shop { card: fx.card_with(&fx.payee_device, |f| f.issued_at = NOW), ..Shop::new(&fx) };
    assert_eq!(code(other.check(&n1)), "wrong_card");
    let (_, request_note) = prepare_next(&fx.certificate, &s0, &fx.payer_device, &fx.request(100, "q"), NOW).unwrap();
    assert_eq!(code(shop.check(&request_note)), "wrong_card");
    // A card in another currency than the purse's.
    let usd = CurrencyCode::parse("USD").unwrap();
    let usd_shop = Shop { card: fx.card_with(&fx.payee_device, |f| f.currency = usd), ..Shop::new(&fx) };
    let usd_note = resign(&|f| f.nonce = card_nonce(&usd_shop.card, random(9)));
    assert_eq!(code(usd_shop.check(&usd_note)), "wrong_currency");
    // Every other rule is the request check's.
    assert_eq!(code(shop.check(&resign(&|f| f.payee = AccountNumber(3003)))), "wrong_payee");
    let big = resign(&|f| {
        f.amount = amount(20_001);
        f.cumulative = amount(20_001);
    });
    assert_eq!(code(shop.check(&big)), "over_payment_cap");
    let far = resign(&|f| {
        f.seq = 12;
        f.cumulative = amount(200_001);
    });
    assert_eq!(code(shop.check(&far)), "over_purse_amount");
    assert_eq!(code(shop.check(&resign(&|f| f.prev_hash = Hash256::from_bytes([3; 32])))), "bad_chain_start");
    let mut flipped = n1.encode();
    flipped[PaymentNote::LEN - 1] ^= 1;
    assert_eq!(code(shop.check(&PaymentNote::decode(&flipped).unwrap())), "bad_device_signature");
    let mut revoked = Shop::new(&fx);
    revoked.revocations.devices.insert(fx.payer_device.verifying_key().to_bytes());
    assert_eq!(code(revoked.check(&n1)), "revoked");
    let expired = Shop { now: fx.certificate.fields().valid_until + 1, ..Shop::new(&fx) };
    assert_eq!(code(expired.check(&n1)), "certificate_expired");
    let mut no_keys = Shop::new(&fx);
    no_keys.fx.issuer_keys = IssuerKeys::default();
    assert_eq!(code(no_keys.check(&n1)), "unknown_issuer_key");
    // A fork: a second, different note 1 after the first was accepted.
    let mut after = Shop::new(&fx);
    after.take(&n1).unwrap();
    let (_, fork) = pay(&fx, &s0, &after.card, 100, 5, NOW);
    assert_eq!(code(after.check(&fork)), "inconsistent_with_earlier_note");
    // The wrong purse's tally is a caller bug.
    let other_purse = PurseTally::new(PurseId::from_bytes([9; 16]));
    let ctx = CardAcceptContext {
        card: &shop.card,
        seen_nonces: &shop.seen,
        window: WINDOW,
        issuer_keys: &fx.issuer_keys,
        revocations: &shop.revocations,
        now: NOW,
    };
    assert_eq!(code(accept_card_note(&n1, Some(&other_purse), &ctx)), "tally_mismatch");
}

#[test]
fn the_customer_refuses_a_forged_card_and_another_currency() {
    let fx = Fixture::new();
    let s0 = PurseState::new(&fx.certificate);
    let forged = fx.card_with(&signing_key("thief"), |_| {});
    let pay = |card: &ShopCard| {
        prepare_card_payment(&fx.certificate, &s0, &fx.payer_device, card, amount(100), random(1), NOW).map(|_| ())
    };
    assert_eq!(pay(&forged), Err(PayError::Request(RejectReason::BadCardSignature)));
    let usd = fx.card_with(&fx.payee_device, |f| f.currency = CurrencyCode::parse("USD").unwrap());
    assert!(matches!(pay(&usd), Err(PayError::CurrencyMismatch { .. })));
    let over = prepare_card_payment(&fx.certificate, &s0, &fx.payer_device, &fx.card(), amount(20_001), random(1), NOW)
        .map(|_| ());
    assert!(matches!(over, Err(PayError::OverPaymentCap { .. })));
    let late =
        prepare_card_payment(&fx.certificate, &s0, &fx.payer_device, &fx.card(), amount(1), random(1), NOW + 31 * DAY);
    assert!(matches!(late, Err(PayError::Certificate(RejectReason::CertificateExpired))));
}

fn receipt_fields() -> ReceiptFields {
    ReceiptFields {
        entry_id: 77,
        payer: AccountNumber(1001),
        payer_handle: Handle::parse("asha").ok(),
        payee: AccountNumber(2002),
        currency: CurrencyCode::INR,
        amount: amount(34_900),
        time: NOW - 30,
        card: Some(Fixture::new().card().nonce_prefix()),
    }
}

#[test]
fn receipts_round_trip_and_every_refusal() {
    let fx = Fixture::new();
    let receipt = Receipt::issue(receipt_fields(), &fx.issuer).unwrap();
    assert_eq!(Receipt::decode(&receipt.encode()).unwrap(), receipt);
    assert_eq!(Receipt::from_text(&receipt.to_text()).unwrap(), receipt);
    assert_eq!(receipt.encode().len(), Receipt::MIN_LEN + 4);
    assert_eq!(
        Receipt::issue(ReceiptFields { amount: Amount::ZERO, ..receipt_fields() }, &fx.issuer).unwrap_err().field,
        "amount"
    );
    let seen = BTreeSet::from([70u64, 71]);
    let ctx = ReceiptContext {
        me: AccountNumber(2002),
        currency: CurrencyCode::INR,
        card_prefix: fx.card().nonce_prefix(),
        issuer_keys: &fx.issuer_keys,
        seen_entries: &seen,
        now: NOW,
        max_age: 600,
    };
    assert_eq!(receipt.check(&ctx), Ok(()));
    let rogue = Receipt::issue(receipt_fields(), &signing_key("rogue")).unwrap();
    assert_eq!(code(rogue.check(&ctx)), "unknown_issuer_key");
    let old = Receipt::issue(ReceiptFields { time: NOW - 366 * DAY, ..receipt_fields() }, &fx.issuer).unwrap();
    assert_eq!(code(old.check(&ReceiptContext { now: NOW - 366 * DAY, ..ctx })), "issuer_key_not_valid");
    let mut changed = receipt.encode();
    changed[6] ^= 1; // entry id
    assert_eq!(code(Receipt::decode(&changed).unwrap().check(&ctx)), "bad_receipt_signature");
    assert_eq!(code(receipt.check(&ReceiptContext { me: AccountNumber(3003), ..ctx })), "receipt_for_another_payee");
    let usd = CurrencyCode::parse("USD").unwrap();
    assert_eq!(code(receipt.check(&ReceiptContext { currency: usd, ..ctx })), "wrong_currency");
    // Another counter of the same shop (its own card) refuses it, and so does every counter a
    // receipt that names no card.
    let counter_key = signing_key("second-counter");
    let second_counter = fx.card_with(&counter_key, |f| f.shop_device_key = counter_key.verifying_key()).nonce_prefix();
    assert_ne!(second_counter, fx.card().nonce_prefix());
    assert_eq!(code(receipt.check(&ReceiptContext { card_prefix: second_counter, ..ctx })), "wrong_card");
    let no_card = Receipt::issue(ReceiptFields { card: None, ..receipt_fields() }, &fx.issuer).unwrap();
    assert_eq!(Receipt::decode(&no_card.encode()).unwrap(), no_card);
    assert_eq!(code(no_card.check(&ctx)), "wrong_card");
    let replayed = BTreeSet::from([77u64]);
    assert_eq!(code(receipt.check(&ReceiptContext { seen_entries: &replayed, ..ctx })), "receipt_replayed");
    assert_eq!(receipt.check(&ReceiptContext { now: NOW - 30 + 600, ..ctx }), Ok(()));
    assert_eq!(code(receipt.check(&ReceiptContext { now: NOW - 30 + 601, ..ctx })), "stale_receipt");
    // A receipt from a server clock ahead of mine is not stale.
    assert_eq!(receipt.check(&ReceiptContext { now: NOW - 3_600, ..ctx }), Ok(()));
    // A receipt is not a card and not a certificate.
    assert_eq!(ShopCard::decode(&receipt.encode()).unwrap_err().code(), "wrong_tag");
    assert_eq!(Receipt::decode(&fx.certificate.encode()).unwrap_err().code(), "wrong_tag");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random bytes, and random bytes behind the right tag and version, never make the card and
    /// receipt decoders panic; whatever they accept is canonical.
    #[test]
    fn new_decoders_never_panic_and_are_canonical(body in proptest::collection::vec(any::<u8>(), 0..260), tag in 0usize..3) {
        let mut bytes = match tag {
            0 => vec![],
            1 => vec![b'S', 1],
            _ => vec![b'T', 2],
        };
        bytes.extend_from_slice(&body);
        if let Ok(card) = ShopCard::decode(&bytes) {
            prop_assert_eq!(card.encode(), bytes.clone());
            let _ = card.verify();
        }
        if let Ok(receipt) = Receipt::decode(&bytes) {
            prop_assert_eq!(receipt.encode(), bytes.clone());
        }
    }

    /// Every card with a valid name round-trips; every one-byte change of its encoding is either
    /// refused by the decoder or by the signature check.
    #[test]
    fn any_card_round_trips_and_no_byte_can_change(name in "[a-zA-Z0-9 ]{0,40}", at in 0usize..ShopCard::MIN_LEN, byte in any::<u8>()) {
        let fx = Fixture::new();
        let name = format!("S{}x", name.trim());
        let card = fx.card_with(&fx.payee_device, |f| f.name = ShopName::parse(&name).unwrap());
        prop_assert_eq!(ShopCard::decode(&card.encode()).unwrap(), card.clone());
        let mut changed = card.encode();
        let at = at % changed.len();
        prop_assume!(changed[at] != byte);
        changed[at] = byte;
        let refused = ShopCard::decode(&changed).map_or(true, |c| c.verify().is_err());
        prop_assert!(refused, "byte {} changed to {} was accepted", at, byte);
    }

    /// Text parsing of the new kinds never panics on printable input.
    #[test]
    fn new_text_parsers_never_panic(text in "(OPS1:|OPT2:)?[ -~]{0,400}") {
        let _ = ShopCard::from_text(&text);
        let _ = Receipt::from_text(&text);
    }
}
