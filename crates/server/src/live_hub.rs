//! Live-event notices routed to the sockets of the user they concern. The store announces every
//! committed event on one broadcast channel (`Store::subscribe`); if every open WebSocket listened
//! to that channel itself, each event would wake every socket task (measured: with 10,000 sockets
//! open, a transfer's event reached its receiver 92 ms after the sender's answer at the median,
//! against under a millisecond with 10; docs/PERFORMANCE.md, "Live events"). Instead one task per
//! server listens and wakes only that user's sockets, through a `watch` of the user's latest
//! event number. A socket then reads its events from the store after its cursor, as before, so
//! nothing is lost if wakes are merged. When the broadcast lags (notices dropped under load),
//! every socket is woken to catch up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use offpay_ledger::{Store, UserId};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// Per-user wake-ups for the open WebSockets of this server.
#[derive(Default)]
pub struct LiveHub {
    users: Mutex<HashMap<UserId, watch::Sender<i64>>>,
}

impl LiveHub {
    /// A hub fed by `store`'s notices until the store's channel closes (then every watch ends,
    /// and the sockets close).
    pub fn start(store: &Arc<dyn Store>) -> Arc<LiveHub> {
        let hub = Arc::new(LiveHub::default());
        let mut notices = store.subscribe();
        let feeding = Arc::clone(&hub);
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(notice) => feeding.wake(notice.user_id, notice.seq),
                    Err(RecvError::Lagged(_)) => feeding.wake_all(),
                    Err(RecvError::Closed) => break,
                }
            }
            feeding.lock().clear();
        });
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, watch::Sender<i64>>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes `user`'s sockets: an event numbered `seq` is stored for them.
    fn wake(&self, user: UserId, seq: i64) {
        if let Some(sender) = self.lock().get(&user) {
            sender.send_modify(|latest| *latest = (*latest).max(seq));
        }
    }

    /// Wakes every socket (some notices were dropped: each catches up from the store).
    fn wake_all(&self) {
        for sender in self.lock().values() {
            sender.send_modify(|latest| *latest = i64::MAX);
        }
    }

    /// Follows `user`'s notices; the watch holds the latest event number announced.
    pub fn follow(self: &Arc<Self>, user: UserId) -> Following {
        let receiver = self.lock().entry(user).or_insert_with(|| watch::channel(0).0).subscribe();
        Following { hub: Arc::clone(self), user, receiver }
    }
}

/// One socket's view of its user's notices; its entry goes with the user's last socket.
pub struct Following {
    hub: Arc<LiveHub>,
    user: UserId,
    pub receiver: watch::Receiver<i64>,
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut users = self.hub.lock();
        // This receiver still counts: 1 means it is the user's last socket here.
        if users.get(&self.user).is_some_and(|s| s.receiver_count() <= 1) {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ASHA: UserId = UserId(1);
    const BO: UserId = UserId(2);

    #[tokio::test]
    async fn wakes_only_the_users_sockets_and_forgets_users_with_none() {
        let hub = Arc::new(LiveHub::default());
        let mut asha = hub.follow(ASHA);
        let bo = hub.follow(BO);
        hub.wake(ASHA, 7);
        assert!(asha.receiver.has_changed().unwrap());
        assert_eq!(*asha.receiver.borrow_and_update(), 7);
        assert!(!bo.receiver.has_changed().unwrap(), "another user's event does not wake this socket");
        hub.wake(ASHA, 5);
        assert_eq!(*asha.receiver.borrow_and_update(), 7, "an older number never goes back");
        hub.wake_all();
        assert!(bo.receiver.has_changed().unwrap());
        let second = hub.follow(ASHA);
        drop(asha);
        assert!(hub.lock().contains_key(&ASHA), "asha still has a socket");
        drop(second);
        assert!(!hub.lock().contains_key(&ASHA));
        drop(bo);
        assert!(hub.lock().is_empty());
    }
}
