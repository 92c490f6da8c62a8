//! The revocation list (`GET /v1/revocations`) as last read, shared by every request for
//! [`FRESH_FOR`]: the route needs no authentication, so without it each request would read the
//! list from the database, and a flood of them would take the readers every signed-in request
//! needs. One read at a time refreshes it (the others wait for that read, then share it). An
//! upload or a close on this server that may have revoked something drops it at once
//! ([`RevocationCache::forget`], which never waits); a revocation by another server on the same
//! PostgreSQL shows here within [`FRESH_FOR`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use offpay_api::Revocations;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a read list is served before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// A revoked purse stays listed this long past its `valid_until` (by the server's clock), for
/// payee devices whose clocks run behind.
pub const CLOCK_MARGIN_SECS: u64 = 86_400;

#[derive(Default)]
pub struct RevocationCache {
    /// The list, when it was read, and the generation it was read in.
    last: Mutex<Option<(Instant, u64, Arc<Revocations>)>>,
    /// Bumped by [`RevocationCache::forget`]: a list read in an older generation is not served.
    generation: AtomicU64,
}

impl RevocationCache {
    /// The list, read with `read` when the one kept is older than [`FRESH_FOR`] or was forgotten.
    pub async fn get<E, F>(&self, read: impl FnOnce() -> F) -> Result<Arc<Revocations>, E>
    where
        F: Future<Output = Result<Revocations, E>>,
    {
        let mut last = self.last.lock().await;
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((at, read_in, list)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
            && *read_in == generation
        {
            return Ok(Arc::clone(list));
        }
        let list = Arc::new(read().await?);
        *last = Some((Instant::now(), generation, Arc::clone(&list)));
        Ok(list)
    }

    /// The kept list is no longer served (a purse or device was just revoked): the next request
    /// reads it again. Does not wait for a read under way (that one is not served again either).
    pub fn forget(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
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
        cache.forget();
        assert_eq!(*cache.get(|| read(Arc::clone(&reads))).await.unwrap(), list(3));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }
}
