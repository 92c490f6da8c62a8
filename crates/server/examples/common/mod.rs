//! Shared by the load generators in `examples/`: registering users over HTTP and the machine's
//! load average (printed beside every figure, so a busy machine shows).

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
