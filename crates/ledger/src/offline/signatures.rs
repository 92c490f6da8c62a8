//! The device-signature check of an upload of notes, done before any database work so that no
//! lock or writer waits on it, by batch verification
//! (`offpay_protocol::note::verify_device_signatures`, which accepts exactly what
//! `verify_strict` accepts).
//!
//! One verifier thread per core takes uploads from a shared queue. A verifier that finds several
//! uploads waiting checks them together, up to [`NOTES_PER_CHECK`] notes: a batch check has a
//! fixed cost (its torsion sketches, about 30 verifications' worth), so under load bigger
//! batches are cheaper per note, while a lone upload is checked at once. Threads, not tokio's
//! blocking pool, so that many concurrent uploads queue here instead of crowding the cores.
//!
//! The queue is bounded: at most [`QUEUE_NOTES_PER_THREAD`] notes per verifier thread wait or are
//! being checked at once (about two seconds of work on a 2-core machine, docs/PERFORMANCE.md,
//! "Settlement"); an upload beyond that is refused at once with [`OfflineError::Busy`] (503
//! `busy` with Retry-After), so a flood of uploads cannot grow the queue, and the memory it holds,
//! without bound. Its notes are kept on the device and sent again at the next sync. Why its own
//! threads and a budget in notes rather than a bounded channel or a rayon pool:
//! docs/decisions/verifier-pool.md.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use offpay_protocol::PaymentNote;
use offpay_protocol::note::verify_device_signatures;
use tokio::sync::oneshot;

use super::OfflineError;
use crate::error::LedgerError;

/// Most notes one verifier checks in one batch when uploads queue up.
pub const NOTES_PER_CHECK: usize = 2_000;

/// Most notes waiting for or under a check at once, per verifier thread.
pub const QUEUE_NOTES_PER_THREAD: usize = 64_000;

struct Job {
    notes: Vec<PaymentNote>,
    reply: oneshot::Sender<(Vec<PaymentNote>, Vec<bool>)>,
    /// Released when the verifier is done with the job (or the job is dropped unchecked).
    _place: Place,
}

/// A count of notes in the queue with a ceiling.
struct QueueBudget {
    pending: AtomicUsize,
    limit: usize,
}

/// `notes` places in the queue, given back when dropped.
struct Place {
    budget: &'static QueueBudget,
    notes: usize,
}

impl QueueBudget {
    /// Takes `notes` places, or `None` when that would pass the ceiling (a single upload larger
    /// than the ceiling is still let in when the queue is empty, so nothing is refused forever).
    fn take(&'static self, notes: usize) -> Option<Place> {
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                let after = pending.checked_add(notes)?;
                (after <= self.limit || pending == 0).then_some(after)
            })
            .ok()
            .map(|_| Place { budget: self, notes })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.budget.pending.fetch_sub(self.notes, Ordering::AcqRel);
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn budget() -> &'static QueueBudget {
    static BUDGET: OnceLock<QueueBudget> = OnceLock::new();
    BUDGET.get_or_init(|| QueueBudget {
        pending: AtomicUsize::new(0),
        limit: QUEUE_NOTES_PER_THREAD.saturating_mul(threads()),
    })
}

fn queue() -> Result<&'static Sender<Job>, OfflineError> {
    static QUEUE: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (send, receive) = channel::<Job>();
            let receive = Arc::new(Mutex::new(receive));
            let mut started = 0;
            for i in 0..threads() {
                let receive = Arc::clone(&receive);
                let spawned =
                    std::thread::Builder::new().name(format!("offpay-verify-{i}")).spawn(move || run(&receive));
                match spawned {
                    Ok(_) => started += 1,
                    Err(error) => tracing::error!(%error, "cannot start a signature verifier thread"),
                }
            }
            (started > 0).then_some(send)
        })
        .as_ref()
        .ok_or_else(|| LedgerError::Storage("no signature verifier thread could be started".into()).into())
}

