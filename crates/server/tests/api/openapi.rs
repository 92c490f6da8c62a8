//! The generated OpenAPI document (`GET /v1/openapi.json`, `src/openapi.rs`) against the real
//! server: it is OpenAPI 3.1, it lists every route the router serves, and real answers (register,
//! `/v1/me`, a transfer, history, a live event, error answers) validate against the schemas it
//! gives for them, `#/components/schemas/...` references resolved by `jsonschema`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Every route the router serves under /v1, written out here so that a route dropped from the
/// document (or added to the router without a `#[utoipa::path]`) fails this test.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/config"),
    ("get", "/v1/openapi.json"),
    ("post", "/v1/register"),
    ("post", "/v1/login"),
    ("post", "/v1/logout"),
    ("post", "/v1/logout-all"),
    ("post", "/v1/password"),
    ("get", "/v1/me"),
    ("post", "/v1/transfers"),
    ("get", "/v1/history"),
    ("get", "/v1/ws"),
    ("get", "/v1/issuer-keys"),
    ("get", "/v1/revocations"),
    ("post", "/v1/devices"),
    ("post", "/v1/purses"),
    ("get", "/v1/purses"),
    ("post", "/v1/purses/{purse_id}/close"),
    ("post", "/v1/notes"),
    ("post", "/v1/notes/refusals"),
    ("get", "/v1/receipts/{entry_id}"),
];

/// (method, path) of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            found.push((method.clone(), path.clone()));
        }
    }
    found.sort();
    found
}

/// The JSON schema of the JSON answer `status` of `method path`, as the document gives it, with
/// the document's components beside it so that its references resolve.
fn answer_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let answer = &doc["paths"][path][method]["responses"][status.to_string()];
    let schema = answer["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} documents no JSON schema for {status}: {answer}");
    with_components(doc, schema)
}

fn with_components(doc: &Value, schema: Value) -> Value {
    json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "allOf": [schema], "components": doc["components"]})
}

