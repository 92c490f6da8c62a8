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

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use offpay_protocol::PaymentNote;
use offpay_protocol::note::verify_device_signatures;
use tokio::sync::oneshot;

use super::OfflineError;
use crate::error::LedgerError;

/// Most notes one verifier checks in one batch when uploads queue up.
pub const NOTES_PER_CHECK: usize = 2_000;

struct Job {
    notes: Vec<PaymentNote>,
    reply: oneshot::Sender<(Vec<PaymentNote>, Vec<bool>)>,
}

fn queue() -> Result<&'static Sender<Job>, OfflineError> {
    static QUEUE: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (send, receive) = channel::<Job>();
            let receive = Arc::new(Mutex::new(receive));
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut started = 0;
            for i in 0..cores {
                let receive = Arc::clone(&receive);
                let spawned = std::thread::Builder::new()
                    .name(format!("offpay-verify-{i}"))
                    .spawn(move || run(&receive));
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
    let (reply, answer) = oneshot::channel();
    queue()?
        .send(Job { notes, reply })
        .map_err(|_| LedgerError::Storage("the signature verifiers have stopped".into()))?;
    answer
        .await
        .map_err(|_| LedgerError::Storage("a signature verifier stopped before answering".into()).into())
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
