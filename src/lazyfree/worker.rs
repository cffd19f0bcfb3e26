//! The lazyfree job queue: what bio.c's `BIO_LAZY_FREE` worker is, on a
//! `crossbeam-channel`.
//!
//! * FIFO: one consumer thread takes jobs in submission order.
//! * [`JobQueue::pending_jobs`] is `bioPendingJobsOfType(BIO_LAZY_FREE)`: it
//!   counts a job from submission until the worker has finished it, so
//!   `bioDrainWorker()` (a wait for zero) means "every job submitted so far
//!   has run".
//! * Jobs own what they free: once submitted, the submitter never touches it.
//! * Jobs submitted before the worker starts wait in the channel.
//! * An idle worker sleeps on a `Condvar`, and a submit wakes it only when it
//!   sleeps; a submit to a busy worker is a channel send and one uncontended
//!   lock.
//! * [`JobQueue::request_stop`] queues a stop marker behind the
//!   pending jobs: the worker runs them all, then returns from
//!   [`JobQueue::run_worker`]. Jobs submitted after that run synchronously
//!   on the submitting thread, so nothing is lost and a later drain returns.
//!   Valkey never calls it: like bio's thread, the worker is left running
//!   at exit (joining it in finishShutdown deadlocked on the module GIL).
//!   Only the tests and the fuzz model exercise it.
//!
//! Thread creation, naming, signal mask, CPU affinity and the crash-time
//! kill are the embedding's business (`ffi::lazyfree` does them as bio.c
//! does); this type is plain Rust and tested with std threads.

use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A unit of background work. `run` consumes the job and everything it owns.
pub trait Job: Send + 'static {
    fn run(self);
}

enum Msg<J> {
    Run(J),
    Stop,
}

pub struct JobQueue<J: Job> {
    tx: Sender<Msg<J>>,
    rx: Receiver<Msg<J>>,
    /// True while the worker sleeps on `wake` (set and cleared under the lock).
    /// The worker sleeps here rather than in the channel's blocking `recv`: on
    /// a writable replica's FLUSHALL ASYNC, waking it this way cost the main
    /// thread 2-6 µs less CPU than the channel's own wake-up (bench/README.md).
    idle: Mutex<bool>,
    wake: Condvar,
    pending: AtomicUsize,
    stopping: AtomicBool,
}

