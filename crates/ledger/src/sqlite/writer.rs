//! Group commit: one dedicated writer thread owns the only write connection. It takes every
//! queued write command (up to [`BATCH_MAX`]), applies them in one `BEGIN IMMEDIATE`
//! transaction, each inside its own SAVEPOINT (a failing command rolls back only itself), and
//! commits once. Replies and live-event notices go out only after COMMIT succeeded, so nothing
//! is acknowledged that is not durable (WAL + synchronous=FULL: one fsync per batch, not per
//! command). While one batch is being fsynced the next one queues up, so the batch size follows
//! the load by itself; no timer is involved.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::{LedgerError, StorageError};
use crate::model::EventNotice;

/// Most commands in one transaction.
pub const BATCH_MAX: usize = 1024;
/// Most commands waiting for the writer; senders wait (backpressure) beyond this.
pub const QUEUE_MAX: usize = 4096;

/// What a write command sees: the connection (inside the batch transaction and the command's
/// savepoint) and where to put the live-event notices it produces.
pub struct WriteCtx<'c> {
    pub conn: &'c Connection,
    pub notices: Vec<EventNotice>,
}

/// A type-erased write command.
pub trait Job: Send {
    /// Runs the command; false when it failed (its savepoint is then rolled back).
    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> bool;
    /// Sends the reply once the batch's fate is known.
    fn finish(self: Box<Self>, commit: &Result<(), BatchFailure>);
}

struct TypedJob<T, F> {
    work: Option<F>,
    result: Option<Result<T, LedgerError>>,
    reply: oneshot::Sender<Result<T, LedgerError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T, LedgerError> + Send + 'static,
{
    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A bug in one command must not take the writer thread (and every later write) down.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(ctx)))
            .unwrap_or_else(|_| Err(LedgerError::Storage("internal error: a write command panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: &Result<(), BatchFailure>) {
        let reply = match (self.result, commit) {
            // A refused command changed nothing whatever happened to the batch.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(BatchFailure { full: true, error })) => {
                Err(LedgerError::StorageFull(StorageError::shared("sqlite commit failed", error.clone())))
            }
            (_, Err(BatchFailure { error, .. })) => {
                Err(LedgerError::Storage(StorageError::shared("sqlite commit failed", error.clone())))
            }
            (None, Ok(())) => Err(LedgerError::Storage("write command was not run".into())),
        };
        // The caller may have gone away; the outcome is durable either way.
        let _ = self.reply.send(reply);
    }
}

/// Why a batch did not commit, as every command in it is told (each gets the same error as
/// its `source()`).
#[derive(Debug)]
pub struct BatchFailure {
    /// The database had no room (SQLITE_FULL): the commands may succeed once there is space.
    full: bool,
    error: Arc<rusqlite::Error>,
}

/// The handle async code uses to queue write commands.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn` (already configured and migrated).
    pub fn start(conn: Connection, events: broadcast::Sender<EventNotice>) -> Result<Writer, LedgerError> {
        // Savepoints write a statement journal for every page they touch; keep it in memory
        // rather than in a temporary file (measured: a quarter of the writer's time).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // A 64 MiB page cache (the default is 2 MiB): a settlement batch touches thousands of
        // pages, and with the small cache SQLite spilled dirty pages mid-transaction and read
        // them back (measured with perf: most of the writer's time in a 100,000-note bench).
        conn.pragma_update(None, "cache_size", -65_536)?;
        // Every write command's statements stay prepared (rusqlite's default keeps 16, fewer
        // than the commands use, and a miss re-parses the SQL).
        // (`schema::configure` already gave the connection the query planner stability
        // guarantee, without which cached statements are re-prepared on every bind.)
        conn.set_prepared_statement_cache_capacity(256);
        let (queue, rx) = mpsc::channel(QUEUE_MAX);
        std::thread::Builder::new()
            .name("offpay-sqlite-writer".into())
            .spawn(move || run(conn, rx, events))
            .map_err(|e| LedgerError::storage("cannot start the sqlite writer thread", e))?;
        Ok(Writer { queue })
    }

    /// Runs `work` in the next batch and returns its result once the batch committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, LedgerError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob { work: Some(work), result: None, reply });
        self.queue.send(job).await.map_err(|_| LedgerError::Storage("the sqlite writer has stopped".into()))?;
        rx.await.map_err(|_| LedgerError::Storage("the sqlite writer stopped before replying".into()))?
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, events: broadcast::Sender<EventNotice>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(BATCH_MAX);
    // Ends when every Writer handle is dropped and the queue is drained.
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut ctx = WriteCtx { conn: &conn, notices: Vec::new() };
        let commit = run_batch(&mut ctx, &mut batch).map_err(|e| BatchFailure {
            full: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            error: Arc::new(e),
        });
        if commit.is_err() {
            // Best effort: the transaction may already be gone.
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = ?commit, "sqlite batch failed; every command in it is refused");
        }
        let notices = std::mem::take(&mut ctx.notices);
        for job in batch.drain(..) {
            job.finish(&commit);
        }
        if commit.is_ok() {
            for notice in notices {
                // No subscriber is fine.
                let _ = events.send(notice);
            }
        }
    }
}

