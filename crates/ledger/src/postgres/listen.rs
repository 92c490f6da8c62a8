//! Live-event fan-out across processes: a background task holds one dedicated connection that
//! `LISTEN`s on `offpay_events` and forwards each `<seq>:<user_id>` item of a notification
//! (see `notify.rs`) to the store's broadcast channel. Every process sharing the database
//! receives every commit's notices, its own included (the store never broadcasts directly).
//!
//! Notifications can be lost: while this connection is down, or when a process dies between
//! COMMIT and its NOTIFY. So the task also polls the events table right after every (re)connect
//! and every [`POLL_INTERVAL`], for events with `seq > newest_seen - WINDOW`, and announces the
//! ones it has not announced yet. The window covers events that commit late with a lower seq
//! than one already seen (sequence numbers are taken before commit); a set of the seqs seen in
//! the window keeps each event announced once. When the connection breaks it reconnects with
//! exponential back-off (0.1 s doubling to 5 s). The task stops when the store is dropped.

use std::collections::BTreeSet;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::error::LedgerError;
use crate::model::{EventNotice, UserId};

pub const CHANNEL: &str = "offpay_events";
/// `application_name` of the listener connection (visible in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "offpay-listener";
/// How far below the newest seen seq the catch-up poll looks (covers transactions in flight).
const WINDOW: i64 = 1024;
/// How often the catch-up poll runs while connected.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Most events one poll announces (the next poll continues).
const POLL_LIMIT: i64 = 10_000;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Reconnect delays: `BACKOFF_MIN`, doubling up to `BACKOFF_MAX`, without end; a fresh series
/// after each connection that worked.
fn reconnect_delays() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(BACKOFF_MAX)
        .with_factor(2.0)
        .without_max_times()
        .build()
}

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

/// The seqs announced so far, within the window below the newest.
#[derive(Debug, Default)]
struct Seen {
    recent: BTreeSet<i64>,
    newest: i64,
}

impl Seen {
    /// Records `seq`; true when it was not announced before and should be.
    fn first_time(&mut self, seq: i64) -> bool {
        if seq <= self.newest - WINDOW {
            // Older than the window: cannot tell, so announce (a duplicate notice is harmless).
            return true;
        }
        let new = self.recent.insert(seq);
        if seq > self.newest {
            self.newest = seq;
            self.recent = self.recent.split_off(&(self.newest - WINDOW + 1));
        }
        new
    }

    fn floor(&self) -> i64 {
        self.newest - WINDOW
    }
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
    let mut last_seen: Option<Seen> = None;
    let mut backoff = reconnect_delays();
    loop {
        match listen_once(&config, &pool, &events, &mut shutdown, &mut last_seen, &mut ready, &mut backoff).await {
            End::Shutdown => return,
            End::Broken(error) => {
                if let Some(ready) = ready.take() {
                    // The first connection failed: connect() reports it and the store is dropped.
                    let _ = ready.send(Err(error));
                    return;
                }
                let delay = backoff.next().unwrap_or(BACKOFF_MAX);
                tracing::warn!(error = %crate::ErrorChain(&error), retry_in_ms = delay.as_millis() as u64, "event listener disconnected");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

fn parse_one(item: &str) -> Option<EventNotice> {
    let (seq, user) = item.split_once(':')?;
    Some(EventNotice { seq: seq.trim().parse().ok()?, user_id: UserId(user.trim().parse().ok()?) })
}

/// The notices of one payload (`seq:user` items separated by commas; bad items are skipped).
fn parse(payload: &str) -> impl Iterator<Item = EventNotice> + '_ {
    payload.split(',').filter_map(parse_one)
}

async fn listen_once(
    config: &Config,
    pool: &Pool,
    events: &broadcast::Sender<EventNotice>,
    shutdown: &mut watch::Receiver<()>,
    last_seen: &mut Option<Seen>,
    ready: &mut Option<oneshot::Sender<Result<(), LedgerError>>>,
    backoff: &mut ExponentialBackoff,
) -> End {
    let mut config = config.clone();
    config.application_name(APPLICATION_NAME);
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
        let seen = match last_seen {
            Some(seen) => seen,
            None => last_seen.insert(starting_point(&client).await?),
        };
        catch_up(pool, events, seen).await?;
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }
        *backoff = reconnect_delays();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANNEL => {
                        for notice in parse(n.payload()) {
                            if seen.first_time(notice.seq) {
                                let _ = events.send(notice);
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(LedgerError::from(e)),
                    None => return Err(LedgerError::Storage("the event listener connection closed".into())),
                },
                _ = poll.tick() => catch_up(pool, events, seen).await?,
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

/// At start, the events that already exist count as seen (they are not new).
async fn starting_point(client: &tokio_postgres::Client) -> Result<Seen, LedgerError> {
    let rows = client
        .query("SELECT seq FROM events WHERE seq > (SELECT coalesce(max(seq), 0) FROM events) - $1", &[&WINDOW])
        .await?;
    let mut seen = Seen::default();
    for row in rows {
        seen.first_time(row.try_get(0)?);
    }
    Ok(seen)
}

/// Announces the events in the window that were not announced yet.
async fn catch_up(pool: &Pool, events: &broadcast::Sender<EventNotice>, seen: &mut Seen) -> Result<(), LedgerError> {
    let client = pool.get().await?;
    let statement =
        client.prepare_cached("SELECT seq, user_id FROM events WHERE seq > $1 ORDER BY seq LIMIT $2").await?;
    let rows = client.query(&statement, &[&seen.floor(), &POLL_LIMIT]).await?;
    for row in rows {
        let notice = EventNotice { seq: row.try_get(0)?, user_id: row.try_get(1)? };
        if seen.first_time(notice.seq) {
            let _ = events.send(notice);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse() {
        let notices: Vec<EventNotice> = parse("42:7,43:8,bad,x:1,44").collect();
        assert_eq!(notices, [EventNotice { seq: 42, user_id: UserId(7) }, EventNotice { seq: 43, user_id: UserId(8) }]);
    }

    #[test]
    fn each_seq_is_announced_once() {
        let mut seen = Seen::default();
        assert!(seen.first_time(5));
        assert!(!seen.first_time(5));
        assert!(seen.first_time(3));
        assert!(seen.first_time(5000));
        assert!(seen.first_time(4990));
        assert!(!seen.first_time(4990));
        assert!(!seen.first_time(5000));
        // Far below the window: announced again (cannot tell).
        assert!(seen.first_time(5));
        assert_eq!(seen.floor(), 5000 - WINDOW);
    }
}
