//! Test harness for the wallet's end-to-end tests: a real `offpay serve` on a free port with its
//! SQLite data in a temporary folder, wallets driven through the real `offpay` binary, and a TCP
//! proxy that can cut the server's answers for real ([`AnswerLosingProxy`]).
//! Waits are bounded (they fail the test with a message), never timing assertions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::Value;

/// How long to wait for a process to say something before failing the test.
pub const WAIT: Duration = Duration::from_secs(60);

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

pub fn offpay() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_offpay"));
    // Nothing from the developer's environment may leak into the test: not where wallets and
    // servers keep their data, nor the purse options that change what a test server issues.
    let wallet_and_database =
        ["OFFPAY_HOME", "OFFPAY_SERVER", "OFFPAY_PASSWORD", "OFFPAY_DATABASE_URL", "DATABASE_URL"];
    let purse_options = [
        "OFFPAY_PURSE_VALIDITY",
        "OFFPAY_PURSE_GRACE",
        "OFFPAY_MAX_PAYMENT",
        "OFFPAY_MAX_PURSE",
        "OFFPAY_LOSS_ALLOWANCE",
        "OFFPAY_MAX_OPEN_PURSES",
    ];
    for var in wallet_and_database.into_iter().chain(purse_options) {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Spawns a thread that forwards each line of `stream` to the returned channel.
pub fn lines_of(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the first line that satisfies `want`, failing the test after [`WAIT`].
pub fn wait_for_line(rx: &Receiver<String>, what: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("waited {WAIT:?} for {what}: {e}"),
        }
    }
}

/// A running `offpay serve` with its data folder.
pub struct Server {
    child: Child,
    /// The server's log (stderr), from after the line that says where it serves.
    log: Receiver<String>,
    /// What `restart` adds to `offpay serve` (set by `restart_with`).
    options: Vec<String>,
    pub url: String,
    pub data: PathBuf,
    /// While the server is stopped: a socket bound to its address but not listening, so a
    /// connection is refused and no other test's server, started in parallel on a free port,
    /// can take the address and answer in its place.
    port_holder: Option<socket2::Socket>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (child, url, log) = spawn_server(&data, "127.0.0.1:0", &[]);
        Server { child, log, options: Vec::new(), url, data, port_holder: None, _dir: dir }
    }

    /// Stops the server and starts it again on the same address and data (and options).
    pub fn restart(&mut self) {
        self.stop();
        let addr = self.url.trim_start_matches("http://").to_string();
        // The new server binds beside the holder (both set SO_REUSEADDR and the holder does not
        // listen); the holder goes once the server listens.
        let (child, url, log) = spawn_server(&self.data, &addr, &self.options);
        assert_eq!(url, self.url);
        self.child = child;
        self.log = log;
        self.port_holder = None;
    }

    /// Restarts the server with `options` added to `offpay serve`, for this and later restarts.
    pub fn restart_with(&mut self, options: &[&str]) {
        self.options = options.iter().map(|o| o.to_string()).collect();
        self.restart();
    }

    /// Waits for the first line of the server's log, since it last started, that satisfies
    /// `want` (failing the test after [`WAIT`]).
    pub fn wait_for_log(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        wait_for_line(&self.log, what, want)
    }

    /// Runs `offpay admin --data DIR ARGS`, asserting success.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = offpay().arg("admin").arg("--data").arg(&self.data).args(args).output().unwrap();
        assert!(out.status.success(), "offpay admin {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the server (for the no-server cases) and keeps its address, so that until
    /// [`Server::restart`] every connection to it is refused.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.port_holder.is_none() {
            self.port_holder = Some(hold_address(&self.url));
        }
    }
}

/// Binds a socket to the address of `url` without listening on it. Ports handed out for
/// "any free port" skip an address bound this way, and a connection to it is refused.
fn hold_address(url: &str) -> socket2::Socket {
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&addr.into())
        .unwrap_or_else(|e| panic!("another process took {addr} as soon as the test server stopped: {e}"));
    socket
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `offpay serve` and waits for the line that says where it serves; returns the process,
/// its URL and the rest of its log.
fn spawn_server(data: &Path, listen: &str, options: &[String]) -> (Child, String, Receiver<String>) {
    let mut child = offpay()
        .args(["serve", "--listen", listen, "--data"])
        .arg(data)
        .args(options)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    let line = wait_for_line(&stderr, "the server to start", |l| l.contains("offpay serving on http://"));
    let url =
        line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().trim_end_matches([',', '.']).to_string();
    // The thread of `lines_of` keeps draining the log into the channel, so the server never
    // blocks on a full pipe.
    (child, url, stderr)
}

/// One user's wallet home, driven through `offpay wallet --home HOME`.
/// Alice and Bob registered on `server`, Alice with `deposit` (major units) from the operator.
pub fn alice_and_bob(server: &Server, deposit: &str) -> (WalletHome, WalletHome) {
    let alice = WalletHome::new("alice");
    let bob = WalletHome::new("bob");
    alice.register(server);
    bob.register(server);
    server.admin(&["deposit", "alice", deposit]);
    (alice, bob)
}

pub struct WalletHome {
    pub home: PathBuf,
    pub handle: String,
    _dir: tempfile::TempDir,
}

/// A failed command's stderr, checked to be one line.
pub struct Refusal {
    pub line: String,
}

