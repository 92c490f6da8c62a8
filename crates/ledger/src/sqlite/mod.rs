//! The embedded SQLite store: one file, WAL mode, `synchronous=FULL` (a commit is on disk before
//! it is acknowledged).
//!
//! Writes go to one writer thread that group-commits many commands per transaction
//! ([`writer`]); reads run on a small pool of read connections in `spawn_blocking` ([`reads`]).
//! Live-event notices are broadcast in-process after each commit: a SQLite file has one server
//! process (the writer lock would serialise several anyway).

mod login;
mod offline;
mod reads;
mod schema;
mod writer;
mod writes;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use offpay_protocol::{Amount, Handle};
use rusqlite::Connection;
use tokio::sync::broadcast;

use crate::error::LedgerError;
use crate::model::*;
use crate::store::Store;
use reads::Readers;
use writer::Writer;

pub use writer::{BATCH_MAX, QUEUE_MAX, WAL_CHECKPOINT_PAGES, WAL_RESTART_PAGES};

/// The SQLite backend of [`Store`].
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
    events: broadcast::Sender<EventNotice>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, applies migrations and starts the
    /// writer thread. Call from within a tokio runtime (reads use `spawn_blocking`).
    pub fn open(path: &Path) -> Result<SqliteStore, LedgerError> {
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let (events, _) = broadcast::channel(crate::EVENT_CHANNEL_CAPACITY);
        let writer = Writer::start(conn, events.clone())?;
        Ok(SqliteStore { writer, readers: Readers::new(path.to_path_buf()), events })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(
        &self,
        handle: &Handle,
        password_hash: &str,
        now_ms: TimestampMs,
    ) -> Result<User, LedgerError> {
        let (handle, password_hash) = (handle.clone(), password_hash.to_string());
        self.writer.write(move |ctx| writes::create_user(ctx.conn, &handle, &password_hash, now_ms)).await
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<Option<User>, LedgerError> {
        let handle = handle.clone();
        self.readers.read(move |conn| reads::user_by_handle(conn, &handle)).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, LedgerError> {
        self.readers.read(move |conn| reads::user_by_id(conn, id)).await
    }

    async fn set_frozen(&self, user: UserId, frozen: bool) -> Result<(), LedgerError> {
        self.writer.write(move |ctx| writes::set_frozen(ctx.conn, user, frozen)).await
    }

    async fn create_session(&self, session: &Session) -> Result<(), LedgerError> {
        let session = session.clone();
        self.writer.write(move |ctx| writes::create_session(ctx.conn, &session)).await
    }

    async fn create_session_if_password(&self, session: &Session, checked_hash: &str) -> Result<bool, LedgerError> {
        let (session, checked_hash) = (session.clone(), checked_hash.to_string());
        self.writer.write(move |ctx| writes::create_session_if_password(ctx.conn, &session, &checked_hash)).await
    }

    async fn touch_session(&self, token_hash: &[u8; 32], now_ms: TimestampMs) -> Result<Option<Session>, LedgerError> {
        let token_hash = *token_hash;
        // Most requests come soon after the previous one: answer those from a read connection
        // and spare the writer (see `Session::seen_recently`).
        let stored = self.readers.read(move |conn| writes::session(conn, &token_hash)).await?;
        if let Some(session) = stored
            && !session.is_expired(now_ms)
            && session.seen_recently(now_ms)
        {
            return Ok(Some(session));
        }
        self.writer.write(move |ctx| writes::touch_session(ctx.conn, &token_hash, now_ms)).await
    }

    async fn session_user(
        &self,
        token_hash: &[u8; 32],
        now_ms: TimestampMs,
    ) -> Result<Option<(Session, User)>, LedgerError> {
        let token_hash = *token_hash;
        // One read answers almost every request (as in `touch_session`); an unknown token needs
        // no write either (nothing to delete).
        match self.readers.read_by_key(|conn| reads::session_user(conn, &token_hash)).await? {
            None => Ok(None),
            Some((session, user)) if !session.is_expired(now_ms) && session.seen_recently(now_ms) => {
                Ok(Some((session, user)))
            }
            Some(_) => {
                self.writer
                    .write(move |ctx| {
                        let Some(session) = writes::touch_session(ctx.conn, &token_hash, now_ms)? else {
                            return Ok(None);
                        };
                        Ok(reads::user_by_id(ctx.conn, session.user_id)?.map(|user| (session, user)))
                    })
                    .await
            }
        }
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), LedgerError> {
        let token_hash = *token_hash;
        self.writer.write(move |ctx| writes::delete_session(ctx.conn, &token_hash)).await
    }

    async fn end_sessions(
        &self,
        user: UserId,
        keep: Option<[u8; 32]>,
        new_password_hash: Option<String>,
    ) -> Result<Vec<[u8; 32]>, LedgerError> {
        self.writer.write(move |ctx| writes::end_sessions(ctx.conn, user, keep, new_password_hash.as_deref())).await
    }

    async fn login_throttle(&self, key: &str) -> Result<LoginThrottle, LedgerError> {
        let key = key.to_string();
        self.readers.read(move |conn| reads::login_throttle(conn, &key)).await
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now_ms: TimestampMs,
        forget_after_ms: i64,
        lock_ms: i64,
    ) -> Result<LoginThrottle, LedgerError> {
        let key = key.to_string();
        self.writer
            .write(move |ctx| login::record_login_failure(ctx.conn, &key, now_ms, forget_after_ms, lock_ms))
            .await
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), LedgerError> {
        let key = key.to_string();
        self.writer.write(move |ctx| writes::clear_login_failures(ctx.conn, &key)).await
    }

    async fn take_login_guess(
        &self,
        key: &str,
        now_ms: TimestampMs,
        window_ms: i64,
        limit: u32,
    ) -> Result<LoginGuess, LedgerError> {
        let key = key.to_string();
        self.writer.write(move |ctx| login::take_login_guess(ctx.conn, &key, now_ms, window_ms, limit)).await
    }

    async fn return_login_guess(&self, key: &str, id: i64) -> Result<(), LedgerError> {
        let key = key.to_string();
        self.writer.write(move |ctx| login::return_login_guess(ctx.conn, &key, id)).await
    }

    async fn create_login_device(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        now_ms: TimestampMs,
        keep: u32,
    ) -> Result<(), LedgerError> {
        let token_hash = *token_hash;
        self.writer.write(move |ctx| login::create_login_device(ctx.conn, &token_hash, user, now_ms, keep)).await
    }

    async fn take_device_guess(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        used_since_ms: TimestampMs,
        max_failures: u32,
    ) -> Result<Option<u32>, LedgerError> {
        let token_hash = *token_hash;
        self.writer
            .write(move |ctx| login::take_device_guess(ctx.conn, &token_hash, user, used_since_ms, max_failures))
            .await
    }

    async fn device_login_succeeded(&self, token_hash: &[u8; 32], now_ms: TimestampMs) -> Result<(), LedgerError> {
        let token_hash = *token_hash;
        self.writer.write(move |ctx| login::device_login_succeeded(ctx.conn, &token_hash, now_ms)).await
    }

    async fn record_security_event(&self, kind: &str, detail: &str, now_ms: TimestampMs) -> Result<(), LedgerError> {
        let (kind, detail) = (kind.to_string(), detail.to_string());
        self.writer.write(move |ctx| writes::record_security_event(ctx.conn, &kind, &detail, now_ms)).await
    }

    async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, LedgerError> {
        self.readers.read(move |conn| reads::security_events(conn, limit)).await
    }

    async fn forget_security_events(&self, before_ms: TimestampMs) -> Result<u64, LedgerError> {
        self.writer.write(move |ctx| writes::forget_security_events(ctx.conn, before_ms)).await
    }

    async fn deposit(
        &self,
        to: &Handle,
        amount: Amount,
        key: &IdempotencyKey,
        now_ms: TimestampMs,
    ) -> Result<Posted, LedgerError> {
        crate::plan::check_amount(amount)?;
        let (to, key) = (to.clone(), key.clone());
        self.writer.write(move |ctx| writes::deposit(ctx.conn, &to, amount, &key, now_ms, &mut ctx.notices)).await?
    }

    async fn transfer_and_balance(
        &self,
        request: &TransferRequest,
        now_ms: TimestampMs,
    ) -> Result<(Posted, Amount), LedgerError> {
        crate::plan::check_transfer(request)?;
        let request = request.clone();
        self.writer.write(move |ctx| writes::transfer(ctx.conn, &request, now_ms, &mut ctx.notices)).await?
    }

    async fn balance(&self, user: UserId) -> Result<Amount, LedgerError> {
        self.readers.read_by_key(|conn| reads::balance(conn, user)).await
    }

    async fn transfer_entry(&self, user: UserId, entry_id: EntryId) -> Result<Option<TransferEntry>, LedgerError> {
        self.readers.read(move |conn| reads::transfer_entry(conn, user, entry_id)).await
    }

    async fn receipt_card(
        &self,
        entry_id: EntryId,
        bind: Option<[u8; 4]>,
        now_ms: TimestampMs,
    ) -> Result<Option<[u8; 4]>, LedgerError> {
        match bind {
            Some(card) => {
                self.writer.write(move |ctx| writes::bind_receipt_card(ctx.conn, entry_id, card, now_ms)).await
            }
            None => self.readers.read(move |conn| reads::receipt_card(conn, entry_id)).await,
        }
    }

    async fn history(
        &self,
        user: UserId,
        before: Option<EntryId>,
        limit: u32,
    ) -> Result<Vec<HistoryItem>, LedgerError> {
        self.readers.read(move |conn| reads::history(conn, user, before, limit)).await
    }

    async fn events_after(&self, user: UserId, after: i64, limit: u32) -> Result<Vec<Event>, LedgerError> {
        self.readers.read(move |conn| reads::events_after(conn, user, after, limit)).await
    }

    async fn latest_event_seq(&self) -> Result<i64, LedgerError> {
        self.readers.read(reads::latest_event_seq).await
    }

    fn subscribe(&self) -> broadcast::Receiver<EventNotice> {
        self.events.subscribe()
    }

    async fn verify(&self) -> Result<VerifyReport, LedgerError> {
        self.readers.read(reads::verify).await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn offline(&self) -> &dyn crate::offline::OfflineStore {
        self
    }
}
