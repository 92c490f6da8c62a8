//! The live-event client: a WebSocket to `GET /v1/ws` authenticated with the `Authorization`
//! header, resuming after the last sequence number seen (`?after=SEQ`), reconnecting with
//! exponential back-off (bounded delay) until the session ends or the caller stops it.
//!
//! Delivery: the server replays stored events after the cursor on every connect, so an event
//! that happened while disconnected is still delivered; an event at or below the cursor is a
//! duplicate and is dropped here. A connection that stays silent for longer than
//! [`WatchOptions::idle_timeout`] (the server pings every 20 s) is treated as dead.

use std::time::Duration;

use futures_util::StreamExt;
use offpay_api::events::CLOSE_UNAUTHORIZED;
use offpay_api::{EventBody, LiveEvent};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use backon::BackoffBuilder;

use crate::client::{ServerUrl, innermost, retry_delays};

/// Events larger than this are refused (they are a few hundred bytes).
const MAX_EVENT_BYTES: usize = 64 * 1024;

/// One live event, as the server sent it: the API's [`LiveEvent`], with the message kept for
/// printing.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at_ms: i64,
    /// The kind and payload, typed.
    pub body: EventBody,
    /// The whole message, every field kept (for printing).
    pub json: serde_json::Value,
}

impl Event {
    /// Parses one text message.
    pub fn parse(text: &str) -> Result<Event, String> {
        if text.len() > MAX_EVENT_BYTES {
            return Err(format!("an event of {} bytes is too large", text.len()));
        }
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let live = LiveEvent::deserialize(&json).map_err(|e| e.to_string())?;
        let seq = u64::try_from(live.seq).map_err(|_| format!("an event with sequence number {}", live.seq))?;
        let kind = live.body.kind().to_string();
        let payload = json.get("payload").cloned().unwrap_or_default();
        Ok(Event { seq, kind, payload, created_at_ms: live.created_at_ms, body: live.body, json })
    }

    /// The user's balance after the event, when the event carries it.
    pub fn balance_after(&self) -> Option<u64> {
        self.body.balance().and_then(|balance| u64::try_from(balance).ok())
    }
}

/// What the watcher is doing, for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchStatus {
    /// Connected; events after `after` follow.
    Connected { after: u64 },
    /// Lost or failed to get a connection; trying again after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// A message that is not an event was ignored.
    Ignored { reason: String },
}

/// Why watching stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the server refused the session; log in again")]
    SessionEnded,
    #[error("the event stream cannot be opened: {0}")]
    Setup(String),
    /// The caller's event handler failed (for example, the local store).
    #[error("{0}")]
    Handler(String),
}

/// Tuning of the reconnect loop.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Why one connection ended.
enum ConnectionEnd {
    SessionEnded,
    Lost(String),
    Handler(String),
}

/// Watches the event stream until the session ends or `on_event` fails; reconnects otherwise.
/// `after` is the last sequence number already seen. `on_event` gets each new event in order
/// and should persist the cursor; `on_status` is told about connects and disconnects.
pub async fn watch(
    server: &ServerUrl,
    token: &str,
    mut after: u64,
    options: &WatchOptions,
    mut on_event: impl FnMut(&Event) -> Result<(), String>,
    mut on_status: impl FnMut(&WatchStatus),
) -> Result<(), WatchError> {
    let auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| WatchError::Setup("the session token is not a valid header value".into()))?;
    let delays = retry_delays(options.backoff_base, options.backoff_max);
    let mut backoff = delays.build();
    loop {
        let mut connected = false;
        let mut status = |status: &WatchStatus| {
            connected |= matches!(status, WatchStatus::Connected { .. });
            on_status(status);
        };
        let ended = connect_and_read(server, &auth, &mut after, options, &mut on_event, &mut status).await;
        let reason = match ended {
            ConnectionEnd::SessionEnded => return Err(WatchError::SessionEnded),
            ConnectionEnd::Handler(reason) => return Err(WatchError::Handler(reason)),
            ConnectionEnd::Lost(reason) => reason,
        };
        if connected {
            // Back to the first delay after a connection that worked.
            backoff = delays.build();
        }
        // Never ends: the delays are built without a limit on their number.
        let retry_in = backoff.next().unwrap_or(options.backoff_max);
        on_status(&WatchStatus::Disconnected { reason, retry_in });
        tokio::time::sleep(retry_in).await;
    }
}

