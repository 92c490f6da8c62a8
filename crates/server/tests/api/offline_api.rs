//! The offline API over real HTTP (docs/API-OFFLINE.md): device registration, purse load with a
//! certificate that verifies against the published issuer keys, notes uploaded by payee and payer
//! in either order (paid exactly once), a fork proven and revoked, close, refusals.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::helpers::{T0, TestServer, assert_error, next_event, offline_server, ws_connect};
use offpay_protocol::testkit::{bytes16, signing_key};
use offpay_protocol::{
    AccountNumber, Amount, CloseFields, CloseStatement, Encoded, Hash256, IssuerKey, IssuerKeys, KeyId,
    MAX_NOTES_PER_PURSE, Nonce, NoteFields, PaymentNote, PurseCertificate, Receipt, ReceiptContext, RejectReason,
    SigningKey, VerifyingKey,
};
use offpay_server::Config;
use offpay_server::issuer::Issuer;
use serde_json::{Value, json};

struct Chain {
    cert: PurseCertificate,
    device: SigningKey,
    seq: u32,
    last: Hash256,
    spent: u64,
}

impl Chain {
    fn pay(&mut self, payee: u64, minor: u64, nonce: &str) -> String {
        self.seq += 1;
        self.spent += minor;
        let fields = NoteFields {
            seq: self.seq,
            prev_hash: self.last,
            cumulative: Amount::from_minor(self.spent).unwrap(),
            amount: Amount::from_minor(minor).unwrap(),
            payee: AccountNumber(payee),
            nonce: Nonce::from_bytes(bytes16(nonce)),
            time: 0,
        };
        let note = PaymentNote::sign(self.cert.clone(), fields, &self.device).unwrap();
        self.last = note.hash();
        note.to_text()
    }

    fn close(&self) -> String {
        let fields = CloseFields {
            purse_id: self.cert.purse_id(),
            last_seq: self.seq,
            last_hash: self.last,
            total_spent: Amount::from_minor(self.spent).unwrap(),
            time: 0,
        };
        CloseStatement::sign(fields, &self.device).unwrap().to_text()
    }
}

/// The issuer keys as a wallet caches them from `GET /v1/issuer-keys`.
async fn cached_issuer_keys(server: &TestServer) -> IssuerKeys {
    let (_, keys) = server.client().get("/v1/issuer-keys", None).await;
    IssuerKeys::new(keys["keys"].as_array().unwrap().iter().map(|k| {
        let mut pk = [0u8; 32];
        hex::decode_to_slice(k["public_key"].as_str().unwrap(), &mut pk).unwrap();
        IssuerKey::new(
            VerifyingKey::from_bytes(&pk).unwrap(),
            k["not_before"].as_u64().unwrap(),
            k["not_after"].as_u64().unwrap(),
        )
    }))
    .unwrap()
}

async fn account(server: &TestServer, token: &str) -> u64 {
    let (_, me) = server.client().get("/v1/me", Some(token)).await;
    me["account"].as_u64().unwrap()
}

