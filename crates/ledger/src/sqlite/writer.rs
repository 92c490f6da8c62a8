//! Group commit: one dedicated writer thread owns the only write connection. It takes every
//! queued write command (up to [`BATCH_MAX`]), applies them in one `BEGIN IMMEDIATE`
//! transaction and commits once. Replies and live-event notices go out only after COMMIT
//! succeeded, so nothing is acknowledged that is not durable (WAL + synchronous=FULL: one fsync
//! per batch, not per command). While one batch is being fsynced the next one queues up, so the
//! batch size follows the load by itself; no timer is involved.
//!
//! A refused command must change nothing, while the commands beside it in the batch keep their
//! writes. Almost every refusal happens before a command writes anything (it checks, then
//! writes), so a batch first runs without a savepoint per command and watches SQLite's count of
//! changed rows: a command refused with the count unchanged wrote nothing, and the batch goes
//! on. Only when a command is refused after it changed rows is the batch rolled back and run
//! again with each command inside its own SAVEPOINT, so that one is undone alone. (A savepoint
//! per command cost about an eighth of the writer's time: docs/PERFORMANCE.md, "The writer
//! without a savepoint per command".)

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::{LedgerError, StorageError};
use crate::model::EventNotice;

/// Most commands in one transaction.
pub const BATCH_MAX: usize = 1024;
/// Most commands waiting for the writer; senders wait (backpressure) beyond this.
pub const QUEUE_MAX: usize = 4096;
/// The WAL pages after which the WAL is copied into the database file (SQLite's default, about
/// 4 MiB), by a thread of its own with its own connection (a `PASSIVE` checkpoint, which never
/// waits for the writer): SQLite's automatic copy ran inside the commit, before the batch was
/// answered, and held up the next one (docs/PERFORMANCE.md, "What the WAL copy costs the
/// transfer path").
pub const WAL_CHECKPOINT_PAGES: i64 = 1_000;
/// The WAL pages after which the writer copies the WAL itself (a `RESTART` checkpoint, after
/// answering its batch), so that the WAL starts over: under constant writes the other thread's
/// copy never reaches the end of the WAL, and SQLite starts the WAL over only after a copy that
/// did (about 40 MiB).
pub const WAL_RESTART_PAGES: i64 = 10_000;

/// What a write command sees: the connection (inside the batch transaction, and the command's
/// savepoint when the batch runs with them) and where to put the live-event notices it produces.
pub struct WriteCtx<'c> {
    pub conn: &'c Connection,
    pub notices: Vec<EventNotice>,
    undo: Undo,
}

impl WriteCtx<'_> {
    /// Whether the command runs inside a savepoint of its own, which the writer rolls back when
    /// the command is refused. Without one, a command that must undo its own writes (and be
    /// answered with success) has to ask for the batch to run again with savepoints: see
    /// [`undo_needed`].
    pub fn has_savepoint(&self) -> bool {
        self.undo == Undo::Savepoint
    }
}

/// The error a command returns, when it runs without a savepoint, to have what it wrote undone:
/// the writer runs the batch again with a savepoint per command, and this answer is replaced by
/// that run's. Return it only after changing rows (otherwise it is the command's answer).
pub fn undo_needed() -> LedgerError {
    LedgerError::Storage("internal error: a write command needed a savepoint".into())
}

/// A type-erased write command.
pub trait Job: Send {
    /// Runs the command; false when it was refused. A command may run more than once (the batch
    /// is run again with savepoints when one is refused after writing); the last run counts.
    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> bool;
    /// Sends the reply once the batch's fate is known.
    fn finish(self: Box<Self>, commit: &Result<(), BatchFailure>);
}

