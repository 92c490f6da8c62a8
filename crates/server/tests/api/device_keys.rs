//! Device keys over real HTTP (docs/API-OFFLINE.md, docs/PROTOCOL.md section 2): registration
//! refuses keys with a small-order component (mixed order), small-order keys and non-canonical
//! encodings with `400 invalid_device_key` and stores nothing; a purse load naming such a key
//! (say one registered before the check existed) is refused the same way and moves no money; an
//! honest key registers and loads.

use crate::helpers::{T0, assert_error, offline_server};
use offpay_protocol::testkit::{MixedOrderKey, signing_key};
use serde_json::{Value, json};

fn hex32(low: u8, fill: u8, high: u8) -> String {
    let mut b = [fill; 32];
    b[0] = low;
    b[31] = high;
    hex::encode(b)
}

fn message(answer: &(reqwest::StatusCode, Value)) -> String {
    answer.1["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_load_refuse_keys_with_a_small_order_component() {
    let (server, _keys) = offline_server().await;
    let c = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.deposit("alice", 100_000).await;
    let (_, me) = c.get("/v1/me", Some(&bob)).await;
    let bob_id = offpay_ledger::UserId(me["account"].as_i64().unwrap());

    let mixed = MixedOrderKey::new("alice-mixed-phone").public_bytes();
    // (key, words the message must contain)
    let refused = [
        (hex::encode(mixed), "mixed order"),
        (hex32(1, 0, 0), "small order"),        // the identity point
        (hex32(0xee, 0xff, 0x7f), "canonical"), // y = p + 1
        (hex32(1, 0, 0x80), "canonical"),       // x = 0 with the sign bit set
    ];
    for (key, words) in &refused {
        let answer = c.post("/v1/devices", Some(&alice), None, &json!({"public_key": key})).await;
        assert_error(&answer, 400, "invalid_device_key");
        assert!(message(&answer).contains(words), "{key}: {}", answer.1);
        assert!(message(&answer).starts_with("public_key is refused: "), "{}", answer.1);
    }
    // Nothing was stored for alice: bob can still take each key directly in the store (a key
    // registered to alice would be `DeviceTaken`).
    for (key, _) in &refused {
        let bytes: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
        server.store.offline().register_device(bob_id, bytes, T0).await.unwrap();
    }

    // A mixed-order key already in the store (registered before the check existed) cannot
    // back a purse: refused before any money moves.
    let legacy = MixedOrderKey::new("alice-legacy-phone").public_bytes();
    let alice_id = offpay_ledger::UserId(c.get("/v1/me", Some(&alice)).await.1["account"].as_i64().unwrap());
    server.store.offline().register_device(alice_id, legacy, T0).await.unwrap();
    let body = json!({"amount": 10_000, "device_public_key": hex::encode(legacy)});
    let answer = c.post("/v1/purses", Some(&alice), Some("load-legacy-1"), &body).await;
    assert_error(&answer, 400, "invalid_device_key");
    assert!(message(&answer).starts_with("device_public_key is refused: "), "{}", answer.1);
    assert!(message(&answer).contains("mixed order"), "{}", answer.1);
    assert_eq!(server.balance(&alice).await, 100_000);
    assert_eq!(c.get("/v1/purses", Some(&alice)).await.1["purses"], json!([]));

    // Not hex at all is still a plain bad request.
    assert_error(
        &c.post("/v1/devices", Some(&alice), None, &json!({"public_key": "zz"})).await,
        400,
        "invalid_request",
    );

    // An honest key registers and backs a purse.
    let honest = hex::encode(signing_key("alice-phone").verifying_key().as_bytes());
    let (status, body) = c.post("/v1/devices", Some(&alice), None, &json!({"public_key": honest})).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (201, Some("active")), "{body}");
    let load = json!({"amount": 10_000, "device_public_key": honest});
    let (status, purse) = c.post("/v1/purses", Some(&alice), Some("load-honest-1"), &load).await;
    assert_eq!(status.as_u16(), 201, "{purse}");
    assert_eq!(purse["device_public_key"], json!(honest));
    assert_eq!(server.balance(&alice).await, 90_000);
    server.stop().await;
}

/// An account registers at most 20 new device keys in 24 hours (`409 too_many_devices`); a key it
/// registered before is still answered `201`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_registers_a_bounded_number_of_new_keys_a_day() {
    let (server, _keys) = offline_server().await;
    let c = server.client();
    let mallory = server.register("mallory").await;
    let key = |i: u32| hex::encode(signing_key(&format!("mallory-{i}")).verifying_key().as_bytes());
    for i in 0..20 {
        let (status, body) = c.post("/v1/devices", Some(&mallory), None, &json!({"public_key": key(i)})).await;
        assert_eq!(status.as_u16(), 201, "{body}");
    }
    let refused = c.post("/v1/devices", Some(&mallory), None, &json!({"public_key": key(20)})).await;
    assert_error(&refused, 409, "too_many_devices");
    assert!(message(&refused).contains("24 hours"), "{}", message(&refused));
    let (status, _) = c.post("/v1/devices", Some(&mallory), None, &json!({"public_key": key(3)})).await;
    assert_eq!(status.as_u16(), 201);
}
