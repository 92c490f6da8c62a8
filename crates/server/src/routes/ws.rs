//! `GET /v1/ws`: the signed-in user's live events over a WebSocket.
//!
//! Authentication: the `Authorization` header on the upgrade request (then `?after=SEQ`), or a
//! first text message `{"token", "after"}` within `ws_auth_timeout` (browsers cannot set
//! headers); a bad first message closes the socket with code 4401. The server sends the user's
//! stored events with `seq > after` (no `after`, or 0: only events from now on), then follows the
//! store's notices (which come from every server sharing the database) and re-reads
//! `events_after(last seq sent)`, so a notice that is missed or lagged loses nothing. Pings go
//! out every `ws_ping_interval`; the socket closes at shutdown (1001), when the session reaches
//! its absolute expiry (4401 "session expired") and when the session is ended by logout (4401
//! "session ended": at once on this server, within `ws_session_check_interval` on another one
//! sharing the database; see `session_watch.rs`).
//!
//! A socket from which nothing (not even a pong) has arrived for `ws_idle_timeout` is closed
//! with 4408 "idle", checked at each ping. A socket that does not take a message within
//! `ws_idle_timeout` (its buffers are full: the client stopped reading) is dropped, during the
//! catch-up of stored events too, so it cannot keep its place; a send that waits ends at once
//! when the server begins to shut down. During a catch-up the session's expiry is checked
//! between pages; a logout is noticed once the catch-up is done (or the socket dropped).
//!
//! A user may have `ws_per_user` sockets open on this server (`ws_slots.rs`): one more is refused
//! with 429 `too_many_websockets` before the upgrade, or closed with 4429 when it authenticates by
//! its first message; a socket's place is given back when it ends.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use offpay_api::events::{CATCH_UP_MAX, CLOSE_FAR_BEHIND, CLOSE_IDLE, CLOSE_TOO_MANY, CLOSE_UNAUTHORIZED, WsQuery};
use offpay_api::{ErrorBody, LiveEvent, WsHello};
use offpay_ledger::{EVENTS_MAX, ErrorChain, Event, UserId};
use serde_json::json;
use tracing::Instrument;

use crate::auth::{check_account_rate, resolve_token};
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::live_hub::Following;
use crate::session_watch::SessionWatch;
use crate::state::AppState;
use crate::ws_slots::WsSlot;

/// Read buffer per socket (tungstenite's default is 128 KiB).
const READ_BUFFER: usize = 4 * 1024;
/// Most bytes waiting to be written to one socket (a stalled client's backlog).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// How long a close frame may wait for a client that is not reading.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Largest message a client may send (its token message).
const MAX_CLIENT_MESSAGE: usize = 4096;

/// Who a socket serves and from where it goes on.
struct Subscription {
    user_id: UserId,
    cursor: i64,
    expires_at_ms: i64,
    notices: Following,
    session: SessionWatch,
    /// This socket's place in the user's count, given back when the socket ends.
    _slot: WsSlot,
}

/// `GET /v1/ws`
#[utoipa::path(get, path = "/v1/ws", operation_id = "events", summary = "WebSocket of live events",
    description = "Upgrade to a WebSocket. Authenticate with the Authorization header (and ?after=SEQ) or by sending a `WsHello` ({\"token\", \"after\"}) as the first text message within 10 seconds (a bad one closes with code 4401). The server sends the stored events with seq > after (none: only new events), then live ones, each as an `Event` text message, and pings every 20 s. Closes with 4401 at the session's absolute expiry (\"session expired\") or its logout (\"session ended\": at once on the server that took it, within 20 s on another), with 4408 when nothing arrived for the idle timeout, with 4409 after sending its most stored events (2,000) with more left (connect again with after = the last seq received), with 4429 when the first-message form finds the account's sockets all taken, and with 1001 at shutdown.",
    params(WsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; messages are Event objects", body = LiveEvent),
        (status = 400, description = "`invalid_request`: not a WebSocket upgrade", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no, unknown or expired token", body = ErrorBody),
        (status = 429, description = "`rate_limited` (has `Retry-After`) or `too_many_websockets` (the account has the most sockets open; close one first)", body = ErrorBody),
    ))]
