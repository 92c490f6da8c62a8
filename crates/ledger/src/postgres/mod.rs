//! The PostgreSQL store, for several servers sharing one database.
//!
//! - A deadpool connection pool (tokio-postgres, statements prepared once per connection).
//! - Migrations at connect, serialised across processes by an advisory lock ([`schema`]).
//! - Money moves in two pipelined round trips with row locks in account-id order ([`money`]);
//!   they run in a spawned task so a cancelled caller cannot interrupt a transaction.
//! - Live events: batched `NOTIFY` right after commit ([`notify`], which says why not inside the
//!   transaction) and a `LISTEN` task per store with a catch-up poll ([`listen`]).
//! - Reads and the audit ([`reads`]); `verify` reads one REPEATABLE READ snapshot.
//! - Offline payments ([`offline`]), their statements prepared once per connection and sent in
//!   pipelines ([`cached`]).

mod cached;
mod listen;
mod login;
mod money;
mod notify;
mod offline;
mod reads;
mod schema;
#[cfg(test)]
mod test_db;

use std::future::Future;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use offpay_protocol::{Amount, Handle};
use tokio::sync::{broadcast, watch};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::chain::GENESIS;
use crate::error::LedgerError;
use crate::model::*;
use crate::open::redact;
use crate::store::Store;

/// Default most pooled connections per store.
pub const POOL_SIZE_DEFAULT: usize = 16;

/// The PostgreSQL backend of [`Store`].
pub struct PostgresStore {
    pool: Pool,
    events: broadcast::Sender<EventNotice>,
    notifier: notify::Notifier,
    /// Dropping it stops the listener task.
    _shutdown: watch::Sender<()>,
}

impl PostgresStore {
    /// Connects with [`POOL_SIZE_DEFAULT`] pooled connections (plus one listener connection),
    /// applies migrations and starts listening for events.
    pub async fn connect(url: &str) -> Result<PostgresStore, LedgerError> {
        PostgresStore::connect_with_pool_size(url, POOL_SIZE_DEFAULT).await
    }

    pub async fn connect_with_pool_size(url: &str, pool_size: usize) -> Result<PostgresStore, LedgerError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| LedgerError::storage(format!("bad database URL {}", redact(url)), e))?;
        schema::migrate(&config).await?;
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| LedgerError::storage("cannot build the connection pool", e))?;
        let (events, _) = broadcast::channel(crate::EVENT_CHANNEL_CAPACITY);
        let (shutdown, shutdown_rx) = watch::channel(());
        let ready = listen::spawn(config, pool.clone(), events.clone(), shutdown_rx);
        ready.await.map_err(|_| LedgerError::Storage("the event listener stopped".into()))??;
        let notifier = notify::Notifier::start(pool.clone());
        Ok(PostgresStore { pool, events, notifier, _shutdown: shutdown })
    }

    /// Runs a money operation to completion in its own task, even if the caller stops waiting.
    async fn detached<T, F>(&self, work: impl FnOnce(Pool, notify::Notifier) -> F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, LedgerError>> + Send + 'static,
    {
        tokio::spawn(work(self.pool.clone(), self.notifier.clone()))
            .await
            .map_err(|e| LedgerError::storage("ledger task failed", e))?
    }
}

/// Locks a user's wallet account, as a transfer and an upload do, before changing the user's
/// frozen flag (`set_frozen`, `unfreeze_unless_held`): a payment already holding the account
/// commits first.
pub(crate) const LOCK_USER_ACCOUNT: &str =
    "SELECT 1 FROM accounts a JOIN users u ON u.account_id = a.id WHERE u.id = $1 FOR UPDATE OF a";

fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Housekeeping at each new session: sessions past their absolute expiry go (indexed).
const DELETE_EXPIRED_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at_ms <= $1";
/// At most `SESSIONS_PER_USER` per account: the least recently used beyond go (`sessions_by_user`).
const DELETE_SESSIONS_PAST_CAP: &str = "DELETE FROM sessions WHERE token_hash IN
     (SELECT token_hash FROM sessions WHERE user_id = $1
      ORDER BY last_seen_ms DESC, created_at_ms DESC, token_hash OFFSET $2)";

