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
//! The queue is fair between uploading accounts: each account's uploads wait in their own line,
//! and a verifier takes one upload from each account in turn, so an account that sends uploads
//! as fast as it may (made-up notes cost it nothing) delays another account's upload by at most
//! one of its own per turn, not by everything it queued. One account may hold at most
//! [`SHARE_DIVISOR`]th of the queue's notes; past that its uploads get `busy`, while other
//! accounts' still get in. An account that sent a bad signature has its uploads checked alone
//! for a while ([`ALONE_FOR`]): one bad signature sends its whole batch to one-by-one checks.
//!
//! The queue is bounded: at most [`QUEUE_NOTES_PER_THREAD`] notes per verifier thread wait or are
//! being checked at once (about two seconds of work on a 2-core machine, docs/PERFORMANCE.md,
//! "Settlement"); an upload beyond that is refused at once with [`OfflineError::Busy`] (503
//! `busy` with Retry-After), so a flood of uploads cannot grow the queue, and the memory it holds,
//! without bound. Its notes are kept on the device and sent again at the next sync. Why its own
//! threads and a budget in notes rather than a bounded channel or a rayon pool:
//! docs/decisions/verifier-pool.md.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use offpay_protocol::PaymentNote;
use offpay_protocol::note::verify_device_signatures;
use tokio::sync::oneshot;

use super::OfflineError;
use crate::error::LedgerError;
use crate::ids::UserId;

/// Most notes one verifier checks in one batch when uploads queue up.
pub const NOTES_PER_CHECK: usize = 2_000;

/// Most notes waiting for or under a check at once, per verifier thread.
pub const QUEUE_NOTES_PER_THREAD: usize = 64_000;

/// One uploading account may hold at most this fraction of the queue's notes (8,000 of 128,000
/// on two cores, sixteen uploads of 500 at once; 4,000 on one core), more than any shop's counters
/// send together. Sixteen colluding accounts can still fill the queue between them; their uploads
/// then wait their turns like everyone's.
pub const SHARE_DIVISOR: usize = 16;

struct Job {
    notes: Vec<PaymentNote>,
    reply: oneshot::Sender<(Vec<PaymentNote>, Vec<bool>)>,
    /// Released when the verifier is done with the job (or the job is dropped unchecked).
    place: Place,
}

/// The uploads waiting, each account's in its own line, and the notes held (waiting or under
/// check) in all and by each account.
struct Queue {
    state: Mutex<Lines>,
    ready: Condvar,
    /// Most notes held at once in all.
    limit: usize,
    /// Most notes one account holds at once.
    share: usize,
}

#[derive(Default)]
struct Lines {
    waiting: HashMap<UserId, VecDeque<Job>>,
    /// Accounts with uploads waiting, in the order they are served next.
    turns: VecDeque<UserId>,
    held: HashMap<UserId, usize>,
    total: usize,
    /// Accounts whose uploads are checked alone, never in a batch with other accounts' notes,
    /// until the time given: each sent a note with a bad signature lately. One bad signature
    /// (a point with a torsion part, most of all) sends a whole batch to one-by-one checks,
    /// about 2.5 times the work, so an account sending them would otherwise slow every
    /// account's uploads checked with its own.
    alone_until: HashMap<UserId, std::time::Instant>,
}