async fn upload(server: &TestServer, token: &str, notes: &[&str]) -> Vec<Value> {
    let (status, body) = server.client().post("/v1/notes", Some(token), None, &json!({"notes": notes})).await;
    assert_eq!(status.as_u16(), 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

fn status_of(result: &Value) -> (&str, u64) {
    (result["status"].as_str().unwrap(), result["amount"].as_u64().unwrap())
}

async fn load_raw(
    server: &TestServer,
    token: &str,
    device: &SigningKey,
    minor: u64,
    key: &str,
) -> (reqwest::StatusCode, Value) {
    let pk = hex::encode(device.verifying_key().as_bytes());
    let (status, body) = server
        .client()
        .post("/v1/purses", Some(token), Some(key), &json!({"amount": minor, "device_public_key": pk}))
        .await;
    (status, body)
}

async fn load(server: &TestServer, token: &str, device: &SigningKey, minor: u64, key: &str) -> (u16, Value) {
    let (status, body) = load_raw(server, token, device, minor, key).await;
    (status.as_u16(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_settle_once_fork_and_close() {
    let (server, _keys) = offline_server().await;
    let c = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.deposit("alice", 100_000).await;
    let (alice_no, bob_no, carol_no) =
        (account(&server, &alice).await, account(&server, &bob).await, account(&server, &carol).await);

    let (_, config) = c.get("/v1/config", None).await;
    assert_eq!(config["offline"]["per_payment_cap"], 20_000);
    assert_eq!(config["offline"]["purse_max"], 200_000);

    // Issuer keys as a wallet caches them.
    let (_, keys) = c.get("/v1/issuer-keys", None).await;
    let cached = IssuerKeys::new(keys["keys"].as_array().unwrap().iter().map(|k| {
        let mut pk = [0u8; 32];
        hex::decode_to_slice(k["public_key"].as_str().unwrap(), &mut pk).unwrap();
        let key = IssuerKey::new(
            VerifyingKey::from_bytes(&pk).unwrap(),
            k["not_before"].as_u64().unwrap(),
            k["not_after"].as_u64().unwrap(),
        );
        assert_eq!(key.key_id, KeyId::from_hex(k["key_id"].as_str().unwrap()).unwrap());
        key
    }))
    .unwrap();

    let device = signing_key("alice-phone");
    let pk = hex::encode(device.verifying_key().as_bytes());
    assert_error(&load_raw(&server, &alice, &device, 50_000, "load-0001").await, 403, "unknown_device");
    let (status, body) = c.post("/v1/devices", Some(&alice), None, &json!({"public_key": pk})).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (201, Some("active")));
    assert_error(&c.post("/v1/devices", Some(&bob), None, &json!({"public_key": pk})).await, 409, "device_taken");
    assert_error(&c.post("/v1/devices", Some(&bob), None, &json!({"public_key": "zz"})).await, 400, "invalid_request");
    assert_error(&load_raw(&server, &alice, &device, 300_000, "load-0002").await, 400, "offline_limit");
    let missing_key = c.post("/v1/purses", Some(&alice), None, &json!({"amount": 1000, "device_public_key": pk})).await;
    assert_error(&missing_key, 400, "missing_idempotency_key");

    let (status, purse) = load(&server, &alice, &device, 50_000, "load-0003").await;
    assert_eq!(status, 201, "{purse}");
    assert_eq!(purse["balance"], 50_000);
    let cert = PurseCertificate::from_text(purse["certificate"].as_str().unwrap()).unwrap();
    cert.verify(&cached, (T0 / 1000) as u64).unwrap();
    assert_eq!(cert.fields().account, AccountNumber(alice_no));
    assert_eq!(cert.fields().per_payment_cap.minor(), 20_000);
    assert_eq!(purse["purse_id"], cert.purse_id().to_hex());
    let (status, again) = load(&server, &alice, &device, 50_000, "load-0003").await;
    assert_eq!((status, &again["purse_id"], &again["balance"]), (200, &purse["purse_id"], &json!(50_000)));

    // Payee first, then payer: paid once.
    let mut chain = Chain { cert: cert.clone(), device: device.clone(), seq: 0, last: cert.hash(), spent: 0 };
    let first = chain.pay(bob_no, 15_000, "bob-1");
    assert_eq!(status_of(&upload(&server, &bob, &[&first]).await[0]), ("settled", 15_000));
    assert_eq!(status_of(&upload(&server, &alice, &[&first]).await[0]), ("duplicate", 0));
    // Payer first, then payee: paid once.
    let second = chain.pay(bob_no, 5_000, "bob-2");
    assert_eq!(status_of(&upload(&server, &alice, &[&second]).await[0]), ("settled", 5_000));
    assert_eq!(status_of(&upload(&server, &bob, &[&second, &first]).await[1]), ("duplicate", 0));
    assert_eq!(server.balance(&bob).await, 20_000);
    // A malformed note and a changed one are refused, nothing moves.
    let mut changed = first.clone().into_bytes();
    let last = changed.len() - 10;
    changed[last] = if changed[last] == b'0' { b'1' } else { b'0' };
    let results = upload(&server, &bob, &["OPN1:garbage", std::str::from_utf8(&changed).unwrap()]).await;
    assert_eq!(results[0]["reason"], "malformed");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(server.balance(&bob).await, 20_000);
    // Alice's own wallet, modified, signs note 1,001 of the purse (one past the most one purse
    // may make); neither the payee's upload nor hers gets it paid, and it proves no fraud.
    let mut past_limit = Chain {
        cert: cert.clone(),
        device: device.clone(),
        seq: MAX_NOTES_PER_PURSE,
        last: chain.last,
        spent: chain.spent,
    };
    let past = past_limit.pay(bob_no, 1_000, "bob-past-limit");
    for uploader in [&bob, &alice] {
        let result = &upload(&server, uploader, &[&past]).await[0];
        assert_eq!((status_of(result), result["reason"].as_str()), (("rejected", 0), Some("over_note_limit")));
    }
    assert_eq!(server.balance(&bob).await, 20_000);
    let (_, me) = c.get("/v1/me", Some(&alice)).await;
    assert_eq!(me["frozen"], false);

    // A second purse is closed: spent 30.00 of 100.00, 10.00 still pending.
    let (_, purse2) = load(&server, &alice, &device, 10_000, "load-0004").await;
    let cert2 = PurseCertificate::from_text(purse2["certificate"].as_str().unwrap()).unwrap();
    let mut chain2 = Chain { cert: cert2.clone(), device: device.clone(), seq: 0, last: cert2.hash(), spent: 0 };
    let paid = chain2.pay(carol_no, 2_000, "carol-1");
    let pending = chain2.pay(carol_no, 1_000, "carol-2");
    upload(&server, &carol, &[&paid]).await;
    let path = format!("/v1/purses/{}/close", cert2.purse_id());
    let (status, closed) = c.post(&path, Some(&alice), Some("close-0001"), &json!({"close": chain2.close()})).await;
    assert_eq!(status.as_u16(), 200, "{closed}");
    assert_eq!((closed["returned"].as_i64(), closed["held"].as_i64()), (Some(7_000), Some(1_000)));
    let again = c.post(&path, Some(&alice), Some("close-0002"), &json!({"close": chain2.close()})).await;
    assert_error(&again, 409, "purse_not_open");
    assert_eq!(status_of(&upload(&server, &carol, &[&pending]).await[0]), ("settled", 1_000));
    // Two purses before their settlement deadline (a closed one counts): a third is refused.
    assert_eq!(config["offline"]["max_open_purses"], 2);
    assert_error(&load_raw(&server, &alice, &device, 1_000, "load-0005").await, 409, "too_many_purses");
    assert_eq!(server.balance(&alice).await, 47_000);

    // A clone of alice's device pays carol with sequence 1 of the first purse: carol is paid
    // (good faith), the fork is proven, purse and device revoked, alice frozen.
    let mut clone = Chain { cert: cert.clone(), device: device.clone(), seq: 0, last: cert.hash(), spent: 0 };
    let forked = clone.pay(carol_no, 15_000, "carol-fork");
    let results = upload(&server, &carol, &[&forked]).await;
    assert_eq!(status_of(&results[0]), ("fraud", 15_000));
    assert_eq!(results[0]["reason"], "same_sequence");
    let (_, revoked) = c.get("/v1/revocations", None).await;
    assert_eq!(revoked["purses"], json!([cert.purse_id().to_hex()]));
    assert_eq!(revoked["devices"], json!([pk]));
    let (_, me) = c.get("/v1/me", Some(&alice)).await;
    assert_eq!(me["frozen"], true);
    let (_, purses) = c.get("/v1/purses", Some(&alice)).await;
    let mut states: Vec<&str> =
        purses["purses"].as_array().unwrap().iter().map(|p| p["state"].as_str().unwrap()).collect();
    states.sort_unstable();
    assert_eq!(states, vec!["closed", "revoked"]);
    assert_eq!(server.balance(&bob).await, 20_000);
    assert_eq!(server.balance(&carol).await, 18_000);

    // Money is conserved and the ledger verifies.
    let report = server.store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.money_in_system, 100_000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_routes_need_a_session_and_a_configured_issuer() {
    let (server, _keys) = offline_server().await;
    let c = server.client();
    assert_error(&c.post("/v1/notes", None, None, &json!({"notes": []})).await, 401, "unauthorized");
    let token = server.register("dave").await;
    let too_many: Vec<String> = vec!["OPN1:x".to_string(); 501];
    assert_error(&c.post("/v1/notes", Some(&token), None, &json!({"notes": too_many})).await, 400, "invalid_request");
    server.stop().await;

    let plain = TestServer::sqlite().await;
    assert_error(&plain.client().get("/v1/issuer-keys", None).await, 503, "offline_disabled");
    plain.stop().await;
}

/// A customer pays a shop online and fetches the receipt naming the card paid; the shop's counter,
/// with no connection, checks it with its cached issuer keys. Only the two parties get a receipt;
/// the payment is bound to the first card named, so a receipt for a second counter of the same
/// shop cannot be had, not even by asking for both at once; a receipt for another shop, another
/// counter, a replayed one and an altered one are refused offline with their reasons.
/// A payment older than every issuer key the server keeps gets 410 `receipt_unavailable`, and
/// asking for it with a card binds nothing: the card stays free for a receipt that can be signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_that_cannot_be_signed_binds_no_card() {
    let keys = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests();
    // The only key starts an hour after the payment below.
    let issuer = Issuer::open(&keys.path().join("issuer-keys.json"), (T0 / 1000) as u64 + 3_600).unwrap();
    config.offline.issuer = Some(Arc::new(issuer));
    let server = TestServer::sqlite_with(config).await;
    let c = server.client();
    let asha = server.register("asha").await;
    server.register("chai_shop").await;
    server.deposit("asha", 10_000).await;
    let (status, paid) =
        c.post("/v1/transfers", Some(&asha), Some("old-pay-0001"), &json!({"to": "chai_shop", "amount": 2_500})).await;
    assert_eq!(status.as_u16(), 201, "{paid}");
    let entry_id = paid["transfer"]["entry_id"].as_i64().unwrap();
    let answer = c.get(&format!("/v1/receipts/{entry_id}?card=1a2b3c4d"), Some(&asha)).await;
    assert_error(&answer, 410, "receipt_unavailable");
    let bound = server.store.receipt_card(offpay_ledger::EntryId(entry_id), None, T0).await.unwrap();
    assert_eq!(bound, None, "nothing was bound");
}

/// A payment made at a counter names the card (`card` on the transfer): the receipt is bound to
/// it at once, so the payer cannot have it signed for another counter's card afterwards, and the
/// shop's `money_in` event names it (only that counter announces it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_payment_is_bound_to_its_card_at_once() {
    let (server, _keys) = offline_server().await;
    let c = server.client();
    let asha = server.register("asha").await;
    let shop = server.register("chai_shop").await;
    server.deposit("asha", 100_000).await;
    let mut events = ws_connect(&server, &shop, None).await;
    let body = json!({"to": "chai_shop", "amount": 2_500, "card": "1a2b3c4d"});
    let (status, paid) = c.post("/v1/transfers", Some(&asha), Some("counter-pay-0001"), &body).await;
    assert_eq!(status.as_u16(), 201, "{paid}");
    let entry_id = paid["transfer"]["entry_id"].as_u64().unwrap();
    let money_in = next_event(&mut events).await;
    assert_eq!((money_in["kind"].as_str(), money_in["payload"]["card"].as_str()), (Some("money_in"), Some("1a2b3c4d")));
    let plain = format!("/v1/receipts/{entry_id}");
    let (status, receipt) = c.get(&plain, Some(&asha)).await;
    assert_eq!((status.as_u16(), receipt["card"].as_str()), (200, Some("1a2b3c4d")), "{receipt}");
    assert_error(&c.get(&format!("{plain}?card=99887766"), Some(&asha)).await, 409, "receipt_for_another_card");
    // The same key for the same payment without the card is another request.
    let without = json!({"to": "chai_shop", "amount": 2_500});
    assert_error(
        &c.post("/v1/transfers", Some(&asha), Some("counter-pay-0001"), &without).await,
        409,
        "idempotency_conflict",
    );
    assert_eq!(server.balance(&shop).await, 2_500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_for_online_payments() {
    let (server, _keys) = offline_server().await;
    let c = server.client();
    let asha = server.register("asha").await;
    let shop = server.register("chai_shop").await;
    let other_shop = server.register("other_shop").await;
    server.deposit("asha", 100_000).await;
    let (status, paid) = c
        .post("/v1/transfers", Some(&asha), Some("receipt-pay-0001"), &json!({"to": "chai_shop", "amount": 25_000}))
        .await;
    assert_eq!(status.as_u16(), 201, "{paid}");
    let entry_id = paid["transfer"]["entry_id"].as_u64().unwrap();

    let (counter_a, counter_b) = ([0x1a, 0x2b, 0x3c, 0x4d], [0x99, 0x88, 0x77, 0x66]);
    let plain = format!("/v1/receipts/{entry_id}");
    let path = format!("{plain}?card=1a2b3c4d");
    for bad in ["1A2B3C4D", "1a2b3c", "1a2b3c4d00", "zz2b3c4d", ""] {
        assert_error(&c.get(&format!("{plain}?card={bad}"), Some(&asha)).await, 400, "invalid_request");
    }
    let (status, body) = c.get(&path, Some(&asha)).await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_eq!(body["card"].as_str(), Some("1a2b3c4d"));
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str(), body["amount"].as_u64()),
        (Some("asha"), Some("chai_shop"), Some(25_000))
    );
    let text = body["receipt"].as_str().unwrap().to_string();
    // The shop asks too, with or without the card, and gets the same signed receipt (Ed25519
    // signatures are deterministic); a second counter's card is refused, whoever asks.
    for asked in [&path, &plain] {
        let (status, again) = c.get(asked, Some(&shop)).await;
        assert_eq!(status.as_u16(), 200, "{again}");
        assert_eq!(again["receipt"].as_str(), Some(text.as_str()));
    }
    for who in [&asha, &shop] {
        assert_error(&c.get(&format!("{plain}?card=99887766"), Some(who)).await, 409, "receipt_for_another_card");
    }
    // Anyone else, a deposit, an unknown or malformed id: the same 404.
    assert_error(&c.get(&path, Some(&other_shop)).await, 404, "not_found");
    assert_error(&c.get("/v1/receipts/1", Some(&asha)).await, 404, "not_found");
    assert_error(&c.get(&format!("/v1/receipts/{}", entry_id + 100), Some(&asha)).await, 404, "not_found");
    assert_error(&c.get("/v1/receipts/abc", Some(&asha)).await, 404, "not_found");
    assert_error(&c.get(&path, None).await, 401, "unauthorized");

    // The shop's offline check.
    let keys = cached_issuer_keys(&server).await;
    let receipt = Receipt::from_text(&text).unwrap();
    let shop_account = AccountNumber(account(&server, &shop).await);
    assert_eq!(receipt.fields().payer_handle.as_ref().map(|h| h.as_str()), Some("asha"));
    assert_eq!(
        (receipt.fields().payee, receipt.fields().amount.minor(), receipt.fields().entry_id),
        (shop_account, 25_000, entry_id)
    );
    let none = BTreeSet::new();
    assert_eq!(receipt.fields().card, Some(counter_a));
    let ctx = ReceiptContext {
        me: shop_account,
        currency: receipt.fields().currency,
        card_prefix: counter_a,
        issuer_keys: &keys,
        seen_entries: &none,
        now: (T0 / 1000) as u64 + 60,
        max_age: 600,
    };
    assert_eq!(receipt.check(&ctx), Ok(()));
    let other = ReceiptContext { me: AccountNumber(account(&server, &other_shop).await), ..ctx };
    assert_eq!(receipt.check(&other), Err(RejectReason::ReceiptForAnotherPayee));
    let seen = BTreeSet::from([entry_id]);
    assert_eq!(receipt.check(&ReceiptContext { seen_entries: &seen, ..ctx }), Err(RejectReason::ReceiptReplayed));
    // The shop's second counter never saw the entry, and still refuses the receipt.
    assert_eq!(receipt.check(&ReceiptContext { card_prefix: counter_b, ..ctx }), Err(RejectReason::WrongCard));
    // One bit of the amount changed (its low byte: integers are little-endian, docs/PROTOCOL.md
    // section 1): the issuer signature no longer holds.
    let mut bytes = receipt.encode();
    let amount_at = 2 + 4 + 8 + 8 + 8 + 3;
    bytes[amount_at] ^= 1;
    let forged = Receipt::decode(&bytes).unwrap();
    assert_eq!(forged.check(&ctx), Err(RejectReason::BadReceiptSignature));

    // A receipt fetched before any card was named names none, and no counter takes it; the first
    // card named afterwards binds the payment. Two cards asked for at once: one wins, the other
    // is refused, and the payment's receipts name the winner from then on.
    let (_, paid) = c
        .post("/v1/transfers", Some(&asha), Some("receipt-pay-0002"), &json!({"to": "chai_shop", "amount": 100}))
        .await;
    let second = format!("/v1/receipts/{}", paid["transfer"]["entry_id"].as_u64().unwrap());
    let (status, bare) = c.get(&second, Some(&asha)).await;
    assert_eq!((status.as_u16(), bare["card"].is_null()), (200, true), "{bare}");
    let bare = Receipt::from_text(bare["receipt"].as_str().unwrap()).unwrap();
    assert_eq!(bare.fields().card, None);
    assert_eq!(bare.check(&ctx), Err(RejectReason::WrongCard));
    let (for_a, for_b) = (format!("{second}?card=1a2b3c4d"), format!("{second}?card=99887766"));
    let (a, b) = tokio::join!(c.get(&for_a, Some(&asha)), c.get(&for_b, Some(&asha)));
    let statuses = [a.0.as_u16(), b.0.as_u16()];
    assert!(statuses == [200, 409] || statuses == [409, 200], "{a:?} {b:?}");
    let winner = if a.0.as_u16() == 200 { &a.1 } else { &b.1 };
    let (_, now) = c.get(&second, Some(&shop)).await;
    assert_eq!(now["card"], winner["card"]);
}

/// `POST /v1/notes/refusals` over HTTP (docs/API-OFFLINE.md, "Refusing a note at the counter"):
/// only the payee refuses; a note not paid yet is voided and its upload refused
/// `refused_by_payee`; a paid one goes back to the payer once, as a transfer both see in their
/// history and live events; a refusal the shop cannot pay yet moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_refused_at_the_counter_is_voided_or_given_back_once() {
    let (server, _keys) = offline_server().await;
    let c = server.client();
    let (alice, shop) = (server.register("alice").await, server.register("chai").await);
    server.deposit("alice", 100_000).await;
    let (alice_no, shop_no) = (account(&server, &alice).await, account(&server, &shop).await);
    let device = signing_key("alice-phone");
    let pk = hex::encode(device.verifying_key().as_bytes());
    c.post("/v1/devices", Some(&alice), None, &json!({"public_key": pk})).await;
    let (_, purse) = load(&server, &alice, &device, 50_000, "load-0001").await;
    let cert = PurseCertificate::from_text(purse["certificate"].as_str().unwrap()).unwrap();
    let mut chain = Chain { cert: cert.clone(), device: device.clone(), seq: 0, last: cert.hash(), spent: 0 };
    let (stale, paid) = (chain.pay(shop_no, 12_000, "stale-1"), chain.pay(shop_no, 3_000, "stale-2"));
    let refuse = |token: &str, note: &str| {
        let (c, token, note) = (server.client(), token.to_string(), note.to_string());
        async move { c.post("/v1/notes/refusals", Some(&token), None, &json!({ "note": note })).await }
    };

    assert_error(&refuse(&alice, &stale).await, 403, "not_payee");
    assert_error(&refuse(&shop, "OPN1:garbage").await, 400, "invalid_request");
    let unauthenticated = c.post("/v1/notes/refusals", None, None, &json!({ "note": stale })).await;
    assert_error(&unauthenticated, 401, "unauthorized");
    // Not paid yet: voided, and nobody's upload pays it.
    let (status, voided) = refuse(&shop, &stale).await;
    assert_eq!(status.as_u16(), 200, "{voided}");
    assert_eq!((voided["status"].as_str(), voided["amount"].as_u64()), (Some("voided"), Some(0)));
    assert_eq!(voided["payer"], alice_no.to_string());
    assert_eq!(refuse(&shop, &stale).await.1, voided);
    let results = upload(&server, &alice, &[&stale, &paid]).await;
    assert_eq!(
        (results[0]["status"].as_str(), results[0]["reason"].as_str()),
        (Some("rejected"), Some("refused_by_payee"))
    );
    assert_eq!(status_of(&results[1]), ("settled", 3_000));
    // Paid, then refused while the shop has spent it: nothing moves until it has the money.
    let mut shop_ws = ws_connect(&server, &shop, None).await;
    let mut alice_ws = ws_connect(&server, &alice, None).await;
    c.post("/v1/transfers", Some(&shop), Some("spend-0001"), &json!({"to": "alice", "amount": 3_000})).await;
    assert_error(&refuse(&shop, &paid).await, 422, "insufficient_funds");
    server.deposit("chai", 3_000).await;
    let (status, refunded) = refuse(&shop, &paid).await;
    assert_eq!(status.as_u16(), 200, "{refunded}");
    assert_eq!((refunded["status"].as_str(), refunded["amount"].as_u64()), (Some("refunded"), Some(3_000)));
    assert_eq!(refuse(&shop, &paid).await.1, refunded);
    assert_eq!(server.balance(&shop).await, 0);
    assert_eq!(server.balance(&alice).await, 50_000 + 3_000 + 3_000);
    // Both see it: a transfer with the memo, in the history and as a live event.
    let (_, history) = c.get("/v1/history?limit=5", Some(&alice)).await;
    let item = &history["items"][0];
    assert_eq!((item["kind"].as_str(), item["delta"].as_i64()), (Some("transfer"), Some(3_000)), "{history}");
    assert_eq!(item["counterparty"], "chai");
    assert_eq!(item["memo"], "Returned: payment refused at the shop's counter");
    assert_eq!(item["entry_id"], refunded["entry_id"]);
    let seen = loop {
        let event = next_event(&mut alice_ws).await;
        if event["kind"] == "money_in" && event["payload"]["entry_id"] == refunded["entry_id"] {
            break event;
        }
    };
    assert_eq!(seen["payload"]["memo"], "Returned: payment refused at the shop's counter");
    loop {
        let event = next_event(&mut shop_ws).await;
        if event["kind"] == "money_out" && event["payload"]["entry_id"] == refunded["entry_id"] {
            break;
        }
    }
}
