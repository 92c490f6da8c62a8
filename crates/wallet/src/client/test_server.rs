//! Tests only: a real TCP listener on port 0 that answers each connection with the next canned
//! HTTP response and records the requests it read (head and body), for the client's tests of
//! faults a real server does not give on demand: 502 and 503 answers, error pages that are not
//! JSON, malformed answers. Everything else is tested against the real server
//! (`crates/wallet/tests/real_server`).

#![allow(clippy::unwrap_used)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::ServerUrl;

/// One request as the listener read it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request line and headers, lowercased.
    pub head: String,
    pub body: String,
}

/// An HTTP/1.1 response with a JSON body (or an empty one) that closes the connection.
pub fn response(status_line: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Serves `responses` in order, one per connection; the task returns the requests seen.
pub async fn canned_server(responses: Vec<String>) -> (ServerUrl, JoinHandle<Vec<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ServerUrl::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for response in responses {
            let (mut socket, _) = listener.accept().await.unwrap();
            seen.push(read_request(&mut socket).await);
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
        }
        seen
    });
    (url, task)
}

/// Reads the head, then as many body bytes as its `content-length` says.
async fn read_request(socket: &mut TcpStream) -> Seen {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8 * 1024];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed the connection before the request's end");
        bytes.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse::<usize>().unwrap());
    while bytes.len() < head_end + length {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed the connection before the body's end");
        bytes.extend_from_slice(&buf[..n]);
    }
    Seen { head, body: String::from_utf8_lossy(&bytes[head_end..]).to_string() }
}
