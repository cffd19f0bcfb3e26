//! The lazyfree job queue (`valkey_rs_core::lazyfree::worker::JobQueue`, what
//! bio's `BIO_LAZY_FREE` worker is) and the `lazyfree_pending_objects` /
//! `lazyfreed_objects` counters, against a model.
//!
//! An input is a program of submits (each job "frees" n objects: it owns a
//! buffer it drops and reports n to a private `Counters`, as the job
//! functions of `ffi::lazyfree` report to the global one), worker start,
//! drains, counter reads, `CONFIG RESETSTAT`, stop requests and submits after
//! the stop. Checked:
//!
//! * FIFO: jobs run in submission order, each exactly once, none lost,
//!   whether queued before the worker starts, while it runs, or after a stop
//!   (then inline, at once);
//! * `pending_jobs()` counts a job from submit until it finished, so after
//!   `drain()` it is 0 and every job submitted before ran;
//! * `pending` counter = objects scheduled and not freed; `freed` = objects
//!   freed since the last reset; reset keeps pending;
//! * `request_stop()` is true once; the worker thread returns after running
//!   what was queued, and is joined.
//!
//! Everything is bounded: at most [`MAX_OPS`] operations, small jobs, and
//! the worker is always stopped and joined before `run` returns.

use crate::Bytes;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use valkey_rs_core::lazyfree::worker::{Job, JobQueue};
use valkey_rs_core::lazyfree::Counters;

pub const MAX_OPS: usize = 400;

struct Shared {
    log: Mutex<Vec<u64>>,
    counters: Counters,
}

struct TestJob {
    id: u64,
    objects: usize,
    /// What the job owns and frees on the worker.
    payload: Vec<u8>,
    /// Spin this many iterations first, to let the main thread race ahead.
    spin: u32,
    shared: Arc<Shared>,
}

impl Job for TestJob {
    fn run(self) {
        let mut x = 0u64;
        for i in 0..self.spin {
            x = x.wrapping_add(u64::from(i)).rotate_left(3);
        }
        std::hint::black_box(x);
        drop(std::hint::black_box(self.payload));
        self.shared.log.lock().unwrap().push(self.id);
        self.shared.counters.completed(self.objects);
    }
}

struct Model {
    submitted: u64,
    scheduled_objects: usize,
}

pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let q: Arc<JobQueue<TestJob>> = Arc::new(JobQueue::new());
    let shared = Arc::new(Shared {
        log: Mutex::new(Vec::new()),
        counters: Counters::new(),
    });
    let mut worker: Option<JoinHandle<()>> = None;
    let mut stopped = false;
    let mut m = Model {
        submitted: 0,
        scheduled_objects: 0,
    };
    // Objects of every submitted job, by id (to recompute freed after a reset).
    let mut objects_of: Vec<usize> = Vec::new();
    let mut reset_at: usize = 0; // log length at the last reset

    let start = |q: &Arc<JobQueue<TestJob>>| {
        let q = q.clone();
        std::thread::Builder::new()
            .name("lazyfree-fuzz".into())
            .spawn(move || q.run_worker())
            .expect("spawn worker")
    };

    let mut ops = 0;
    while !b.done() && ops < MAX_OPS {
        ops += 1;
        match b.u8() % 8 {
            0..=2 => {
                let burst = 1 + b.below(8);
                for _ in 0..burst {
                    let objects = usize::from(b.u8());
                    let job = TestJob {
                        id: m.submitted,
                        objects,
                        payload: vec![0u8; usize::from(b.u8()) * 16],
                        spin: u32::from(b.u8() % 4) * 2000,
                        shared: shared.clone(),
                    };
                    // As ffi::lazyfree: count the objects, then hand the job over.
                    shared.counters.scheduled(objects);
                    m.scheduled_objects += objects;
                    objects_of.push(objects);
                    m.submitted += 1;
                    let before = shared.log.lock().unwrap().len();
                    q.submit(job);
                    if stopped {
                        // After a stop the job runs inline, at once.
                        let log = shared.log.lock().unwrap();
                        assert_eq!(log.len(), before + 1, "job after stop did not run inline");
                        assert_eq!(*log.last().unwrap(), m.submitted - 1);
                    }
                    assert!(q.pending_jobs() as u64 <= m.submitted);
                }
            }
            3 => {
                if worker.is_none() && !stopped {
                    worker = Some(start(&q));
                }
            }
            4 => {
                // bioDrainWorker: only meaningful once someone runs the jobs.
                if worker.is_some() || stopped {
                    q.drain();
                    quiescent_check(&q, &shared, &m, &objects_of, reset_at);
                }
            }
            5 => {
                // Reads while the worker may be running: bounded, monotone-safe.
                let pending_jobs = q.pending_jobs() as u64;
                let done = shared.log.lock().unwrap().len() as u64;
                assert!(pending_jobs <= m.submitted, "pending jobs > submitted");
                assert!(done <= m.submitted);
                assert!(shared.counters.pending() <= m.scheduled_objects);
            }
            6 => {
                // CONFIG RESETSTAT at a quiescent point (after a drain), or
                // before the worker exists (nothing can complete meanwhile).
                if worker.is_some() || stopped {
                    q.drain();
                }
                reset_at = shared.log.lock().unwrap().len();
                let pending_before = shared.counters.pending();
                shared.counters.reset_stats();
                assert_eq!(shared.counters.freed(), 0);
                assert_eq!(
                    shared.counters.pending(),
                    pending_before,
                    "reset touched pending"
                );
            }
            _ => {
                if b.u8().is_multiple_of(4) && !stopped {
                    assert!(q.request_stop(), "first request_stop");
                    assert!(!q.request_stop(), "second request_stop");
                    stopped = true;
                    if let Some(w) = worker.take() {
                        w.join().expect("worker panicked");
                    } else {
                        // Stopped before starting: a worker started now runs
                        // the queued jobs, then meets the stop marker.
                        start(&q).join().expect("worker panicked");
                    }
                    assert_eq!(q.pending_jobs(), 0, "jobs left after the worker stopped");
                    quiescent_check(&q, &shared, &m, &objects_of, reset_at);
                }
            }
        }
    }
    if !stopped {
        q.request_stop();
        match worker.take() {
            Some(w) => w.join().expect("worker panicked"),
            None => start(&q).join().expect("worker panicked"),
        }
    }
    quiescent_check(&q, &shared, &m, &objects_of, reset_at);
}

/// Everything submitted has run: FIFO log, zero pending, freed since reset.
fn quiescent_check(
    q: &JobQueue<TestJob>,
    shared: &Shared,
    m: &Model,
    objects_of: &[usize],
    reset_at: usize,
) {
    assert_eq!(q.pending_jobs(), 0, "pending jobs after drain");
    let log = shared.log.lock().unwrap();
    assert_eq!(log.len() as u64, m.submitted, "jobs lost or run twice");
    for (i, id) in log.iter().enumerate() {
        assert_eq!(*id, i as u64, "jobs out of FIFO order");
    }
    assert_eq!(
        shared.counters.pending(),
        0,
        "lazyfree_pending_objects after drain"
    );
    let freed: usize = objects_of[reset_at..].iter().sum();
    assert_eq!(
        shared.counters.freed(),
        freed,
        "lazyfreed_objects since reset"
    );
}
