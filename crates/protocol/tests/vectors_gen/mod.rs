//! Builds `testdata/protocol-vectors.json` from fixed seeds, for the `vectors` test, which
//! compares the file with it and writes it when asked ([`GENERATOR`]).
//! Deterministic: Ed25519 signing is deterministic and every key and nonce comes from a label.

pub mod device_key_vectors;
mod shop_vectors_gen;

use offpay_protocol::testkit::{DAY, Fixture, MixedOrderKey, NOW, bytes16, seed, signing_key, torsion_signature};
use offpay_protocol::*;
use serde_json::{Value, json};
use sha2::Digest;

/// The command that writes the file anew (after a deliberate change of the format).
pub const GENERATOR: &str = "OFFPAY_WRITE_VECTORS=1 cargo test -p offpay-protocol --test vectors";

fn hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(sha2::Sha256::digest(bytes))
}

/// The context a checker needs, in JSON.
#[derive(Clone)]
struct Ctx {
    now: UnixTime,
    issuer_keys: Vec<IssuerKey>,
    me: AccountNumber,
    open_requests: Vec<OpenRequest>,
    revoked_purses: Vec<PurseId>,
    revoked_devices: Vec<VerifyingKey>,
    accepted_before: Vec<PaymentNote>,
    certificate: Option<PurseCertificate>,
    /// Card notes: the shop's card (the check is then `accept_card_note`), the nonces it saw
    /// and the time window.
    card: Option<ShopCard>,
    seen_nonces: Vec<Nonce>,
    window: u64,
    /// Receipts: my currency, the entry ids I accepted, the oldest receipt I take.
    currency: CurrencyCode,
    seen_entries: Vec<u64>,
    max_age: u64,
}

impl Ctx {
    fn json(&self) -> Value {
        json!({
            "now": self.now,
            "issuer_keys": self.issuer_keys.iter().map(|k| json!({
                "key_id": k.key_id.to_hex(),
                "public_key": hex(k.public_key.as_bytes()),
                "not_before": k.not_before,
                "not_after": k.not_after,
            })).collect::<Vec<_>>(),
            "me": self.me.0,
            "open_requests": self.open_requests,
            "revoked_purses": self.revoked_purses,
            "revoked_devices": self.revoked_devices.iter().map(|k| hex(k.as_bytes())).collect::<Vec<_>>(),
            "accepted_before": self.accepted_before.iter().map(|n| hex(n.encode())).collect::<Vec<_>>(),
            "certificate": self.certificate.as_ref().map(|c| hex(c.encode())),
            "card": self.card.as_ref().map(|c| hex(c.encode())),
            "seen_nonces": self.seen_nonces,
            "window": self.window,
            "currency": self.currency.as_str(),
            "seen_entries": self.seen_entries,
            "max_age": self.max_age,
        })
    }
}

/// The parts of a signed object a vector shows. `signer` is the key a verifier checks the
/// signature against (the issuer key for certificates, the certificate's device key for notes
/// and close statements, the request's own device key for requests).
struct Signed {
    kind: Kind,
    signer: VerifyingKey,
    signed_bytes: Vec<u8>,
    signature: Signature,
    encoded: Vec<u8>,
    fields: Value,
}

fn cert_json(c: &PurseCertificate) -> Value {
    let f = c.fields();
    json!({
        "purse_id": f.purse_id, "issuer_key_id": c.issuer_key_id(), "account": f.account,
        "device_key": hex(f.device_key.as_bytes()), "currency": f.currency.as_str(),
        "amount": f.amount, "per_payment_cap": f.per_payment_cap,
        "valid_from": f.valid_from, "valid_until": f.valid_until, "hash": c.hash(),
    })
}

fn signed_cert(c: &PurseCertificate, issuer: &VerifyingKey) -> Signed {
    Signed {
        kind: Kind::Certificate,
        signer: *issuer,
        signed_bytes: c.signed_bytes(),
        signature: *c.signature(),
        encoded: c.encode(),
        fields: cert_json(c),
    }
}

fn signed_request(r: &PaymentRequest) -> Signed {
    let f = r.fields();
    Signed {
        kind: Kind::Request,
        signer: f.payee_device_key,
        signed_bytes: r.signed_bytes(),
        signature: *r.signature(),
        encoded: r.encode(),
        fields: json!({
            "payee": f.payee, "payee_device_key": hex(f.payee_device_key.as_bytes()),
            "currency": f.currency.as_str(), "amount": f.amount, "nonce": f.nonce,
            "expires_at": f.expires_at, "handle": f.handle, "hash": r.hash(),
        }),
    }
}