impl<J: Job> JobQueue<J> {
    pub fn new() -> Self {
        let (tx, rx) = unbounded();
        JobQueue {
            tx,
            rx,
            idle: Mutex::new(false),
            wake: Condvar::new(),
            pending: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    fn idle(&self) -> MutexGuard<'_, bool> {
        // Nothing panics while holding this lock, and a bool is always valid.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, msg: Msg<J>) -> Result<(), Msg<J>> {
        self.tx.send(msg).map_err(|e| e.into_inner())?;
        // The message is in the channel before the flag is read under the
        // lock, and the worker sets the flag under the lock before it looks
        // at the channel a last time: one of the two sees the other.
        let mut idle = self.idle();
        if *idle {
            *idle = false;
            drop(idle);
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Hands `job` to the worker (or, after a stop, runs it right here).
    pub fn submit(&self, job: J) {
        if self.stopping.load(Ordering::Acquire) {
            job.run();
            return;
        }
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let Err(msg) = self.send(Msg::Run(job)) {
            // Unreachable: the queue owns a receiver for its whole life.
            self.pending.fetch_sub(1, Ordering::SeqCst);
            if let Msg::Run(job) = msg {
                job.run();
            }
        }
    }

    /// Jobs submitted and not yet finished.
    #[inline]
    pub fn pending_jobs(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// `bioDrainWorker()`: waits (polling every 100 µs, as bio.c) until
    /// every job submitted so far has finished.
    pub fn drain(&self) {
        while self.pending_jobs() > 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// The next message, sleeping on `wake` while the channel is empty.
    fn next(&self) -> Option<Msg<J>> {
        loop {
            match self.rx.try_recv() {
                Ok(msg) => return Some(msg),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            let mut idle = self.idle();
            *idle = true;
            // A message sent before the flag was set is seen here; one sent
            // after it finds the flag and wakes us.
            if !self.rx.is_empty() {
                *idle = false;
                continue;
            }
            while *idle {
                idle = self.wake.wait(idle).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// The worker loop: runs jobs in FIFO order until the stop marker.
    /// Must be called by exactly one thread.
    pub fn run_worker(&self) {
        while let Some(msg) = self.next() {
            match msg {
                Msg::Run(job) => {
                    job.run();
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                }
                Msg::Stop => return,
            }
        }
    }

    /// Asks the worker to return once the jobs queued so far have run.
    /// Returns false if a stop was already requested.
    pub fn request_stop(&self) -> bool {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return false;
        }
        // Cannot fail: we own a receiver.
        let _ = self.send(Msg::Stop);
        true
    }

    pub fn stop_requested(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

impl<J: Job> Default for JobQueue<J> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    type BoxJob = Box<dyn FnOnce() + Send + 'static>;
    impl Job for BoxJob {
        fn run(self) {
            self()
        }
    }

    #[test]
    fn fifo_pending_drain_stop() {
        let q: Arc<JobQueue<BoxJob>> = Arc::new(JobQueue::new());
        let log = Arc::new(Mutex::new(Vec::new()));
        // Submitted before the worker exists: they wait.
        for i in 0..100 {
            let log = log.clone();
            q.submit(Box::new(move || log.lock().unwrap().push(i)));
        }
        assert_eq!(q.pending_jobs(), 100);
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || q.run_worker())
        };
        for i in 100..1000 {
            let log = log.clone();
            q.submit(Box::new(move || log.lock().unwrap().push(i)));
        }
        q.drain();
        assert_eq!(q.pending_jobs(), 0);
        assert_eq!(*log.lock().unwrap(), (0..1000).collect::<Vec<_>>());

        // Stop runs what is queued first.
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        q.submit(Box::new(move || gate_rx.recv().unwrap()));
        for i in 1000..1010 {
            let log = log.clone();
            q.submit(Box::new(move || log.lock().unwrap().push(i)));
        }
        assert!(q.request_stop());
        assert!(!q.request_stop());
        gate_tx.send(()).unwrap();
        worker.join().unwrap();
        assert_eq!(q.pending_jobs(), 0);
        assert_eq!(log.lock().unwrap().len(), 1010);

        // After the stop, jobs run inline and drain returns.
        let log2 = log.clone();
        q.submit(Box::new(move || log2.lock().unwrap().push(7)));
        assert_eq!(log.lock().unwrap().last(), Some(&7));
        q.drain();
    }

    /// Every submit reaches a worker that may be going to sleep at that moment
    /// (a lost wake-up would leave a job pending forever): single jobs from two
    /// threads, each waited out, so the worker goes idle between most of them.
    #[test]
    fn a_sleeping_worker_wakes_for_every_job() {
        let rounds = if cfg!(miri) { 20 } else { 2000 };
        let q: Arc<JobQueue<BoxJob>> = Arc::new(JobQueue::new());
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || q.run_worker())
        };
        let ran = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let (q, ran) = (q.clone(), ran.clone());
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        let ran = ran.clone();
                        q.submit(Box::new(move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                        }));
                        let deadline = std::time::Instant::now() + Duration::from_secs(20);
                        while q.pending_jobs() > 0 {
                            assert!(std::time::Instant::now() < deadline, "a job was never run");
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for s in submitters {
            s.join().unwrap();
        }
        assert_eq!(ran.load(Ordering::SeqCst), 2 * rounds);
        assert!(q.request_stop());
        worker.join().unwrap();
    }

    #[test]
    fn pending_counts_a_running_job() {
        let q: Arc<JobQueue<BoxJob>> = Arc::new(JobQueue::new());
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || q.run_worker())
        };
        let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(1);
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        q.submit(Box::new(move || {
            started_tx.send(()).unwrap();
            gate_rx.recv().unwrap()
        }));
        started_rx.recv().unwrap();
        // Running, not finished: still pending (eviction waits on this).
        assert_eq!(q.pending_jobs(), 1);
        gate_tx.send(()).unwrap();
        q.drain();
        q.request_stop();
        worker.join().unwrap();
    }
}
