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
    assert_error(
        &client.post("/v1/transfers", Some(&token), Some("big-body-key"), &big_transfer).await,
        413,
        "payload_too_large",
    );

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
    assert_error(
        &client.post("/v1/login", None, None, &json!({"handle": "bob", "password": "y".repeat(20_000)})).await,
        413,
        "payload_too_large",
    );
}

/// A `POST` whose body is sent chunked (no Content-Length), over a raw connection; the status and
/// JSON body of the answer. The body is written from another task while the answer is read, so
/// an answer sent before the whole body is read still arrives.
async fn post_chunked(server: &TestServer, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let addr = server.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    // The writing half is handed back, not dropped: its end (a FIN) would make the server drop
    // the connection before answering.
    let sending = tokio::spawn(async move {
        let mut send = async || -> std::io::Result<()> {
            writer.write_all(head.as_bytes()).await?;
            for chunk in body.chunks(16 * 1024) {
                writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
                writer.write_all(chunk).await?;
                writer.write_all(b"\r\n").await?;
            }
            writer.write_all(b"0\r\n\r\n").await
        };
        // A refusal may come before the whole body is sent: the rest then fails to send.
        let _ = send().await;
        writer
    });
    // Until the server closes the connection (or resets it, having stopped reading the body).
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    while let Ok(Ok(n)) = tokio::time::timeout(PATIENCE, reader.read(&mut buffer)).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    drop(sending.await.unwrap());
    let answer = String::from_utf8(answer).unwrap();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {answer}"));
    let (_, json) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no body: {answer}"));
    (status, serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_note_uploads_get_the_notes_limit() {
    let server = TestServer::sqlite().await;
    let token = server.register("alice").await;
    let limit = offpay_server::routes::offline::NOTES_BODY_MAX;

    // Over the general 16 KiB but within the notes limit: read and answered note by note.
    let notes = vec!["x".repeat(600); 34];
    let (status, body) =
        post_chunked(&server, "/v1/notes", &token, serde_json::to_vec(&json!({"notes": notes})).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().map(Vec::len), Some(34), "{body}");
    assert_eq!(body["results"][0]["reason"], "malformed", "{body}");

    // Over the notes limit: the 413 names that limit, as the declared-length answer does.
    let notes = vec!["x".repeat(600); 520];
    let too_big = serde_json::to_vec(&json!({"notes": notes})).unwrap();
    assert!(too_big.len() > limit);
    let chunked = post_chunked(&server, "/v1/notes", &token, too_big.clone()).await;
    assert_error(&(reqwest::StatusCode::from_u16(chunked.0).unwrap(), chunked.1.clone()), 413, "payload_too_large");
    let message = chunked.1["error"]["message"].as_str().unwrap().to_string();
    assert_eq!(message, format!("the request body is larger than {limit} bytes"));
    let declared = server
        .client()
        .http
        .post(format!("{}/v1/notes", server.base))
        .bearer_auth(&token)
        .body(too_big)
        .send()
        .await
        .unwrap();
    let declared = read(declared).await;
    assert_error(&declared, 413, "payload_too_large");
    assert_eq!(declared.1["error"]["message"], message);

    // Other routes keep the general limit in their message.
    let big = format!("{{\"handle\":\"bob\",\"password\":\"{}\"}}", "y".repeat(20_000));
    let (status, body) = post_chunked(&server, "/v1/register", &token, big.into_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["message"], "the request body is larger than 16384 bytes");
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

/// A botnet brings a new address for every attempt, so the per-address limits never stop it:
/// one server opens at most its share of new accounts a minute, whatever the addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_accounts_are_limited_per_server_whatever_the_address() {
    let config = Config { rate_register: RateLimit { per_minute: 2, burst: 2 }, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let register = |last: u8, handle: &str| {
        let client = server.client_from(last);
        let body = json!({"handle": handle, "password": PASSWORD});
        async move {
            let response = client.http.post(format!("{}/v1/register", client.base)).json(&body).send().await.unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (read(response).await, retry_after)
        }
    };
    // Malformed attempts do not use the allowance.
    assert_error(&register(1, "x").await.0, 400, "invalid_handle");
    assert_eq!(register(2, "alice").await.0.0, 201);
    // Nor do attempts at taken handles: otherwise they would stop everyone's sign-ups.
    for from in 10..15 {
        assert_error(&register(from, "alice").await.0, 409, "handle_taken");
    }
    assert_eq!(register(3, "bob").await.0.0, 201);
    let (refused, retry_after) = register(4, "carol").await;
    assert_error(&refused, 503, "busy");
    assert_eq!(retry_after.as_deref(), Some("30"));
    assert!(refused.1["error"]["message"].as_str().unwrap().contains("new accounts"), "{}", refused.1);
    assert!(server.store.user_by_handle(&offpay_protocol::Handle::parse("carol").unwrap()).await.unwrap().is_none());
    // Signing in is not affected.
    let login = json!({"handle": "alice", "password": PASSWORD});
    assert_eq!(server.client_from(5).post("/v1/login", None, None, &login).await.0, 200);
    let events = server.store.security_events(10).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "rate_limited" && e.detail == "limit=register"), "{events:?}");
    // Half a minute later there is room for one more.
    server.clock.advance_ms(30_000);
    assert_eq!(register(6, "carol").await.0.0, 201);
    assert_error(&register(7, "dave").await.0, 503, "busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_routes_and_unknown_paths() {
    let server = TestServer::sqlite().await;
    let client = server.client();
    assert_eq!(
        client.get("/v1/health", None).await,
        (reqwest::StatusCode::OK, json!({"status": "ok", "database": "sqlite"}))
    );
    let offline = json!({
        "per_payment_cap": 20_000, "purse_max": 200_000, "validity_secs": 259_200, "grace_secs": 172_800,
        "loss_allowance": 200_000, "max_open_purses": 2,
    });
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

/// Reads from a raw connection until the server closes it (end of stream or reset); what it sent.
/// `None` if it is still open after `bound`.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, bound: std::time::Duration) -> Option<String> {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(bound, reading).await.ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off() {
    let config = Config { header_read_timeout: std::time::Duration::from_secs(1), ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();

    // Half a request line, then nothing: closed (hyper may say 408 first), well before the bound.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /v1/hea").await.unwrap();
    let answer = read_until_closed(&mut slow, std::time::Duration::from_secs(20)).await;
    let answer = answer.expect("a connection with half a request line is still open");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A connection that sends nothing at all is closed too.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let answer = read_until_closed(&mut silent, std::time::Duration::from_secs(20)).await;
    assert!(answer.is_some(), "a silent connection is still open");

    // An ordinary request on a fresh connection still works, and so does one that takes less
    // than the timeout between its parts.
    assert_eq!(server.client().get("/v1/health", None).await.0, 200);
    let mut paced = tokio::net::TcpStream::connect(&addr).await.unwrap();
    paced.write_all(b"GET /v1/health HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    paced.write_all(format!("Host: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut paced, PATIENCE).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_get_408() {
    let config = Config { body_read_timeout: std::time::Duration::from_secs(1), ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();

    // 10 of 100 declared bytes, then nothing: 408 with the API's error shape, then closed.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(b"{\"handle\":").await.unwrap();
    let answer = read_until_closed(&mut slow, std::time::Duration::from_secs(20)).await;
    let answer = answer.expect("a connection with a late body is still open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert_eq!(body["error"]["message"], "the request body did not arrive within 1 seconds", "{body}");

    // The same on an authenticated route.
    let token = server.register("alice").await;
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/transfers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: slow-body-1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"to\":"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut slow, std::time::Duration::from_secs(20)).await.expect("still open");
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("\"request_timeout\""), "{answer}");

    // A body that arrives in parts, within the timeout, is read as usual.
    let mut paced = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = json!({"handle": "bob", "password": PASSWORD}).to_string();
    let head = format!(
        "POST /v1/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    paced.write_all(head.as_bytes()).await.unwrap();
    paced.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    paced.write_all(&body.as_bytes()[5..]).await.unwrap();
    let answer = read_until_closed(&mut paced, PATIENCE).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

/// A client that opens a socket from the start of a long backlog and never reads cannot keep its
/// place: once its buffers are full, a message it does not take within `ws_idle_timeout` ends
/// the socket, and the user's next socket is accepted. (Before, the server waited on that send
/// for ever: the place stayed taken, and logout, expiry and shutdown went unnoticed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_reads_gives_its_place_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = offpay_ledger::open_store(Some(dir.path()), None).await.unwrap();
    let idle = std::time::Duration::from_millis(500);
    let config = Config { ws_per_user: 1, ws_idle_timeout: idle, ..Config::for_tests() };
    let server = TestServer::start(config, store, offpay_server::Clock::manual(T0)).await;
    let alice = server.register("alice").await;
    server.deposit("alice", 100).await;
    // 100,000 copies of that event (about 25 MB as sent): more than the socket's buffers hold.
    let file = dir.path().join(offpay_ledger::open::SQLITE_FILE);
    rusqlite::Connection::open(file)
        .unwrap()
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
             INSERT INTO events (user_id, kind, payload, created_at_ms)
             SELECT e.user_id, e.kind, e.payload, e.created_at_ms FROM n, (SELECT * FROM events ORDER BY seq DESC LIMIT 1) AS e",
        )
        .unwrap();
    let silent = ws_connect(&server, &alice, Some(1)).await;
    let started = tokio::time::Instant::now();
    let again = loop {
        match try_ws_connect(&server, &alice).await {
            Ok(ws) => break ws,
            Err(refusal) if started.elapsed() < PATIENCE => {
                assert_error(&refusal, 429, "too_many_websockets");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(refusal) => panic!("the socket that never reads kept its place: {refusal:?}"),
        }
    };
    eprintln!("the next socket was accepted after {:?}", started.elapsed());
    drop((silent, again));
}

/// A socket that asks for the whole of a long history (`after=1`) gets at most `CATCH_UP_MAX`
/// stored events and is closed with 4409 "far behind"; connecting again after the last one
/// received brings the rest, then live ones. Before, one connection streamed the whole history,
/// and every reconnect did it again: one request, unbounded work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_catches_up_a_bounded_number_of_events() {
    use futures_util::StreamExt;
    use offpay_api::events::{CATCH_UP_MAX, CLOSE_FAR_BEHIND};
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let store = offpay_ledger::open_store(Some(dir.path()), None).await.unwrap();
    let server = TestServer::start(Config::for_tests(), store, offpay_server::Clock::manual(T0)).await;
    let alice = server.register("alice").await;
    server.deposit("alice", 100).await;
    let copies = CATCH_UP_MAX + 500;
    rusqlite::Connection::open(dir.path().join(offpay_ledger::open::SQLITE_FILE))
        .unwrap()
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies})
             INSERT INTO events (user_id, kind, payload, created_at_ms)
             SELECT e.user_id, e.kind, e.payload, e.created_at_ms FROM n, (SELECT * FROM events ORDER BY seq DESC LIMIT 1) AS e"
        ))
        .unwrap();
    // Reads a socket until it closes or is quiet for a second: the events' seqs and the close code.
    async fn read_all(ws: &mut Ws) -> (Vec<i64>, Option<u16>) {
        let mut seqs = Vec::new();
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(1), ws.next()).await {
                Err(_) => return (seqs, None),
                Ok(Some(Ok(Message::Text(text)))) => {
                    let event: Value = serde_json::from_str(text.as_str()).unwrap();
                    seqs.push(event["seq"].as_i64().unwrap());
                }
                Ok(Some(Ok(Message::Close(frame)))) => return (seqs, frame.map(|f| u16::from(f.code))),
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    }
    let mut first = ws_connect(&server, &alice, Some(1)).await;
    let (seqs, closed) = read_all(&mut first).await;
    assert_eq!((seqs.len(), closed), (CATCH_UP_MAX as usize, Some(CLOSE_FAR_BEHIND)));
    let mut again = ws_connect(&server, &alice, seqs.last().copied()).await;
    let (rest, closed) = read_all(&mut again).await;
    assert_eq!(closed, None, "caught up: the socket stays open for live events");
    assert!(rest.len() >= 500 && rest.windows(2).all(|w| w[0] < w[1]), "{} events", rest.len());
    assert!(rest[0] > *seqs.last().unwrap());
}

