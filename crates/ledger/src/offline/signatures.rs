//! The device-signature check of an upload of notes, done before any database work so that
//! no lock or writer waits on it: one batch verification per upload
//! (`offpay_protocol::note::verify_device_signatures`, which accepts exactly what
//! `verify_strict` accepts), on tokio's blocking pool, at most one upload per core at a time, so
//! that many concurrent uploads queue here instead of crowding out the database writer.
//! (Measured with `settle_bench`: one check per core settles ~10% faster than leaving a core to
//! the SQLite writer, which then waits for signatures.)

use std::sync::OnceLock;

use offpay_protocol::PaymentNote;
use offpay_protocol::note::verify_device_signatures;
use tokio::sync::Semaphore;

use super::OfflineError;
use crate::error::LedgerError;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new(cores)
    })
}

/// Checks every note's device signature; returns the notes with outcome `i` for note `i`.
pub async fn check(notes: Vec<PaymentNote>) -> Result<(Vec<PaymentNote>, Vec<bool>), OfflineError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| LedgerError::Storage(format!("signature check: {e}")))?;
    let seed: [u8; 32] = rand::random();
    tokio::task::spawn_blocking(move || {
        let ok = verify_device_signatures(&notes, seed);
        (notes, ok)
    })
    .await
    .map_err(|e| LedgerError::Storage(format!("signature check task failed: {e}")).into())
}
