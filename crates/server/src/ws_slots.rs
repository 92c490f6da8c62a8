//! Open WebSockets per user, counted in this server process: a user may hold at most
//! `Config::ws_per_user` at once (beyond: 429 `too_many_websockets` before the upgrade, or close
//! code 4429 for a socket that authenticates by its first message). A [`WsSlot`] is held for as
//! long as its socket runs and gives the place back when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use offpay_ledger::UserId;

/// This process's count of open WebSockets per user.
#[derive(Clone, Default)]
pub struct WsSlots {
    open: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// One open WebSocket's place in its user's count.
pub struct WsSlot {
    slots: WsSlots,
    user: UserId,
}

impl WsSlots {
    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, usize>> {
        // The map stays consistent whatever panicked while holding it.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for one more socket of `user`, unless `user` already has `cap` open.
    pub fn take(&self, user: UserId, cap: usize) -> Option<WsSlot> {
        let mut open = self.lock();
        let count = open.entry(user).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(WsSlot { slots: self.clone(), user })
    }
}

impl Drop for WsSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}