/// Ends `user`'s least recently used sessions beyond `SESSIONS_PER_USER`.
async fn past_cap(client: &deadpool_postgres::Client, user: UserId) -> Result<(), LedgerError> {
    let statement = client.prepare_cached(DELETE_SESSIONS_PAST_CAP).await?;
    client.execute(&statement, &[&user, &crate::model::SESSIONS_PER_USER]).await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(
        &self,
        handle: &Handle,
        password_hash: &str,
        now_ms: TimestampMs,
    ) -> Result<User, LedgerError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "WITH a AS (
                    INSERT INTO accounts (kind, balance, head, created_at_ms) VALUES ('wallet', 0, $3, $4) RETURNING id
                 )
                 INSERT INTO users (handle, password_hash, account_id, frozen, created_at_ms)
                 SELECT $1, $2, a.id, false, $4 FROM a RETURNING id, account_id",
            )
            .await?;
        let genesis = &GENESIS[..];
        let row = client.query_one(&statement, &[&handle.as_str(), &password_hash, &genesis, &now_ms]).await.map_err(
            |e| {
                if is_unique_violation(&e) { LedgerError::HandleTaken } else { LedgerError::from(e) }
            },
        )?;
        Ok(User {
            id: row.try_get(0)?,
            handle: handle.clone(),
            password_hash: password_hash.to_string(),
            account_id: row.try_get(1)?,
            frozen: false,
            created_at_ms: now_ms,
        })
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<Option<User>, LedgerError> {
        reads::user(&self.pool, "handle", &handle.as_str()).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, LedgerError> {
        reads::user(&self.pool, "id", &id).await
    }

    /// Locks the user's account first, as a transfer and a fraud upload do, so that a transfer
    /// that already holds it (and read `frozen = false`) commits before the freeze does.
    async fn set_frozen(&self, user: UserId, frozen: bool) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(LOCK_USER_ACCOUNT, &[&user]).await?;
        let n = tx.execute("UPDATE users SET frozen = $2 WHERE id = $1", &[&user, &frozen]).await?;
        if n == 0 {
            return Err(LedgerError::UnknownUser);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(&self, s: &Session) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        let (cleanup, insert) = futures_util::try_join!(
            client.prepare_cached(DELETE_EXPIRED_SESSIONS),
            client.prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, created_at_ms, last_seen_ms, idle_timeout_ms, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            ),
        )?;
        let token = &s.token_hash[..];
        let cleanup_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&s.created_at_ms];
        let insert_params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&token, &s.user_id, &s.created_at_ms, &s.last_seen_ms, &s.idle_timeout_ms, &s.expires_at_ms];
        let (cleaned, inserted) =
            futures_util::join!(client.execute(&cleanup, &cleanup_params), client.execute(&insert, &insert_params));
        cleaned?;
        inserted?;
        past_cap(&client, s.user_id).await
    }

    async fn touch_session(&self, token_hash: &[u8; 32], now_ms: TimestampMs) -> Result<Option<Session>, LedgerError> {
        let client = self.pool.get().await?;
        let token = &token_hash[..];
        // Most requests come soon after the previous one: a plain read answers those without a
        // committed write (see `Session::seen_recently`).
        let read = client
            .prepare_cached(
                "SELECT user_id, created_at_ms, last_seen_ms, idle_timeout_ms, expires_at_ms
                 FROM sessions WHERE token_hash = $1",
            )
            .await?;
        if let Some(row) = client.query_opt(&read, &[&token]).await? {
            let session = session_from_row(&row, token_hash, 0)?;
            if !session.is_expired(now_ms) && session.seen_recently(now_ms) {
                return Ok(Some(session));
            }
        }
        let touch = client
            .prepare_cached(
                "UPDATE sessions SET last_seen_ms = GREATEST(last_seen_ms, $2)
                 WHERE token_hash = $1 AND $2 < expires_at_ms AND $2 < last_seen_ms + idle_timeout_ms
                 RETURNING user_id, created_at_ms, last_seen_ms, idle_timeout_ms, expires_at_ms",
            )
            .await?;
        if let Some(row) = client.query_opt(&touch, &[&token, &now_ms]).await? {
            return Ok(Some(session_from_row(&row, token_hash, 0)?));
        }
        // Unknown or ended: delete it if it exists and has ended.
        client
            .execute(
                "DELETE FROM sessions WHERE token_hash = $1 AND ($2 >= expires_at_ms OR $2 >= last_seen_ms + idle_timeout_ms)",
                &[&token, &now_ms],
            )
            .await?;
        Ok(None)
    }

    async fn session_user(
        &self,
        token_hash: &[u8; 32],
        now_ms: TimestampMs,
    ) -> Result<Option<(Session, User)>, LedgerError> {
        // One read answers almost every request (as in `touch_session`); an unknown token needs
        // no write either.
        match reads::session_user(&self.pool, token_hash).await? {
            None => Ok(None),
            Some((session, user)) if !session.is_expired(now_ms) && session.seen_recently(now_ms) => {
                Ok(Some((session, user)))
            }
            Some(_) => {
                let Some(session) = self.touch_session(token_hash, now_ms).await? else { return Ok(None) };
                Ok(self.user_by_id(session.user_id).await?.map(|user| (session, user)))
            }
        }
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client.execute("DELETE FROM sessions WHERE token_hash = $1", &[&&token_hash[..]]).await?;
        Ok(())
    }

    async fn create_session_if_password(&self, s: &Session, checked_hash: &str) -> Result<bool, LedgerError> {
        let client = self.pool.get().await?;
        // The user's row is locked: a password change holding it goes first, and the hash is then
        // read again (a change of it means no row, and no session).
        let insert = client
            .prepare_cached(
                "WITH checked AS (SELECT id FROM users WHERE id = $2 AND password_hash = $7 FOR UPDATE)
                 INSERT INTO sessions (token_hash, user_id, created_at_ms, last_seen_ms, idle_timeout_ms, expires_at_ms)
                 SELECT $1, id, $3, $4, $5, $6 FROM checked",
            )
            .await?;
        let token = &s.token_hash[..];
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &token,
            &s.user_id,
            &s.created_at_ms,
            &s.last_seen_ms,
            &s.idle_timeout_ms,
            &s.expires_at_ms,
            &checked_hash,
        ];
        let inserted = client.execute(&insert, &params).await?;
        let cleanup = client.prepare_cached(DELETE_EXPIRED_SESSIONS).await?;
        client.execute(&cleanup, &[&s.created_at_ms]).await?;
        if inserted == 1 {
            past_cap(&client, s.user_id).await?;
        }
        Ok(inserted == 1)
    }

    async fn end_sessions(
        &self,
        user: UserId,
        keep: Option<[u8; 32]>,
        new_password_hash: Option<String>,
    ) -> Result<Vec<[u8; 32]>, LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if let Some(hash) = &new_password_hash {
            let changed = tx.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user, hash]).await?;
            if changed == 0 {
                return Err(LedgerError::UnknownUser);
            }
        }
        let keep = keep.map(|k| k.to_vec()).unwrap_or_default();
        let rows = tx
            .query("DELETE FROM sessions WHERE user_id = $1 AND token_hash != $2 RETURNING token_hash", &[&user, &keep])
            .await?;
        tx.commit().await?;
        rows.iter().map(|r| token_hash_from_db(r.get::<_, &[u8]>(0))).collect()
    }

    async fn login_throttle(&self, key: &str) -> Result<LoginThrottle, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt("SELECT failures, locked_until_ms, last_failure_ms FROM login_throttle WHERE key = $1", &[&key])
            .await?;
        match row {
            None => Ok(LoginThrottle::default()),
            Some(row) => Ok(LoginThrottle {
                failures: u32::try_from(row.try_get::<_, i64>(0)?).unwrap_or(u32::MAX),
                locked_until_ms: row.try_get(1)?,
                last_failure_ms: row.try_get(2)?,
            }),
        }
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now_ms: TimestampMs,
        forget_after_ms: i64,
        lock_ms: i64,
    ) -> Result<LoginThrottle, LedgerError> {
        login::record_login_failure(&self.pool, key, now_ms, forget_after_ms, lock_ms).await
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client.execute("DELETE FROM login_throttle WHERE key = $1", &[&key]).await?;
        Ok(())
    }

    async fn take_login_guess(
        &self,
        key: &str,
        now_ms: TimestampMs,
        window_ms: i64,
        limit: u32,
    ) -> Result<LoginGuess, LedgerError> {
        login::take_login_guess(&self.pool, key, now_ms, window_ms, limit).await
    }

    async fn return_login_guess(&self, key: &str, id: i64) -> Result<(), LedgerError> {
        login::return_login_guess(&self.pool, key, id).await
    }

    async fn create_login_device(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        now_ms: TimestampMs,
        keep: u32,
    ) -> Result<(), LedgerError> {
        login::create_login_device(&self.pool, token_hash, user, now_ms, keep).await
    }

    async fn take_device_guess(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        used_since_ms: TimestampMs,
        max_failures: u32,
    ) -> Result<Option<u32>, LedgerError> {
        login::take_device_guess(&self.pool, token_hash, user, used_since_ms, max_failures).await
    }

    async fn device_login_succeeded(&self, token_hash: &[u8; 32], now_ms: TimestampMs) -> Result<(), LedgerError> {
        login::device_login_succeeded(&self.pool, token_hash, now_ms).await
    }

    async fn record_security_event(&self, kind: &str, detail: &str, now_ms: TimestampMs) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO security_events (kind, detail, created_at_ms) VALUES ($1, $2, $3)",
                &[&kind, &detail, &now_ms],
            )
            .await?;
        Ok(())
    }

    async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, LedgerError> {
        reads::security_events(&self.pool, limit).await
    }

    async fn forget_security_events(&self, before_ms: TimestampMs) -> Result<u64, LedgerError> {
        let client = self.pool.get().await?;
        let limit = i64::from(crate::SECURITY_FORGET_MAX);
        let deleted = client
            .execute(
                "DELETE FROM security_events WHERE id IN (
                    SELECT id FROM (SELECT id, created_at_ms FROM security_events ORDER BY id LIMIT $2) oldest
                    WHERE created_at_ms < $1)",
                &[&before_ms, &limit],
            )
            .await?;
        Ok(deleted)
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
        self.detached(
            move |pool, notifier| async move { money::deposit(&pool, &notifier, &to, amount, &key, now_ms).await },
        )
        .await
    }

    async fn transfer_and_balance(
        &self,
        request: &TransferRequest,
        now_ms: TimestampMs,
    ) -> Result<(Posted, Amount), LedgerError> {
        crate::plan::check_transfer(request)?;
        let request = request.clone();
        self.detached(move |pool, notifier| async move { money::transfer(&pool, &notifier, &request, now_ms).await })
            .await
    }

    async fn balance(&self, user: UserId) -> Result<Amount, LedgerError> {
        reads::balance(&self.pool, user).await
    }

    async fn transfer_entry(&self, user: UserId, entry_id: EntryId) -> Result<Option<TransferEntry>, LedgerError> {
        reads::transfer_entry(&self.pool, user, entry_id).await
    }

    async fn receipt_card(
        &self,
        entry_id: EntryId,
        bind: Option<[u8; 4]>,
        now_ms: TimestampMs,
    ) -> Result<Option<[u8; 4]>, LedgerError> {
        // The insert (which waits for a concurrent one of the same entry) and the read are
        // separate statements, so the read sees whichever binding committed first.
        let client = self.pool.get().await?;
        if let Some(card) = bind {
            client
                .execute(
                    "INSERT INTO receipt_cards (entry_id, card, created_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (entry_id) DO NOTHING",
                    &[&entry_id, &&card[..], &now_ms],
                )
                .await?;
        }
        let row = client.query_opt("SELECT card FROM receipt_cards WHERE entry_id = $1", &[&entry_id]).await?;
        row.map(|r| crate::model::card_prefix(r.try_get(0)?)).transpose()
    }

    async fn history(
        &self,
        user: UserId,
        before: Option<EntryId>,
        limit: u32,
    ) -> Result<Vec<HistoryItem>, LedgerError> {
        reads::history(&self.pool, user, before, limit).await
    }

    async fn events_after(&self, user: UserId, after: i64, limit: u32) -> Result<Vec<Event>, LedgerError> {
        reads::events_after(&self.pool, user, after, limit).await
    }

    async fn latest_event_seq(&self) -> Result<i64, LedgerError> {
        let client = self.pool.get().await?;
        Ok(client.query_one("SELECT coalesce(max(seq), 0) FROM events", &[]).await?.try_get(0)?)
    }

    fn subscribe(&self) -> broadcast::Receiver<EventNotice> {
        self.events.subscribe()
    }

    async fn verify(&self) -> Result<VerifyReport, LedgerError> {
        reads::verify(&self.pool).await
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn offline(&self) -> &dyn crate::offline::OfflineStore {
        self
    }
}

/// A session from a row whose columns from `first` on are `user_id, created_at_ms, last_seen_ms,
/// idle_timeout_ms, expires_at_ms`.
fn session_from_row(row: &tokio_postgres::Row, token_hash: &[u8; 32], first: usize) -> Result<Session, LedgerError> {
    Ok(Session {
        token_hash: *token_hash,
        user_id: row.try_get(first)?,
        created_at_ms: row.try_get(first + 1)?,
        last_seen_ms: row.try_get(first + 2)?,
        idle_timeout_ms: row.try_get(first + 3)?,
        expires_at_ms: row.try_get(first + 4)?,
    })
}