struct TypedJob<T, F> {
    work: F,
    result: Option<Result<T, LedgerError>>,
    reply: oneshot::Sender<Result<T, LedgerError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut WriteCtx<'_>) -> Result<T, LedgerError> + Send + 'static,
{
    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> bool {
        let work = &mut self.work;
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

/// The writer connection's page cache: 8 MiB (a negative `cache_size` counts KiB).
const WRITER_CACHE_SIZE: i64 = -8_192;

/// The handle async code uses to queue write commands.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn` (already configured and migrated).
    pub fn start(mut conn: Connection, events: broadcast::Sender<EventNotice>) -> Result<Writer, LedgerError> {
        // Savepoints write a statement journal for every page they touch; keep it in memory
        // rather than in a temporary file (measured: a quarter of the writer's time).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // An 8 MiB page cache (the default is 2 MiB): a settlement batch touches thousands of
        // pages, and with the small cache SQLite spilled dirty pages mid-transaction and read
        // them back (measured with perf: most of the writer's time in a 100,000-note bench).
        // Not more: SQLite scans its whole page cache at each commit after a page split, so a
        // 64 MiB cache made long runs of transfers about 5% slower with settlement no faster
        // (docs/PERFORMANCE.md, "Why the transfer rate falls as a run goes on").
        conn.pragma_update(None, "cache_size", WRITER_CACHE_SIZE)?;
        // Every write command's statements stay prepared (rusqlite's default keeps 16, fewer
        // than the commands use, and a miss re-parses the SQL).
        // (`schema::configure` already gave the connection the query planner stability
        // guarantee, without which cached statements are re-prepared on every bind.)
        conn.set_prepared_statement_cache_capacity(256);
        // The WAL's length after each commit, in pages. Setting this hook turns SQLite's automatic
        // checkpoint off on this connection; `after_batch` copies the WAL instead.
        let wal_pages = Arc::new(AtomicI64::new(0));
        let seen = Arc::clone(&wal_pages);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            seen.store(i64::from(pages), Ordering::Relaxed);
            Ok(())
        }))?;
        let copier = match conn.path() {
            Some(path) if !path.is_empty() => Some(start_wal_copier(path)?),
            _ => None,
        };
        let (queue, rx) = mpsc::channel(QUEUE_MAX);
        std::thread::Builder::new()
            .name("offpay-sqlite-writer".into())
            .spawn(move || run(conn, rx, events, &wal_pages, copier))
            .map_err(|e| LedgerError::storage("cannot start the sqlite writer thread", e))?;
        Ok(Writer { queue })
    }

    /// Runs `work` in the next batch and returns its result once the batch committed. `work`
    /// may run more than once (see the module docs), each time on the database as it was
    /// before the batch's earlier commands; it must change nothing but the database.
    pub async fn write<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteCtx<'_>) -> Result<T, LedgerError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob { work, result: None, reply });
        self.queue.send(job).await.map_err(|_| LedgerError::Storage("the sqlite writer has stopped".into()))?;
        rx.await.map_err(|_| LedgerError::Storage("the sqlite writer stopped before replying".into()))?
    }
}

/// Starts the thread that copies the WAL into the database file of `path` whenever it is woken
/// (on its own connection); stops when the returned sender is dropped.
fn start_wal_copier(path: &str) -> Result<std::sync::mpsc::SyncSender<()>, LedgerError> {
    let conn = Connection::open(path)?;
    super::schema::configure(&conn)?;
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("offpay-wal-copy".into())
        .spawn(move || {
            while woken.recv().is_ok() {
                checkpoint(&conn, "PASSIVE");
            }
        })
        .map_err(|e| LedgerError::storage("cannot start the sqlite WAL thread", e))?;
    Ok(wake)
}

/// Copies the WAL into the database file; a failure is logged and left to the next copy.
fn checkpoint(conn: &Connection, mode: &str) {
    if let Err(error) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
        tracing::warn!(%error, mode, "copying the sqlite WAL into the database file failed; tried again later");
    }
}

/// After a batch was answered: wakes the WAL copier once the WAL holds [`WAL_CHECKPOINT_PAGES`],
/// and past [`WAL_RESTART_PAGES`] copies it here, so that the next write starts the WAL over.
fn after_batch(conn: &Connection, wal_pages: &AtomicI64, copier: Option<&std::sync::mpsc::SyncSender<()>>) {
    let pages = wal_pages.load(Ordering::Relaxed);
    if pages >= WAL_RESTART_PAGES || (pages >= WAL_CHECKPOINT_PAGES && copier.is_none()) {
        checkpoint(conn, "RESTART");
        wal_pages.store(0, Ordering::Relaxed);
    } else if let (true, Some(copier)) = (pages >= WAL_CHECKPOINT_PAGES, copier) {
        // Full means a copy is already asked for.
        let _ = copier.try_send(());
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    events: broadcast::Sender<EventNotice>,
    wal_pages: &AtomicI64,
    copier: Option<std::sync::mpsc::SyncSender<()>>,
) {
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
        let mut ctx = WriteCtx { conn: &conn, notices: Vec::new(), undo: Undo::NotNeeded };
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
        after_batch(&conn, wal_pages, copier.as_ref());
    }
}