/// How long an account that sent a bad signature has its uploads checked alone.
pub const ALONE_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Most accounts remembered as checked alone (past it, those whose time is over are forgotten,
/// then all: memory stays bounded whatever a flood of new accounts does).
const ALONE_MAX: usize = 100_000;

/// `notes` places of `uploader` in the queue, given back when dropped.
struct Place {
    queue: &'static Queue,
    uploader: UserId,
    notes: usize,
}

impl Queue {
    fn new(limit: usize) -> Queue {
        Queue { state: Mutex::default(), ready: Condvar::new(), limit, share: (limit / SHARE_DIVISOR).max(1) }
    }

    fn lines(&self) -> MutexGuard<'_, Lines> {
        // A verifier that panicked left the lines as they were between two statements: still whole.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts `notes` in `uploader`'s line, or gives them back when that would pass the ceiling
    /// or the account's share (an upload larger than either still goes alone, into an empty
    /// queue or line, so nothing is refused forever).
    #[allow(clippy::result_large_err)]
    fn admit(
        &'static self,
        uploader: UserId,
        notes: Vec<PaymentNote>,
        reply: oneshot::Sender<(Vec<PaymentNote>, Vec<bool>)>,
    ) -> Result<(), Vec<PaymentNote>> {
        let n = notes.len();
        let mut lines = self.lines();
        let mine = lines.held.get(&uploader).copied().unwrap_or(0);
        let fits_all = lines.total == 0 || lines.total.saturating_add(n) <= self.limit;
        let fits_mine = mine == 0 || mine.saturating_add(n) <= self.share;
        if !(fits_all && fits_mine) {
            return Err(notes);
        }
        lines.total = lines.total.saturating_add(n);
        lines.held.insert(uploader, mine.saturating_add(n));
        let job = Job { notes, reply, place: Place { queue: self, uploader, notes: n } };
        let line = lines.waiting.entry(uploader).or_default();
        line.push_back(job);
        if line.len() == 1 {
            lines.turns.push_back(uploader);
        }
        drop(lines);
        self.ready.notify_one();
        Ok(())
    }

    /// Waits for uploads, then takes one from each account in turn until `limit` notes.
    fn next_batch(&self, limit: usize) -> Vec<Job> {
        let mut lines = self.lines();
        while lines.turns.is_empty() {
            lines = self.ready.wait(lines).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        lines.take_turns(limit, std::time::Instant::now())
    }

    /// Notes that the accounts of `bad` sent bad signatures: their uploads are checked alone.
    fn check_alone(&self, bad: &[UserId]) {
        if bad.is_empty() {
            return;
        }
        let now = std::time::Instant::now();
        let mut lines = self.lines();
        for uploader in bad {
            lines.check_alone(*uploader, now);
        }
    }
}

impl Lines {
    /// One upload from each account in turn, until `limit` notes are taken or nothing waits.
    /// An account checked alone ([`Lines::alone_until`]) has one upload taken, as a batch of its
    /// own: it ends the batch, or waits at the front for the next one.
    fn take_turns(&mut self, limit: usize, now: std::time::Instant) -> Vec<Job> {
        let mut jobs = Vec::new();
        let mut count = 0;
        while count < limit {
            let Some(uploader) = self.turns.pop_front() else { break };
            let alone = self.alone_until.get(&uploader).is_some_and(|until| now < *until);
            if alone && !jobs.is_empty() {
                self.turns.push_front(uploader);
                break;
            }
            let Some(line) = self.waiting.get_mut(&uploader) else { continue };
            let Some(job) = line.pop_front() else { continue };
            count += job.notes.len();
            jobs.push(job);
            if line.is_empty() {
                self.waiting.remove(&uploader);
            } else {
                self.turns.push_back(uploader);
            }
            if alone {
                break;
            }
        }
        jobs
    }

    /// `uploader` sent a bad signature at `now`: its uploads are checked alone for [`ALONE_FOR`].
    fn check_alone(&mut self, uploader: UserId, now: std::time::Instant) {
        if self.alone_until.len() >= ALONE_MAX {
            self.alone_until.retain(|_, until| now < *until);
            if self.alone_until.len() >= ALONE_MAX {
                self.alone_until.clear();
            }
        }
        self.alone_until.insert(uploader, now + ALONE_FOR);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut lines = self.queue.lines();
        lines.total = lines.total.saturating_sub(self.notes);
        let left = lines.held.get(&self.uploader).copied().unwrap_or(0).saturating_sub(self.notes);
        if left == 0 {
            lines.held.remove(&self.uploader);
        } else {
            lines.held.insert(self.uploader, left);
        }
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The queue, its verifier threads started on first use.
fn queue() -> Result<&'static Queue, OfflineError> {
    static QUEUE: OnceLock<Option<&'static Queue>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let queue: &'static Queue = Box::leak(Box::new(Queue::new(QUEUE_NOTES_PER_THREAD.saturating_mul(threads()))));
        let mut started = 0;
        for i in 0..threads() {
            let spawned = std::thread::Builder::new().name(format!("offpay-verify-{i}")).spawn(move || run(queue));
            match spawned {
                Ok(_) => started += 1,
                Err(error) => tracing::error!(%error, "cannot start a signature verifier thread"),
            }
        }
        (started > 0).then_some(queue)
    });
    queue.ok_or_else(|| LedgerError::Storage("no signature verifier thread could be started".into()).into())
}

/// Checks every note's device signature; returns the notes with outcome `i` for note `i`.
/// `uploader`: whose upload it is, for its place in the queue.
pub async fn check(uploader: UserId, notes: Vec<PaymentNote>) -> Result<(Vec<PaymentNote>, Vec<bool>), OfflineError> {
    let (reply, answer) = oneshot::channel();
    queue()?.admit(uploader, notes, reply).map_err(|_| OfflineError::Busy)?;
    answer.await.map_err(|_| LedgerError::Storage("a signature verifier stopped before answering".into()).into())
}

/// A verifier: waits for uploads, takes one from each account in turn (up to the limit), checks
/// all of it in one batch and answers each upload.
fn run(queue: &'static Queue) {
    loop {
        let mut jobs = queue.next_batch(NOTES_PER_CHECK);
        let lengths: Vec<usize> = jobs.iter().map(|j| j.notes.len()).collect();
        let all: Vec<PaymentNote> = jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.notes)).collect();
        // A panic in the check must not end the thread (with every verifier gone, uploads would
        // wait for good): the uploads of the batch are answered with an error, and the thread
        // goes on.
        let seed: [u8; 32] = rand::random();
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verify_device_signatures(&all, seed)));
        let Ok(checked) = checked else {
            tracing::error!(notes = all.len(), "the signature check panicked; its uploads are answered with an error");
            continue;
        };
        let mut ok = checked.into_iter();
        let mut all = all.into_iter();
        let answers: Vec<(Job, Vec<PaymentNote>, Vec<bool>)> = jobs
            .into_iter()
            .zip(lengths)
            .map(|(job, n)| (job, all.by_ref().take(n).collect(), ok.by_ref().take(n).collect()))
            .collect();
        // Marked before anyone is answered, so that the uploader's next upload is checked alone.
        let bad: Vec<UserId> = answers
            .iter()
            .filter(|(_, _, outcomes)| outcomes.contains(&false))
            .map(|(job, _, _)| job.place.uploader)
            .collect();
        queue.check_alone(&bad);
        for (job, notes, outcomes) in answers {
            // The uploader may have gone away; nothing to do then.
            let _ = job.reply.send((notes, outcomes));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use offpay_protocol::PaymentNote;
    use offpay_protocol::testkit::Fixture;
    use tokio::sync::oneshot;

    use super::{Queue, check};
    use crate::ids::UserId;

    // Jobs taken out are dropped only after the lines' lock is given back (a `let` of their
    // own): a job's place takes the lock when it is dropped, as in the verifiers.
    fn queue(limit: usize) -> &'static Queue {
        Box::leak(Box::new(Queue::new(limit)))
    }

    fn notes(n: usize) -> Vec<PaymentNote> {
        let fx = Fixture::new();
        fx.chain(&vec![100; n]).1
    }

    fn admit(q: &'static Queue, uploader: i64, n: usize) -> bool {
        let (reply, _answer) = oneshot::channel();
        q.admit(UserId(uploader), notes(n), reply).is_ok()
    }

    fn total(q: &Queue) -> usize {
        q.lines().total
    }

    #[test]
    fn the_queue_refuses_past_its_ceiling_and_frees_places_when_done() {
        let q = queue(32);
        // Each account's share is 2 (32 / 16): eight accounts fill 16, more fill the ceiling.
        for account in 0..16 {
            assert!(admit(q, account, 2), "account {account}");
        }
        assert_eq!(total(q), 32);
        assert!(!admit(q, 99, 1), "full: one more note is refused");
        let taken = q.lines().take_turns(3, std::time::Instant::now());
        assert_eq!(taken.len(), 2);
        drop(taken);
        assert_eq!(total(q), 28);
        assert!(admit(q, 99, 2), "places freed");
        while !q.lines().turns.is_empty() {
            let taken = q.lines().take_turns(100, std::time::Instant::now());
            drop(taken);
        }
        assert_eq!(total(q), 0);
        assert!(q.lines().held.is_empty());
    }

    /// One account that sends as much as it may holds its share, no more: its next upload is
    /// refused while another account's still gets in.
    #[test]
    fn one_account_holds_at_most_its_share() {
        let q = queue(160);
        assert!(admit(q, 1, 6));
        assert!(admit(q, 1, 4), "exactly the share of 10");
        assert!(!admit(q, 1, 1), "past its share");
        assert!(admit(q, 2, 10), "another account still gets in");
        let taken = q.lines().take_turns(100, std::time::Instant::now());
        drop(taken);
        assert!(admit(q, 1, 10), "its places came back");
    }

    /// A verifier takes one upload from each account in turn: an account with many uploads
    /// waiting does not make a later account's single upload wait behind all of them.
    #[test]
    fn accounts_are_served_in_turn() {
        let q = queue(16_000);
        for _ in 0..5 {
            assert!(admit(q, 1, 2));
        }
        assert!(admit(q, 2, 1));
        assert!(admit(q, 3, 1));
        let first = q.lines().take_turns(4, std::time::Instant::now());
        let sizes: Vec<usize> = first.iter().map(|j| j.notes.len()).collect();
        assert_eq!(sizes, [2, 1, 1], "account 1, then 2 and 3, before account 1's second upload");
        let rest = q.lines().take_turns(100, std::time::Instant::now());
        assert_eq!(rest.len(), 4);
        drop((first, rest));
        assert_eq!(total(q), 0);
    }

    /// An account that sent a bad signature lately has each upload checked as a batch of its
    /// own, so its notes cannot send other accounts' notes to one-by-one checks; others are still
    /// checked together, in turn.
    #[test]
    fn an_account_that_sent_a_bad_signature_is_checked_alone() {
        let q = queue(16_000);
        let now = std::time::Instant::now();
        q.lines().check_alone(UserId(1), now);
        for account in [2, 1, 3, 1] {
            assert!(admit(q, account, 1));
        }
        let sizes = |jobs: &[super::Job]| jobs.iter().map(|j| j.place.uploader.0).collect::<Vec<_>>();
        for expected in [vec![2], vec![1], vec![3], vec![1]] {
            let taken = q.lines().take_turns(100, now);
            assert_eq!(sizes(&taken), expected);
            drop(taken);
        }
        // Once its time is over it is checked with the others again.
        assert!(admit(q, 1, 1) && admit(q, 2, 1));
        let later = q.lines().take_turns(100, now + super::ALONE_FOR);
        assert_eq!(sizes(&later), [1, 2]);
    }

    /// The verifiers mark the uploader of a bad signature to be checked alone.
    #[tokio::test]
    async fn a_bad_signature_has_its_uploader_checked_alone() {
        let fx = Fixture::new();
        let (_, mut notes) = fx.chain(&[100, 100]);
        let mut bytes = notes[1].encode();
        let in_r = bytes.len() - 50;
        bytes[in_r] ^= 1;
        notes[1] = PaymentNote::decode(&bytes).expect("still a well-formed note");
        let (_, ok) = check(UserId(4_242), notes).await.expect("checked");
        assert_eq!(ok, [true, false]);
        let (_, ok) = check(UserId(4_243), fx.chain(&[100]).1).await.expect("checked");
        assert_eq!(ok, [true]);
        let lines = super::queue().expect("running").lines();
        assert!(lines.alone_until.contains_key(&UserId(4_242)));
        assert!(!lines.alone_until.contains_key(&UserId(4_243)));
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
            let (back, ok) = check(UserId(7), notes.clone()).await.expect("checked");
            assert_eq!(back, notes);
            let expected: Vec<bool> = (0..size).map(|i| i != bad).collect();
            assert_eq!(ok, expected, "{size} notes");
        }
    }

    #[test]
    fn an_upload_larger_than_the_ceiling_still_goes_alone() {
        let q = queue(100);
        assert!(admit(q, 1, 500), "an empty queue takes any upload");
        assert!(!admit(q, 2, 1));
        let taken = q.lines().take_turns(1_000, std::time::Instant::now());
        drop(taken);
        assert!(admit(q, 2, 100));
    }
}