async fn connect_and_read(
    server: &ServerUrl,
    auth: &HeaderValue,
    after: &mut u64,
    options: &WatchOptions,
    on_event: &mut impl FnMut(&Event) -> Result<(), String>,
    on_status: &mut impl FnMut(&WatchStatus),
) -> ConnectionEnd {
    let url = server.ws_url(&format!("/v1/ws?after={after}"));
    let mut request = match url.into_client_request() {
        Ok(request) => request,
        Err(e) => return ConnectionEnd::Lost(innermost(&e)),
    };
    request.headers_mut().insert("authorization", auth.clone());
    let connected = tokio::time::timeout(options.connect_timeout, tokio_tungstenite::connect_async(request)).await;
    let mut stream = match connected {
        Err(_) => return ConnectionEnd::Lost("timed out connecting".into()),
        Ok(Err(tungstenite::Error::Http(response))) if response.status().as_u16() == 401 => {
            return ConnectionEnd::SessionEnded;
        }
        Ok(Err(tungstenite::Error::Http(response))) => {
            return ConnectionEnd::Lost(format!("the server answered {}", response.status()));
        }
        Ok(Err(e)) => return ConnectionEnd::Lost(innermost(&e)),
        Ok(Ok((stream, _response))) => stream,
    };
    on_status(&WatchStatus::Connected { after: *after });
    loop {
        let message = match tokio::time::timeout(options.idle_timeout, stream.next()).await {
            Err(_) => return ConnectionEnd::Lost("no message or ping from the server for too long".into()),
            Ok(None) => return ConnectionEnd::Lost("the server closed the connection".into()),
            Ok(Some(Err(e))) => return ConnectionEnd::Lost(innermost(&e)),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => match Event::parse(text.as_str()) {
                Ok(event) if event.seq <= *after => {}
                Ok(event) => {
                    if let Err(reason) = on_event(&event) {
                        return ConnectionEnd::Handler(reason);
                    }
                    *after = event.seq;
                }
                Err(reason) => on_status(&WatchStatus::Ignored { reason }),
            },
            Message::Close(frame) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                if code == Some(CLOSE_UNAUTHORIZED) {
                    return ConnectionEnd::SessionEnded;
                }
                let reason = frame.map_or_else(
                    || "the server closed the connection".to_string(),
                    |f| format!("the server closed the connection ({} {})", u16::from(f.code), f.reason),
                );
                return ConnectionEnd::Lost(reason);
            }
            // Pings are answered by tungstenite itself; binary and pong frames carry nothing for us.
            Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::result_large_err)]
    use std::sync::{Arc, Mutex};

    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;

    fn event_text(seq: u64, balance: u64) -> String {
        format!(
            r#"{{"seq":{seq},"kind":"money_in","payload":{{"entry_id":{seq},"amount":100,"from":"alice","to":"bob","balance":{balance}}},"created_at_ms":1764100000000}}"#
        )
    }

    #[test]
    fn parses_events_and_refuses_junk() {
        let event = Event::parse(&event_text(42, 25_000)).unwrap();
        assert_eq!((event.seq, event.kind.as_str(), event.balance_after()), (42, "money_in", Some(25_000)));
        assert_eq!(event.json["payload"]["from"], "alice");
        assert!(Event::parse("not json").is_err());
        assert!(Event::parse(r#"{"kind":"money_in"}"#).is_err());
        assert!(Event::parse(r#"{"seq":-1,"kind":"x"}"#).is_err());
        assert!(Event::parse(&" ".repeat(MAX_EVENT_BYTES + 1)).is_err());
    }

    /// A WebSocket server that records each upgrade request's URI and Authorization header,
    /// and plays one script per connection.
    async fn scripted_server(scripts: Vec<Vec<Message>>) -> (ServerUrl, Arc<Mutex<Vec<(String, String)>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = ServerUrl::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_in_task = seen.clone();
        tokio::spawn(async move {
            for script in scripts {
                let (socket, _) = listener.accept().await.unwrap();
                let seen = seen_in_task.clone();
                let callback = move |request: &Request, response: Response| {
                    let auth = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
                    seen.lock().unwrap().push((request.uri().to_string(), auth.unwrap_or_default()));
                    Ok(response)
                };
                let mut ws = tokio_tungstenite::accept_hdr_async(socket, callback).await.unwrap();
                for message in script {
                    ws.send(message).await.unwrap();
                }
                // Drain until the client goes away.
                while let Some(Ok(_)) = ws.next().await {}
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn resumes_after_the_last_seq_and_stops_when_the_session_ends() {
        let close = |code: u16| Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() }));
        let (url, seen) = scripted_server(vec![
            vec![Message::text(event_text(6, 1)), Message::text(event_text(7, 2)), close(1001)],
            // The replay after reconnecting repeats 7 (a duplicate) and brings 8.
            vec![
                Message::text(event_text(7, 2)),
                Message::text("garbage"),
                Message::text(event_text(8, 3)),
                close(1011),
            ],
            vec![close(CLOSE_UNAUTHORIZED)],
        ])
        .await;
        let options = WatchOptions {
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            ..WatchOptions::default()
        };
        let mut got = Vec::new();
        let mut statuses = Vec::new();
        let result = watch(
            &url,
            "tok123",
            5,
            &options,
            |event| {
                got.push((event.seq, event.balance_after()));
                Ok(())
            },
            |status| statuses.push(status.clone()),
        )
        .await;
        assert!(matches!(result, Err(WatchError::SessionEnded)), "{result:?}");
        assert_eq!(got, [(6, Some(1)), (7, Some(2)), (8, Some(3))]);
        let seen = seen.lock().unwrap().clone();
        let uris: Vec<&str> = seen.iter().map(|(uri, _)| uri.as_str()).collect();
        assert_eq!(uris, ["/v1/ws?after=5", "/v1/ws?after=7", "/v1/ws?after=8"]);
        assert!(seen.iter().all(|(_, auth)| auth == "Bearer tok123"));
        let connects = statuses.iter().filter(|s| matches!(s, WatchStatus::Connected { .. })).count();
        assert_eq!(connects, 3);
        assert!(statuses.iter().any(|s| matches!(s, WatchStatus::Ignored { .. })));
    }

    #[tokio::test]
    async fn a_handler_failure_stops_watching() {
        let (url, _seen) = scripted_server(vec![vec![Message::text(event_text(1, 1))]]).await;
        let result = watch(&url, "t", 0, &WatchOptions::default(), |_| Err("disk full".into()), |_| {}).await;
        assert!(matches!(result, Err(WatchError::Handler(reason)) if reason == "disk full"));
    }

    #[tokio::test]
    async fn a_401_upgrade_is_the_end_of_the_session() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = ServerUrl::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await.unwrap();
            socket.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n").await.unwrap();
        });
        let result = watch(&url, "t", 0, &WatchOptions::default(), |_| Ok(()), |_| {}).await;
        assert!(matches!(result, Err(WatchError::SessionEnded)), "{result:?}");
    }
}