fn run_batch(ctx: &mut WriteCtx<'_>, batch: &mut [Box<dyn Job>]) -> Result<(), rusqlite::Error> {
    ctx.conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        ctx.conn.prepare_cached("SAVEPOINT cmd")?.execute([])?;
        let notices_before = ctx.notices.len();
        if job.apply(ctx) {
            ctx.conn.prepare_cached("RELEASE cmd")?.execute([])?;
        } else {
            ctx.notices.truncate(notices_before);
            ctx.conn.prepare_cached("ROLLBACK TO cmd")?.execute([])?;
            ctx.conn.prepare_cached("RELEASE cmd")?.execute([])?;
        }
    }
    ctx.conn.execute_batch("COMMIT")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::error::Error;
    use std::time::Duration;

    use rusqlite::Connection;
    use tokio::sync::broadcast;

    use super::Writer;
    use crate::error::LedgerError;

    /// A batch whose COMMIT fails (here a deferred foreign key that one command leaves broken)
    /// refuses every command in it with the same error, shared, as the cause, and writes none of
    /// them; the batch before it, and the writer afterwards, are unaffected.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_command_of_a_failed_commit_gets_the_same_error_and_nothing_is_written() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id));",
        )
        .unwrap();
        let (events, _) = broadcast::channel(16);
        let writer = Writer::start(conn, events).unwrap();
        // The first command holds the writer long enough for the next three to queue behind it
        // and form one batch.
        let first = writer.write(|ctx| {
            std::thread::sleep(Duration::from_millis(1_000));
            ctx.conn.execute("INSERT INTO parent (id) VALUES (1)", []).map_err(LedgerError::from)
        });
        let queued = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let broken = writer.write(|ctx| {
                ctx.conn.execute_batch("PRAGMA defer_foreign_keys = ON; INSERT INTO child VALUES (1, 99);")?;
                Ok(())
            });
            let fine = |id: i64| {
                writer.write(move |ctx| {
                    ctx.conn.execute("INSERT INTO child VALUES (?1, 1)", [id]).map_err(LedgerError::from)
                })
            };
            tokio::join!(broken, fine(2), fine(3))
        };
        let (first, (broken, two, three)) = tokio::join!(first, queued);
        assert_eq!(first.unwrap(), 1);
        let causes: Vec<*const u8> = [broken.map(|_| 0), two, three]
            .into_iter()
            .map(|result| {
                let error = result.unwrap_err();
                assert!(matches!(error, LedgerError::Storage(_)), "{error:?}");
                let cause = error.source().unwrap();
                assert!(cause.downcast_ref::<rusqlite::Error>().is_some(), "{cause:?}");
                cause as *const dyn Error as *const u8
            })
            .collect();
        assert!(causes.iter().all(|c| *c == causes[0]), "one shared cause, not copies");
        let rows: i64 = writer
            .write(|ctx| ctx.conn.query_row("SELECT count(*) FROM child", [], |r| r.get(0)).map_err(LedgerError::from))
            .await
            .unwrap();
        assert_eq!(rows, 0, "nothing of the failed batch was written");
    }
}
