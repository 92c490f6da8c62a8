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