fn signed_note(n: &PaymentNote) -> Signed {
    let f = n.fields();
    Signed {
        kind: Kind::Note,
        signer: n.certificate().fields().device_key,
        signed_bytes: n.signed_bytes(),
        signature: *n.signature(),
        encoded: n.encode(),
        fields: json!({
            "certificate": cert_json(n.certificate()), "seq": f.seq, "prev_hash": f.prev_hash,
            "cumulative": f.cumulative, "amount": f.amount, "payee": f.payee, "nonce": f.nonce,
            "time": f.time, "hash": n.hash(),
        }),
    }
}

fn signed_close(c: &CloseStatement, device: &VerifyingKey) -> Signed {
    let f = c.fields();
    Signed {
        kind: Kind::Close,
        signer: *device,
        signed_bytes: c.signed_bytes(),
        signature: *c.signature(),
        encoded: c.encode(),
        fields: json!({
            "purse_id": f.purse_id, "last_seq": f.last_seq, "last_hash": f.last_hash,
            "total_spent": f.total_spent, "time": f.time, "hash": c.hash(),
        }),
    }
}

fn signed_card(c: &ShopCard) -> Signed {
    let f = c.fields();
    Signed {
        kind: Kind::ShopCard,
        signer: f.shop_device_key,
        signed_bytes: c.signed_bytes(),
        signature: *c.signature(),
        encoded: c.encode(),
        fields: json!({
            "payee": f.payee, "shop_device_key": hex(f.shop_device_key.as_bytes()),
            "currency": f.currency.as_str(), "issued_at": f.issued_at, "handle": f.handle,
            "name": f.name.as_str(), "nonce_prefix": hex(c.nonce_prefix()), "hash": c.hash(),
        }),
    }
}

fn signed_receipt(r: &Receipt, issuer: &VerifyingKey) -> Signed {
    let f = r.fields();
    Signed {
        kind: Kind::Receipt,
        signer: *issuer,
        signed_bytes: r.signed_bytes(),
        signature: *r.signature(),
        encoded: r.encode(),
        fields: json!({
            "issuer_key_id": r.issuer_key_id(), "entry_id": f.entry_id, "payer": f.payer,
            "payer_handle": f.payer_handle, "payee": f.payee, "currency": f.currency.as_str(),
            "amount": f.amount, "time": f.time, "card": f.card.map(hex), "hash": r.hash(),
        }),
    }
}

struct Out {
    vectors: Vec<Value>,
}

impl Out {
    fn push(&mut self, name: &str, s: &Signed, ctx: &Ctx, reason: Option<&str>, note: &str) {
        self.push_bytes(name, s, s.encoded.clone(), ctx, reason, None, note);
    }

    #[allow(clippy::too_many_arguments)]
    fn push_bytes(
        &mut self,
        name: &str,
        s: &Signed,
        encoded: Vec<u8>,
        ctx: &Ctx,
        reason: Option<&str>,
        decode_error: Option<&str>,
        note: &str,
    ) {
        let mut v = json!({
            "name": name,
            "kind": s.kind.name(),
            "valid": reason.is_none(),
            "reason": reason,
            "decode_error": decode_error,
            "description": note,
            "signer_public_key": hex(s.signer.as_bytes()),
            "signed_bytes": hex(&s.signed_bytes),
            "signature": hex(s.signature.to_bytes()),
            "encoded": hex(&encoded),
            "text": offpay_protocol::text::to_text(s.kind, &encoded),
            "sha256": sha256_hex(&encoded),
            "context": ctx.json(),
        });
        if decode_error.is_none() {
            v["fields"] = s.fields.clone();
        }
        self.vectors.push(v);
    }

