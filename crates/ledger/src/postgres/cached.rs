//! Statements of a transaction prepared once per connection (deadpool's statement cache), for
//! the offline commands: a statement sent as text is parsed and planned again and costs a round
//! trip more on every call (`Transaction::query(&str, ..)` prepares an unnamed statement first).
//! Measured on single-note uploads in docs/PERFORMANCE.md, "Single-note uploads on PostgreSQL".

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Sent first in an upload's transaction (`settle_notes`): its statements run one plan each,
/// made once per connection, that reaches rows by index. Each of those statements is checked by
/// `offline::tests::an_upload_s_statements_keep_one_plan_by_index_from_an_empty_database`.
///
/// - `force_generic_plan`: PostgreSQL planned 7 of an upload's statements again on every call
///   (about a third of its CPU per single-note upload), because a statement's generic plan
///   guesses ten elements for every array parameter and so looks dearer than a plan for the
///   one or two it gets.
/// - `enable_seqscan = off`: a generic plan is made once, at a connection's first call, and kept
///   until an `ANALYZE` of its tables; made while a table is nearly empty (a new database), it
///   would scan the whole table for as long as it is kept, however large the table grows. Every
///   statement of these transactions has an index for its look-ups.
///
/// Not sent by the background jobs (expiry, release of held notes): the release candidates'
/// generic plan, made on an empty database, walks the notes by purse, which a plan made for each
/// call avoids (the expiry's read goes through its partial index in any plan). A statement they
/// share with uploads (account and purse locks, the writes) has one generic plan per connection,
/// which the jobs use too whenever PostgreSQL finds it no dearer than planning the call.
///
/// Measured in docs/PERFORMANCE.md, "Offline statements planned once".
pub const INDEX_PLANS: &str = "SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off";

type Params<'a> = [&'a (dyn ToSql + Sync)];

pub async fn query(tx: &Transaction<'_>, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.query(&statement, params).await
}

pub async fn query_one(tx: &Transaction<'_>, sql: &str, params: &Params<'_>) -> Result<Row, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.query_one(&statement, params).await
}

pub async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.query_opt(&statement, params).await
}

pub async fn execute(tx: &Transaction<'_>, sql: &str, params: &Params<'_>) -> Result<u64, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.execute(&statement, params).await
}

/// A statement of a pipeline: its future sends the request when first polled.
pub type Pending<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// `statement` (prepared, from `Transaction::prepare_cached`) with `params`, for [`in_order`].
pub fn pending<'a>(
    tx: &'a Transaction<'_>,
    statement: &'a tokio_postgres::Statement,
    params: &'a Params<'a>,
) -> Pending<'a> {
    Box::pin(tx.query(statement, params))
}

/// Runs the statements as one pipeline: all are sent before the first answer is awaited, and
/// the database executes them in this order (tokio-postgres sends a request when its future is
/// first polled and executes requests in that order; here each is first polled in turn). Their
/// rows in the same order; the first error otherwise (a failed statement aborts the transaction,
/// and the later ones fail with it).
pub async fn in_order(mut pending: Vec<Pending<'_>>) -> Result<Vec<Vec<Row>>, tokio_postgres::Error> {
    let mut done: Vec<Option<Result<Vec<Row>, tokio_postgres::Error>>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (future, result) in pending.iter_mut().zip(done.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => *result = Some(r),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    done.into_iter().flatten().collect()
}