/// Errors of `instance` against `schema` (empty: valid).
fn problems(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[track_caller]
fn assert_answer_valid(doc: &Value, method: &str, path: &str, answer: &(StatusCode, Value)) {
    let schema = answer_schema(doc, method, path, answer.0.as_u16());
    let found = problems(&schema, &answer.1);
    assert!(found.is_empty(), "{method} {path} {}: {} does not fit its schema: {found:?}", answer.0, answer.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_and_real_answers_fit_it() {
    let server = TestServer::sqlite().await;
    let response = server.client().http.get(format!("{}/v1/openapi.json", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.unwrap();

    // OpenAPI 3.x, with the session token's scheme.
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "offpay API");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["paths"]["/v1/me"]["get"]["security"], json!([{"bearer": []}]));
    // Every operation names what it answers; the error body lists every code, closed.
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().unwrap();
    assert_eq!(codes.len(), 45, "{codes:?}");
    for code in ["invalid_request", "too_many_websockets", "receipt_for_another_card", "not_payee", "internal"] {
        assert!(codes.contains(&json!(code)), "{code}");
    }

    // Exactly the routes the router serves (and `paths::ALL` names).
    let mut expected: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    expected.sort();
    assert_eq!(operations(&doc), expected);
    let mut all: Vec<(String, String)> =
        offpay_server::paths::ALL.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    all.sort();
    assert_eq!(all, expected);

    // The document is at least as strict as the server on what it checks.
    let key = &doc["paths"]["/v1/transfers"]["post"]["parameters"][0];
    assert_eq!(
        (key["name"].as_str(), key["in"].as_str(), key["required"].as_bool()),
        (Some("Idempotency-Key"), Some("header"), Some(true))
    );
    assert_eq!(key["schema"]["pattern"], "^[A-Za-z0-9_-]{8,128}$");
    let transfer = &doc["components"]["schemas"]["TransferRequest"];
    assert_eq!(transfer["properties"]["amount"]["minimum"], 1);
    assert_eq!(transfer["additionalProperties"], false);
    assert_eq!(doc["components"]["schemas"]["Credentials"]["properties"]["password"]["minLength"], 8);
    assert_eq!(
        doc["components"]["schemas"]["NotesUpload"]["properties"]["notes"]["maxItems"],
        offpay_api::offline::NOTES_PER_UPLOAD_MAX
    );

    // Real answers fit their documented schemas.
    let client = server.client();
    let registered = client.post("/v1/register", None, None, &json!({"handle": "alice", "password": PASSWORD})).await;
    assert_eq!(registered.0, StatusCode::CREATED, "{}", registered.1);
    assert_answer_valid(&doc, "post", "/v1/register", &registered);
    let alice = registered.1["token"].as_str().unwrap().to_string();
    let bob = server.register("bob").await;
    server.deposit("alice", 10_000).await;

    let me = client.get("/v1/me", Some(&alice)).await;
    assert_eq!(me.0, StatusCode::OK);
    assert_answer_valid(&doc, "get", "/v1/me", &me);
    // The check can fail: an answer without its balance does not fit.
    let mut broken = me.1.clone();
    broken.as_object_mut().unwrap().remove("balance");
    assert!(!problems(&answer_schema(&doc, "get", "/v1/me", 200), &broken).is_empty());

    let mut ws = ws_connect(&server, &bob, None).await;
    let body = json!({"to": "bob", "amount": 2500, "memo": "tea"});
    let sent = client.post("/v1/transfers", Some(&alice), Some("openapi-test-1"), &body).await;
    assert_eq!(sent.0, StatusCode::CREATED, "{}", sent.1);
    assert_answer_valid(&doc, "post", "/v1/transfers", &sent);
    let replayed = client.post("/v1/transfers", Some(&alice), Some("openapi-test-1"), &body).await;
    assert_eq!(replayed.0, StatusCode::OK, "{}", replayed.1);
    assert_answer_valid(&doc, "post", "/v1/transfers", &replayed);

    let event = next_event(&mut ws).await;
    assert_eq!(event["kind"], "money_in");
    let event_schema = with_components(&doc, json!({"$ref": "#/components/schemas/Event"}));
    assert_eq!(problems(&event_schema, &event), Vec::<String>::new(), "{event}");
    let mut unknown = event.clone();
    unknown["kind"] = json!("no_such_kind");
    assert!(!problems(&event_schema, &unknown).is_empty(), "the event kinds are a closed list");

    for (path, token) in [("/v1/history", &alice), ("/v1/history?limit=1", &bob)] {
        let page = client.get(path, Some(token)).await;
        assert_eq!(page.0, StatusCode::OK);
        assert_answer_valid(&doc, "get", "/v1/history", &page);
    }
    for path in ["/v1/health", "/v1/config", "/v1/revocations"] {
        let answer = client.get(path, None).await;
        assert_eq!(answer.0, StatusCode::OK, "{path}");
        assert_answer_valid(&doc, "get", path, &answer);
    }

    // Error answers fit the error schema of their status.
    let poor = client.send(&bob, "openapi-test-2", "alice", 1_000_000).await;
    assert_error(&poor, 422, "insufficient_funds");
    assert_answer_valid(&doc, "post", "/v1/transfers", &poor);
    let yourself = client.send(&alice, "openapi-test-3", "alice", 1).await;
    assert_error(&yourself, 409, "same_account");
    assert_answer_valid(&doc, "post", "/v1/transfers", &yourself);
    let nobody = client.get("/v1/me", None).await;
    assert_error(&nobody, 401, "unauthorized");
    assert_answer_valid(&doc, "get", "/v1/me", &nobody);
    let taken = client.post("/v1/register", None, None, &json!({"handle": "alice", "password": PASSWORD})).await;
    assert_error(&taken, 409, "handle_taken");
    assert_answer_valid(&doc, "post", "/v1/register", &taken);
}

/// Every property name anywhere in `value` (a schema or a whole document), with its path.
fn property_names(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                found.extend(properties.keys().map(|name| format!("{path}/{name}")));
            }
            for (key, inner) in map {
                property_names(inner, &format!("{path}/{key}"), found);
            }
        }
        Value::Array(items) => items.iter().for_each(|inner| property_names(inner, path, found)),
        _ => {}
    }
}

/// A device's private key never leaves the device: no request or answer of the document has a
/// field for a private key, seed or secret, and a device registration that brings one anyway is
/// refused without registering anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_field_of_the_api_carries_a_private_key() {
    let server = TestServer::sqlite().await;
    let client = server.client();
    let doc = client.get("/v1/openapi.json", None).await.1;
    let mut names = Vec::new();
    property_names(&doc, "", &mut names);
    // The walk reaches the device's public key fields, so it would reach a private one.
    assert!(names.iter().any(|n| n.ends_with("/DeviceRequest/public_key")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("/device_public_key")), "{names:?}");
    let leaking: Vec<&String> = names
        .iter()
        .filter(|n| {
            let field = n.rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
            ["private", "secret", "seed", "signing"].iter().any(|word| field.contains(word))
        })
        .collect();
    assert!(leaking.is_empty(), "fields that could carry a private key: {leaking:?}");
    assert_eq!(doc["components"]["schemas"]["DeviceRequest"]["additionalProperties"], false);

    let alice = server.register("alice").await;
    let key = offpay_protocol::SigningKey::from_bytes(&[7; 32]);
    let public = hex::encode(key.verifying_key().to_bytes());
    let body = json!({"public_key": public, "private_key": hex::encode(key.to_bytes())});
    let refused = client.post("/v1/devices", Some(&alice), None, &body).await;
    assert_error(&refused, 400, "invalid_request");
    // The refusal registered nothing in the way: the same key alone registers.
    let registered = client.post("/v1/devices", Some(&alice), None, &json!({"public_key": public})).await;
    assert_eq!(registered.0, StatusCode::CREATED, "{}", registered.1);
}