/// Runs the batch without a savepoint per command; if a command was refused after it changed
/// rows, rolls back and runs the whole batch again with one savepoint per command. Commits.
fn run_batch(ctx: &mut WriteCtx<'_>, batch: &mut [Box<dyn Job>]) -> Result<(), rusqlite::Error> {
    ctx.conn.execute_batch("BEGIN IMMEDIATE")?;
    if apply_all(ctx, batch, Undo::NotNeeded)? == Applied::NeedsSavepoints {
        ctx.conn.execute_batch("ROLLBACK")?;
        ctx.notices.clear();
        ctx.conn.execute_batch("BEGIN IMMEDIATE")?;
        apply_all(ctx, batch, Undo::Savepoint)?;
    }
    ctx.conn.execute_batch("COMMIT")
}

/// How a refused command's writes are undone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Undo {
    /// No savepoint: a command refused after changing rows stops the run.
    NotNeeded,
    /// Each command in its own savepoint, rolled back when it is refused.
    Savepoint,
}

#[derive(PartialEq, Eq)]
enum Applied {
    All,
    /// A command was refused after it changed rows (only without savepoints).
    NeedsSavepoints,
}

fn apply_all(ctx: &mut WriteCtx<'_>, batch: &mut [Box<dyn Job>], undo: Undo) -> Result<Applied, rusqlite::Error> {
    ctx.undo = undo;
    for job in batch.iter_mut() {
        if undo == Undo::Savepoint {
            ctx.conn.prepare_cached("SAVEPOINT cmd")?.execute([])?;
        }
        let notices_before = ctx.notices.len();
        let changes_before = ctx.conn.total_changes();
        let applied = job.apply(ctx);
        if ctx.conn.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error, interrupt), or a
            // command ended it: nothing of the batch holds any more.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("the batch's transaction ended before its commit".into()),
            ));
        }
        match (applied, undo) {
            (true, Undo::Savepoint) => {
                ctx.conn.prepare_cached("RELEASE cmd")?.execute([])?;
            }
            (true, Undo::NotNeeded) => {}
            (false, Undo::Savepoint) => {
                ctx.notices.truncate(notices_before);
                ctx.conn.prepare_cached("ROLLBACK TO cmd")?.execute([])?;
                ctx.conn.prepare_cached("RELEASE cmd")?.execute([])?;
            }
            // Refused before it wrote anything: nothing to undo.
            (false, Undo::NotNeeded) if ctx.conn.total_changes() == changes_before => {
                ctx.notices.truncate(notices_before);
            }
            (false, Undo::NotNeeded) => return Ok(Applied::NeedsSavepoints),
        }
    }
    Ok(Applied::All)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::error::Error;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures_util::FutureExt;
    use rusqlite::Connection;
    use tokio::sync::broadcast;

    use super::{WriteCtx, Writer};
    use crate::error::LedgerError;
    use crate::model::{EventNotice, UserId};

    /// A write command as the tests queue it.
    type Command<T> = Box<dyn FnMut(&mut WriteCtx<'_>) -> Result<T, LedgerError> + Send>;

    /// A writer on an in-memory database with one table `t (id INTEGER PRIMARY KEY)`.
    fn writer_with_table() -> (Writer, broadcast::Receiver<EventNotice>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY);").unwrap();
        let (events, seen) = broadcast::channel(64);
        (Writer::start(conn, events).unwrap(), seen)
    }

    /// Inserts `id` into `t` with a live-event notice numbered `id`, counting its runs in `runs`.
    fn insert(id: i64, runs: &Arc<AtomicUsize>) -> impl FnMut(&mut WriteCtx<'_>) -> Result<(), LedgerError> + use<> {
        let runs = Arc::clone(runs);
        move |ctx| {
            runs.fetch_add(1, Ordering::SeqCst);
            ctx.conn.execute("INSERT INTO t (id) VALUES (?1)", [id])?;
            ctx.notices.push(EventNotice { seq: id, user_id: UserId(1) });
            Ok(())
        }
    }

    /// Runs `first` (which holds the writer for a second), then the commands of `queued` (sent
    /// while `first` runs, so they form the next batch together) and returns their results.
    async fn one_batch<T: Send + 'static>(writer: &Writer, queued: Vec<Command<T>>) -> Vec<Result<T, LedgerError>> {
        let first = writer.write(|_| {
            std::thread::sleep(Duration::from_millis(1_000));
            Ok(())
        });
        let rest = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            futures_util::future::join_all(queued.into_iter().map(|work| writer.write(work))).await
        };
        let (first, rest) = tokio::join!(first, rest);
        first.unwrap();
        rest
    }

    fn rows(writer: &Writer) -> impl std::future::Future<Output = Vec<i64>> + '_ {
        writer
            .write(|ctx| {
                let mut stmt = ctx.conn.prepare("SELECT id FROM t ORDER BY id")?;
                let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
                Ok(ids)
            })
            .map(Result::unwrap)
    }

    fn notices(seen: &mut broadcast::Receiver<EventNotice>) -> Vec<i64> {
        std::iter::from_fn(|| seen.try_recv().ok()).map(|n| n.seq).collect()
    }

    /// A refused command changes nothing and its neighbours in the batch keep their writes and
    /// notices: a command refused with a `LedgerError`, and an offline command (`offline::atomic`)
    /// whose refusal travels inside `Ok`. Refused before it wrote, the batch runs once; refused
    /// after it wrote, the batch runs again with a savepoint per command.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_command_is_undone_alone() {
        use crate::offline::OfflineError;
        for (offline, write_first) in [(false, false), (false, true), (true, false), (true, true)] {
            let (writer, mut seen) = writer_with_table();
            let runs = Arc::new(AtomicUsize::new(0));
            let neighbour = |id| {
                let mut work = insert(id, &runs);
                move |ctx: &mut WriteCtx<'_>| work(ctx).map(Ok)
            };
            let mut half_done = insert(2, &runs);
            let mut refused = move |conn: &Connection, notices: &mut Vec<EventNotice>| {
                if write_first {
                    let mut inner = WriteCtx { conn, notices: Vec::new(), undo: super::Undo::NotNeeded };
                    half_done(&mut inner)?;
                    notices.append(&mut inner.notices);
                }
                Err::<(), _>(OfflineError::PurseNotOpen)
            };
            let results = one_batch(
                &writer,
                vec![
                    Box::new(neighbour(1)),
                    Box::new(move |ctx: &mut WriteCtx<'_>| {
                        if offline {
                            super::super::offline::atomic(ctx, &mut refused)
                        } else {
                            refused(ctx.conn, &mut ctx.notices).map(Ok).map_err(|_| LedgerError::InsufficientFunds)
                        }
                    }),
                    Box::new(neighbour(3)),
                ],
            )
            .await;
            assert!(matches!(results[0], Ok(Ok(()))) && matches!(results[2], Ok(Ok(()))), "{results:?}");
            if offline {
                assert!(matches!(results[1], Ok(Err(OfflineError::PurseNotOpen))), "{results:?}");
            } else {
                assert!(matches!(results[1], Err(LedgerError::InsufficientFunds)), "{results:?}");
            }
            // Inserts run: 1 and 3 once; or 1 and 2, then the whole batch again (1, 2, 3).
            assert_eq!(runs.load(Ordering::SeqCst), if write_first { 5 } else { 2 });
            assert_eq!(rows(&writer).await, vec![1, 3]);
            assert_eq!(notices(&mut seen), vec![1, 3]);
        }
    }

    /// A command that ends the batch's transaction (as SQLite does itself on a full disk or an
    /// I/O error) fails the whole batch: nothing after it is written outside a transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_command_that_ends_the_transaction_fails_its_batch() {
        let (writer, mut seen) = writer_with_table();
        let runs = Arc::new(AtomicUsize::new(0));
        let results = one_batch(
            &writer,
            vec![
                Box::new(insert(1, &runs)),
                Box::new(|ctx: &mut WriteCtx<'_>| {
                    ctx.conn.execute_batch("ROLLBACK")?;
                    Ok(())
                }),
                Box::new(insert(3, &runs)),
            ],
        )
        .await;
        assert!(results.iter().all(|r| matches!(r, Err(LedgerError::Storage(_)))), "{results:?}");
        assert_eq!(rows(&writer).await, Vec::<i64>::new());
        assert_eq!(notices(&mut seen), Vec::<i64>::new());
        // The writer goes on.
        assert!(writer.write(insert(4, &runs)).await.is_ok());
        assert_eq!(rows(&writer).await, vec![4]);
    }

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
