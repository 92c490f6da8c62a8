//! End-to-end tests of the `offpay` binary: `serve` on a real port with a real SQLite file (and
//! PostgreSQL), users registered over HTTP, `admin deposit` / `verify` / `security-events` run as
//! separate processes against the same database, graceful shutdown on SIGTERM, connection limits
//! set by option and by environment variable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_offpay");
const PASSWORD: &str = "correct horse battery";

/// A running `offpay serve`, stopped with SIGTERM when dropped.
struct Served {
    child: Child,
    base: String,
    /// Every line the server wrote to stderr after its first.
    log: Arc<Mutex<Vec<String>>>,
    /// Holds the issuer key file, so that a PostgreSQL run (no `--data`) never writes
    /// `./offpay-data/issuer-keys.json` into the source tree.
    _keys: tempfile::TempDir,
}

impl Served {
    fn start(store_args: &[&str]) -> Served {
        Served::start_with(store_args, &[])
    }

    /// With more environment variables.
    fn start_with(store_args: &[&str], env: &[(&str, &str)]) -> Served {
        let keys = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(store_args)
            .env_remove("OFFPAY_DATABASE_URL")
            .env("OFFPAY_ISSUER_KEYS", keys.path().join("issuer-keys.json"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().expect("serve printed nothing").unwrap();
        // Keep draining stderr so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.by_ref().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let rest =
            first.strip_prefix("offpay serving on http://").unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let addr = rest.split_whitespace().next().unwrap();
        assert!(rest.contains("(database: "), "{first}");
        Served { child, base: format!("http://{addr}"), log, _keys: keys }
    }

    /// The first line of the server's log that satisfies `want`, waiting up to 5 s for it to be
    /// written (lines of a request may come after its answer).
    async fn wait_for_log(&self, want: impl Fn(&str) -> bool) -> Option<String> {
        for _ in 0..50 {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| want(l)) {
                return Some(line.clone());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        None
    }

    /// SIGTERM, then the exit status (graceful shutdown exits 0).
    fn stop(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(base: &str, path: &str, token: Option<&str>, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = http().post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn register(base: &str, handle: &str) -> String {
    let (status, body) = post(base, "/v1/register", None, None, json!({"handle": handle, "password": PASSWORD})).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn balance(base: &str, token: &str) -> i64 {
    let body: Value =
        http().get(format!("{base}/v1/me")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    body["balance"].as_i64().unwrap()
}

/// Runs `offpay admin <store_args> <args>` off the async threads.
async fn admin(store_args: &[&str], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.arg("admin").args(store_args).args(args).env_remove("OFFPAY_DATABASE_URL").stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A refused command: non-zero exit, exactly one line on stderr starting with `error:`, nothing
/// on stdout.
#[track_caller]
fn assert_refused(output: &Output) {
    assert!(!output.status.success(), "{}", stdout(output));
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(output.stdout.is_empty(), "{}", stdout(output));
}

async fn deposit_verify_scenario(store_args: &[&str]) {
    let served = Served::start(store_args);
    let base = served.base.clone();
    let alice = register(&base, "alice").await;
    let bob = register(&base, "bob").await;

    let out = admin(store_args, &["deposit", "alice", "1000"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.starts_with("Deposited 1000.00 INR to alice (entry "), "{line}");
    assert_eq!(balance(&base, &alice).await, 100_000);

    // A given key deposits once, however often it is run.
    for replayed in [false, true] {
        let out = admin(store_args, &["deposit", "alice", "12.50", "--idempotency-key", "refill-0001", "--json"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(answer["amount"], 1_250);
        assert_eq!(answer["currency"], "INR");
        assert_eq!(answer["replayed"], replayed);
    }
    assert_eq!(balance(&base, &alice).await, 101_250);

    // Refusals: one line on stderr, non-zero exit, nothing moved.
    for args in [
        &["deposit", "nobody", "5"][..],
        &["deposit", "alice", "abc"][..],
        &["deposit", "alice", "0"][..],
        &["deposit", "alice", "-5"][..],
        &["deposit", "alice", "1.234"][..],
        &["deposit", "a!", "5"][..],
        &["deposit", "alice", "5", "--idempotency-key", "bad key"][..],
    ] {
        assert_refused(&admin(store_args, args).await);
    }
    assert_eq!(balance(&base, &alice).await, 101_250);

    let (status, answer) =
        post(&base, "/v1/transfers", Some(&alice), Some("cli-e2e-0001"), json!({"to": "bob", "amount": 25_000})).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(balance(&base, &bob).await, 25_000);
    let (status, _) =
        post(&base, "/v1/login", None, None, json!({"handle": "bob", "password": "wrong password"})).await;
    assert_eq!(status, 401);

    let out = admin(store_args, &["verify"]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("1012.50 INR in the system. No problems."), "{report}");
    let out = admin(store_args, &["verify", "--json"]).await;
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["money_in_system"], 101_250);
    assert_eq!(report["problems"], json!([]));

    let out = admin(store_args, &["security-events"]).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("login_failed") && stdout(&out).contains("handle=bob"), "{}", stdout(&out));

    // Freezing stops payments from that account.
    assert!(admin(store_args, &["freeze", "alice"]).await.status.success());
    let (status, answer) =
        post(&base, "/v1/transfers", Some(&alice), Some("cli-e2e-0002"), json!({"to": "bob", "amount": 1})).await;
    assert_eq!((status, answer["error"]["code"].clone()), (403, json!("account_frozen")));
    assert!(admin(store_args, &["unfreeze", "alice"]).await.status.success());

    assert!(served.stop().success(), "serve did not shut down cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_admin_deposit_verify_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    deposit_verify_scenario(&["--data", data]).await;

    // Someone edits a balance behind the ledger's back: verify finds it and exits 1.
    tamper(&dir.path().join("data").join("offpay.sqlite3"));
    let out = admin(&["--data", data], &["verify"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    assert!(report.starts_with("Ledger verification FAILED"), "{report}");
    assert!(report.lines().filter(|l| l.starts_with("problem: ")).count() >= 1, "{report}");
}

fn tamper(file: &Path) {
    let conn = rusqlite::Connection::open(file).unwrap();
    let changed =
        conn.execute("UPDATE accounts SET balance = balance + 100 WHERE kind = 'wallet' AND balance > 0", []).unwrap();
    assert!(changed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_admin_deposit_verify_postgres() {
    let Some((url, _db)) = offpay_ledger::testing::fresh_postgres().await else { return };
    deposit_verify_scenario(&["--database-url", &url]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_store_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // --data and --database-url together are refused by the argument parser.
    let out = admin(&["--data", data, "--database-url", "postgres://127.0.0.1/x"], &["verify"]).await;
    assert!(!out.status.success());
    // An unsupported URL is one clear line.
    assert_refused(&admin(&["--database-url", "mysql://127.0.0.1/x"], &["verify"]).await);
    // An empty ledger verifies.
    let out = admin(&["--data", data], &["verify"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("No problems"), "{}", stdout(&out));
}

/// `offpay admin ... | head`: the reader has gone before the command prints. The command ends
/// quietly with status 0 instead of panicking on the broken pipe (before: status 101 and a panic
/// message on stderr).
#[test]
fn a_closed_output_pipe_ends_a_command_quietly() {
    let data = tempfile::tempdir().unwrap();
    // Creates the database, so that the run below is only the printing command.
    let first = Command::new(BIN).args(["admin", "--data"]).arg(data.path()).arg("verify").output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    for _ in 0..3 {
        let mut child = Command::new(BIN)
            .args(["admin", "--data"])
            .arg(data.path())
            .arg("verify")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end at once: the process is still starting, so its first line of
        // output meets a closed pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
}

/// Reads from a raw connection until the server closes it; what it sent. Panics if it is still
/// open after a generous bound.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
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
    tokio::time::timeout(std::time::Duration::from_secs(30), reading).await.expect("the connection is still open");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_come_from_options_and_environment() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = Served::start_with(
        &["--data", data.to_str().unwrap(), "--body-read-timeout", "1s"],
        &[("OFFPAY_HEADER_READ_TIMEOUT", "1s")],
    );
    let addr = served.base.trim_start_matches("http://").to_string();
    // The variable: half a request line is cut off.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /v1/hea").await.unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The option: a late body is answered 408 request_timeout.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("\"request_timeout\""), "{answer}");
    // Ordinary requests are served.
    register(&served.base, "alice").await;
    assert!(served.stop().success());
}

/// The request-rate limits are the operator's: `--rate-auth-per-ip 2/2` lets two register or
/// login attempts through from one address at once and refuses the third with 429 rate_limited;
/// `OFFPAY_RATE_PER_IP` sets the limit on every route the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_limits_come_from_options_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = Served::start_with(
        &["--data", data.to_str().unwrap(), "--rate-auth-per-ip", "2/2"],
        &[("OFFPAY_RATE_PER_IP", "6/8")],
    );
    register(&served.base, "alice").await;
    let login = json!({"handle": "alice", "password": PASSWORD});
    let (status, _) = post(&served.base, "/v1/login", None, None, login.clone()).await;
    assert_eq!(status, 200);
    let (status, body) = post(&served.base, "/v1/login", None, None, login).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
    // Eight requests in all from this address at once (two went to register and login above).
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(http().get(format!("{}/v1/health", served.base)).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{statuses:?}");
    assert!(served.stop().success());
}

/// Every answer carries an `x-request-id`, a new one per request (or the one the client sent),
/// and the server's log lines of that request name it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_on_answers_and_log_lines() {
    let data = tempfile::tempdir().unwrap();
    let served = Served::start_with(&["--data", data.path().to_str().unwrap()], &[("RUST_LOG", "info")]);
    let answer = http()
        .post(format!("{}/v1/register", served.base))
        .json(&json!({"handle": "rid", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let id = answer.headers().get("x-request-id").and_then(|v| v.to_str().ok()).expect("no x-request-id").to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let again = http().get(format!("{}/v1/health", served.base)).send().await.unwrap();
    assert_ne!(again.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some(id.as_str()));
    let theirs = http()
        .get(format!("{}/v1/me", served.base))
        .header("x-request-id", "from-the-balancer-42")
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 401);
    assert_eq!(theirs.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("from-the-balancer-42"));
    // The route's own line ("registered") is inside the request's span, so it names the id.
    let wanted = format!("request_id={id}");
    let found = served.wait_for_log(|l| l.contains(&wanted) && l.contains("registered")).await;
    assert!(found.is_some(), "no log line with {wanted}: {:?}", served.log.lock().unwrap());

    // A WebSocket outlives its upgrade request; its lines still name the upgrade's id. A socket
    // that authenticates with a bad first message is closed (4401) and logged.
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ws_url = format!("{}/v1/ws", served.base.replacen("http://", "ws://", 1));
    let (mut socket, upgrade) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let ws_id =
        upgrade.headers().get("x-request-id").and_then(|v| v.to_str().ok()).expect("no x-request-id").to_string();
    socket.send(Message::text(json!({"token": "not-a-session", "after": 0}).to_string())).await.unwrap();
    let mut close_code = None;
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Close(frame) = message {
            close_code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(close_code, Some(4401));
    let wanted = format!("request_id={ws_id}");
    let found =
        served.wait_for_log(|l| l.contains(&wanted) && l.contains("websocket closed") && l.contains("4401")).await;
    assert!(found.is_some(), "no websocket log line with {wanted}: {:?}", served.log.lock().unwrap());
}
