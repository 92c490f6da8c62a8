//! Sends `NOTIFY offpay_events` for committed events, batched, right after COMMIT.
//!
//! Why not `NOTIFY` inside the money transaction: PostgreSQL serialises the commits of all
//! transactions that issued `NOTIFY` behind one global lock held until their commit record is
//! flushed, so every transfer would wait for every other transfer's fsync (measured: a few
//! hundred transfers/s instead of thousands). Instead, the committing task hands `(seq, user)`
//! to this notifier, which sends them in batches (`'<seq>:<user>,<seq>:<user>,...'`, under the
//! 8000-byte payload limit) from autocommit statements that write no WAL and hold the lock for
//! microseconds. A notice lost to a crash between COMMIT and NOTIFY (or to a full queue) is
//! recovered by the listeners' periodic catch-up poll (see `listen.rs`): notices are a wake-up
//! signal, the events table is the truth.

use deadpool_postgres::Pool;
use tokio::sync::mpsc;

use crate::model::EventNotice;
use crate::{ErrorChain, LedgerError};

use super::listen::CHANNEL;

/// Notices waiting to be sent; beyond this they are dropped (the catch-up poll recovers them).
const QUEUE_MAX: usize = 65_536;
/// Payload bytes per NOTIFY (PostgreSQL's limit is 8000).
const PAYLOAD_MAX: usize = 7_800;

#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<EventNotice>,
}

impl Notifier {
    /// Starts the notifier task; it ends when every `Notifier` handle is dropped.
    pub fn start(pool: Pool) -> Notifier {
        let (queue, rx) = mpsc::channel(QUEUE_MAX);
        tokio::spawn(run(pool, rx));
        Notifier { queue }
    }

    /// Queues notices of committed events (never waits).
    pub fn send(&self, notices: &[EventNotice]) {
        for notice in notices {
            if self.queue.try_send(*notice).is_err() {
                tracing::warn!("event notifier queue full; listeners will catch up by polling");
                return;
            }
        }
    }
}

async fn run(pool: Pool, mut rx: mpsc::Receiver<EventNotice>) {
    let mut payload = String::with_capacity(PAYLOAD_MAX + 64);
    let mut pending: Option<EventNotice> = None;
    loop {
        let first = match pending.take() {
            Some(notice) => notice,
            None => match rx.recv().await {
                Some(notice) => notice,
                None => return,
            },
        };
        payload.clear();
        payload.push_str(&format!("{}:{}", first.seq, first.user_id));
        while let Ok(notice) = rx.try_recv() {
            let item = format!(",{}:{}", notice.seq, notice.user_id);
            if payload.len() + item.len() > PAYLOAD_MAX {
                pending = Some(notice);
                break;
            }
            payload.push_str(&item);
        }
        let sent = async {
            let client = pool.get().await.map_err(LedgerError::from)?;
            client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await.map_err(LedgerError::from)
        }
        .await;
        if let Err(error) = sent {
            tracing::warn!(error = %ErrorChain(&error), "NOTIFY failed; listeners will catch up by polling");
        }
    }
}
