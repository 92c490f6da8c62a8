//! A transaction of its own on a store's PostgreSQL database that holds row locks (as a slow
//! request would) until the store's own transactions queue behind them, then commits, so that
//! those transactions race for the rows at the same moment (or see what it committed).

use super::Fx;

/// An open transaction on its own connection; `client` runs its statements.
pub struct RowHold {
    pub client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl RowHold {
    /// Begins the transaction on the database of `fx` (a PostgreSQL store).
    pub async fn begin(fx: &Fx) -> RowHold {
        let url = fx.url.clone().expect("a PostgreSQL store has a URL");
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        let driver = tokio::spawn(conn);
        client.batch_execute("BEGIN").await.unwrap();
        RowHold { client, driver }
    }

    /// Locks the row of `cert`'s purse.
    pub async fn purse(fx: &Fx, cert: &offpay_protocol::PurseCertificate) -> RowHold {
        let hold = RowHold::begin(fx).await;
        let id = cert.fields().purse_id.as_bytes().to_vec();
        let locked = hold.client.execute("SELECT 1 FROM purses WHERE id = $1 FOR UPDATE", &[&id]).await.unwrap();
        assert_eq!(locked, 1, "the purse's row");
        hold
    }

    /// Commits once `waiting` transactions of the database wait for a lock.
    pub async fn commit_when_waiting(self, waiting: i64) {
        let mut polls = 0;
        loop {
            let row = self
                .client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap();
            if row.get::<_, i64>(0) >= waiting {
                break;
            }
            polls += 1;
            assert!(polls < 1000, "fewer than {waiting} transactions ever waited for a lock");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.client.batch_execute("COMMIT").await.unwrap();
        drop(self.client);
        let _ = self.driver.await;
    }
}
