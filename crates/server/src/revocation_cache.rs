//! The revocation list (`GET /v1/revocations`) as last read, shared by every request for
//! [`FRESH_FOR`]: the route needs no authentication, so without it each request would read the
//! list from the database, and a flood of them would take the readers every signed-in request
//! needs. One read at a time refreshes it (the others wait for that read, then share it). A fraud
//! found by an upload or a close on this server drops it at once ([`RevocationCache::forget`]);
//! one found by another server on the same PostgreSQL shows here within [`FRESH_FOR`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use offpay_api::Revocations;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a read list is served before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct RevocationCache {
    last: Mutex<Option<(Instant, Arc<Revocations>)>>,
}

impl RevocationCache {
    /// The list, read with `read` when the one kept is older than [`FRESH_FOR`] or was forgotten.
    pub async fn get<E, F>(&self, read: impl FnOnce() -> F) -> Result<Arc<Revocations>, E>
    where
        F: Future<Output = Result<Revocations, E>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, list)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(Arc::clone(list));
        }
        let list = Arc::new(read().await?);
        *last = Some((Instant::now(), Arc::clone(&list)));
        Ok(list)
    }

    /// Drops the kept list: the next request reads it again (a purse or device was just revoked).
    pub async fn forget(&self) {
        *self.last.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use offpay_api::Revocations;

    use super::{FRESH_FOR, RevocationCache};

    fn list(n: usize) -> Revocations {
        Revocations { purses: vec![format!("{n:032x}")], devices: vec![] }
    }

    /// Many requests at once and within the freshness share one read; later ones read again; a
    /// forgotten list is read again at once.
    #[tokio::test(start_paused = true)]
    async fn requests_share_one_read_while_it_is_fresh() {
        let cache = Arc::new(RevocationCache::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |reads: Arc<AtomicUsize>| async move {
            let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok::<_, ()>(list(n))
        };
        let waiting: Vec<_> = (0..20)
            .map(|_| {
                let (cache, reads) = (Arc::clone(&cache), Arc::clone(&reads));
                tokio::spawn(async move { cache.get(|| read(reads)).await.unwrap() })
            })
            .collect();
        for answer in waiting {
            assert_eq!(*answer.await.unwrap(), list(1));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        tokio::time::advance(FRESH_FOR - std::time::Duration::from_millis(100)).await;
        assert_eq!(*cache.get(|| read(Arc::clone(&reads))).await.unwrap(), list(1));
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
        assert_eq!(*cache.get(|| read(Arc::clone(&reads))).await.unwrap(), list(2));
        cache.forget().await;
        assert_eq!(*cache.get(|| read(Arc::clone(&reads))).await.unwrap(), list(3));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }
}