pub async fn upgrade(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|e| ApiError::InvalidRequest(format!("this route needs a WebSocket upgrade: {e}")))?;
    // Small buffers: a client sends only its token and pongs, and events are a few hundred
    // bytes; tungstenite's default 128 KiB read buffer, allocated for every socket, came to
    // about 130 KB of server memory per open socket (docs/PERFORMANCE.md, "Live events").
    let ws = ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        // tungstenite buffers a whole frame, up to its 16 MiB default, before it checks the
        // message's size: a frame is held to the same bound.
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER);
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(format!("bad query: {e}")))?;
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
    });
    match header {
        Some(token) => {
            // Settle the cursor before answering 101, so that an event committed once the client
            // sees the upgrade is always delivered.
            let subscription = subscribe(&state, &token, query.after).await?.ok_or(ApiError::Unauthorized)?;
            // The socket's task runs after the request's span ended: it carries the span along,
            // so its log lines name the upgrade's request id.
            let span = tracing::Span::current();
            Ok(ws.on_upgrade(move |socket| run(state, socket, subscription).instrument(span)))
        }
        None => {
            let span = tracing::Span::current();
            Ok(ws.on_upgrade(move |socket| authenticate_then_run(state, socket, ip).instrument(span)))
        }
    }
}

/// Resolves the token and starts following the user's events.
async fn subscribe(state: &AppState, token: &str, after: Option<i64>) -> Result<Option<Subscription>, ApiError> {
    // Listen before reading the session: a logout committed after the read is then heard.
    let listening = state.session_ends.listen();
    let Some((user, session)) = resolve_token(state, token).await? else { return Ok(None) };
    check_account_rate(state, &user).await?;
    let cap = state.config.ws_per_user;
    let Some(slot) = state.ws_slots.take(user.id, cap) else {
        let detail = format!("account={} limit=ws_per_user", user.handle);
        state.security.record_sampled("rate_limited", &format!("ws:{}", user.handle), &detail).await;
        return Err(ApiError::TooManyWebSockets(cap));
    };
    let notices = state.live.follow(user.id);
    let cursor = match after {
        Some(after) if after > 0 => after,
        _ => state.store.latest_event_seq().await?,
    };
    let expires_at_ms = session.expires_at_ms;
    let session = listening.watch(session, state.config.ws_session_check_interval);
    Ok(Some(Subscription { user_id: user.id, cursor, expires_at_ms, notices, session, _slot: slot }))
}

async fn authenticate_then_run(state: AppState, mut socket: WebSocket, ClientIp(ip): ClientIp) {
    let hello = tokio::time::timeout(state.config.ws_auth_timeout, first_text(&mut socket)).await;
    let hello: Option<WsHello> = hello.ok().flatten().and_then(|text| serde_json::from_str(&text).ok());
    let subscription = match hello {
        Some(hello) => match subscribe(&state, &hello.token, hello.after).await {
            Ok(found) => found,
            Err(ApiError::TooManyWebSockets(_)) => {
                close(&mut socket, CLOSE_TOO_MANY, "too many websockets").await;
                return;
            }
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "websocket authentication failed");
                None
            }
        },
        None => None,
    };
    match subscription {
        Some(subscription) => run(state, socket, subscription).await,
        None => {
            let detail = format!("ip={ip} route=ws");
            state.security.record_sampled("ws_auth_failed", &format!("ip:{ip}"), &detail).await;
            close(&mut socket, CLOSE_UNAUTHORIZED, "unauthorized").await;
        }
    }
}

/// The first text message, skipping pings and pongs; `None` if the socket ends or sends
/// anything else first.
async fn first_text(socket: &mut WebSocket) -> Option<String> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    if code != 1001 {
        // One line per socket the server ends itself (not at shutdown, when every socket ends).
        tracing::info!(code, reason, "websocket closed");
    }
    let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
    // A client that stopped reading does not get it: the socket is dropped after the wait.
    let _ = tokio::time::timeout(CLOSE_WAIT, socket.send(Message::Close(Some(frame)))).await;
}

/// Sends `message`, or fails when the client does not take it within `ws_idle_timeout` (it
/// stopped reading and its buffers are full), is gone, or the server begins to shut down while
/// the send waits (a shutdown never waits on a client that does not read).
async fn send(state: &AppState, socket: &mut WebSocket, message: Message) -> Result<(), CatchUpError> {
    let mut shutdown = state.shutdown.clone();
    if *shutdown.borrow_and_update() {
        return Err(CatchUpError::ShuttingDown);
    }
    tokio::select! {
        sent = tokio::time::timeout(state.config.ws_idle_timeout, socket.send(message)) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(CatchUpError::Gone),
            Err(_) => Err(CatchUpError::NotReading),
        },
        _ = shutdown.changed() => Err(CatchUpError::ShuttingDown),
    }
}