/// A WebSocket authenticated with the header, or the refusal's status and JSON body.
async fn try_ws_connect(server: &TestServer, token: &str) -> Result<Ws, (reqwest::StatusCode, Value)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server.ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = reqwest::StatusCode::from_u16(response.status().as_u16()).unwrap();
            let body = response.body().as_deref().map(|b| serde_json::from_slice(b).unwrap()).unwrap_or(Value::Null);
            Err((status, body))
        }
        Err(other) => panic!("websocket connection failed: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_per_user_are_capped() {
    use futures_util::{SinkExt, StreamExt};
    let config = Config { ws_per_user: 3, ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(try_ws_connect(&server, &alice).await.unwrap());
    }
    // One more, even with another session of the same user: 429 before the upgrade.
    let refused = try_ws_connect(&server, &alice).await.expect_err("a 4th socket was accepted");
    assert_error(&refused, 429, "too_many_websockets");
    assert_eq!(refused.1["error"]["message"], "this account already has 3 live connections open; close one first");
    let (_, login) =
        server.client().post("/v1/login", None, None, &json!({"handle": "alice", "password": PASSWORD})).await;
    let second_session = login["token"].as_str().unwrap().to_string();
    assert_error(&try_ws_connect(&server, &second_session).await.err().unwrap(), 429, "too_many_websockets");
    // Authenticating by the first message: closed with 4429.
    let mut by_message = ws_connect_with_message(&server, json!({"token": alice})).await;
    assert_eq!(close_code(&mut by_message).await, 4429);
    // Other users are not affected, and the open sockets still get their events.
    let _bobs = try_ws_connect(&server, &bob).await.unwrap();
    server.deposit("bob", 500).await;
    server.deposit("alice", 1_000).await;
    assert_eq!(next_event(&mut open[2]).await["kind"], "deposit");

    // Closing one frees its place (once the server has seen the close).
    let mut first = open.remove(0);
    first.send(tokio_tungstenite::tungstenite::Message::Close(None)).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, first.next()).await {}
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let again = loop {
        match try_ws_connect(&server, &alice).await {
            Ok(ws) => break ws,
            Err(refusal) if tokio::time::Instant::now() < deadline => {
                assert_error(&refusal, 429, "too_many_websockets");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(refusal) => panic!("the closed socket's place was not given back: {refusal:?}"),
        }
    };
    assert_error(&try_ws_connect(&server, &alice).await.err().unwrap(), 429, "too_many_websockets");
    drop(again);
    let events = server.store.security_events(10).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "rate_limited" && e.detail.contains("limit=ws_per_user")), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_place() {
    use futures_util::{SinkExt, StreamExt};
    let config =
        Config { max_connections: 2, header_read_timeout: std::time::Duration::from_secs(120), ..Config::for_tests() };
    let server = TestServer::sqlite_with(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let alice = server.register("alice").await;

    // A WebSocket and an idle connection take both places.
    let mut ws = ws_connect(&server, &alice, None).await;
    let _idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A third client connects (the kernel queues it) but is not served while both are held.
    let mut waiting = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!("GET /v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    waiting.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(std::time::Duration::from_secs(1), waiting.read(&mut first)).await;
    assert!(early.is_err(), "a connection beyond the cap was served: {early:?}");

    // The WebSocket ends: its place goes to the waiting client.
    ws.send(tokio_tungstenite::tungstenite::Message::Close(None)).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, ws.next()).await {}
    drop(ws);
    let answer = read_until_closed(&mut waiting, PATIENCE).await.expect("the waiting client was never served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A TCP connection to `addr` from `127.0.0.{from}`.
async fn connect_from(from: u8, addr: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("127.0.0.{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// One client address cannot take every connection place (one host opening thousands of idle
/// connections would lock everyone out): past its share, its next connection is closed at once,
/// and another address is still served while the server is below its cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let config = Config {
        max_connections: 4,
        max_connections_per_address: 2,
        header_read_timeout: std::time::Duration::from_secs(120),
        ..Config::for_tests()
    };
    let server = TestServer::sqlite_with(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let request = format!("GET /v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    // 127.0.0.5 holds two idle connections, its share.
    let _held = [connect_from(5, &addr).await, connect_from(5, &addr).await];
    let mut third = connect_from(5, &addr).await;
    let _ = third.write_all(request.as_bytes()).await;
    let answer = read_until_closed(&mut third, std::time::Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some(""), "a third connection from one address was not closed at once");
    // Another address is served at once.
    let mut other = connect_from(6, &addr).await;
    other.write_all(request.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut other, std::time::Duration::from_secs(5)).await;
    assert!(answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 200")), "{answer:?}");
}

/// A client that asks for answers and never reads them cannot hold its connection place (and
/// the answers it stalls) for good: once the server's writes have made no progress for the write
/// timeout, the connection is closed and its address may connect again. Before the write
/// timeout, a pipeline of large answers left unread held the place until the client went away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gives_its_place_back() {
    let config = Config {
        max_connections_per_address: 1,
        header_read_timeout: std::time::Duration::from_secs(120),
        write_timeout: std::time::Duration::from_secs(1),
        ..Config::for_tests()
    };
    let server = TestServer::sqlite_with(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // About 25 MB of answers asked for at once, more than the kernel buffers of both ends hold.
    let big = format!("GET /vendor/jsQR.js HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut stalled = connect_from(7, &addr).await;
    stalled.write_all(big.repeat(100).as_bytes()).await.unwrap();
    let health = format!("GET /v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut next = connect_from(7, &addr).await;
        let _ = next.write_all(health.as_bytes()).await;
        let answer = read_until_closed(&mut next, std::time::Duration::from_secs(5)).await;
        if answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the stalled connection still holds the address's place");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(stalled);
}

/// A request head larger than the server buffers is answered 431, not buffered whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_is_refused() {
    let server = TestServer::sqlite().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let filler = "a".repeat(200 * 1024);
    let request = format!("GET /v1/health HTTP/1.1\r\nHost: {addr}\r\nX-Filler: {filler}\r\nConnection: close\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = stream.write_all(request.as_bytes()).await;
    let answer = read_until_closed(&mut stream, std::time::Duration::from_secs(5)).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_websockets_are_closed() {
    use futures_util::StreamExt;
    let config = Config {
        ws_ping_interval: std::time::Duration::from_millis(200),
        ws_idle_timeout: std::time::Duration::from_secs(1),
        ws_per_user: 1,
        ..Config::for_tests()
    };
    let server = TestServer::sqlite_with(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;

    // Alice's client reads nothing, so it answers no ping: closed with 4408, and the place is free.
    let mut silent = ws_connect(&server, &alice, None).await;
    let mut answering = ws_connect(&server, &bob, None).await;
    // Bob's client reads (and so answers each ping) for several idle timeouts and stays open.
    let mut stayed = tokio::time::Instant::now();
    let until = stayed + std::time::Duration::from_secs(3);
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout(std::time::Duration::from_millis(300), answering.next()).await {
            Err(_) => {}
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_)))) => stayed = tokio::time::Instant::now(),
            Ok(other) => panic!("an answering socket got {other:?}"),
        }
    }
    assert!(stayed.elapsed() < std::time::Duration::from_secs(1), "no pings came");
    // The server ended the silent socket (its place is free) while the client still read nothing.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match try_ws_connect(&server, &alice).await {
            Ok(_) => break,
            Err(refusal) if tokio::time::Instant::now() < deadline => {
                assert_error(&refusal, 429, "too_many_websockets");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(refusal) => panic!("the idle socket was not closed: {refusal:?}"),
        }
    }
    // What the silent client finds: pings, then the 4408 close frame (unless answering the old
    // pings on the closed connection fails first, which loses the rest of what it had read).
    loop {
        match tokio::time::timeout(PATIENCE, silent.next()).await.expect("the silent socket is still open") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_))) => continue,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4408);
                assert_eq!(frame.reason.as_str(), "idle");
                break;
            }
            Some(Ok(other)) => panic!("a silent socket got {other:?}"),
            None | Some(Err(_)) => break,
        }
    }
}