    /// Non-canonical variants of a valid object's encoding.
    fn malformed(&mut self, base: &str, s: &Signed, ctx: &Ctx) {
        let e = &s.encoded;
        let mut trailing = e.clone();
        trailing.push(0);
        let mut version = e.clone();
        version[1] = e[1] + 1;
        let version_note = format!("version byte {}", version[1]);
        let mut tag = e.clone();
        tag[0] = Kind::ALL.iter().map(|k| k.tag()).find(|t| *t != e[0]).unwrap_or(0);
        let cases: [(&str, Vec<u8>, &str, &str); 5] = [
            ("trailing_byte", trailing, "trailing_bytes", "one extra zero byte after the signature"),
            ("truncated", e[..e.len() - 1].to_vec(), "truncated", "last signature byte missing"),
            ("empty", Vec::new(), "truncated", "no bytes at all"),
            ("wrong_version", version, "unsupported_version", &version_note),
            ("wrong_tag", tag, "wrong_tag", "tag byte of another kind"),
        ];
        for (suffix, bytes, code, note) in cases {
            self.push_bytes(&format!("{base}_{suffix}"), s, bytes, ctx, Some("malformed"), Some(code), note);
        }
    }
}

fn with_signature(encoded: &[u8], sig: &[u8; 64]) -> Vec<u8> {
    let mut out = encoded[..encoded.len() - 64].to_vec();
    out.extend_from_slice(sig);
    out
}

fn must<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("vector generation: {e:?}"),
    }
}

