//! Body size, request-rate limits, unknown routes, the OpenAPI document, health and config.

use offpay_server::Config;
use offpay_server::config::RateLimit;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413() {
    let server = TestServer::sqlite().await;
    let client = server.client();
    let token = server.register("alice").await;
    let big = json!({"handle": "bob", "password": "x".repeat(17 * 1024)});
    assert_error(&client.post("/v1/register", None, None, &big).await, 413, "payload_too_large");
    let big_transfer = json!({"to": "bob", "amount": 1, "memo": "x".repeat(20_000)});
    assert_error(&client.post("/v1/transfers", Some(&token), Some("big-body-key"), &big_transfer).await, 413, "payload_too_large");

    // Without a Content-Length (chunked), the body reader stops at the limit.
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let chunk = format!("{{\"handle\":\"bob\",\"password\":\"{}\"}}", "y".repeat(20_000));
    let request = format!(
        "POST /v1/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    // Nothing was registered.
    assert_error(&client.post("/v1/login", None, None, &json!({"handle": "bob", "password": "y".repeat(20_000)})).await, 413, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_floods_are_limited_per_account_and_per_address() {
    let config = Config { rate_per_account: RateLimit { per_minute: 1, burst: 3 }, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let client = server.client();
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    for _ in 0..3 {
        assert_eq!(client.get("/v1/me", Some(&alice)).await.0, 200);
    }
    let response = client.http.get(format!("{}/v1/me", server.base)).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(response.headers().get("retry-after").unwrap(), "60");
    assert_error(&read(response).await, 429, "rate_limited");
    // Other accounts are not affected; a minute later alice may go on.
    assert_eq!(client.get("/v1/me", Some(&bob)).await.0, 200);
    server.clock.advance_ms(60_000);
    assert_eq!(client.get("/v1/me", Some(&alice)).await.0, 200);
    let events = server.store.security_events(10).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "rate_limited" && e.detail.contains("alice")), "{events:?}");

    let config = Config { rate_per_ip: RateLimit { per_minute: 1, burst: 5 }, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await; // its start-up health check is request 1
    let client = server.client();
    for _ in 0..4 {
        assert_eq!(client.get("/v1/config", None).await.0, 200);
    }
    assert_error(&client.get("/v1/config", None).await, 429, "rate_limited");
    // The web wallet's files stay reachable: a first visit fetches dozens of them.
    for path in ["/", "/sw.js", "/app.css", "/js/main.js", "/manifest.webmanifest", "/index.html"] {
        let answer = client.http.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
    let head = client.http.head(format!("{}/sw.js", server.base)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_error(&client.get("/v1/config", None).await, 429, "rate_limited");
    server.clock.advance_ms(60_000);
    assert_eq!(client.get("/v1/config", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_routes_and_unknown_paths() {
    let server = TestServer::sqlite().await;
    let client = server.client();
    assert_eq!(client.get("/v1/health", None).await, (reqwest::StatusCode::OK, json!({"status": "ok", "database": "sqlite"})));
    let offline = json!({"per_payment_cap": 20_000, "purse_max": 200_000, "validity_secs": 259_200, "grace_secs": 172_800});
    assert_eq!(
        client.get("/v1/config", None).await,
        (reqwest::StatusCode::OK, json!({"currency": "INR", "decimals": 2, "offline": offline}))
    );
    assert_error(&client.get("/v1/nothing-here", None).await, 404, "not_found");
    assert_error(&client.get("/v1/transfers", None).await, 405, "method_not_allowed");

    // The web wallet: its page at `/`, its files beside it, never a file outside `web/public`.
    let page = client.http.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    assert!(html.contains("manifest.webmanifest"), "{html}");
    let worker = client.http.get(format!("{}/sw.js", server.base)).send().await.unwrap();
    assert_eq!(worker.status(), 200);
    assert!(worker.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    for escape in ["/../Cargo.toml", "/%2e%2e/Cargo.toml", "/no-such-file.js"] {
        let answer = client.http.get(format!("{}{escape}", server.base)).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{escape}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_every_route() {
    let server = TestServer::sqlite().await;
    let (status, doc) = server.client().get("/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let described: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let routed: Vec<(String, String)> =
        offpay_server::paths::ALL.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    for route in &routed {
        assert!(described.contains(route), "{route:?} is routed but not in openapi.json");
    }
    for route in &described {
        assert!(routed.contains(route), "{route:?} is in openapi.json but not routed");
    }
    // Every documented path is really served (a 404 `not_found` would mean a typo in ALL).
    for (method, path) in &routed {
        let request = match method.as_str() {
            "get" => server.client().http.get(format!("{}{path}", server.base)),
            _ => server.client().http.post(format!("{}{path}", server.base)).json(&json!({})),
        };
        let (_, body) = read(request.send().await.unwrap()).await;
        assert_ne!(body["error"]["code"], Value::from("not_found"), "{method} {path}");
        assert_ne!(body["error"]["code"], Value::from("method_not_allowed"), "{method} {path}");
    }
}