impl WalletHome {
    pub fn new(handle: &str) -> WalletHome {
        let dir = tempfile::tempdir().unwrap();
        WalletHome { home: dir.path().join(".offpay"), handle: handle.to_string(), _dir: dir }
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = offpay();
        cmd.arg("wallet").arg("--home").arg(&self.home);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs a wallet command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} `wallet {}` failed: {}",
            self.handle,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a wallet command with `--json` that must succeed; returns its one JSON object.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let stdout = self.ok(&all);
        assert_eq!(stdout.lines().count(), 1, "one JSON line expected, got {stdout:?}");
        let value: Value = serde_json::from_str(&stdout).unwrap();
        assert!(value.is_object(), "{value}");
        value
    }

    /// Runs a wallet command that must fail with one line on stderr and nothing on stdout.
    pub fn refused(&self, args: &[&str]) -> Refusal {
        self.refused_with(args, &[])
    }

    pub fn refused_with(&self, args: &[&str], env: &[(&str, &str)]) -> Refusal {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "`wallet {}` should have failed", args.join(" "));
        assert!(
            out.stdout.is_empty(),
            "a refusal prints nothing on stdout: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(stderr.lines().count(), 1, "one line on stderr expected, got {stderr:?}");
        let line = stderr.trim_end().to_string();
        assert!(line.starts_with("error: ") && line.len() > "error: ".len() + 5, "{line:?}");
        Refusal { line }
    }

    pub fn register(&self, server: &Server) -> String {
        self.with_password(server, "register", PASSWORD)
    }

    pub fn login(&self, server: &Server, password: &str) -> Output {
        self.cmd()
            .args(["--server", &server.url, "login", &self.handle])
            .env("OFFPAY_PASSWORD", password)
            .output()
            .unwrap()
    }

    fn with_password(&self, server: &Server, verb: &str, password: &str) -> String {
        let out = self
            .cmd()
            .args(["--server", &server.url, verb, &self.handle])
            .env("OFFPAY_PASSWORD", password)
            .output()
            .unwrap();
        assert!(out.status.success(), "{verb} {} failed: {}", self.handle, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The balance in minor units, from `balance --json`.
    pub fn balance(&self) -> u64 {
        let value = self.json(&["balance"]);
        assert_eq!(value["currency"], "INR");
        assert_eq!(value["offline"], 0);
        value["balance"].as_u64().unwrap()
    }

    /// Writes a pending send of `minor` to `to` into this home's outbox, as `send` writes it
    /// before its request leaves, and returns its idempotency key and the session's token (the
    /// caller plays what happened next: a request sent, or none).
    pub fn write_pending_send(&self, to: &str, minor: u64) -> (String, String) {
        let mut store = offpay_wallet::Store::open(&self.home).unwrap();
        let session = store.settings().unwrap().session().unwrap();
        let to = offpay_protocol::Handle::parse(to).unwrap();
        let terms = offpay_wallet::store::SendTerms {
            server: &session.server_url,
            account: &session.handle,
            to: &to,
            amount: offpay_protocol::Amount::from_minor(minor).unwrap(),
            memo: None,
            to_account: None,
            card: None,
        };
        let written = store.outbox_new(&terms, 1).unwrap();
        (written.idempotency_key, session.token.clone())
    }

    pub fn db_path(&self) -> PathBuf {
        self.home.join("wallet.sqlite3")
    }

    pub fn home(&self) -> &Path {
        &self.home
    }
}

/// A running `offpay wallet watch`.
pub struct Watcher {
    child: Child,
    pub stdout: Receiver<String>,
    pub stderr: Receiver<String>,
}

impl Watcher {
    /// Starts `watch` and waits until it says it is connected.
    pub fn start(wallet: &WalletHome) -> Watcher {
        let mut child = wallet.cmd().arg("watch").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        wait_for_line(&stderr, "watch to connect", |l| l.starts_with("connected"));
        Watcher { child, stdout, stderr }
    }

    /// The next event printed on stdout.
    pub fn next_event(&self) -> Value {
        let line = wait_for_line(&self.stdout, "an event from watch", |_| true);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("watch printed {line:?}: {e}"))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy in front of a real server that can lose answers for real: in "lose" mode each
/// new connection's request is forwarded to the server, and as soon as the server starts to
/// answer (so the request was carried out) the connection to the client is cut, before any of
/// the answer reaches it. Otherwise bytes are passed both ways untouched.
pub struct AnswerLosingProxy {
    pub url: String,
    lose: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Answers cut so far.
    lost: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl AnswerLosingProxy {
    pub fn start(server: &Server) -> AnswerLosingProxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let upstream_addr = server.url.trim_start_matches("http://").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lose = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicUsize::new(0));
        let (lose_flag, lost_count) = (lose.clone(), lost.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(upstream) = std::net::TcpStream::connect(&upstream_addr) else { continue };
                let lose_this = lose_flag.load(Ordering::SeqCst);
                let lost_count = lost_count.clone();
                std::thread::spawn(move || proxy_one(client, upstream, lose_this, &lost_count));
            }
        });
        AnswerLosingProxy { url, lose, lost }
    }

    /// From now on, lose (or stop losing) the answers of new connections.
    pub fn lose_answers(&self, lose: bool) {
        self.lose.store(lose, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn answers_lost(&self) -> usize {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn proxy_one(
    client: std::net::TcpStream,
    upstream: std::net::TcpStream,
    lose: bool,
    lost: &std::sync::atomic::AtomicUsize,
) {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    let (Ok(mut client_in), Ok(mut upstream_out)) = (client.try_clone(), upstream.try_clone()) else { return };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Write);
    });
    let (mut client_out, mut upstream_in) = (client, upstream);
    if lose {
        let mut first = [0u8; 1];
        if matches!(upstream_in.read(&mut first), Ok(1)) {
            lost.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let _ = client_out.shutdown(Shutdown::Both);
        let _ = upstream_in.shutdown(Shutdown::Both);
        return;
    }
    let _ = std::io::copy(&mut upstream_in, &mut client_out);
    let _ = client_out.flush();
    let _ = client_out.shutdown(Shutdown::Write);
}
