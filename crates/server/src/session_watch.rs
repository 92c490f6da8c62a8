//! Ending live WebSockets when their session ends (logout), on every server.
//!
//! - On this server: `POST /v1/logout` announces the token hash on [`SessionEnds`], and every
//!   open socket of that session closes at once.
//! - On the other servers sharing the database (which do not hear that announcement): each
//!   socket's [`SessionWatch`] re-reads its session from the store every
//!   `Config::ws_session_check_interval` and closes the socket when the session is gone.
//!
//! The re-read does not count as use of the session: it asks the store about the session as of
//! the last use already recorded, so an open socket never keeps a session from idling out, and
//! it is a plain read unless an HTTP request used the session since the previous check.

use std::time::Duration;

use offpay_ledger::{LedgerError, Session, Store};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Logouts announced at once before a slow socket misses some (it then checks the store).
const ANNOUNCED_MAX: usize = 1024;
/// Shortest check period (a zero period would make `tokio::time::interval` panic).
const CHECK_INTERVAL_MIN: Duration = Duration::from_millis(1);

/// This server's announcements of ended sessions (token hashes), heard by its open sockets.
pub struct SessionEnds {
    sender: broadcast::Sender<[u8; 32]>,
}

impl Default for SessionEnds {
    fn default() -> Self {
        SessionEnds { sender: broadcast::channel(ANNOUNCED_MAX).0 }
    }
}

impl SessionEnds {
    /// Tells this server's open sockets that the session with `token_hash` has ended.
    pub fn announce(&self, token_hash: [u8; 32]) {
        // An error only means no socket is open: nobody to tell.
        let _ = self.sender.send(token_hash);
    }

    /// Starts listening for the end of a session. Call it before reading the session from the
    /// store, so that a logout committed after that read is always heard.
    pub fn listen(&self) -> Listening {
        Listening(self.sender.subscribe())
    }
}

/// Announcements heard since [`SessionEnds::listen`], before the session is known.
pub struct Listening(broadcast::Receiver<[u8; 32]>);

impl Listening {
    /// Watches `session` (the one the socket authenticated with), reading it from the store
    /// every `every`.
    pub fn watch(self, session: Session, every: Duration) -> SessionWatch {
        let every = every.max(CHECK_INTERVAL_MIN);
        let mut check = tokio::time::interval_at(Instant::now() + every, every);
        check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        SessionWatch { ends: self.0, listening: true, check, session }
    }
}

/// What woke a [`SessionWatch`].
pub enum Wake {
    /// This server announced the end of the session.
    Ended,
    /// Time to read the session from the store (the period passed, or announcements were missed).
    Check,
}

/// One socket's watch over its session.
pub struct SessionWatch {
    ends: broadcast::Receiver<[u8; 32]>,
    /// False once the announcement channel is closed (the server state is going away).
    listening: bool,
    check: Interval,
    /// The session as last read (its token hash and last recorded use).
    session: Session,
}

impl SessionWatch {
    /// Waits for an announcement of this session's end or for the next check. Cancel-safe (it
    /// sits in the socket's `select!`).
    pub async fn wake(&mut self) -> Wake {
        loop {
            tokio::select! {
                _ = self.check.tick() => return Wake::Check,
                ended = self.ends.recv(), if self.listening => match ended {
                    Ok(hash) if hash == self.session.token_hash => return Wake::Ended,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return Wake::Check,
                    Err(RecvError::Closed) => self.listening = false,
                },
            }
        }
    }

    /// True when the session has ended: announced, or no longer in the store.
    pub async fn ended(&mut self, wake: Wake, store: &dyn Store) -> Result<bool, LedgerError> {
        if let Wake::Ended = wake {
            return Ok(true);
        }
        let session = &self.session;
        // "Touched" at its last recorded use, the session is not extended; when nothing used it
        // since, the store answers from a read alone (`Session::seen_recently`).
        match store.touch_session(&session.token_hash, session.last_seen_ms).await? {
            Some(found) => {
                let last_seen_ms = found.last_seen_ms.max(session.last_seen_ms);
                self.session = Session { last_seen_ms, ..found };
                Ok(false)
            }
            None => Ok(true),
        }
    }
}
