//! The card-payment part of `testdata/protocol-vectors.json` (issue 14): shop cards, receipts,
//! and notes without a request checked by `accept_card_note`. Deterministic like the rest.

use super::{Ctx, Out, must, signed_card, signed_note, signed_receipt, with_signature};
use offpay_protocol::testkit::{DAY, Fixture, MixedOrderKey, NOW, bytes16, signing_key};
use offpay_protocol::*;

fn random12(label: &str) -> [u8; 12] {
    let mut out = [0u8; 12];
    out.copy_from_slice(&bytes16(label)[..12]);
    out
}

fn inr(minor: u64) -> Amount {
    must(Amount::from_minor(minor).ok_or("amount"))
}

fn usd() -> CurrencyCode {
    must(CurrencyCode::parse("USD").ok_or("USD"))
}

pub fn shop_vectors(out: &mut Out, fx: &Fixture, base: &Ctx) {
    cards(out, fx, base);
    receipts(out, fx, base);
    card_notes(out, fx, base);
}

fn cards(out: &mut Out, fx: &Fixture, base: &Ctx) {
    let card = fx.card();
    let sc = signed_card(&card);
    out.push("card_valid", &sc, base, None, "account 2002, chai_shop, \"Chai Point\", INR, no expiry");
    let hindi = fx.card_with(&fx.payee_device, |f| {
        f.handle = None;
        f.name = must(ShopName::parse("चाय की दुकान"));
    });
    out.push("card_valid_unicode_name", &signed_card(&hindi), base, None, "no handle, a Devanagari name (32 bytes)");
    let joiner = fx.card_with(&fx.payee_device, |f| f.name = must(ShopName::parse("क्\u{200D}ष Store\u{180E}")));
    out.push(
        "card_valid_joiner_name",
        &signed_card(&joiner),
        base,
        None,
        "a zero-width joiner inside and U+180E (not White_Space) at the end are allowed",
    );
    let forged = fx.card_with(&signing_key("someone-else"), |_| {});
    out.push(
        "card_bad_signature",
        &signed_card(&forged),
        base,
        Some("bad_card_signature"),
        "signed by a key other than shop_device_key",
    );
    let mixed = MixedOrderKey::new("shop-device-mixed");
    let key = must(VerifyingKey::from_bytes(&mixed.public_bytes()));
    let unsigned = fx.card_with(&fx.payee_device, |f| f.shop_device_key = key);
    let mixed_card =
        must(ShopCard::decode(&with_signature(&unsigned.encode(), &mixed.sign_strict(&unsigned.signed_bytes()))));
    out.push(
        "card_mixed_order_device_key",
        &signed_card(&mixed_card),
        base,
        Some("bad_card_signature"),
        "shop_device_key has a small-order component: verify_strict accepts the signature, the device-key check refuses the key",
    );
    out.malformed("card", &sc, base);

    // Offsets in the fixture card: handle length at 53, "chai_shop" at 54..63, name length at
    // 63, "Chai Point" at 64..74.
    let e = &sc.encoded;
    let name_at = 64;
    let patch = |at: usize, byte: u8| {
        let mut b = e.clone();
        b[at] = byte;
        b
    };
    let mut empty_name = e.clone();
    empty_name[name_at - 1] = 0;
    empty_name.drain(name_at..name_at + 10);
    let splice = |at: usize, bytes: &[u8]| {
        let mut b = e.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    let cases: [(&str, Vec<u8>, &str, &str); 11] = [
        ("card_name_control_character", patch(name_at + 4, b'\n'), "bad_name", "a line feed in the name"),
        ("card_name_not_utf8", patch(name_at, 0xff), "bad_name", "name byte 0xff: not UTF-8"),
        ("card_name_trailing_space", patch(name_at + 9, b' '), "bad_name", "name ends with a space"),
        ("card_name_too_long", patch(name_at - 1, 49), "bad_name", "name length byte 49 (most is 48)"),
        ("card_name_empty", empty_name, "bad_name", "name length 0"),
        (
            "card_name_bidi_override",
            splice(name_at + 1, "\u{202E}".as_bytes()),
            "bad_name",
            "U+202E (right-to-left override) in the name",
        ),
        (
            "card_name_no_break_space_at_end",
            splice(name_at + 8, "\u{00A0}".as_bytes()),
            "bad_name",
            "name ends with U+00A0, Unicode White_Space",
        ),
        ("card_name_byte_order_mark", splice(name_at + 1, "\u{FEFF}".as_bytes()), "bad_name", "U+FEFF in the name"),
        ("card_handle_not_canonical", patch(54, b'C'), "bad_handle", "handle 'Chai_shop' (upper case)"),
        ("card_handle_too_long", patch(53, 33), "bad_handle", "handle length byte 33"),
        ("card_bad_currency", patch(2 + 8 + 32, b'i'), "bad_currency", "currency 'iNR'"),
    ];
    for (name, bytes, code, note) in cases {
        out.push_bytes(name, &sc, bytes, base, Some("malformed"), Some(code), note);
    }
    let mut y_is_p = e.clone();
    y_is_p[10..42].copy_from_slice(&{
        let mut b = [0xffu8; 32];
        b[0] = 0xed;
        b[31] = 0x7f;
        b
    });
    out.push_bytes(
        "card_non_canonical_device_key",
        &sc,
        y_is_p,
        base,
        Some("malformed"),
        Some("bad_public_key"),
        "device key bytes with y = p",
    );
}

fn receipt_fields(card: &ShopCard) -> ReceiptFields {
    ReceiptFields {
        entry_id: 4_711,
        payer: AccountNumber(1001),
        payer_handle: Handle::parse("asha").ok(),
        payee: AccountNumber(2002),
        currency: CurrencyCode::INR,
        amount: inr(34_900),
        time: NOW - 60,
        card: Some(card.nonce_prefix()),
    }
}

fn receipts(out: &mut Out, fx: &Fixture, base: &Ctx) {
    let issuer_pk = fx.issuer.verifying_key();
    let card = fx.card();
    let receipt_fields = || receipt_fields(&card);
    let receipt = must(Receipt::issue(receipt_fields(), &fx.issuer));
    let sr = signed_receipt(&receipt, &issuer_pk);
    let ctx = Ctx { card: Some(card.clone()), seen_entries: vec![4_700, 4_705], ..base.clone() };
    out.push("receipt_valid", &sr, &ctx, None, "349.00 INR from asha (1001) to 2002, entry 4711, a minute old");
    let bare =
        must(Receipt::issue(ReceiptFields { payer_handle: None, entry_id: 4_712, ..receipt_fields() }, &fx.issuer));
    out.push("receipt_valid_no_handle", &signed_receipt(&bare, &issuer_pk), &ctx, None, "payer without a handle");
    let rogue = signing_key("rogue-issuer");
    let rogue_receipt = must(Receipt::issue(receipt_fields(), &rogue));
    out.push(
        "receipt_unknown_issuer_key",
        &signed_receipt(&rogue_receipt, &rogue.verifying_key()),
        &ctx,
        Some("unknown_issuer_key"),
        "signed by a key whose id is not in issuer_keys",
    );
    let early = must(Receipt::issue(ReceiptFields { time: NOW - 400 * DAY, ..receipt_fields() }, &fx.issuer));
    out.push(
        "receipt_issuer_key_not_valid",
        &signed_receipt(&early, &issuer_pk),
        &Ctx { now: NOW - 400 * DAY + 60, ..ctx.clone() },
        Some("issuer_key_not_valid"),
        "time is before the issuer key's not_before",
    );
    let mut bad = sr.encoded.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let bad = must(Receipt::decode(&bad));
    out.push(
        "receipt_bad_signature",
        &signed_receipt(&bad, &issuer_pk),
        &ctx,
        Some("bad_receipt_signature"),
        "last signature byte changed",
    );
    let mut more = sr.encoded.clone();
    more[2 + 4 + 8 + 8 + 8 + 3] ^= 0x01;
    let more = must(Receipt::decode(&more));
    out.push(
        "receipt_amount_changed",
        &signed_receipt(&more, &issuer_pk),
        &ctx,
        Some("bad_receipt_signature"),
        "amount 349.00 changed to 349.01 after signing",
    );
    out.push(
        "receipt_for_another_payee",
        &sr,
        &Ctx { me: AccountNumber(3003), ..ctx.clone() },
        Some("receipt_for_another_payee"),
        "checked by account 3003",
    );
    out.push(
        "receipt_wrong_currency",
        &sr,
        &Ctx { currency: usd(), ..ctx.clone() },
        Some("wrong_currency"),
        "the shop takes USD",
    );
    let counter_key = signing_key("second-counter");
    let other_card = fx.card_with(&counter_key, |f| f.shop_device_key = counter_key.verifying_key());
    out.push(
        "receipt_other_card",
        &sr,
        &Ctx { card: Some(other_card), ..ctx.clone() },
        Some("wrong_card"),
        "checked by another counter of the same shop (its own card and key)",
    );
    let no_card = must(Receipt::issue(ReceiptFields { card: None, entry_id: 4_713, ..receipt_fields() }, &fx.issuer));
    out.push(
        "receipt_without_card",
        &signed_receipt(&no_card, &issuer_pk),
        &ctx,
        Some("wrong_card"),
        "a receipt that names no card is taken at no counter",
    );
    out.push(
        "receipt_replayed",
        &sr,
        &Ctx { seen_entries: vec![4_700, 4_711], ..ctx.clone() },
        Some("receipt_replayed"),
        "entry 4711 already accepted",
    );
    out.push(
        "receipt_stale",
        &sr,
        &Ctx { now: NOW - 60 + 601, ..ctx.clone() },
        Some("stale_receipt"),
        "601 seconds old, max_age 600",
    );
    out.malformed("receipt", &sr, &ctx);
    let mut zero = sr.encoded.clone();
    let amount_at = 2 + 4 + 8 + 8 + 8 + 3;
    zero[amount_at..amount_at + 8].copy_from_slice(&0u64.to_le_bytes());
    out.push_bytes("receipt_zero_amount", &sr, zero, &ctx, Some("malformed"), Some("invalid_field"), "amount 0");
    let mut huge = sr.encoded.clone();
    huge[amount_at..amount_at + 8].copy_from_slice(&(1u64 << 53).to_le_bytes());
    out.push_bytes(
        "receipt_amount_out_of_range",
        &sr,
        huge,
        &ctx,
        Some("malformed"),
        Some("amount_out_of_range"),
        "amount 2^53",
    );
    let mut first = sr.encoded.clone();
    first[1] = 1;
    out.push_bytes(
        "receipt_version_1",
        &sr,
        first,
        &ctx,
        Some("malformed"),
        Some("unsupported_version"),
        "version byte 1: the layout before receipts named their card",
    );
    let card_flag_at = amount_at + 8 + 8;
    let mut flag = sr.encoded.clone();
    flag[card_flag_at] = 2;
    out.push_bytes("receipt_card_flag_two", &sr, flag, &ctx, Some("malformed"), Some("invalid_field"), "card flag 2");
    let mut stray = no_card.encode();
    stray[card_flag_at + 1] = 0x01;
    out.push_bytes(
        "receipt_no_card_with_bytes",
        &signed_receipt(&no_card, &issuer_pk),
        stray,
        &ctx,
        Some("malformed"),
        Some("invalid_field"),
        "card flag 0 but a card byte not zero (one encoding per receipt)",
    );
    let mut upper = sr.encoded.clone();
    upper[Receipt::MIN_LEN - 64] = b'A';
    out.push_bytes(
        "receipt_handle_not_canonical",
        &sr,
        upper,
        &ctx,
        Some("malformed"),
        Some("bad_handle"),
        "payer handle 'Asha'",
    );
}

fn card_notes(out: &mut Out, fx: &Fixture, base: &Ctx) {
    let card = fx.card();
    let cert = &fx.certificate;
    let s0 = PurseState::new(cert);
    let (s1, n1) = must(prepare_card_payment(cert, &s0, &fx.payer_device, &card, inr(14_900), random12("card-1"), NOW));
    let (_, n2) =
        must(prepare_card_payment(cert, &s1, &fx.payer_device, &card, inr(5_000), random12("card-2"), NOW + 300));
    let ctx =
        Ctx { card: Some(card.clone()), seen_nonces: vec![Nonce::from_bytes(bytes16("old-request"))], ..base.clone() };
    let sn1 = signed_note(&n1);
    out.push("card_note_valid", &sn1, &ctx, None, "149.00 to the card of 2002, no request, payer's clock = payee's");
    let after =
        Ctx { accepted_before: vec![n1.clone()], seen_nonces: vec![n1.fields().nonce], now: NOW + 400, ..ctx.clone() };
    out.push(
        "card_note_second_valid",
        &signed_note(&n2),
        &after,
        None,
        "second card payment, 50.00, links to the first",
    );
    out.push("card_note_already_accepted", &sn1, &after, Some("already_accepted"), "the first note again");
    // Another purse of the same payer pays the card with a nonce the shop already saw.
    let cert2 = fx.certificate_with(&fx.issuer, |f| f.purse_id = PurseId::from_bytes(bytes16("purse-2")));
    let replay = must(PaymentNote::sign(
        cert2.clone(),
        NoteFields { prev_hash: cert2.hash(), ..*n1.fields() },
        &fx.payer_device,
    ));
    out.push(
        "card_note_replayed_nonce",
        &signed_note(&replay),
        &Ctx { seen_nonces: vec![n1.fields().nonce], ..ctx.clone() },
        Some("nonce_replayed"),
        "a note from another purse with a nonce this shop already accepted",
    );
    out.push(
        "card_note_stale",
        &sn1,
        &Ctx { now: NOW + 601, ..ctx.clone() },
        Some("stale_note"),
        "note time 601 seconds before the payee's clock, window 600",
    );
    out.push(
        "card_note_from_the_future",
        &sn1,
        &Ctx { now: NOW - 601, ..ctx.clone() },
        Some("stale_note"),
        "note time 601 seconds after the payee's clock, window 600",
    );
    out.push(
        "card_note_at_window_edge",
        &sn1,
        &Ctx { now: NOW + 600, ..ctx.clone() },
        None,
        "note time exactly 600 seconds before the payee's clock",
    );
    let other_card = fx.card_with(&fx.payee_device, |f| f.issued_at = NOW - DAY);
    out.push(
        "card_note_wrong_card",
        &sn1,
        &Ctx { card: Some(other_card), ..ctx.clone() },
        Some("wrong_card"),
        "the shop's device now shows another card (a new issued_at): the nonce prefix differs",
    );
    let request = fx.request(14_900, "request-not-card");
    let (_, request_note) = must(prepare_next(cert, &s0, &fx.payer_device, &request, NOW));
    out.push(
        "card_note_answers_a_request",
        &signed_note(&request_note),
        &ctx,
        Some("wrong_card"),
        "a note paying a payment request is not a card payment",
    );
    let resign = |edit: &dyn Fn(&mut NoteFields)| {
        let mut f = *n1.fields();
        edit(&mut f);
        must(PaymentNote::sign(cert.clone(), f, &fx.payer_device))
    };
    let usd_card = fx.card_with(&fx.payee_device, |f| f.currency = usd());
    let usd_note = resign(&|f| f.nonce = card_nonce(&usd_card, random12("card-usd")));
    out.push(
        "card_note_wrong_currency",
        &signed_note(&usd_note),
        &Ctx { card: Some(usd_card.clone()), ..ctx.clone() },
        Some("wrong_currency"),
        "an INR purse paying a USD card",
    );
    let other_payee = resign(&|f| f.payee = AccountNumber(3003));
    out.push("card_note_wrong_payee", &signed_note(&other_payee), &ctx, Some("wrong_payee"), "pays account 3003");
    let big = resign(&|f| {
        f.amount = inr(25_000);
        f.cumulative = inr(25_000);
    });
    out.push(
        "card_note_over_payment_cap",
        &signed_note(&big),
        &ctx,
        Some("over_payment_cap"),
        "250.00 with a 200.00 cap",
    );
    let mut flipped = sn1.encoded.clone();
    flipped[2 + PurseCertificate::LEN + 4 + 32 + 8] ^= 0x04;
    out.push(
        "card_note_amount_changed",
        &signed_note(&must(PaymentNote::decode(&flipped))),
        &ctx,
        Some("bad_device_signature"),
        "amount 149.00 changed to 148.96 after signing",
    );
    out.push(
        "card_note_revoked_purse",
        &sn1,
        &Ctx { revoked_purses: vec![cert.purse_id()], ..ctx.clone() },
        Some("revoked"),
        "purse id on the revocation list",
    );
}