/// Checks every note's device signature; returns the notes with outcome `i` for note `i`.
pub async fn check(notes: Vec<PaymentNote>) -> Result<(Vec<PaymentNote>, Vec<bool>), OfflineError> {
    let place = budget().take(notes.len()).ok_or(OfflineError::Busy)?;
    let (reply, answer) = oneshot::channel();
    queue()?
        .send(Job { notes, reply, _place: place })
        .map_err(|_| LedgerError::Storage("the signature verifiers have stopped".into()))?;
    answer.await.map_err(|_| LedgerError::Storage("a signature verifier stopped before answering".into()).into())
}

/// A verifier: waits for an upload, takes whatever else is waiting (up to the limit), checks all
/// of it in one batch and answers each upload.
fn run(receive: &Mutex<Receiver<Job>>) {
    loop {
        let mut jobs = Vec::new();
        {
            let Ok(receive) = receive.lock() else { return };
            let Ok(first) = receive.recv() else { return };
            let mut count = first.notes.len();
            jobs.push(first);
            while count < NOTES_PER_CHECK {
                let Ok(next) = receive.try_recv() else { break };
                count += next.notes.len();
                jobs.push(next);
            }
        }
        let lengths: Vec<usize> = jobs.iter().map(|j| j.notes.len()).collect();
        let all: Vec<PaymentNote> = jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.notes)).collect();
        let mut ok = verify_device_signatures(&all, rand::random()).into_iter();
        let mut all = all.into_iter();
        for (job, n) in jobs.into_iter().zip(lengths) {
            let notes: Vec<PaymentNote> = all.by_ref().take(n).collect();
            let outcomes: Vec<bool> = ok.by_ref().take(n).collect();
            // The uploader may have gone away; nothing to do then.
            let _ = job.reply.send((notes, outcomes));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use std::sync::atomic::AtomicUsize;

    use offpay_protocol::PaymentNote;
    use offpay_protocol::testkit::Fixture;

    use super::{QueueBudget, check};

    fn budget(limit: usize) -> &'static QueueBudget {
        Box::leak(Box::new(QueueBudget { pending: AtomicUsize::new(0), limit }))
    }

    #[test]
    fn the_queue_refuses_past_its_ceiling_and_frees_places_when_done() {
        let b = budget(1_000);
        let first = b.take(600).expect("room for 600");
        let second = b.take(400).expect("room for 400 more: exactly the ceiling");
        assert!(b.take(1).is_none(), "full: one more note is refused");
        drop(first);
        let third = b.take(500).expect("600 places freed");
        assert!(b.take(101).is_none());
        drop((second, third));
        assert_eq!(b.pending.load(std::sync::atomic::Ordering::Acquire), 0);
    }

    /// The verifiers answer `verify_strict` note by note, for uploads checked one signature at a
    /// time and for one large enough to be checked as a batch, each with one broken signature.
    #[tokio::test]
    async fn the_verifiers_answer_verify_strict_note_by_note() {
        let fx = Fixture::new();
        for size in [1, 2, 5, 100] {
            let (_, mut notes) = fx.chain(&vec![100; size]);
            let bad = size / 2;
            // A byte of the signature's R (the last 64 bytes of a note are its signature).
            let mut bytes = notes[bad].encode();
            let in_r = bytes.len() - 50;
            bytes[in_r] ^= 1;
            notes[bad] = PaymentNote::decode(&bytes).expect("still a well-formed note");
            assert!(notes[bad].verify_device_signature().is_err());
            let (back, ok) = check(notes.clone()).await.expect("checked");
            assert_eq!(back, notes);
            let expected: Vec<bool> = (0..size).map(|i| i != bad).collect();
            assert_eq!(ok, expected, "{size} notes");
        }
    }

    #[test]
    fn an_upload_larger_than_the_ceiling_still_goes_alone() {
        let b = budget(100);
        let big = b.take(500).expect("an empty queue takes any upload");
        assert!(b.take(1).is_none());
        drop(big);
        assert!(b.take(100).is_some());
    }
}