/// The whole vector file.
pub fn generate() -> Value {
    let fx = Fixture::new();
    let issuer_pk = fx.issuer.verifying_key();
    let device_pk = fx.payer_device.verifying_key();
    let issuer_keys: Vec<IssuerKey> = fx.issuer_keys.iter().cloned().collect();
    let base = Ctx {
        now: NOW,
        issuer_keys: issuer_keys.clone(),
        me: fx.payee,
        open_requests: Vec::new(),
        revoked_purses: Vec::new(),
        revoked_devices: Vec::new(),
        accepted_before: Vec::new(),
        certificate: None,
        card: None,
        seen_nonces: Vec::new(),
        window: 600,
        currency: CurrencyCode::INR,
        seen_entries: Vec::new(),
        max_age: 600,
    };
    let mut out = Out { vectors: Vec::new() };

    // ---- Purse certificates.
    let cert = &fx.certificate;
    let sc = signed_cert(cert, &issuer_pk);
    out.push("certificate_valid", &sc, &base, None, "2,000.00 INR purse, 200.00 cap, 30 days");
    let rogue = signing_key("rogue-issuer");
    let rogue_cert = fx.certificate_with(&rogue, |_| {});
    out.push(
        "certificate_unknown_issuer_key",
        &signed_cert(&rogue_cert, &rogue.verifying_key()),
        &base,
        Some("unknown_issuer_key"),
        "signed by a key whose id is not in issuer_keys",
    );
    let early = fx.certificate_with(&fx.issuer, |f| f.valid_from = NOW - 400 * DAY);
    let early_ctx = Ctx { now: NOW - 399 * DAY, ..base.clone() };
    out.push(
        "certificate_issuer_key_not_valid",
        &signed_cert(&early, &issuer_pk),
        &early_ctx,
        Some("issuer_key_not_valid"),
        "valid_from is before the issuer key's not_before",
    );
    let mut bad = sc.encoded.clone();
    bad[PurseCertificate::LEN - 1] ^= 0x01;
    let bad_cert = must(PurseCertificate::decode(&bad));
    out.push(
        "certificate_bad_issuer_signature",
        &signed_cert(&bad_cert, &issuer_pk),
        &base,
        Some("bad_issuer_signature"),
        "last signature byte changed",
    );
    out.push(
        "certificate_expired",
        &sc,
        &Ctx { now: cert.fields().valid_until + 1, ..base.clone() },
        Some("certificate_expired"),
        "now is one second after valid_until",
    );
    out.push(
        "certificate_not_yet_valid",
        &sc,
        &Ctx { now: cert.fields().valid_from - 1, ..base.clone() },
        Some("certificate_not_yet_valid"),
        "now is one second before valid_from",
    );
    out.malformed("certificate", &sc, &base);
    let mut cap = sc.encoded.clone();
    let cap_at = 2 + 16 + 4 + 8 + 32 + 3 + 8;
    cap[cap_at..cap_at + 8].copy_from_slice(&300_000u64.to_le_bytes());
    out.push_bytes(
        "certificate_cap_over_amount",
        &sc,
        cap,
        &base,
        Some("malformed"),
        Some("invalid_field"),
        "per_payment_cap 3,000.00 > amount 2,000.00",
    );
    let device_at = 2 + 16 + 4 + 8;
    let mut y_is_p = sc.encoded.clone();
    y_is_p[device_at..device_at + 32].copy_from_slice(&{
        let mut b = [0xffu8; 32];
        b[0] = 0xed;
        b[31] = 0x7f;
        b
    });
    out.push_bytes(
        "certificate_non_canonical_device_key",
        &sc,
        y_is_p,
        &base,
        Some("malformed"),
        Some("bad_public_key"),
        "device key bytes with y = p: a curve point (y = 0) whose canonical encoding differs",
    );

    // ---- Payment requests.
    let request = fx.request(1_250, "request-1");
    let sr = signed_request(&request);
    out.push("request_valid", &sr, &base, None, "12.50 INR to account 2002 (chai_shop)");
    let mut bare_fields = fx.request_fields(500, "request-bare");
    bare_fields.handle = None;
    let bare = must(PaymentRequest::sign(bare_fields.clone(), &fx.payee_device));
    out.push("request_valid_no_handle", &signed_request(&bare), &base, None, "5.00 INR, no handle");
    let forged = must(PaymentRequest::sign(bare_fields, &signing_key("someone-else")));
    out.push(
        "request_bad_signature",
        &signed_request(&forged),
        &base,
        Some("bad_request_signature"),
        "signed by a key other than payee_device_key",
    );
    out.push(
        "request_expired",
        &sr,
        &Ctx { now: request.fields().expires_at + 1, ..base.clone() },
        Some("request_expired"),
        "now is one second after expires_at",
    );
    let mixed = MixedOrderKey::new("payee-device-mixed");
    let mixed_fields = RequestFields {
        payee_device_key: must(VerifyingKey::from_bytes(&mixed.public_bytes())),
        ..request.fields().clone()
    };
    let unsigned = must(PaymentRequest::sign(mixed_fields, &fx.payee_device));
    let signature = mixed.sign_strict(&unsigned.signed_bytes());
    let mixed_request = must(PaymentRequest::decode(&with_signature(&unsigned.encode(), &signature)));
    out.push(
        "request_mixed_order_device_key",
        &signed_request(&mixed_request),
        &base,
        Some("bad_request_signature"),
        "payee_device_key has a small-order component (mixed order): verify_strict accepts the signature, but the key is refused",
    );
    out.malformed("request", &sr, &base);
    let handle_at = PaymentRequest::MIN_LEN - 64 - 1;
    let mut upper = sr.encoded.clone();
    upper[handle_at + 1] = b'C';
    out.push_bytes(
        "request_handle_not_canonical",
        &sr,
        upper,
        &base,
        Some("malformed"),
        Some("bad_handle"),
        "handle 'Chai_shop' (upper case)",
    );

    // ---- Payment notes.
    let s0 = PurseState::new(cert);
    let r1 = fx.request(1_250, "note-request-1");
    let r2 = fx.request(15_000, "note-request-2");
    let (s1, n1) = must(prepare_next(cert, &s0, &fx.payer_device, &r1, NOW));
    let (_, n2) = must(prepare_next(cert, &s1, &fx.payer_device, &r2, NOW + 60));
    let open = vec![Fixture::open(&r1), Fixture::open(&r2)];
    let note_ctx = Ctx { open_requests: open.clone(), ..base.clone() };
    let sn1 = signed_note(&n1);
    out.push("note_first_valid", &sn1, &note_ctx, None, "first payment of the purse, 12.50");
    let mut paid = open.clone();
    paid[0].paid = true;
    let after_first = Ctx { open_requests: paid.clone(), accepted_before: vec![n1.clone()], ..base.clone() };
    out.push("note_second_valid", &signed_note(&n2), &after_first, None, "second payment, 150.00, links to the first");
    out.push("note_replayed", &sn1, &after_first, Some("already_accepted"), "the first note again");

    let torsion = with_signature(&sn1.encoded, &torsion_signature(&seed("payer-device"), &sn1.signed_bytes));
    let torsion_note = must(PaymentNote::decode(&torsion));
    out.push(
        "note_torsion_signature",
        &signed_note(&torsion_note),
        &note_ctx,
        Some("bad_device_signature"),
        "R = rB + T with T of order 8: cofactored (ZIP-215) verification accepts, verify_strict refuses",
    );
    // A purse certified for the identity point (small order) with the signature R = identity,
    // s = 0, which cofactorless non-strict verification accepts for any message.
    let weak_key = must(VerifyingKey::from_bytes(&{
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    }));
    let weak_cert = fx.certificate_with(&fx.issuer, |f| {
        f.device_key = weak_key;
        f.purse_id = PurseId::from_bytes(bytes16("purse-weak"));
    });
    let weak_fields = NoteFields { prev_hash: weak_cert.hash(), ..*n1.fields() };
    let weak_unsigned = must(PaymentNote::sign(weak_cert, weak_fields, &fx.payer_device));
    let mut identity_sig = [0u8; 64];
    identity_sig[0] = 1;
    let weak = must(PaymentNote::decode(&with_signature(&weak_unsigned.encode(), &identity_sig)));
    out.push(
        "note_small_order_device_key",
        &signed_note(&weak),
        &note_ctx,
        Some("bad_device_signature"),
        "device key and R are the identity point, s = 0: verify_strict refuses small-order keys and R",
    );
    let mut flipped = sn1.encoded.clone();
    flipped[2 + PurseCertificate::LEN + 4 + 32 + 8] ^= 0x02;
    let changed = must(PaymentNote::decode(&flipped));
    out.push(
        "note_amount_changed",
        &signed_note(&changed),
        &note_ctx,
        Some("bad_device_signature"),
        "amount 12.50 changed to 12.48 after signing",
    );

    let resign = |edit: &dyn Fn(&mut NoteFields)| {
        let mut f = *n1.fields();
        edit(&mut f);
        must(PaymentNote::sign(cert.clone(), f, &fx.payer_device))
    };
    let other_payee = resign(&|f| f.payee = AccountNumber(3003));
    out.push(
        "note_wrong_payee",
        &signed_note(&other_payee),
        &note_ctx,
        Some("wrong_payee"),
        "pays account 3003, checked by 2002",
    );
    out.push("note_unknown_request", &sn1, &base, Some("unknown_request"), "no open request has this nonce");
    let paid_ctx = Ctx { open_requests: paid.clone(), ..base.clone() };
    out.push("note_request_already_paid", &sn1, &paid_ctx, Some("request_already_paid"), "the request is marked paid");
    let mut asked = open.clone();
    asked[0].amount = Amount::from_minor(1_200).unwrap_or_default();
    out.push(
        "note_amount_mismatch",
        &sn1,
        &Ctx { open_requests: asked, ..base.clone() },
        Some("amount_mismatch"),
        "request asked 12.00, note pays 12.50",
    );
    let big = fx.request(25_000, "note-request-big");
    let over_cap = resign(&|f| {
        f.amount = big.fields().amount;
        f.cumulative = big.fields().amount;
        f.nonce = big.fields().nonce;
    });
    let big_ctx = Ctx { open_requests: vec![Fixture::open(&big)], ..base.clone() };
    out.push(
        "note_over_payment_cap",
        &signed_note(&over_cap),
        &big_ctx,
        Some("over_payment_cap"),
        "250.00 with a 200.00 cap",
    );
    let limit_cases = [
        (
            MAX_NOTES_PER_PURSE + 1,
            "note_over_note_limit",
            Some("over_note_limit"),
            "note 1,001 of a purse, one past the most notes one purse may sign",
        ),
        (
            MAX_NOTES_PER_PURSE,
            "note_at_note_limit",
            None,
            "note 1,000 of a purse, the last one it may sign, is accepted",
        ),
    ];
    for (seq, name, reason, description) in limit_cases {
        let late = resign(&|f| {
            f.seq = seq;
            f.prev_hash = Hash256::from_bytes([0x11; 32]);
            f.cumulative = Amount::from_minor(100_000).unwrap_or_default();
        });
        out.push(name, &signed_note(&late), &note_ctx, reason, description);
    }
    let over_purse = resign(&|f| {
        f.seq = 15;
        f.prev_hash = Hash256::from_bytes([0x11; 32]);
        f.cumulative = Amount::from_minor(200_001).unwrap_or_default();
    });
    out.push(
        "note_over_purse_amount",
        &signed_note(&over_purse),
        &note_ctx,
        Some("over_purse_amount"),
        "cumulative 2,000.01 in a 2,000.00 purse",
    );
    let fork = resign(&|f| {
        f.amount = r2.fields().amount;
        f.cumulative = r2.fields().amount;
        f.nonce = r2.fields().nonce;
    });
    out.push(
        "note_fork",
        &signed_note(&fork),
        &after_first,
        Some("inconsistent_with_earlier_note"),
        "a second, different note 1 from the same purse",
    );
    out.push(
        "note_revoked_purse",
        &sn1,
        &Ctx { revoked_purses: vec![cert.purse_id()], ..note_ctx.clone() },
        Some("revoked"),
        "purse id on the revocation list",
    );
    out.push(
        "note_revoked_device",
        &sn1,
        &Ctx { revoked_devices: vec![device_pk], ..note_ctx.clone() },
        Some("revoked"),
        "device key on the revocation list",
    );
    out.push(
        "note_certificate_expired",
        &sn1,
        &Ctx { now: cert.fields().valid_until + 1, ..note_ctx.clone() },
        Some("certificate_expired"),
        "payee's clock after valid_until",
    );
    out.push(
        "note_unknown_issuer_key",
        &sn1,
        &Ctx { issuer_keys: Vec::new(), ..note_ctx.clone() },
        Some("unknown_issuer_key"),
        "payee has no cached issuer keys",
    );
    let bad_start = resign(&|f| f.prev_hash = Hash256::from_bytes([0x22; 32]));
    out.push(
        "note_bad_chain_start",
        &signed_note(&bad_start),
        &note_ctx,
        Some("bad_chain_start"),
        "note 1 not linked to its certificate",
    );
    out.malformed("note", &sn1, &note_ctx);
    let mut huge = sn1.encoded.clone();
    let amount_at = 2 + PurseCertificate::LEN + 4 + 32 + 8;
    huge[amount_at..amount_at + 8].copy_from_slice(&(1u64 << 53).to_le_bytes());
    out.push_bytes(
        "note_amount_out_of_range",
        &sn1,
        huge,
        &note_ctx,
        Some("malformed"),
        Some("amount_out_of_range"),
        "amount 2^53",
    );

    // ---- Close statements.
    let close_ctx = Ctx { certificate: Some(cert.clone()), ..base.clone() };
    let close = must(s1.close(cert, &fx.payer_device, NOW + 120));
    let sx = signed_close(&close, &device_pk);
    out.push("close_valid", &sx, &close_ctx, None, "closed after note 1");
    let empty = must(s0.close(cert, &fx.payer_device, NOW + 120));
    out.push("close_valid_empty", &signed_close(&empty, &device_pk), &close_ctx, None, "closed before any note");
    let thief = signing_key("thief");
    let forged = must(CloseStatement::sign(*close.fields(), &thief));
    out.push(
        "close_bad_signature",
        &signed_close(&forged, &device_pk),
        &close_ctx,
        Some("bad_device_signature"),
        "signed by a key other than the certificate's device key",
    );
    let other = must(CloseStatement::sign(
        CloseFields { purse_id: PurseId::from_bytes([0x33; 16]), ..*close.fields() },
        &fx.payer_device,
    ));
    out.push(
        "close_wrong_purse",
        &signed_close(&other, &device_pk),
        &close_ctx,
        Some("wrong_purse"),
        "another purse id",
    );
    out.malformed("close", &sx, &close_ctx);

    shop_vectors_gen::shop_vectors(&mut out, &fx, &base);

    json!({
        "description": "offpay offline protocol test vectors: see docs/PROTOCOL.md. All binary values are lowercase hex; amounts are integers in minor units; times are Unix seconds.",
        "version": 1,
        "generator": GENERATOR,
        "keys": {
            "issuer": {"seed": hex(seed("issuer-1")), "public_key": hex(issuer_pk.as_bytes()), "key_id": cert.issuer_key_id()},
            "payer_device": {"seed": hex(seed("payer-device")), "public_key": hex(device_pk.as_bytes())},
            "payee_device": {"seed": hex(seed("payee-device")), "public_key": hex(fx.payee_device.verifying_key().as_bytes())},
        },
        "domains": Kind::ALL.iter().map(|k| json!({
            "kind": k.name(),
            "tag": k.tag(),
            "version": k.version(),
            "domain_hex": hex(k.domain()),
            "text_prefix": k.text_prefix(),
        })).collect::<Vec<_>>(),
        "vectors": out.vectors,
        "device_keys": device_key_vectors::generate(),
    })
}
