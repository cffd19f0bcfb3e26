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

use crossbeam_channel::{unbounded, Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    pending: AtomicUsize,
    stopping: AtomicBool,
}

impl<J: Job> JobQueue<J> {
    pub fn new() -> Self {
        let (tx, rx) = unbounded();
        JobQueue {
            tx,
            rx,
            pending: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    /// Hands `job` to the worker (or, after a stop, runs it right here).
    pub fn submit(&self, job: J) {
        if self.stopping.load(Ordering::Acquire) {
            job.run();
            return;
        }
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.tx.send(Msg::Run(job)) {
            // Unreachable: the queue owns a receiver for its whole life.
            self.pending.fetch_sub(1, Ordering::SeqCst);
            if let Msg::Run(job) = e.into_inner() {
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

    /// The worker loop: runs jobs in FIFO order until the stop marker.
    /// Must be called by exactly one thread.
    pub fn run_worker(&self) {
        while let Ok(msg) = self.rx.recv() {
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
        let _ = self.tx.send(Msg::Stop);
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