async fn run(state: AppState, mut socket: WebSocket, mut sub: Subscription) {
    let mut shutdown = state.shutdown.clone();
    if *shutdown.borrow() {
        close(&mut socket, 1001, "server shutting down").await;
        return;
    }
    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    let mut behind = true;
    // The first catch-up (the stored events after the client's cursor) is bounded; the later
    // ones follow live notices and are what has just happened.
    let mut budget = CATCH_UP_MAX;
    loop {
        if behind {
            match catch_up(&state, &mut socket, &mut sub, budget).await {
                Ok(()) => {
                    behind = false;
                    budget = u32::MAX;
                }
                Err(CatchUpError::FarBehind) => {
                    close(&mut socket, CLOSE_FAR_BEHIND, "far behind: connect again for the rest").await;
                    return;
                }
                Err(CatchUpError::Storage(error)) => {
                    tracing::error!(error = %ErrorChain(&error), "websocket catch-up failed");
                    close(&mut socket, 1011, "server error").await;
                    return;
                }
                Err(CatchUpError::Gone) => return,
                Err(CatchUpError::NotReading) => {
                    tracing::info!("websocket dropped: the client stopped reading");
                    return;
                }
                Err(CatchUpError::Expired) => {
                    close(&mut socket, CLOSE_UNAUTHORIZED, "session expired").await;
                    return;
                }
                Err(CatchUpError::ShuttingDown) => {
                    close(&mut socket, 1001, "server shutting down").await;
                    return;
                }
            }
        }
        tokio::select! {
            woken = sub.notices.receiver.changed() => match woken {
                Ok(()) => behind = *sub.notices.receiver.borrow_and_update() > sub.cursor,
                Err(_) => {
                    close(&mut socket, 1011, "event feed closed").await;
                    return;
                }
            },
            _ = ping.tick() => {
                if state.now_ms() >= sub.expires_at_ms {
                    close(&mut socket, CLOSE_UNAUTHORIZED, "session expired").await;
                    return;
                }
                if last_heard.elapsed() >= state.config.ws_idle_timeout {
                    close(&mut socket, CLOSE_IDLE, "idle").await;
                    return;
                }
                if send(&state, &mut socket, Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
            },
            wake = sub.session.wake() => match sub.session.ended(wake, state.store.as_ref()).await {
                Ok(false) => {}
                Ok(true) => {
                    close(&mut socket, CLOSE_UNAUTHORIZED, "session ended").await;
                    return;
                }
                // The store is unreachable for now: the next check tries again.
                Err(error) => tracing::warn!(error = %ErrorChain(&error), "websocket session check failed"),
            },
            _ = shutdown.changed() => {
                close(&mut socket, 1001, "server shutting down").await;
                return;
            }
        }
    }
}

enum CatchUpError {
    Storage(ApiError),
    /// The client went away.
    Gone,
    /// The client did not take a message within `ws_idle_timeout`.
    NotReading,
    /// The session reached its absolute expiry during a long catch-up.
    Expired,
    /// The server began to shut down while a send waited (or before it).
    ShuttingDown,
    /// The first catch-up sent its most and more are left.
    FarBehind,
}

/// Sends every stored event after the cursor and moves the cursor; between pages, a session
/// past its expiry ends it (a shutdown ends any send, [`send`]).
/// At most `budget` events: with more left, [`CatchUpError::FarBehind`] (a client that resumes
/// from far back, or from the start of a long history on purpose, gets them over several
/// connections, not all for one request).
async fn catch_up(
    state: &AppState,
    socket: &mut WebSocket,
    sub: &mut Subscription,
    mut budget: u32,
) -> Result<(), CatchUpError> {
    loop {
        if state.now_ms() >= sub.expires_at_ms {
            return Err(CatchUpError::Expired);
        }
        if budget == 0 {
            return Err(CatchUpError::FarBehind);
        }
        let page = EVENTS_MAX.min(budget);
        let events = state
            .store
            .events_after(sub.user_id, sub.cursor, page)
            .await
            .map_err(|e| CatchUpError::Storage(e.into()))?;
        let count = events.len();
        for event in events {
            let seq = event.seq;
            send(state, socket, Message::Text(event_text(&event).into())).await?;
            sub.cursor = seq;
        }
        if count < page as usize {
            return Ok(());
        }
        budget -= page;
    }
}

/// One event as sent to the client: a [`LiveEvent`]. A stored event whose payload does not fit
/// its kind's type (which the ledger never writes) is logged and sent as stored, so that the
/// client's cursor still moves past it.
pub fn event_text(event: &Event) -> String {
    match event.to_live_event().and_then(|live| serde_json::to_string(&live)) {
        Ok(text) => text,
        Err(error) => {
            tracing::error!(seq = event.seq, kind = %event.kind, %error, "stored event does not fit the API's event types");
            json!({"seq": event.seq, "kind": event.kind, "payload": event.payload, "created_at_ms": event.created_at_ms})
                .to_string()
        }
    }
}
