//! Live-event fan-out across processes: a background task holds one dedicated connection that
//! `LISTEN`s on `offpay_events` and forwards each `'<seq>:<user_id>'` notification to the
//! store's broadcast channel. Every process sharing the database receives every commit's
//! notices, its own included (the store never broadcasts directly, so there are no duplicates).
//!
//! When the connection breaks it reconnects with exponential back-off (0.1 s doubling to 5 s).
//! Notifications sent while disconnected are lost, so after reconnecting it re-announces, once
//! per user, every event with `seq > last_seen - CATCH_UP_MARGIN`. The margin covers events
//! that committed late with a lower seq than one already seen (sequence numbers are taken
//! before commit); extra notices are harmless because receivers read `events_after` from their
//! own cursor. The task stops when the store is dropped.

use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::error::LedgerError;
use crate::model::EventNotice;

pub const CHANNEL: &str = "offpay_events";
const CATCH_UP_MARGIN: i64 = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Starts the listener. The returned receiver resolves once the first `LISTEN` is in place (or
/// failed), so notices of anything committed after `connect` returns are delivered.
pub fn spawn(
    config: Config,
    pool: Pool,
    events: broadcast::Sender<EventNotice>,
    shutdown: watch::Receiver<()>,
) -> oneshot::Receiver<Result<(), LedgerError>> {
    let (ready_tx, ready_rx) = oneshot::channel();
    tokio::spawn(run(config, pool, events, shutdown, ready_tx));
    ready_rx
}

enum End {
    Shutdown,
    Broken(LedgerError),
}

async fn run(
    config: Config,
    pool: Pool,
    events: broadcast::Sender<EventNotice>,
    mut shutdown: watch::Receiver<()>,
    ready: oneshot::Sender<Result<(), LedgerError>>,
) {
    let mut ready = Some(ready);
    let mut last_seen: Option<i64> = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        match listen_once(
            &config,
            &pool,
            &events,
            &mut shutdown,
            &mut last_seen,
            &mut ready,
            &mut backoff,
        )
        .await
        {
            End::Shutdown => return,
            End::Broken(error) => {
                if let Some(ready) = ready.take() {
                    // The first connection failed: connect() reports it and the store is dropped.
                    let _ = ready.send(Err(error));
                    return;
                }
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "event listener disconnected");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn parse(payload: &str) -> Option<EventNotice> {
    let (seq, user) = payload.split_once(':')?;
    Some(EventNotice {
        seq: seq.parse().ok()?,
        user_id: user.parse().ok()?,
    })
}

async fn listen_once(
    config: &Config,
    pool: &Pool,
    events: &broadcast::Sender<EventNotice>,
    shutdown: &mut watch::Receiver<()>,
    last_seen: &mut Option<i64>,
    ready: &mut Option<oneshot::Sender<Result<(), LedgerError>>>,
    backoff: &mut Duration,
) -> End {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(pair) => pair,
        Err(e) => return End::Broken(e.into()),
    };
    let (message_tx, mut messages) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = stream.next().await {
            let end = message.is_err();
            if message_tx.send(message).is_err() || end {
                break;
            }
        }
    });
    let end = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        match *last_seen {
            None => {
                let latest: i64 = client.query_one("SELECT coalesce(max(seq), 0) FROM events", &[]).await?.try_get(0)?;
                *last_seen = Some(latest);
            }
            Some(seen) => catch_up(pool, events, seen, last_seen).await?,
        }
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }
        *backoff = BACKOFF_MIN;
        loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANNEL => {
                        if let Some(notice) = parse(n.payload()) {
                            *last_seen = Some(last_seen.unwrap_or(0).max(notice.seq));
                            let _ = events.send(notice);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(LedgerError::from(e)),
                    None => return Err(LedgerError::Storage("the event listener connection closed".into())),
                },
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
    .await;
    drop(client);
    driver.abort();
    match end {
        Ok(()) => End::Shutdown,
        Err(e) => End::Broken(e),
    }
}

async fn catch_up(
    pool: &Pool,
    events: &broadcast::Sender<EventNotice>,
    seen: i64,
    last_seen: &mut Option<i64>,
) -> Result<(), LedgerError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT user_id, max(seq) FROM events WHERE seq > $1 GROUP BY user_id ORDER BY 2",
            &[&(seen - CATCH_UP_MARGIN)],
        )
        .await?;
    for row in rows {
        let notice = EventNotice {
            user_id: row.try_get(0)?,
            seq: row.try_get(1)?,
        };
        *last_seen = Some(last_seen.unwrap_or(0).max(notice.seq));
        let _ = events.send(notice);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse() {
        assert_eq!(
            parse("42:7"),
            Some(EventNotice {
                seq: 42,
                user_id: 7
            })
        );
        assert_eq!(parse("42"), None);
        assert_eq!(parse("x:7"), None);
    }
}
