//! Shared by the load generators in `examples/`: registering users over HTTP, the machine's
//! load average (printed beside every figure, so a busy machine shows) and the CPU time the run
//! took in this process and in PostgreSQL.
// Each example is its own crate and uses part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use rand::Rng;
use serde_json::{Value, json};
use tokio::task::JoinSet;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// "load average 1.02 0.98 0.87", from /proc/loadavg.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!("load average {}", text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// CPU time so far, in clock ticks: of this process (server and clients), and of every process
/// named `postgres` on the machine (the local PostgreSQL's backends), from `/proc` (zero where
/// it cannot be read).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    pub own: u64,
    pub postgres: u64,
}

/// utime + stime of one `/proc/PID/stat` (fields 14 and 15, counted after the command name).
fn stat_ticks(stat: &str) -> u64 {
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

pub fn cpu_ticks() -> CpuTicks {
    let own = std::fs::read_to_string("/proc/self/stat").map_or(0, |s| stat_ticks(&s));
    let mut postgres = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let dir = entry.path();
        if std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == "postgres") {
            postgres += std::fs::read_to_string(dir.join("stat")).map_or(0, |s| stat_ticks(&s));
        }
    }
    CpuTicks { own, postgres }
}

/// "CPU: this process 4.7 s, PostgreSQL 15.1 s (per request 0.39 ms and 1.25 ms)" between two
/// samples, for `requests` requests (clock ticks of `getconf CLK_TCK`, 100 when unknown).
/// PostgreSQL backends that ended in between are not counted.
pub fn cpu_between(before: CpuTicks, after: CpuTicks, requests: usize) -> String {
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    let own = after.own.saturating_sub(before.own) as f64 / hz;
    let postgres = after.postgres.saturating_sub(before.postgres) as f64 / hz;
    let per = |s: f64| s * 1000.0 / requests.max(1) as f64;
    format!(
        "CPU: this process {own:.1} s, PostgreSQL {postgres:.1} s (per request {:.2} ms and {:.2} ms)",
        per(own),
        per(postgres)
    )
}

/// Registers `count` users over HTTP, 32 at a time, named `<prefix><random tag>n<i>`; returns
/// (handle, session token) pairs in order.
pub async fn register(addr: SocketAddr, prefix: &str, count: usize) -> Result<Vec<(String, String)>, BoxError> {
    let client = reqwest::Client::new();
    let tag: u32 = rand::rng().random();
    let mut users = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(32) {
        let mut set = JoinSet::new();
        for &i in chunk {
            let (client, handle) = (client.clone(), format!("{prefix}{tag:x}n{i}"));
            set.spawn(async move {
                let body = json!({"handle": handle, "password": "load-test-password"});
                let answer: Value = client
                    .post(format!("http://{addr}/v1/register"))
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                Ok::<_, BoxError>((i, handle, answer["token"].as_str().ok_or("register: no token")?.to_string()))
            });
        }
        let mut got = Vec::new();
        while let Some(done) = set.join_next().await {
            got.push(done??);
        }
        got.sort_by_key(|(i, _, _)| *i);
        users.extend(got.into_iter().map(|(_, h, t)| (h, t)));
    }
    Ok(users)
}
