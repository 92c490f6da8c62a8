//! Statements of a transaction prepared once per connection (deadpool's statement cache), for
//! the offline commands: a statement sent as text is parsed and planned again and costs a round
//! trip more on every call (`Transaction::query(&str, ..)` prepares an unnamed statement first).
//! Measured on single-note uploads in docs/PERFORMANCE.md, "Single-note uploads on PostgreSQL".

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

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
