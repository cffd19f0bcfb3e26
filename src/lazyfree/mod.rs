//! Lazy freeing (Valkey's `lazyfree.c` plus bio's `BIO_LAZY_FREE` worker).
//!
//! * [`effort`]: the free-effort heuristic and the async/sync decision;
//! * [`Counters`]: `lazyfree_pending_objects` / `lazyfreed_objects`;
//! * [`worker`]: the FIFO job queue and the loop its thread runs.
//!
//! The `extern "C"` entry points (`freeObjAsync`, `emptyDbAsync`, …) live in
//! `crate::ffi::lazyfree`, which binds these pieces to Valkey's objects.

pub mod effort;
pub mod worker;

use std::sync::atomic::{AtomicUsize, Ordering};

pub use effort::{free_effort, should_free_async, EffortSource, LAZYFREE_THRESHOLD};

/// The two counters of lazyfree.c, with the same meaning and the same
/// (relaxed, wrapping `size_t`) arithmetic:
///
/// * `pending`: objects scheduled for freeing whose job has not finished
///   (INFO `lazyfree_pending_objects`);
/// * `freed`: objects freed by the worker since start or the last
///   `CONFIG RESETSTAT` (INFO `lazyfreed_objects`).
pub struct Counters {
    pending: AtomicUsize,
    freed: AtomicUsize,
}

impl Counters {
    pub const fn new() -> Self {
        Counters {
            pending: AtomicUsize::new(0),
            freed: AtomicUsize::new(0),
        }
    }

    /// `n` objects were handed to the worker (main thread, before submitting).
    #[inline]
    pub fn scheduled(&self, n: usize) {
        self.pending.fetch_add(n, Ordering::Relaxed);
    }

    /// A job freed `n` objects (worker thread, after freeing them).
    #[inline]
    pub fn completed(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::Relaxed);
        self.freed.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn freed(&self) -> usize {
        self.freed.load(Ordering::Relaxed)
    }

    /// `lazyfreeResetStats()`: only the freed count is a statistic; pending
    /// objects are real work still queued and keep being counted.
    #[inline]
    pub fn reset_stats(&self) {
        self.freed.store(0, Ordering::Relaxed);
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide counters behind the exported `lazyfree*Count` functions.
pub static COUNTERS: Counters = Counters::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_lazyfree_c() {
        let c = Counters::new();
        c.scheduled(1_000_000);
        c.scheduled(3);
        assert_eq!((c.pending(), c.freed()), (1_000_003, 0));
        c.completed(1_000_000);
        assert_eq!((c.pending(), c.freed()), (3, 1_000_000));
        c.reset_stats();
        assert_eq!((c.pending(), c.freed()), (3, 0));
        c.completed(3);
        assert_eq!((c.pending(), c.freed()), (0, 3));
    }
}
